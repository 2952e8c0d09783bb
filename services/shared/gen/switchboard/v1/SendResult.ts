// Original file: proto/switchboard/v1/message_service.proto

import type { SendResponse as _switchboard_v1_SendResponse, SendResponse__Output as _switchboard_v1_SendResponse__Output } from '../../switchboard/v1/SendResponse.js';
import type { SendError as _switchboard_v1_SendError, SendError__Output as _switchboard_v1_SendError__Output } from '../../switchboard/v1/SendError.js';

export interface SendResult {
  'requestId'?: (number);
  'accepted'?: (_switchboard_v1_SendResponse | null);
  'error'?: (_switchboard_v1_SendError | null);
  'result'?: "accepted"|"error";
}

export interface SendResult__Output {
  'requestId': (number);
  'accepted'?: (_switchboard_v1_SendResponse__Output | null);
  'error'?: (_switchboard_v1_SendError__Output | null);
  'result'?: "accepted"|"error";
}
