// Original file: proto/switchboard/v1/message_service.proto

import type { ChatMessage as _switchboard_v1_ChatMessage, ChatMessage__Output as _switchboard_v1_ChatMessage__Output } from '../../switchboard/v1/ChatMessage.js';

export interface Push {
  'message'?: (_switchboard_v1_ChatMessage | null);
  'recipients'?: (string)[];
  'excludeConnection'?: (string);
}

export interface Push__Output {
  'message': (_switchboard_v1_ChatMessage__Output | null);
  'recipients': (string)[];
  'excludeConnection': (string);
}
