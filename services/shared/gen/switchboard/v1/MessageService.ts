// Original file: proto/switchboard/v1/message_service.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { ConversationsRequest as _switchboard_v1_ConversationsRequest, ConversationsRequest__Output as _switchboard_v1_ConversationsRequest__Output } from '../../switchboard/v1/ConversationsRequest.js';
import type { ConversationsResponse as _switchboard_v1_ConversationsResponse, ConversationsResponse__Output as _switchboard_v1_ConversationsResponse__Output } from '../../switchboard/v1/ConversationsResponse.js';
import type { MarkReadRequest as _switchboard_v1_MarkReadRequest, MarkReadRequest__Output as _switchboard_v1_MarkReadRequest__Output } from '../../switchboard/v1/MarkReadRequest.js';
import type { MarkReadResponse as _switchboard_v1_MarkReadResponse, MarkReadResponse__Output as _switchboard_v1_MarkReadResponse__Output } from '../../switchboard/v1/MarkReadResponse.js';
import type { MembersRequest as _switchboard_v1_MembersRequest, MembersRequest__Output as _switchboard_v1_MembersRequest__Output } from '../../switchboard/v1/MembersRequest.js';
import type { MembersResponse as _switchboard_v1_MembersResponse, MembersResponse__Output as _switchboard_v1_MembersResponse__Output } from '../../switchboard/v1/MembersResponse.js';
import type { MessageStreamRequest as _switchboard_v1_MessageStreamRequest, MessageStreamRequest__Output as _switchboard_v1_MessageStreamRequest__Output } from '../../switchboard/v1/MessageStreamRequest.js';
import type { MessageStreamResponse as _switchboard_v1_MessageStreamResponse, MessageStreamResponse__Output as _switchboard_v1_MessageStreamResponse__Output } from '../../switchboard/v1/MessageStreamResponse.js';
import type { PresenceRequest as _switchboard_v1_PresenceRequest, PresenceRequest__Output as _switchboard_v1_PresenceRequest__Output } from '../../switchboard/v1/PresenceRequest.js';
import type { PresenceResponse as _switchboard_v1_PresenceResponse, PresenceResponse__Output as _switchboard_v1_PresenceResponse__Output } from '../../switchboard/v1/PresenceResponse.js';
import type { SendRequest as _switchboard_v1_SendRequest, SendRequest__Output as _switchboard_v1_SendRequest__Output } from '../../switchboard/v1/SendRequest.js';
import type { SendResponse as _switchboard_v1_SendResponse, SendResponse__Output as _switchboard_v1_SendResponse__Output } from '../../switchboard/v1/SendResponse.js';
import type { SyncRequest as _switchboard_v1_SyncRequest, SyncRequest__Output as _switchboard_v1_SyncRequest__Output } from '../../switchboard/v1/SyncRequest.js';
import type { SyncResponse as _switchboard_v1_SyncResponse, SyncResponse__Output as _switchboard_v1_SyncResponse__Output } from '../../switchboard/v1/SyncResponse.js';
import type { TypingRequest as _switchboard_v1_TypingRequest, TypingRequest__Output as _switchboard_v1_TypingRequest__Output } from '../../switchboard/v1/TypingRequest.js';
import type { TypingResponse as _switchboard_v1_TypingResponse, TypingResponse__Output as _switchboard_v1_TypingResponse__Output } from '../../switchboard/v1/TypingResponse.js';

export interface MessageServiceClient extends grpc.Client {
  Conversations(argument: _switchboard_v1_ConversationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  Conversations(argument: _switchboard_v1_ConversationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  Conversations(argument: _switchboard_v1_ConversationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  Conversations(argument: _switchboard_v1_ConversationsRequest, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  conversations(argument: _switchboard_v1_ConversationsRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  conversations(argument: _switchboard_v1_ConversationsRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  conversations(argument: _switchboard_v1_ConversationsRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  conversations(argument: _switchboard_v1_ConversationsRequest, callback: grpc.requestCallback<_switchboard_v1_ConversationsResponse__Output>): grpc.ClientUnaryCall;
  
  MarkRead(argument: _switchboard_v1_MarkReadRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  MarkRead(argument: _switchboard_v1_MarkReadRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  MarkRead(argument: _switchboard_v1_MarkReadRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  MarkRead(argument: _switchboard_v1_MarkReadRequest, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  markRead(argument: _switchboard_v1_MarkReadRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  markRead(argument: _switchboard_v1_MarkReadRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  markRead(argument: _switchboard_v1_MarkReadRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  markRead(argument: _switchboard_v1_MarkReadRequest, callback: grpc.requestCallback<_switchboard_v1_MarkReadResponse__Output>): grpc.ClientUnaryCall;
  
  Members(argument: _switchboard_v1_MembersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  Members(argument: _switchboard_v1_MembersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  Members(argument: _switchboard_v1_MembersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  Members(argument: _switchboard_v1_MembersRequest, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  members(argument: _switchboard_v1_MembersRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  members(argument: _switchboard_v1_MembersRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  members(argument: _switchboard_v1_MembersRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  members(argument: _switchboard_v1_MembersRequest, callback: grpc.requestCallback<_switchboard_v1_MembersResponse__Output>): grpc.ClientUnaryCall;
  
  MessageStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_switchboard_v1_MessageStreamRequest, _switchboard_v1_MessageStreamResponse__Output>;
  MessageStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_switchboard_v1_MessageStreamRequest, _switchboard_v1_MessageStreamResponse__Output>;
  messageStream(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_switchboard_v1_MessageStreamRequest, _switchboard_v1_MessageStreamResponse__Output>;
  messageStream(options?: grpc.CallOptions): grpc.ClientDuplexStream<_switchboard_v1_MessageStreamRequest, _switchboard_v1_MessageStreamResponse__Output>;
  
  Presence(argument: _switchboard_v1_PresenceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  Presence(argument: _switchboard_v1_PresenceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  Presence(argument: _switchboard_v1_PresenceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  Presence(argument: _switchboard_v1_PresenceRequest, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  presence(argument: _switchboard_v1_PresenceRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  presence(argument: _switchboard_v1_PresenceRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  presence(argument: _switchboard_v1_PresenceRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  presence(argument: _switchboard_v1_PresenceRequest, callback: grpc.requestCallback<_switchboard_v1_PresenceResponse__Output>): grpc.ClientUnaryCall;
  
  Send(argument: _switchboard_v1_SendRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  Send(argument: _switchboard_v1_SendRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  Send(argument: _switchboard_v1_SendRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  Send(argument: _switchboard_v1_SendRequest, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  send(argument: _switchboard_v1_SendRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  send(argument: _switchboard_v1_SendRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  send(argument: _switchboard_v1_SendRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  send(argument: _switchboard_v1_SendRequest, callback: grpc.requestCallback<_switchboard_v1_SendResponse__Output>): grpc.ClientUnaryCall;
  
  Sync(argument: _switchboard_v1_SyncRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  Sync(argument: _switchboard_v1_SyncRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  Sync(argument: _switchboard_v1_SyncRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  Sync(argument: _switchboard_v1_SyncRequest, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  sync(argument: _switchboard_v1_SyncRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  sync(argument: _switchboard_v1_SyncRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  sync(argument: _switchboard_v1_SyncRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  sync(argument: _switchboard_v1_SyncRequest, callback: grpc.requestCallback<_switchboard_v1_SyncResponse__Output>): grpc.ClientUnaryCall;
  
  Typing(argument: _switchboard_v1_TypingRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  Typing(argument: _switchboard_v1_TypingRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  Typing(argument: _switchboard_v1_TypingRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  Typing(argument: _switchboard_v1_TypingRequest, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  typing(argument: _switchboard_v1_TypingRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  typing(argument: _switchboard_v1_TypingRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  typing(argument: _switchboard_v1_TypingRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  typing(argument: _switchboard_v1_TypingRequest, callback: grpc.requestCallback<_switchboard_v1_TypingResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface MessageServiceHandlers extends grpc.UntypedServiceImplementation {
  Conversations: grpc.handleUnaryCall<_switchboard_v1_ConversationsRequest__Output, _switchboard_v1_ConversationsResponse>;
  
  MarkRead: grpc.handleUnaryCall<_switchboard_v1_MarkReadRequest__Output, _switchboard_v1_MarkReadResponse>;
  
  Members: grpc.handleUnaryCall<_switchboard_v1_MembersRequest__Output, _switchboard_v1_MembersResponse>;
  
  MessageStream: grpc.handleBidiStreamingCall<_switchboard_v1_MessageStreamRequest__Output, _switchboard_v1_MessageStreamResponse>;
  
  Presence: grpc.handleUnaryCall<_switchboard_v1_PresenceRequest__Output, _switchboard_v1_PresenceResponse>;
  
  Send: grpc.handleUnaryCall<_switchboard_v1_SendRequest__Output, _switchboard_v1_SendResponse>;
  
  Sync: grpc.handleUnaryCall<_switchboard_v1_SyncRequest__Output, _switchboard_v1_SyncResponse>;
  
  Typing: grpc.handleUnaryCall<_switchboard_v1_TypingRequest__Output, _switchboard_v1_TypingResponse>;
  
}

export interface MessageServiceDefinition extends grpc.ServiceDefinition {
  Conversations: MethodDefinition<_switchboard_v1_ConversationsRequest, _switchboard_v1_ConversationsResponse, _switchboard_v1_ConversationsRequest__Output, _switchboard_v1_ConversationsResponse__Output>
  MarkRead: MethodDefinition<_switchboard_v1_MarkReadRequest, _switchboard_v1_MarkReadResponse, _switchboard_v1_MarkReadRequest__Output, _switchboard_v1_MarkReadResponse__Output>
  Members: MethodDefinition<_switchboard_v1_MembersRequest, _switchboard_v1_MembersResponse, _switchboard_v1_MembersRequest__Output, _switchboard_v1_MembersResponse__Output>
  MessageStream: MethodDefinition<_switchboard_v1_MessageStreamRequest, _switchboard_v1_MessageStreamResponse, _switchboard_v1_MessageStreamRequest__Output, _switchboard_v1_MessageStreamResponse__Output>
  Presence: MethodDefinition<_switchboard_v1_PresenceRequest, _switchboard_v1_PresenceResponse, _switchboard_v1_PresenceRequest__Output, _switchboard_v1_PresenceResponse__Output>
  Send: MethodDefinition<_switchboard_v1_SendRequest, _switchboard_v1_SendResponse, _switchboard_v1_SendRequest__Output, _switchboard_v1_SendResponse__Output>
  Sync: MethodDefinition<_switchboard_v1_SyncRequest, _switchboard_v1_SyncResponse, _switchboard_v1_SyncRequest__Output, _switchboard_v1_SyncResponse__Output>
  Typing: MethodDefinition<_switchboard_v1_TypingRequest, _switchboard_v1_TypingResponse, _switchboard_v1_TypingRequest__Output, _switchboard_v1_TypingResponse__Output>
}
