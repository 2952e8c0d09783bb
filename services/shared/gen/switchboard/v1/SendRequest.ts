// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface SendRequest {
  'fromUser'?: (string);
  'clientId'?: (string);
  'toUser'?: (string);
  'body'?: (string);
  'originInstance'?: (string);
  'originConnection'?: (string);
  'conversation'?: (string);
  'kind'?: (string);
  'members'?: (string)[];
  'ref'?: (number | string | Long);
}

export interface SendRequest__Output {
  'fromUser': (string);
  'clientId': (string);
  'toUser': (string);
  'body': (string);
  'originInstance': (string);
  'originConnection': (string);
  'conversation': (string);
  'kind': (string);
  'members': (string)[];
  'ref': (number);
}
