// Original file: proto/switchboard/v1/message_service.proto


export interface Watch {
  'add'?: (string)[];
  'remove'?: (string)[];
}

export interface Watch__Output {
  'add': (string)[];
  'remove': (string)[];
}
