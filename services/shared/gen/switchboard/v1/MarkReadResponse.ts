// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface MarkReadResponse {
  'seq'?: (number | string | Long);
}

export interface MarkReadResponse__Output {
  'seq': (number);
}
