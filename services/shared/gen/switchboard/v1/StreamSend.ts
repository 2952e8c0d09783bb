// Original file: proto/switchboard/v1/message_service.proto

import type { SendRequest as _switchboard_v1_SendRequest, SendRequest__Output as _switchboard_v1_SendRequest__Output } from '../../switchboard/v1/SendRequest.js';

export interface StreamSend {
  'requestId'?: (number);
  'send'?: (_switchboard_v1_SendRequest | null);
}

export interface StreamSend__Output {
  'requestId': (number);
  'send': (_switchboard_v1_SendRequest__Output | null);
}
