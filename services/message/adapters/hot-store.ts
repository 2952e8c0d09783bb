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

/** What a read of a conversation's recent messages finds. */
export interface HotRead {
  /** Not-yet-persisted messages with seq > afterSeq, ascending. */
  messages: Message[];
  /** Since when the conversation's partition records every msgId (see `sequenced`). */
  coveredSince: number | undefined;
}

/**
 * How many partitions the log has (known once it started): a conversation's partition is
 * `partitionOf(conversation, count)`, what the log's partitioner gives it.
 */
export type PartitionCount = () => number;

/** A message was recorded under a partition that is not its conversation's (a wiring fault). */
export class WrongPartitionError extends Error {
  constructor(conversation: string, partition: number, expected: number) {
    super(`${conversation} belongs to partition ${expected} of the log, not ${partition}`);
    this.name = 'WrongPartitionError';
  }
}

/**
 * The hot store could not do what was asked (its server away, the Redis Cluster node holding the
 * partition failing over, a write not acknowledged by enough replicas): a write may or may not
 * have been applied, and nothing was pushed on its strength.
 */
export class HotStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'HotStoreError';
  }
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
 * another message. What one partition's consumer writes and reads together (its claim, coverage,
 * records, and its conversations' messages, last seqs and listings) is kept together, so that a
 * Redis Cluster holds it in one slot.
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
   * users who no longer do). Throws FencedError when `owner` no longer holds the claim, and
   * WrongPartitionError for a message whose conversation is another partition's.
   */
  record(partition: number, owner: string, messages: readonly Message[], listed: ReadonlyMap<string, Listing>, dedupeWindowMs: number): Promise<void>;
  /**
   * The records of these msgIds of a partition (absent: not sequenced within the dedupe window, as
   * far as this store knows), and since when it records every msgId of the partition (undefined:
   * not known yet; ask `dedupeSince`).
   */
  sequenced(partition: number, msgIds: readonly string[]): Promise<{ records: Map<string, SequencedRecord>; coveredSince: number | undefined }>;
  /** Not-yet-persisted messages of a conversation with seq > afterSeq, ascending, at most `limit`, and its partition's coverage. */
  read(conversation: string, afterSeq: number, limit: number): Promise<HotRead>;
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
   * Since when (ms since the epoch) every msgId sequenced in the partition is recorded here: set
   * once, by the first consumer that asks. A partition asked for the first time takes the
   * deployment's start — 0 when the store was empty at the first ask of any partition (a new
   * deployment: everything is covered), else the time of that ask. A store that lost its data
   * (all of it, or a partition's share) sets it anew, to now.
   */
  dedupeSince(partition: number, storeIsEmpty: () => Promise<boolean>): Promise<number>;
  /** Msgids of the partition were sequenced without being recorded here (the store took them while this store was away): its coverage starts now. */
  resetCoverage(partition: number): Promise<void>;
  /** Who holds a partition's claim (null: nobody; the store lost it). */
  claimedBy(partition: number): Promise<string | null>;
}
