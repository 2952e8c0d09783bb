// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface SyncRequest {
  'user'?: (string);
  'conversation'?: (string);
  'afterSeq'?: (number | string | Long);
  'limit'?: (number);
}

export interface SyncRequest__Output {
  'user': (string);
  'conversation': (string);
  'afterSeq': (number);
  'limit': (number);
}
