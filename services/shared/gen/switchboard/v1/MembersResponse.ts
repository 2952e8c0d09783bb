// Original file: proto/switchboard/v1/message_service.proto


export interface MembersResponse {
  'members'?: (string)[];
}

export interface MembersResponse__Output {
  'members': (string)[];
}
