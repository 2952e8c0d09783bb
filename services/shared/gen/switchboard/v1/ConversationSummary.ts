// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface ConversationSummary {
  'conversation'?: (string);
  'lastSeq'?: (number | string | Long);
  'readSeq'?: (number | string | Long);
  'unread'?: (number | string | Long);
  'title'?: (string);
}

export interface ConversationSummary__Output {
  'conversation': (string);
  'lastSeq': (number);
  'readSeq': (number);
  'unread': (number);
  'title': (string);
}
