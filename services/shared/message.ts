/**
 * The message, as both services handle it. One shape inside the code; each boundary has one codec:
 * the WebSocket frame (connect/domain/frames.ts), the gRPC messages (shared/message-proto.ts), the
 * log record (message/adapters/log-record.ts) and the store document (message/adapters/mongo-store.ts).
 */

/** What a group membership message does to the users it names. */
export type MembershipKind = 'created' | 'added' | 'removed' | 'left';
export const MEMBERSHIP_KINDS: readonly MembershipKind[] = ['created', 'added', 'removed', 'left'];

/**
 * A change of a group itself: its membership, or its title (`titled`). The group's state (roster,
 * title) is the fold of these messages in seq order (message/domain/roster.ts).
 */
export type GroupChangeKind = MembershipKind | 'titled';
export const GROUP_CHANGE_KINDS: readonly GroupChangeKind[] = [...MEMBERSHIP_KINDS, 'titled'];

/** A change of an earlier message of the conversation (the seq in `ref`), by its sender. */
export type EditKind = 'edited' | 'deleted';
export const EDIT_KINDS: readonly EditKind[] = ['edited', 'deleted'];

/** Every kind a message may have (a text has none). */
export type MessageKind = GroupChangeKind | EditKind;
export const MESSAGE_KINDS: readonly MessageKind[] = [...GROUP_CHANGE_KINDS, ...EDIT_KINDS];

/** Is this a message kind (one read from the wire or a record)? */
export function isMessageKind(k: unknown): k is MessageKind {
  return MESSAGE_KINDS.includes(k as MessageKind);
}

/** Does this message change its group (membership or title)? */
export function isGroupChange(m: { kind?: MessageKind | undefined }): m is { kind: GroupChangeKind } {
  return m.kind !== undefined && (GROUP_CHANGE_KINDS as readonly string[]).includes(m.kind);
}

/** Does this message edit or delete an earlier one? */
export function isEdit(m: { kind?: MessageKind | undefined }): boolean {
  return (EDIT_KINDS as readonly string[]).includes(m.kind ?? '');
}

/** The gateway (Connect instance) and the connection on it that a send came from: that connection gets `accepted`, not a push. */
export interface Origin {
  instance: string;
  connection: string;
}

/** A message: an accepted send with its place in the conversation. */
export interface Message {
  /** Derived from (from, clientId): every repeat of a send names the same message. */
  msgId: string;
  conversation: string;
  /** 1, 2, 3, … per conversation, without gap. */
  seq: number;
  /** The authenticated sender. */
  from: string;
  /** The recipient of a direct message; a group's messages carry the group's conversation id. */
  to: string;
  body: string;
  /** Accept time, ms since the epoch. */
  ts: number;
  /** The sender's id for the send (the frame's `id`). */
  clientId: string;
  /**
   * Absent on texts. A group's changes: membership (`members` names the users; created: every first
   * member, the creator included) and `titled` (the body is the group's new title; a `created`
   * message's body is the title it starts with, or empty). An edit (`edited`: the body is the new
   * text) or a deletion (`deleted`: empty body) of the sender's message at seq `ref`.
   */
  kind?: MessageKind;
  /** The users a membership message names (every group change carries the list, maybe empty). */
  members?: string[];
  /** The seq of the message an edit or a deletion changes. */
  ref?: number;
}

/** An accepted send as the log holds it: a message before its seq, and where it came from. */
export interface AcceptedSend extends Omit<Message, 'seq'> {
  origin: Origin;
}

/**
 * A send on behalf of `from`: a text to a user (`to`) or to a group (`conversation`), a group
 * membership change (`kind`: created — a new group whose conversation derives from the send's
 * msgId —, added, removed, left) naming `members`, a group's new title (`titled`, the title in
 * `body`), or an edit or deletion (`edited`, `deleted`) of the sender's message at seq `ref` of
 * `conversation` (a direct one or a group).
 */
export interface SendCommand {
  from: string;
  clientId: string;
  /** The recipient of a direct text; empty for a group. */
  to: string;
  body: string;
  origin: Origin;
  conversation?: string;
  kind?: MessageKind;
  members?: readonly string[];
  ref?: number;
}

/** How the server API has a user's connections closed: the WebSocket close code (docs/PROTOCOL.md §4) and its reason. */
export interface SessionsClose {
  code: number;
  reason: string;
}

/** A send accepted: durable in the log, under its msgId. */
export interface Acceptance {
  msgId: string;
  conversation: string;
  ts: number;
}

/** A message for users one gateway holds (Message → Connect), but not for the connection it came from. */
export interface Push {
  message: Message;
  recipients: string[];
  /** The connection the send came from (it got `accepted`); empty when every connection gets it. */
  excludeConnection: string;
}

/** A read marker: the highest seq of `conversation` that `user` has read (their own messages count as read). */
export interface ReadMarker {
  conversation: string;
  user: string;
  seq: number;
}

/** A read marker that moved, for users one gateway holds (Message → Connect): the reader's other connections, a direct conversation's peer. */
export interface ReadPush {
  marker: ReadMarker;
  recipients: string[];
  /** The connection the marker came from (it got the answer); empty when every connection gets it. */
  excludeConnection: string;
}

/** Someone typing in a conversation: shown for `ttlMs` unless renewed, or ended by the typist's next message. */
export interface Typing {
  conversation: string;
  user: string;
  ttlMs: number;
}

/** Someone typing, for users one gateway holds (Message → Connect): the conversation's other members online there. */
export interface TypingPush {
  typing: Typing;
  recipients: string[];
}

/** A followed user came online (a first connection on some gateway) or went offline (their last closed). */
export interface PresenceChange {
  user: string;
  online: boolean;
}

/**
 * The fields a message's kind brings, as every codec writes them: none for a text; the kind and
 * its `members` (maybe empty) for any other; and `ref` for an edit or a deletion.
 */
export function kindFields(m: Pick<Message, 'kind' | 'members' | 'ref'>): Pick<Message, 'kind' | 'members' | 'ref'> {
  if (m.kind === undefined) return {};
  return isEdit(m) ? { kind: m.kind, members: [], ref: m.ref ?? 0 } : { kind: m.kind, members: m.members ?? [] };
}
