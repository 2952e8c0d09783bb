// Original file: proto/switchboard/v1/message_service.proto

import type { Push as _switchboard_v1_Push, Push__Output as _switchboard_v1_Push__Output } from '../../switchboard/v1/Push.js';
import type { Subscribed as _switchboard_v1_Subscribed, Subscribed__Output as _switchboard_v1_Subscribed__Output } from '../../switchboard/v1/Subscribed.js';
import type { SendResult as _switchboard_v1_SendResult, SendResult__Output as _switchboard_v1_SendResult__Output } from '../../switchboard/v1/SendResult.js';
import type { PresenceApplied as _switchboard_v1_PresenceApplied, PresenceApplied__Output as _switchboard_v1_PresenceApplied__Output } from '../../switchboard/v1/PresenceApplied.js';
import type { ResponseBatch as _switchboard_v1_ResponseBatch, ResponseBatch__Output as _switchboard_v1_ResponseBatch__Output } from '../../switchboard/v1/ResponseBatch.js';
import type { SessionsQuery as _switchboard_v1_SessionsQuery, SessionsQuery__Output as _switchboard_v1_SessionsQuery__Output } from '../../switchboard/v1/SessionsQuery.js';
import type { ReadPush as _switchboard_v1_ReadPush, ReadPush__Output as _switchboard_v1_ReadPush__Output } from '../../switchboard/v1/ReadPush.js';
import type { TypingPush as _switchboard_v1_TypingPush, TypingPush__Output as _switchboard_v1_TypingPush__Output } from '../../switchboard/v1/TypingPush.js';
import type { PresenceChange as _switchboard_v1_PresenceChange, PresenceChange__Output as _switchboard_v1_PresenceChange__Output } from '../../switchboard/v1/PresenceChange.js';

export interface MessageStreamResponse {
  'push'?: (_switchboard_v1_Push | null);
  'subscribed'?: (_switchboard_v1_Subscribed | null);
  'sendResult'?: (_switchboard_v1_SendResult | null);
  'presenceApplied'?: (_switchboard_v1_PresenceApplied | null);
  'batch'?: (_switchboard_v1_ResponseBatch | null);
  'sessions'?: (_switchboard_v1_SessionsQuery | null);
  'read'?: (_switchboard_v1_ReadPush | null);
  'typing'?: (_switchboard_v1_TypingPush | null);
  'presenceChange'?: (_switchboard_v1_PresenceChange | null);
  'response'?: "push"|"subscribed"|"sendResult"|"presenceApplied"|"batch"|"sessions"|"read"|"typing"|"presenceChange";
}

export interface MessageStreamResponse__Output {
  'push'?: (_switchboard_v1_Push__Output | null);
  'subscribed'?: (_switchboard_v1_Subscribed__Output | null);
  'sendResult'?: (_switchboard_v1_SendResult__Output | null);
  'presenceApplied'?: (_switchboard_v1_PresenceApplied__Output | null);
  'batch'?: (_switchboard_v1_ResponseBatch__Output | null);
  'sessions'?: (_switchboard_v1_SessionsQuery__Output | null);
  'read'?: (_switchboard_v1_ReadPush__Output | null);
  'typing'?: (_switchboard_v1_TypingPush__Output | null);
  'presenceChange'?: (_switchboard_v1_PresenceChange__Output | null);
  'response'?: "push"|"subscribed"|"sendResult"|"presenceApplied"|"batch"|"sessions"|"read"|"typing"|"presenceChange";
}
