import type { HealthReporter } from '../../shared/health.js';
import type { AcceptedSend } from '../../shared/message.js';

/** Entries of one partition, in log order. */
export interface LogBatch {
  partition: number;
  entries: readonly AcceptedSend[];
  /** Aborted once the batch is no longer this consumer's to handle (the partition moved, consuming stops): waits end early. */
  signal?: AbortSignal;
}

/**
 * What handling a batch promised: its entries are in the store once `persisted` resolves (the log
 * commits the batch's offsets then, in order, while it goes on with the next batches).
 */
export interface BatchOutcome {
  persisted: Promise<void>;
}

/**
 * Processes a batch. When the returned promise resolves (with no outcome, or once its
 * `persisted` does) the log commits the batch's offsets; if it rejects, the same entries are
 * delivered again (at-least-once).
 */
export type BatchHandler = (batch: LogBatch) => Promise<BatchResult>;

/** A handler that promises nothing more than its own end returns a plain Promise<void>. */
// eslint-disable-next-line @typescript-eslint/no-invalid-void-type
export type BatchResult = void | BatchOutcome;

/**
 * Told the partitions this consumer owns each time the group assigns them (an empty list when it
 * leaves the group or its consumer crashes). A partition in two consecutive assignments was owned
 * without a break; any other may have been written by another member meanwhile.
 */
export type AssignmentListener = (partitions: readonly number[]) => void;

/**
 * The durable, partitioned log of accepted sends (Kafka, or the embedded twin). Entries with the
 * same conversation go to the same partition; each partition is consumed by one member of the
 * consumer group at a time, in order.
 */
export interface MessageLog extends HealthReporter {
  /** Connects the producer. Rejects when the log cannot be reached. */
  start(): Promise<void>;
  /**
   * How many partitions the log has: entries of a conversation go to `partitionOf(conversation,
   * partitions())`. Known once started (the topic's own count, which may differ from the count
   * this pod would create it with); throws before.
   */
  partitions(): number;
  /** Appends an entry; resolves once it is durable (acks from all in-sync replicas). */
  append(entry: AcceptedSend): Promise<void>;
  /** Joins the consumer group and feeds every assigned partition's entries to `handler`. */
  consume(handler: BatchHandler, onAssignment?: AssignmentListener): Promise<void>;
  /** Finishes the batch in progress, commits it and leaves the group; appends still work. Idempotent. */
  stopConsuming(): Promise<void>;
  /** Stops consuming (if not yet) and disconnects the producer. Idempotent. */
  stop(): Promise<void>;
  /** Requests sent to the log's servers so far, by request type (logs that send none omit it). */
  requestCounts?(): ReadonlyMap<string, number>;
  /** Consumers started anew after one crashed (logs whose consumer cannot crash omit it). */
  consumerRestarts?(): number;
  /**
   * Records consumed that were not send entries (written by something else, or corrupted): each is
   * skipped, logged and counted here (logs that hold only their own entries omit it).
   */
  unreadableRecords?(): number;
}
