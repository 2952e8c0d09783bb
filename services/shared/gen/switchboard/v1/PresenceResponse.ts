// Original file: proto/switchboard/v1/message_service.proto


export interface PresenceResponse {
  'online'?: (boolean)[];
}

export interface PresenceResponse__Output {
  'online': (boolean)[];
}
