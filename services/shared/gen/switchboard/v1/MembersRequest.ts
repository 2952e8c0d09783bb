// Original file: proto/switchboard/v1/message_service.proto


export interface MembersRequest {
  'user'?: (string);
  'conversation'?: (string);
}

export interface MembersRequest__Output {
  'user': (string);
  'conversation': (string);
}
