// Original file: proto/switchboard/v1/message_service.proto

import type { Long } from '@grpc/proto-loader';

export interface ChatMessage {
  'msgId'?: (string);
  'conversation'?: (string);
  'seq'?: (number | string | Long);
  'fromUser'?: (string);
  'toUser'?: (string);
  'body'?: (string);
  'ts'?: (number | string | Long);
  'clientId'?: (string);
  'kind'?: (string);
  'members'?: (string)[];
  'ref'?: (number | string | Long);
}

export interface ChatMessage__Output {
  'msgId': (string);
  'conversation': (string);
  'seq': (number);
  'fromUser': (string);
  'toUser': (string);
  'body': (string);
  'ts': (number);
  'clientId': (string);
  'kind': (string);
  'members': (string)[];
  'ref': (number);
}
