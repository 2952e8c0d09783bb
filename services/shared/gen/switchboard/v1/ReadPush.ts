// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface ReadPush {
  'conversation'?: (string);
  'user'?: (string);
  'seq'?: (number | string | Long);
  'recipients'?: (string)[];
  'excludeConnection'?: (string);
}

export interface ReadPush__Output {
  'conversation': (string);
  'user': (string);
  'seq': (number);
  'recipients': (string)[];
  'excludeConnection': (string);
}
