import type { HealthReporter } from '../../shared/health.js';
import type { Message, ReadMarker } from '../../shared/message.js';

/** One conversation of a user (a group's with its title, when it has one). */
export interface ConversationSummary {
  conversation: string;
  lastSeq: number;
  title?: string;
}

/** A conversation's summary; `title` only when there is one (an empty title is none). */
export function summaryOf(conversation: string, lastSeq: number, title?: string): ConversationSummary {
  return title ? { conversation, lastSeq, title } : { conversation, lastSeq };
}

/** One conversation of a user with their read marker: `unread` = lastSeq − readSeq. */
export interface ConversationListing extends ConversationSummary {
  readSeq: number;
  unread: number;
}

/** Raised by insertMessage when another message already holds (conversation, seq). */
export class SeqConflictError extends Error {
  constructor(
    readonly conversation: string,
    readonly seq: number,
  ) {
    super(`seq ${seq} of ${conversation} is taken`);
    this.name = 'SeqConflictError';
  }
}

/**
 * Raised by insertMessages when the first `inserted` messages of the call are stored and then the
 * call failed: the conversation index could not be advanced (a redelivery repairs it), or a later
 * part of the insert failed (its messages come again with the batch).
 */
export class IndexUpdateError extends Error {
  constructor(
    readonly inserted: number,
    options?: { cause?: unknown },
  ) {
    super(`${inserted} messages stored, but the conversation index was not updated`, options);
    this.name = 'IndexUpdateError';
  }
}

/**
 * Message storage (MongoDB, or the embedded twin). (conversation, seq) and msgId are unique: a
 * repeated send (same derived msgId) is never stored twice.
 */
export interface MessageStore extends HealthReporter {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * The highest stored seq of a conversation, 0 if none. Without `exact` it may come from the
   * conversation index (one key lookup), which can trail the messages after a crash between the two
   * writes; a conflict then tells the caller to ask again with `exact`.
   */
  lastSeq(conversation: string, exact?: boolean): Promise<number>;
  /** lastSeq (from the conversation index) of many conversations in one round trip; absent ones are 0. */
  lastSeqs(conversations: readonly string[]): Promise<Map<string, number>>;
  /**
   * Stores a message. Returns 'duplicate' (and stores nothing) when its msgId is stored already;
   * throws SeqConflictError when its seq is taken by another message. Also advances both
   * members' conversation index.
   */
  insertMessage(message: Message, members: readonly string[]): Promise<'inserted' | 'duplicate'>;
  /**
   * Stores messages in order and advances their conversations' index; stops at the first one whose
   * msgId or (conversation, seq) is taken. Returns how many, from the start, were stored; throws
   * IndexUpdateError when they were stored but the index update failed.
   */
  insertMessages(messages: readonly Message[], members: ReadonlyMap<string, readonly string[]>): Promise<number>;
  /**
   * The messages of these msgIds that are stored already (a redelivery or a repeated send), by
   * msgId, in one round trip; the conversation index is brought up to them, as insertMessage does
   * for a duplicate (it trails the messages after a crash between the two writes). `members`: as
   * for insertMessages.
   */
  storedAlready(msgIds: readonly string[], members: ReadonlyMap<string, readonly string[]>): Promise<Map<string, Message>>;
  /** Messages with seq > afterSeq, ascending, at most `limit`. */
  readMessages(conversation: string, afterSeq: number, limit: number): Promise<Message[]>;
  /** The user's conversations, most recently active first, at most `limit`. */
  listConversations(user: string, limit: number): Promise<ConversationSummary[]>;
  /**
   * The membership messages (those with a kind) of these group conversations, in seq order per
   * conversation; a group's roster is their fold (see domain/roster.ts).
   */
  membershipChanges(conversations: readonly string[]): Promise<Message[]>;
  /**
   * Sets who a group conversation is listed for (`listConversations`), and the title it is listed
   * with, from its roster as of `seq`; an older roster never overwrites a newer one.
   */
  setMembers(conversation: string, members: readonly string[], seq: number, title?: string): Promise<void>;
  /** How many groups each of these users is listed for (absent users: 0). */
  groupCounts(users: readonly string[]): Promise<Map<string, number>>;
  /** Whether any message is stored at all (a new deployment has none). */
  hasMessages(): Promise<boolean>;
  /** Moves `user`'s read marker of `conversation` up to `seq` (never down); returns the marker after. */
  markRead(user: string, conversation: string, seq: number): Promise<number>;
  /** `user`'s read markers of these conversations (0 where none is stored). */
  readMarkers(user: string, conversations: readonly string[]): Promise<Map<string, number>>;
  /** Moves each marker up to its seq (never down), in one round trip per few markers (senders' markers to their own messages). */
  advanceMarkers(markers: readonly ReadMarker[]): Promise<void>;
}
