import type { Logger } from '../../shared/logger.js';
import { retryUntil } from '../../shared/retry.js';
import type { CheckResult } from '../../shared/health.js';
import { UnavailableError } from '../../shared/errors.js';
import type { AssignmentListener, BatchHandler, BatchResult, MessageLog } from './log.js';
import { partitionOf } from './partitioner.js';
import type { AcceptedSend } from '../../shared/message.js';

export interface EmbeddedLogOptions {
  partitions: number;
  /** Largest batch handed to the consumer. */
  maxBatch?: number;
  logger: Logger;
  /** Random source of the redelivery backoff (tests). */
  random?: () => number;
}

interface Partition {
  /** Entries from `base` on; everything below was committed and dropped. */
  entries: AcceptedSend[];
  base: number;
  /** Entries below this were handled (their commit waits for them to be stored). */
  handled: number;
  /** The commits waiting for their entries to be stored, in order. */
  commits: Promise<void>;
  running: boolean;
}

/**
 * In-process twin of the Kafka log: keyed partitions, one consumer (a group of one), offsets
 * committed after the handler resolves, redelivery with backoff when it rejects. Not durable.
 */
export function createEmbeddedLog(opts: EmbeddedLogOptions): MessageLog {
  const maxBatch = opts.maxBatch ?? 100;
  const partitions: Partition[] = Array.from({ length: opts.partitions }, () => ({
    entries: [],
    base: 0,
    handled: 0,
    commits: Promise.resolve(),
    running: false,
  }));
  let handler: BatchHandler | undefined;
  let assigned: AssignmentListener | undefined;
  let started = false;
  let stopped = false;
  let consuming = true;
  const inFlight = new Set<Promise<void>>();

  function drain(index: number): void {
    const p = partitions[index]!;
    if (!handler || p.running || !consuming || p.handled >= p.base + p.entries.length) return;
    p.running = true;
    const run = (async () => {
      // `consuming` is cleared by stopConsuming while this loop awaits the handler.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      while (consuming && p.handled < p.base + p.entries.length) {
        const from = p.handled - p.base;
        const batch = p.entries.slice(from, from + maxBatch);
        let outcome: BatchResult = undefined;
        const done = await retryUntil(
          async () => {
            outcome = await handler!({ partition: index, entries: batch });
          },
          {
            backoff: { initialMs: 50, multiplier: 2, jitter: 0.2, maxMs: 5_000 },
            stopped: () => !consuming,
            onRetry: (err, delay) => opts.logger.warn({ err, partition: index, retryInMs: delay }, 'batch failed; redelivering'),
            sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
            random: opts.random,
          },
        );
        if (!done) break;
        p.handled += batch.length;
        // Committed (and dropped) once stored, in order; the next batch goes on meanwhile.
        const upTo = p.handled;
        const stored = (outcome as BatchResult)?.persisted ?? Promise.resolve();
        const commit = (p.commits = p.commits
          .then(() => stored)
          .then(() => {
            p.entries.splice(0, upTo - p.base);
            p.base = upTo;
          }));
        inFlight.add(commit);
        void commit.finally(() => inFlight.delete(commit));
      }
    })().finally(() => {
      p.running = false;
      inFlight.delete(run);
      drain(index);
    });
    inFlight.add(run);
  }

  return {
    async start() {
      // Restartable like the external log it stands in for: entries survive a stop/start.
      started = true;
      stopped = false;
    },
    partitions() {
      if (!started) throw new Error('the log has not started: its partitions are not known yet');
      return partitions.length;
    },
    async append(entry) {
      if (!started || stopped) throw new UnavailableError('log is not running');
      const index = partitionOf(entry.conversation, partitions.length);
      partitions[index]!.entries.push(structuredClone(entry));
      queueMicrotask(() => drain(index));
    },
    async consume(h, onAssignment) {
      handler = h;
      assigned = onAssignment;
      consuming = true;
      assigned?.(partitions.map((_, i) => i)); // a group of one owns every partition
      partitions.forEach((_, i) => drain(i));
    },
    async stopConsuming() {
      consuming = false;
      assigned?.([]);
      await Promise.allSettled([...inFlight]);
    },
    async stop() {
      if (consuming) assigned?.([]);
      consuming = false;
      stopped = true;
      await Promise.allSettled([...inFlight]);
    },
    health(): CheckResult {
      if (stopped) return { ok: false, detail: 'stopped' };
      if (!started) return { ok: false, detail: 'not started' };
      if (!handler || !consuming) return { ok: false, detail: handler ? 'consumer stopped' : 'consumer not started' };
      return { ok: true, detail: `embedded, ${partitions.length} partitions` };
    },
  };
}
