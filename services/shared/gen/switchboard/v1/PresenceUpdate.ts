// Original file: proto/switchboard/v1/message_service.proto


export interface PresenceUpdate {
  'online'?: (string)[];
  'offline'?: (string)[];
}

export interface PresenceUpdate__Output {
  'online': (string)[];
  'offline': (string)[];
}
