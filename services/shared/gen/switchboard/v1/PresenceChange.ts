// Original file: proto/switchboard/v1/message_service.proto


export interface PresenceChange {
  'user'?: (string);
  'online'?: (boolean);
}

export interface PresenceChange__Output {
  'user': (string);
  'online': (boolean);
}
