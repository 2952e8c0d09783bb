import type { HealthReporter } from '../../shared/health.js';
import type { ConversationSummary } from './store.js';
import type { Message } from '../../shared/message.js';

/** How a message was sequenced: its conversation, seq and accept time (a record of the same accept time is the same log record). */
export interface SequencedRecord {
  conversation: string;
  seq: number;
  ts: number;
}

/** The users whose recent conversations a message adds its conversation to, or takes it from. */
export interface Listing {
  list: readonly string[];
  unlist: readonly string[];
}

/** A partition's claim was taken by another consumer (a newer owner): this one must not push. */
export class FencedError extends Error {
  constructor(readonly partition: number) {
    super(`partition ${partition} is claimed by another consumer`);
    this.name = 'FencedError';
  }
}

/**
 * Messages that have their seq and have been pushed, but may not be in the store yet (Redis, or the
 * embedded twin): what makes a seq durable before the push, lets the partition's next owner give
 * a redelivered entry the same seq, and lets reads see what the store does not have yet.
 *
 * Every write is fenced by the partition's claim: a consumer that lost its partition (a stale
 * owner during a rebalance) can no longer record, so it never pushes a seq the new owner gives to
 * another message.
 */
export interface HotStore extends HealthReporter {
  start(): Promise<void>;
  stop(): Promise<void>;
  /**
   * Claims a partition for `owner` (a token unique to this consumer and assignment): later writes
   * of any other owner fail. Resolves with the owner it took the claim from (null: nobody held it).
   */
  claim(partition: number, owner: string): Promise<string | null>;
  /**
   * Records sequenced messages of a partition, as one atomic write: each msgId's record (kept
   * `dedupeWindowMs`), each message for reads until it is persisted, each conversation's last seq,
   * and the listings its message changes (`listed` by msgId: users who now list the conversation,
   * users who no longer do). Throws FencedError when `owner` no longer holds the claim.
   */
  record(partition: number, owner: string, messages: readonly Message[], listed: ReadonlyMap<string, Listing>, dedupeWindowMs: number): Promise<void>;
  /**
   * The records of these msgIds (absent: not sequenced within the dedupe window, as far as this
   * store knows), and since when it records every msgId (undefined: not known yet; ask
   * `dedupeSince`).
   */
  sequenced(msgIds: readonly string[]): Promise<{ records: Map<string, SequencedRecord>; coveredSince: number | undefined }>;
  /** Not-yet-persisted messages of a conversation with seq > afterSeq, ascending, at most `limit`. */
  read(conversation: string, afterSeq: number, limit: number): Promise<Message[]>;
  /**
   * The last seq recorded here of each conversation (absent: none recorded lately), and when it
   * was recorded: a last seq recorded before `coveredSince` may trail what the store took while
   * this store was away.
   */
  lastSeqs(conversations: readonly string[]): Promise<Map<string, { seq: number; at: number }>>;
  /** The conversations recorded lately for a user (as `listed` named them), with their last seq. */
  listing(user: string): Promise<ConversationSummary[]>;
  /** Forgets the messages of each conversation up to its seq: they are in the store now. */
  persisted(upTo: ReadonlyMap<string, number>): Promise<void>;
  /**
   * Since when (ms since the epoch) every msgId sequenced is recorded here: set once, by the first
   * consumer that asks — to 0 when the store is empty then (a new deployment: everything is
   * covered), else to now. A store that lost its data sets it anew.
   */
  dedupeSince(storeIsEmpty: () => Promise<boolean>): Promise<number>;
  /** Msgids were sequenced without being recorded here (the store took them while this store was away): coverage starts now. */
  resetCoverage(): Promise<void>;
  /** Who holds a partition's claim (null: nobody; the store lost it). */
  claimedBy(partition: number): Promise<string | null>;
}
