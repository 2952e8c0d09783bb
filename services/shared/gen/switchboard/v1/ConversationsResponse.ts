// Original file: proto/switchboard/v1/message_service.proto

import type { ConversationSummary as _switchboard_v1_ConversationSummary, ConversationSummary__Output as _switchboard_v1_ConversationSummary__Output } from '../../switchboard/v1/ConversationSummary.js';

export interface ConversationsResponse {
  'items'?: (_switchboard_v1_ConversationSummary)[];
}

export interface ConversationsResponse__Output {
  'items': (_switchboard_v1_ConversationSummary__Output)[];
}
