// Original file: proto/switchboard/v1/message_service.proto

import type { MessageStreamResponse as _switchboard_v1_MessageStreamResponse, MessageStreamResponse__Output as _switchboard_v1_MessageStreamResponse__Output } from '../../switchboard/v1/MessageStreamResponse.js';

export interface ResponseBatch {
  'responses'?: (_switchboard_v1_MessageStreamResponse)[];
}

export interface ResponseBatch__Output {
  'responses': (_switchboard_v1_MessageStreamResponse__Output)[];
}
