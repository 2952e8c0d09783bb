// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface SendResponse {
  'msgId'?: (string);
  'conversation'?: (string);
  'ts'?: (number | string | Long);
}

export interface SendResponse__Output {
  'msgId': (string);
  'conversation': (string);
  'ts': (number);
}
