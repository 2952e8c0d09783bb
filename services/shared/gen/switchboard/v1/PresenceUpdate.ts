// Original file: proto/switchboard/v1/message_service.proto


export interface PresenceUpdate {
  'online'?: (string)[];
  'offline'?: (string)[];
  'ackId'?: (number);
}

export interface PresenceUpdate__Output {
  'online': (string)[];
  'offline': (string)[];
  'ackId': (number);
}
