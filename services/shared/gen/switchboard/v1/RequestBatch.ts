// Original file: proto/switchboard/v1/message_service.proto

import type { MessageStreamRequest as _switchboard_v1_MessageStreamRequest, MessageStreamRequest__Output as _switchboard_v1_MessageStreamRequest__Output } from '../../switchboard/v1/MessageStreamRequest.js';

export interface RequestBatch {
  'requests'?: (_switchboard_v1_MessageStreamRequest)[];
}

export interface RequestBatch__Output {
  'requests': (_switchboard_v1_MessageStreamRequest__Output)[];
}
