// Original file: proto/switchboard/v1/message_service.proto


export interface TypingRequest {
  'user'?: (string);
  'conversation'?: (string);
  'originInstance'?: (string);
  'originConnection'?: (string);
}

export interface TypingRequest__Output {
  'user': (string);
  'conversation': (string);
  'originInstance': (string);
  'originConnection': (string);
}
