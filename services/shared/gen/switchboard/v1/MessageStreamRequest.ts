// Original file: proto/switchboard/v1/message_service.proto

import type { Subscribe as _switchboard_v1_Subscribe, Subscribe__Output as _switchboard_v1_Subscribe__Output } from '../../switchboard/v1/Subscribe.js';
import type { PresenceUpdate as _switchboard_v1_PresenceUpdate, PresenceUpdate__Output as _switchboard_v1_PresenceUpdate__Output } from '../../switchboard/v1/PresenceUpdate.js';
import type { StreamSend as _switchboard_v1_StreamSend, StreamSend__Output as _switchboard_v1_StreamSend__Output } from '../../switchboard/v1/StreamSend.js';
import type { RequestBatch as _switchboard_v1_RequestBatch, RequestBatch__Output as _switchboard_v1_RequestBatch__Output } from '../../switchboard/v1/RequestBatch.js';
import type { SessionsReport as _switchboard_v1_SessionsReport, SessionsReport__Output as _switchboard_v1_SessionsReport__Output } from '../../switchboard/v1/SessionsReport.js';
import type { Watch as _switchboard_v1_Watch, Watch__Output as _switchboard_v1_Watch__Output } from '../../switchboard/v1/Watch.js';

export interface MessageStreamRequest {
  'subscribe'?: (_switchboard_v1_Subscribe | null);
  'presence'?: (_switchboard_v1_PresenceUpdate | null);
  'send'?: (_switchboard_v1_StreamSend | null);
  'batch'?: (_switchboard_v1_RequestBatch | null);
  'sessions'?: (_switchboard_v1_SessionsReport | null);
  'watch'?: (_switchboard_v1_Watch | null);
  'request'?: "subscribe"|"presence"|"send"|"batch"|"sessions"|"watch";
}

export interface MessageStreamRequest__Output {
  'subscribe'?: (_switchboard_v1_Subscribe__Output | null);
  'presence'?: (_switchboard_v1_PresenceUpdate__Output | null);
  'send'?: (_switchboard_v1_StreamSend__Output | null);
  'batch'?: (_switchboard_v1_RequestBatch__Output | null);
  'sessions'?: (_switchboard_v1_SessionsReport__Output | null);
  'watch'?: (_switchboard_v1_Watch__Output | null);
  'request'?: "subscribe"|"presence"|"send"|"batch"|"sessions"|"watch";
}
