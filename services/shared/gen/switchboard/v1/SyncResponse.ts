// Original file: proto/switchboard/v1/message_service.proto

import type { ChatMessage as _switchboard_v1_ChatMessage, ChatMessage__Output as _switchboard_v1_ChatMessage__Output } from '../../switchboard/v1/ChatMessage.js';

export interface SyncResponse {
  'messages'?: (_switchboard_v1_ChatMessage)[];
  'hasMore'?: (boolean);
}

export interface SyncResponse__Output {
  'messages': (_switchboard_v1_ChatMessage__Output)[];
  'hasMore': (boolean);
}
