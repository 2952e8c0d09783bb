// Original file: proto/switchboard/v1/message_service.proto


export interface TypingPush {
  'conversation'?: (string);
  'user'?: (string);
  'ttlMs'?: (number);
  'recipients'?: (string)[];
}

export interface TypingPush__Output {
  'conversation': (string);
  'user': (string);
  'ttlMs': (number);
  'recipients': (string)[];
}
