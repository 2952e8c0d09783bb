// Original file: proto/switchboard/v1/message_service.proto


export interface PresenceRequest {
  'user'?: (string);
  'users'?: (string)[];
}

export interface PresenceRequest__Output {
  'user': (string);
  'users': (string)[];
}
