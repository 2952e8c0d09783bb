import type { ChatMessage, ChatMessage__Output } from './gen/switchboard/v1/ChatMessage.js';
import type { Push__Output } from './gen/switchboard/v1/Push.js';
import type { ReadPush__Output } from './gen/switchboard/v1/ReadPush.js';
import type { TypingPush__Output } from './gen/switchboard/v1/TypingPush.js';
import type { SendRequest, SendRequest__Output } from './gen/switchboard/v1/SendRequest.js';
import { kindFields, type Message, type MessageKind, type Push, type ReadPush, type SendCommand, type TypingPush } from './message.js';

/**
 * The codec between the message (shared/message.ts) and the gRPC API's messages. The proto's field
 * names (`from_user`, `to_user`, an empty string for "none") are the gRPC contract that grpcurl
 * users write, so they stay; this is the one place that maps them.
 */

/** A message as the gRPC API carries it. */
export function toChatMessage(m: Message): ChatMessage {
  return {
    msgId: m.msgId,
    conversation: m.conversation,
    seq: m.seq,
    fromUser: m.from,
    toUser: m.to,
    body: m.body,
    ts: m.ts,
    clientId: m.clientId,
    kind: m.kind ?? '',
    members: m.members ?? [],
    ref: m.ref ?? 0,
  };
}

/** A message read from the gRPC API. */
export function fromChatMessage(c: ChatMessage__Output): Message {
  const m: Message = { msgId: c.msgId, conversation: c.conversation, seq: c.seq, from: c.fromUser, to: c.toUser, body: c.body, ts: c.ts, clientId: c.clientId };
  // The pod only ever sends a MessageKind; anything else is carried as it came, to be shown.
  if (c.kind !== '') Object.assign(m, kindFields({ kind: c.kind as MessageKind, members: c.members, ref: c.ref }));
  return m;
}

/** A push read from a subscription stream; undefined when it carries no message. */
export function fromPush(p: Push__Output): Push | undefined {
  return p.message ? { message: fromChatMessage(p.message), recipients: p.recipients, excludeConnection: p.excludeConnection } : undefined;
}

/** Someone typing, pushed on a stream. */
export function fromTypingPush(p: TypingPush__Output): TypingPush {
  return { typing: { conversation: p.conversation, user: p.user, ttlMs: p.ttlMs }, recipients: p.recipients };
}

/** A read marker pushed on a stream. */
export function fromReadPush(p: ReadPush__Output): ReadPush {
  return { marker: { conversation: p.conversation, user: p.user, seq: p.seq }, recipients: p.recipients, excludeConnection: p.excludeConnection };
}

/** A send as the gRPC API carries it (the origin instance is the stream's, on a stream). */
export function toSendRequest(cmd: SendCommand): SendRequest {
  return {
    fromUser: cmd.from,
    clientId: cmd.clientId,
    toUser: cmd.to,
    body: cmd.body,
    originInstance: cmd.origin.instance,
    originConnection: cmd.origin.connection,
    conversation: cmd.conversation ?? '',
    kind: cmd.kind ?? '',
    members: [...(cmd.members ?? [])],
    ref: cmd.ref ?? 0,
  };
}

/**
 * A send read from the gRPC API, from the gateway `instance` (a stream's subscriber; the request's
 * own field on a unary call). The kind is checked by the acceptor, which refuses an unknown one.
 */
export function fromSendRequest(r: SendRequest__Output, instance: string): SendCommand {
  return {
    from: r.fromUser,
    clientId: r.clientId,
    to: r.toUser,
    body: r.body,
    origin: { instance, connection: r.originConnection },
    ...(r.conversation !== '' ? { conversation: r.conversation } : {}),
    ...(r.kind !== '' ? { kind: r.kind as MessageKind, members: r.members } : {}),
    ...(r.ref !== 0 ? { ref: r.ref } : {}),
  };
}
