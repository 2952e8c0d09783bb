/**
 * The WebSocket protocol as the client sees it (docs/PROTOCOL.md §2–§4): the frames, the messages
 * they carry, and what the client reports to its application.
 * @module
 */

import type { Message } from '../../shared/message.js';

export { SUBPROTOCOL, DM_PREFIX, GROUP_PREFIX, directConversation } from '../../shared/ws-protocol.js';

export type { MembershipKind, MessageKind } from '../../shared/message.js';

/**
 * A stored message, as `message` pushes and `messages` (sync) answers carry it: the services'
 * message (msgId, conversation, seq without gap, from, to, body, accept time; a group change's
 * kind and members; an edit's or a deletion's kind and `ref`, the seq it changes) with the
 * sender's client id as `id`.
 */
export type ChatMessage = Omit<Message, 'clientId'> & { id?: string };

/** A frame in either direction (docs/asyncapi.yaml lists every type and field). */
export interface Frame {
  type: string;
  id?: string;
  code?: string;
  message?: string;
  user?: string;
  to?: string;
  body?: string;
  after?: number;
  limit?: number;
  connection?: string;
  instance?: string;
  msgId?: string;
  conversation?: string;
  seq?: number;
  ts?: number;
  messages?: ChatMessage[];
  hasMore?: boolean;
  items?: ConversationItem[];
  members?: string[];
  /** How long a `typing` indicator lasts unless renewed, ms. */
  ttlMs?: number;
  /** A group's title (`group.create`, `group.title`). */
  title?: string;
  /** `presence`: the answer's users, or a pushed change's state. */
  users?: Array<{ user: string; online: boolean }> | string[];
  online?: boolean;
}

/** One conversation in a `conversations` answer: its last seq, the user's read marker and the messages after it. */
export interface ConversationItem {
  conversation: string;
  lastSeq: number;
  /** The highest seq the user read (their own messages count as read); 0 from a gateway older than read markers. */
  readSeq?: number;
  /** Messages after readSeq. */
  unread?: number;
  /** A group's title, when it has one. */
  title?: string;
}

/** A group request: create a group, add or remove users, leave it, retitle it, or list its members. */
export type GroupAction = 'create' | 'add' | 'remove' | 'leave' | 'title' | 'members';

/** What the client reports to its application. */
export type ChatEvent =
  | { kind: 'connecting'; attempt: number }
  | { kind: 'connected'; user: string; connection: string; instance: string; reconnect: boolean }
  /** The connection was lost; `retryInMs` -1: not reconnecting (a 4403 from the application, or reconnect off). */
  | { kind: 'disconnected'; code: number; reason: string; retryInMs: number }
  /** The upgrade was refused for good (401, 403, 404): the credentials will not do. */
  | { kind: 'refused'; status: number; message: string }
  /** A message to show, once, in seq order; `live` when pushed, not caught up. */
  | { kind: 'message'; message: ChatMessage; live: boolean }
  | { kind: 'accepted'; id: string; msgId: string; conversation: string; to: string; body: string }
  /** This client's own send, reported at `accepted`, now has its seq (what `edit` and `remove` name). */
  | { kind: 'sequenced'; conversation: string; msgId: string; seq: number }
  /** A group's title: from `conversations`, or a `created` or `titled` message. */
  | { kind: 'title'; conversation: string; title: string }
  /** An edit or a deletion this client asked for was accepted (its message comes like any other), or refused (`code`). */
  | { kind: 'change'; id: string; conversation: string; ref: number | string; accepted: boolean; code?: string; message?: string }
  | { kind: 'send-failed'; id: string; to: string; body: string; code: string; message: string }
  | { kind: 'send-retry'; id: string; to: string; code: string }
  | { kind: 'caught-up' }
  | { kind: 'history-reset'; conversation: string }
  | { kind: 'error'; code: string; message: string }
  | { kind: 'group'; action: GroupAction; conversation: string; members?: string[] }
  /** The user's read marker or unread count of a conversation changed (a read here or on another device, a new message). */
  | { kind: 'unread'; conversation: string; readSeq: number; unread: number }
  /** A followed user's online state (see `ChatClient.followPresence`): as answered, then each change. */
  | { kind: 'presence'; user: string; online: boolean }
  /** Someone else is typing in a conversation (`active`), or stopped: their indicator expired or their message arrived. */
  | { kind: 'typing'; conversation: string; user: string; active: boolean }
  /** The peer of a direct conversation read it up to `seq` (a read receipt). */
  | { kind: 'receipt'; conversation: string; user: string; seq: number }
  | { kind: 'frame'; frame: Frame }
  | { kind: 'stopped' };

/** The close code of a user the application disconnected for good (the server API's Disconnect): not reconnected by itself. */
export { CLOSE_DISCONNECTED_FINAL as DISCONNECTED_FINAL } from '../../shared/ws-protocol.js';

/**
 * A group change message in words, after its sender's name: "created the group with b, c",
 * "added c", "removed c", "left", "named the group "Trip"".
 * @param from the sender (not repeated among the first members)
 * @param title the message's body: a created or titled message's title
 */
export function describeMembership(kind: string, members: readonly string[], from?: string, title?: string): string {
  switch (kind) {
    case 'created': {
      const others = members.filter((m) => m !== from);
      const named = title ? ` ${JSON.stringify(title)}` : '';
      return others.length > 0 ? `created the group${named} with ${others.join(', ')}` : `created the group${named}`;
    }
    case 'added':
      return `added ${members.join(', ')}`;
    case 'removed':
      return `removed ${members.join(', ')}`;
    case 'left':
      return 'left';
    case 'titled':
      return `named the group ${JSON.stringify(title ?? '')}`;
    default:
      return `${kind} ${members.join(', ')}`;
  }
}
