import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { ChatMessage as _switchboard_v1_ChatMessage, ChatMessage__Output as _switchboard_v1_ChatMessage__Output } from './switchboard/v1/ChatMessage.js';
import type { ConversationSummary as _switchboard_v1_ConversationSummary, ConversationSummary__Output as _switchboard_v1_ConversationSummary__Output } from './switchboard/v1/ConversationSummary.js';
import type { ConversationsRequest as _switchboard_v1_ConversationsRequest, ConversationsRequest__Output as _switchboard_v1_ConversationsRequest__Output } from './switchboard/v1/ConversationsRequest.js';
import type { ConversationsResponse as _switchboard_v1_ConversationsResponse, ConversationsResponse__Output as _switchboard_v1_ConversationsResponse__Output } from './switchboard/v1/ConversationsResponse.js';
import type { MarkReadRequest as _switchboard_v1_MarkReadRequest, MarkReadRequest__Output as _switchboard_v1_MarkReadRequest__Output } from './switchboard/v1/MarkReadRequest.js';
import type { MarkReadResponse as _switchboard_v1_MarkReadResponse, MarkReadResponse__Output as _switchboard_v1_MarkReadResponse__Output } from './switchboard/v1/MarkReadResponse.js';
import type { MembersRequest as _switchboard_v1_MembersRequest, MembersRequest__Output as _switchboard_v1_MembersRequest__Output } from './switchboard/v1/MembersRequest.js';
import type { MembersResponse as _switchboard_v1_MembersResponse, MembersResponse__Output as _switchboard_v1_MembersResponse__Output } from './switchboard/v1/MembersResponse.js';
import type { MessageServiceClient as _switchboard_v1_MessageServiceClient, MessageServiceDefinition as _switchboard_v1_MessageServiceDefinition } from './switchboard/v1/MessageService.js';
import type { MessageStreamRequest as _switchboard_v1_MessageStreamRequest, MessageStreamRequest__Output as _switchboard_v1_MessageStreamRequest__Output } from './switchboard/v1/MessageStreamRequest.js';
import type { MessageStreamResponse as _switchboard_v1_MessageStreamResponse, MessageStreamResponse__Output as _switchboard_v1_MessageStreamResponse__Output } from './switchboard/v1/MessageStreamResponse.js';
import type { PresenceApplied as _switchboard_v1_PresenceApplied, PresenceApplied__Output as _switchboard_v1_PresenceApplied__Output } from './switchboard/v1/PresenceApplied.js';
import type { PresenceChange as _switchboard_v1_PresenceChange, PresenceChange__Output as _switchboard_v1_PresenceChange__Output } from './switchboard/v1/PresenceChange.js';
import type { PresenceRequest as _switchboard_v1_PresenceRequest, PresenceRequest__Output as _switchboard_v1_PresenceRequest__Output } from './switchboard/v1/PresenceRequest.js';
import type { PresenceResponse as _switchboard_v1_PresenceResponse, PresenceResponse__Output as _switchboard_v1_PresenceResponse__Output } from './switchboard/v1/PresenceResponse.js';
import type { PresenceUpdate as _switchboard_v1_PresenceUpdate, PresenceUpdate__Output as _switchboard_v1_PresenceUpdate__Output } from './switchboard/v1/PresenceUpdate.js';
import type { Push as _switchboard_v1_Push, Push__Output as _switchboard_v1_Push__Output } from './switchboard/v1/Push.js';
import type { ReadPush as _switchboard_v1_ReadPush, ReadPush__Output as _switchboard_v1_ReadPush__Output } from './switchboard/v1/ReadPush.js';
import type { RequestBatch as _switchboard_v1_RequestBatch, RequestBatch__Output as _switchboard_v1_RequestBatch__Output } from './switchboard/v1/RequestBatch.js';
import type { ResponseBatch as _switchboard_v1_ResponseBatch, ResponseBatch__Output as _switchboard_v1_ResponseBatch__Output } from './switchboard/v1/ResponseBatch.js';
import type { SendError as _switchboard_v1_SendError, SendError__Output as _switchboard_v1_SendError__Output } from './switchboard/v1/SendError.js';
import type { SendRequest as _switchboard_v1_SendRequest, SendRequest__Output as _switchboard_v1_SendRequest__Output } from './switchboard/v1/SendRequest.js';
import type { SendResponse as _switchboard_v1_SendResponse, SendResponse__Output as _switchboard_v1_SendResponse__Output } from './switchboard/v1/SendResponse.js';
import type { SendResult as _switchboard_v1_SendResult, SendResult__Output as _switchboard_v1_SendResult__Output } from './switchboard/v1/SendResult.js';
import type { SessionsQuery as _switchboard_v1_SessionsQuery, SessionsQuery__Output as _switchboard_v1_SessionsQuery__Output } from './switchboard/v1/SessionsQuery.js';
import type { SessionsReport as _switchboard_v1_SessionsReport, SessionsReport__Output as _switchboard_v1_SessionsReport__Output } from './switchboard/v1/SessionsReport.js';
import type { StreamSend as _switchboard_v1_StreamSend, StreamSend__Output as _switchboard_v1_StreamSend__Output } from './switchboard/v1/StreamSend.js';
import type { Subscribe as _switchboard_v1_Subscribe, Subscribe__Output as _switchboard_v1_Subscribe__Output } from './switchboard/v1/Subscribe.js';
import type { Subscribed as _switchboard_v1_Subscribed, Subscribed__Output as _switchboard_v1_Subscribed__Output } from './switchboard/v1/Subscribed.js';
import type { SyncRequest as _switchboard_v1_SyncRequest, SyncRequest__Output as _switchboard_v1_SyncRequest__Output } from './switchboard/v1/SyncRequest.js';
import type { SyncResponse as _switchboard_v1_SyncResponse, SyncResponse__Output as _switchboard_v1_SyncResponse__Output } from './switchboard/v1/SyncResponse.js';
import type { TypingPush as _switchboard_v1_TypingPush, TypingPush__Output as _switchboard_v1_TypingPush__Output } from './switchboard/v1/TypingPush.js';
import type { TypingRequest as _switchboard_v1_TypingRequest, TypingRequest__Output as _switchboard_v1_TypingRequest__Output } from './switchboard/v1/TypingRequest.js';
import type { TypingResponse as _switchboard_v1_TypingResponse, TypingResponse__Output as _switchboard_v1_TypingResponse__Output } from './switchboard/v1/TypingResponse.js';
import type { Watch as _switchboard_v1_Watch, Watch__Output as _switchboard_v1_Watch__Output } from './switchboard/v1/Watch.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  switchboard: {
    v1: {
      ChatMessage: MessageTypeDefinition<_switchboard_v1_ChatMessage, _switchboard_v1_ChatMessage__Output>
      ConversationSummary: MessageTypeDefinition<_switchboard_v1_ConversationSummary, _switchboard_v1_ConversationSummary__Output>
      ConversationsRequest: MessageTypeDefinition<_switchboard_v1_ConversationsRequest, _switchboard_v1_ConversationsRequest__Output>
      ConversationsResponse: MessageTypeDefinition<_switchboard_v1_ConversationsResponse, _switchboard_v1_ConversationsResponse__Output>
      MarkReadRequest: MessageTypeDefinition<_switchboard_v1_MarkReadRequest, _switchboard_v1_MarkReadRequest__Output>
      MarkReadResponse: MessageTypeDefinition<_switchboard_v1_MarkReadResponse, _switchboard_v1_MarkReadResponse__Output>
      MembersRequest: MessageTypeDefinition<_switchboard_v1_MembersRequest, _switchboard_v1_MembersRequest__Output>
      MembersResponse: MessageTypeDefinition<_switchboard_v1_MembersResponse, _switchboard_v1_MembersResponse__Output>
      MessageService: SubtypeConstructor<typeof grpc.Client, _switchboard_v1_MessageServiceClient> & { service: _switchboard_v1_MessageServiceDefinition }
      MessageStreamRequest: MessageTypeDefinition<_switchboard_v1_MessageStreamRequest, _switchboard_v1_MessageStreamRequest__Output>
      MessageStreamResponse: MessageTypeDefinition<_switchboard_v1_MessageStreamResponse, _switchboard_v1_MessageStreamResponse__Output>
      PresenceApplied: MessageTypeDefinition<_switchboard_v1_PresenceApplied, _switchboard_v1_PresenceApplied__Output>
      PresenceChange: MessageTypeDefinition<_switchboard_v1_PresenceChange, _switchboard_v1_PresenceChange__Output>
      PresenceRequest: MessageTypeDefinition<_switchboard_v1_PresenceRequest, _switchboard_v1_PresenceRequest__Output>
      PresenceResponse: MessageTypeDefinition<_switchboard_v1_PresenceResponse, _switchboard_v1_PresenceResponse__Output>
      PresenceUpdate: MessageTypeDefinition<_switchboard_v1_PresenceUpdate, _switchboard_v1_PresenceUpdate__Output>
      Push: MessageTypeDefinition<_switchboard_v1_Push, _switchboard_v1_Push__Output>
      ReadPush: MessageTypeDefinition<_switchboard_v1_ReadPush, _switchboard_v1_ReadPush__Output>
      RequestBatch: MessageTypeDefinition<_switchboard_v1_RequestBatch, _switchboard_v1_RequestBatch__Output>
      ResponseBatch: MessageTypeDefinition<_switchboard_v1_ResponseBatch, _switchboard_v1_ResponseBatch__Output>
      SendError: MessageTypeDefinition<_switchboard_v1_SendError, _switchboard_v1_SendError__Output>
      SendRequest: MessageTypeDefinition<_switchboard_v1_SendRequest, _switchboard_v1_SendRequest__Output>
      SendResponse: MessageTypeDefinition<_switchboard_v1_SendResponse, _switchboard_v1_SendResponse__Output>
      SendResult: MessageTypeDefinition<_switchboard_v1_SendResult, _switchboard_v1_SendResult__Output>
      SessionsQuery: MessageTypeDefinition<_switchboard_v1_SessionsQuery, _switchboard_v1_SessionsQuery__Output>
      SessionsReport: MessageTypeDefinition<_switchboard_v1_SessionsReport, _switchboard_v1_SessionsReport__Output>
      StreamSend: MessageTypeDefinition<_switchboard_v1_StreamSend, _switchboard_v1_StreamSend__Output>
      Subscribe: MessageTypeDefinition<_switchboard_v1_Subscribe, _switchboard_v1_Subscribe__Output>
      Subscribed: MessageTypeDefinition<_switchboard_v1_Subscribed, _switchboard_v1_Subscribed__Output>
      SyncRequest: MessageTypeDefinition<_switchboard_v1_SyncRequest, _switchboard_v1_SyncRequest__Output>
      SyncResponse: MessageTypeDefinition<_switchboard_v1_SyncResponse, _switchboard_v1_SyncResponse__Output>
      TypingPush: MessageTypeDefinition<_switchboard_v1_TypingPush, _switchboard_v1_TypingPush__Output>
      TypingRequest: MessageTypeDefinition<_switchboard_v1_TypingRequest, _switchboard_v1_TypingRequest__Output>
      TypingResponse: MessageTypeDefinition<_switchboard_v1_TypingResponse, _switchboard_v1_TypingResponse__Output>
      Watch: MessageTypeDefinition<_switchboard_v1_Watch, _switchboard_v1_Watch__Output>
    }
  }
}

