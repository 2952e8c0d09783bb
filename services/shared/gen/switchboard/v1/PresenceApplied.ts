// Original file: proto/switchboard/v1/message_service.proto


export interface PresenceApplied {
  'ackId'?: (number);
}

export interface PresenceApplied__Output {
  'ackId': (number);
}
