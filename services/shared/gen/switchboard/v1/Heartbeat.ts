// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface Heartbeat {
  'ts'?: (number | string | Long);
}

export interface Heartbeat__Output {
  'ts': (number);
}
