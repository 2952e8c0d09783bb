// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface MarkReadRequest {
  'user'?: (string);
  'conversation'?: (string);
  'seq'?: (number | string | Long);
  'originInstance'?: (string);
  'originConnection'?: (string);
}

export interface MarkReadRequest__Output {
  'user': (string);
  'conversation': (string);
  'seq': (number);
  'originInstance': (string);
  'originConnection': (string);
}
