// Original file: proto/switchboard/v1/message_service.proto


export interface ConversationsRequest {
  'user'?: (string);
}

export interface ConversationsRequest__Output {
  'user': (string);
}
