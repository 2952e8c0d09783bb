import { setTimeout as delay } from 'node:timers/promises';
import type { Consumer, Kafka } from 'kafkajs';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import { withTimeout } from '../../shared/lifecycle.js';
import { GroupCommit } from '../../shared/group-commit.js';
import { retryUntil } from '../../shared/retry.js';
import type { AcceptedSend } from '../../shared/message.js';
import type { AssignmentListener, BatchHandler, BatchResult } from './log.js';
import { decodeLogRecord } from './log-record.js';

/** How long a stopping consumer waits to leave its group (see finish). */
const LEAVE_WAIT_MS = 1500;
/**
 * How long a stopping consumer waits for the offsets of what it handled to be committed. A commit
 * in the middle of a rebalance is refused and retried until the rebalance is done: not waited for
 * beyond this, the entries go to the partitions' next owners again, which recognise them.
 */
const COMMIT_WAIT_MS = 1500;

export interface ConsumerSupervisorOptions {
  kafka: Kafka;
  topic: string;
  groupId: string;
  partitions: number;
  fetchMaxWaitMs: number;
  fetchMinBytes: number;
  commitIntervalMs: number;
  maxBatch: number;
  logger: Logger;
  random: () => number;
  /** Each request a consumer sends (the log's request counts). */
  onRequest: (e: { payload: { apiName: string } }) => void;
}

/** One kafkajs consumer and how to finish it: its slices being handled, then their commits. */
interface Run {
  consumer: Consumer;
  drain: () => Promise<void>;
}

/**
 * The supervisor's state, with what it holds:
 *
 *     idle ─consume→ joining ─joined→ member ─rejoined→ member
 *     joining or member ─crashed (held to be finished), failed to join→ replacing ─retry→ joining
 *     member ─disconnected→ out (until kafkajs rejoins: member, or it crashes: replacing)
 *     any ─stopConsuming→ stopped ─consume→ joining
 */
type State =
  | { name: 'idle' }
  | { name: 'joining'; run: Run }
  | { name: 'member'; run: Run; assignment: readonly number[] }
  | { name: 'out'; run: Run; detail: string }
  | { name: 'replacing'; detail: string; crashed?: Run }
  | { name: 'stopped' };

/**
 * Keeps one consumer of the group running for the process: a consumer that crashes is finished and
 * a fresh one started, with backoff, until one joins. kafkajs restarts none of its crashed
 * consumers here (`restartOnFailure`): by itself it restarts only after errors it deems retriable,
 * and one it leaves down would leave accepted sends unstored for as long as the process lives —
 * "failed to find group coordinator" while a restarted broker comes back is one such error. Every
 * crash takes the same way instead: a fresh consumer. The state changes in `transition` only;
 * health and its detail are read from it.
 */
export class ConsumerSupervisor {
  private state: State = { name: 'idle' };
  /** The replacement loop running now (a crash while it runs makes it go round again). */
  private replacing: Promise<void> | undefined;
  private crashedAgain = false;
  /** Cuts the waits of the replacement loop short when consuming stops. */
  private wake = new AbortController();
  private restartCount = 0;
  private unreadableCount = 0;

  constructor(private readonly opts: ConsumerSupervisorOptions) {}

  /** Consumers started anew after one crashed. */
  get restarts(): number {
    return this.restartCount;
  }

  /** Records consumed that were not send entries (skipped, logged, counted). */
  get unreadable(): number {
    return this.unreadableCount;
  }

  health(): CheckResult {
    return { ok: this.state.name === 'member', detail: this.detail() };
  }

  private detail(): string {
    const s = this.state;
    switch (s.name) {
      case 'idle':
        return 'consumer not started';
      case 'joining':
        return 'consumer joining its group';
      case 'member':
        return `member of ${this.opts.groupId}, ${JSON.stringify(s.assignment)} assigned`;
      case 'stopped':
        return 'consumer stopped';
      default:
        return s.detail;
    }
  }

  /** Joins the group and feeds each assigned partition's slices to `handler`; rejects when the first consumer cannot join. */
  async consume(handler: BatchHandler, onAssignment?: AssignmentListener): Promise<void> {
    this.wake = new AbortController();
    await this.run(handler, onAssignment);
  }

  /** Finishes the consumer (its slices in progress, their commits) and leaves the group; no consumer starts any more. */
  async stop(): Promise<void> {
    const run = this.runOf(this.state);
    this.transition(['idle', 'joining', 'member', 'out', 'replacing', 'stopped'], { name: 'stopped' });
    this.wake.abort();
    await this.replacing;
    if (run) await this.finish(run);
  }

  private runOf(s: State): Run | undefined {
    return s.name === 'joining' || s.name === 'member' || s.name === 'out' ? s.run : undefined;
  }

  /** The one place the state changes: `to` must follow one of `from` (false otherwise: a stop came first). */
  private transition(from: ReadonlyArray<State['name']>, to: State): boolean {
    if (!from.includes(this.state.name)) return false;
    this.state = to;
    return true;
  }

  /**
   * A consumer that had joined crashed: the replacement loop finishes it and starts another, until
   * one joins; a crash of that one while the loop still runs goes round again.
   */
  private crashed(handler: BatchHandler, onAssignment: AssignmentListener | undefined, run: Run, err: Error): void {
    if (this.runOf(this.state) !== run) return;
    this.transition(['joining', 'member', 'out'], { name: 'replacing', detail: `consumer crashed: ${err.message}; a new one starts`, crashed: run });
    this.crashedAgain = true;
    this.replacing ??= (async () => {
      const signal = this.wake.signal;
      const sleep = (ms: number): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);
      // Changed while the loop sleeps (another crash, a stop).
      while (this.crashedAgain && this.state.name !== 'stopped') {
        this.crashedAgain = false;
        this.restartCount++;
        // The consumer that crashed, held by the state until it is finished.
        const s = this.state;
        if (s.name === 'replacing' && s.crashed) await this.finish(s.crashed);
        await sleep(500 + this.opts.random() * 500);
        await retryUntil(() => this.run(handler, onAssignment), {
          backoff: { initialMs: 500, multiplier: 2, jitter: 0.2, maxMs: 10_000 },
          random: this.opts.random,
          stopped: () => this.state.name === 'stopped',
          onRetry: (e, retryInMs) => {
            const detail = `consumer not running: ${e instanceof Error ? e.message : String(e)}; next attempt in ${Math.round(retryInMs)} ms`;
            this.transition(['replacing'], { name: 'replacing', detail });
            this.opts.logger.warn({ err: e, retryInMs }, 'kafka consumer could not join; trying again');
          },
          sleep,
        });
      }
    })().finally(() => (this.replacing = undefined));
  }

  /**
   * Finishes a consumer: the slices being handled finish and their commits go out, then it leaves
   * the group (a crashed consumer has disconnected already). In the middle of a rebalance kafkajs
   * leaves only once the rebalance is done, which waits for every member (up to the rebalance
   * timeout): not waited for beyond a moment, the group then drops this member at its session
   * timeout, and the rest of the stop goes on.
   */
  private async finish(run: Run): Promise<void> {
    await run.drain();
    const log = this.opts.logger;
    const left = run.consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'disconnecting the kafka consumer failed'));
    await withTimeout(left, LEAVE_WAIT_MS, 'leaving the group').catch(() =>
      log.info({ waitedMs: LEAVE_WAIT_MS }, 'the consumer group is rebalancing: leaving it at the session timeout instead'),
    );
  }

  /**
   * Starts a consumer that feeds its partitions' slices to `handler` (joining). Rejects when it
   * cannot join the group (connect, subscribe or the first join failed), after finishing it; a
   * crash after that goes to `crashed`.
   */
  private async run(handler: BatchHandler, onAssignment: AssignmentListener | undefined): Promise<void> {
    const { opts } = this;
    const log = opts.logger;
    const c = opts.kafka.consumer({
      groupId: opts.groupId,
      sessionTimeout: 10_000,
      heartbeatInterval: 1000,
      maxWaitTimeInMs: opts.fetchMaxWaitMs,
      minBytes: opts.fetchMinBytes,
      rebalanceTimeout: 20_000,
      allowAutoTopicCreation: false,
      retry: { initialRetryTime: 200, maxRetryTime: 5000, retries: 10, restartOnFailure: () => Promise.resolve(false) },
    });
    // A slice's offset is committed once it is stored. One commit in flight, at most one per
    // commit interval; the partitions whose slices are stored meanwhile go together in the next:
    // not a request per partition slice. Commits are not waited for: a lost one means a
    // redelivery, which the store recognises.
    const commitsOf = new GroupCommit<{ partition: number; offset: string }, void>(
      async (items) => {
        // Offsets grow per partition in submission order: the last one of each is committed.
        const latest = new Map(items.map(({ partition, offset }) => [partition, offset] as const));
        await c.commitOffsets([...latest].map(([partition, offset]) => ({ topic: opts.topic, partition, offset })));
        return items.map(() => ({ ok: true, value: undefined }));
      },
      { maxItems: Number.MAX_SAFE_INTEGER, minIntervalMs: opts.commitIntervalMs },
    );
    const lanes = new Lanes(
      handler,
      (partition, offset) =>
        void commitsOf
          .submit({ partition, offset })
          .catch((err: unknown) => log.warn({ err, partition, offset }, "offset commit failed; the partition's next owner gets those entries again")),
      log,
      opts.random,
    );
    // Slices handed over but not begun are dropped (their offsets are not committed, so the
    // partition's next owner gets them); the ones being handled finish, and their commits go out
    // before the consumer leaves the group.
    const drain = async (): Promise<void> => {
      try {
        c.pause([{ topic: opts.topic }]);
      } catch (err: unknown) {
        // Not running (crashed): nothing fetches.
        log.debug({ err }, 'pausing a consumer that is not running');
      }
      await lanes.stop();
      const committed = (async () => {
        await lanes.committed();
        await commitsOf.idle();
      })();
      await withTimeout(committed, COMMIT_WAIT_MS, 'committing the handled offsets').catch(() =>
        log.info({ waitedMs: COMMIT_WAIT_MS }, "offsets not committed in time; the partitions' next owners get those entries again"),
      );
    };
    const run: Run = { consumer: c, drain };
    let joinedOnce = false;
    let crash: Error | undefined;
    const mine = (): boolean => this.runOf(this.state) === run;
    c.on(c.events.REQUEST, opts.onRequest);
    c.on(c.events.GROUP_JOIN, (e) => {
      lanes.reassigned();
      const assignment = e.payload.memberAssignment[opts.topic] ?? [];
      onAssignment?.(assignment);
      if (mine()) this.transition(['joining', 'member', 'out'], { name: 'member', run, assignment });
      log.info({ assignment: e.payload.memberAssignment, generation: e.payload.groupId }, 'joined consumer group');
    });
    c.on(c.events.CRASH, (e) => {
      crash = e.payload.error;
      lanes.reassigned();
      onAssignment?.([]);
      log.error({ err: crash }, 'kafka consumer crashed; a new one starts');
      if (joinedOnce) this.crashed(handler, onAssignment, run, crash);
    });
    // Out of the group; the detail of a crash stays until the next consumer joins.
    const left = (detail: string) => (): void => {
      onAssignment?.([]);
      if (mine() && !crash) this.transition(['joining', 'member', 'out'], { name: 'out', run, detail });
    };
    c.on(c.events.DISCONNECT, left('consumer disconnected'));
    c.on(c.events.STOP, left('consumer stopped'));
    // Known before it connects, so that a stop meanwhile finds it.
    if (!this.transition(['idle', 'replacing', 'stopped'], { name: 'joining', run })) throw new Error('a consumer is running already');
    try {
      await c.connect();
      await c.subscribe({ topic: opts.topic, fromBeginning: true });
      await c.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, Math.min(opts.partitions, 8)),
        // kafkajs hands these over as closures bound to their batch.
        // eslint-disable-next-line @typescript-eslint/unbound-method
        eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
          for (let i = 0; i < batch.messages.length; i += opts.maxBatch) {
            if (!isRunning() || isStale() || lanes.stopping) return;
            const slice = batch.messages.slice(i, i + opts.maxBatch);
            const entries: AcceptedSend[] = [];
            for (const m of slice) {
              const entry = decodeLogRecord(m.value);
              if (entry) entries.push(entry);
              else {
                this.unreadableCount++;
                log.error({ partition: batch.partition, offset: m.offset }, 'unreadable log record skipped (not a send entry)');
              }
            }
            const last = slice[slice.length - 1]!.offset;
            // Handed over: the next fetch goes on past it while it is handled (its offset is
            // committed once it is stored). At most one slice per partition waits behind the one
            // being handled: this waits for the one before it, heartbeating meanwhile.
            const before = lanes.handOver(batch.partition, entries, (BigInt(last) + 1n).toString());
            resolveOffset(last);
            await waitHeartbeating(before, heartbeat);
          }
        },
      });
      // The first join failed (kafkajs reports it as a crash and run() returns).
      if (crash) throw crash;
    } catch (err: unknown) {
      // Still this run's (a stop meanwhile finishes it itself): finished, and back to replacing.
      if (mine()) {
        this.transition(['joining', 'member', 'out'], {
          name: 'replacing',
          detail: `consumer not running: ${err instanceof Error ? err.message : String(err)}`,
        });
        await this.finish(run);
      }
      throw err;
    }
    joinedOnce = true;
  }
}

/**
 * The consumer's partitions, each a lane of slices handled one after another in log order, so
 * that the fetch loop hands a slice over and fetches on: kafkajs fetches again only once every
 * batch of its last fetch has been handed back, and a slice handled inside that loop would hold
 * every partition back by the slowest store write and offset commit. A failed slice is handled
 * again with backoff (as the embedded log redelivers) until it succeeds or the assignment changes.
 */
class Lanes {
  private readonly tails = new Map<number, Promise<void>>();
  /** Per partition, the commit that waits for the last handled slice's entries to be stored. */
  private readonly commits = new Map<number, Promise<void>>();
  /** Aborted to cut the backoff waits short (a new assignment, a stop). */
  private wake = new AbortController();
  /** Bumped at every assignment and at stop: slices handed over before it are not begun. */
  private generation = 0;
  stopping = false;

  constructor(
    private readonly handler: BatchHandler,
    private readonly commit: (partition: number, offset: string) => void,
    private readonly log: Logger,
    private readonly random: () => number,
  ) {}

  /**
   * Queues a slice (`next`: the offset after it) behind the partition's others. Resolves once the
   * slice before it is done (never rejects).
   */
  handOver(partition: number, entries: AcceptedSend[], next: string): Promise<void> {
    const before = this.tails.get(partition) ?? Promise.resolve();
    const generation = this.generation;
    const tail = before.then(() => this.handle(partition, entries, next, generation));
    this.tails.set(partition, tail);
    void tail.finally(() => {
      if (this.tails.get(partition) === tail) this.tails.delete(partition);
    });
    return before;
  }

  private async handle(partition: number, entries: AcceptedSend[], next: string, generation: number): Promise<void> {
    const current = (): boolean => generation === this.generation;
    // Assigned anew since it was handed over: the partition's owner now reads it from the
    // committed offset (this consumer too, when it kept the partition).
    if (!current()) return;
    let outcome: BatchResult = undefined;
    // Aborted with the generation (a new assignment, a stop).
    const signal = this.wake.signal;
    const done =
      entries.length === 0 ||
      (await retryUntil(
        async () => {
          outcome = await this.handler({ partition, entries, signal });
        },
        {
          backoff: { initialMs: 200, multiplier: 2, jitter: 0.2, maxMs: 5_000 },
          random: this.random,
          stopped: () => !current(),
          onRetry: (err, delay) => this.log.warn({ err, partition, retryInMs: delay }, 'batch failed; handling it again'),
          // Cut short when the partition is assigned anew or consuming stops: the wait ends with it.
          sleep: (ms) => delay(ms, undefined, { signal: this.wake.signal }).catch(() => undefined),
        },
      ));
    if (!done) return;
    // Handled: the next slice goes on, and this one's offset is committed once its entries are
    // stored (in order: each partition's outcomes are persisted in order). Committed even when the
    // assignment changed meanwhile (an offset whose entries are all stored; at worst an earlier one
    // than the new owner's, which redelivers stored entries).
    const persisted = (outcome as BatchResult)?.persisted;
    if (!persisted) {
      this.commit(partition, next);
      return;
    }
    const commitAfter = (this.commits.get(partition) ?? Promise.resolve()).then(() => persisted).then(() => this.commit(partition, next));
    this.commits.set(partition, commitAfter);
    void commitAfter.finally(() => {
      if (this.commits.get(partition) === commitAfter) this.commits.delete(partition);
    });
  }

  /** The group assigned partitions anew (or the consumer crashed): what waits is not begun. */
  reassigned(): void {
    this.generation++;
    this.interrupt();
  }

  /** Wakes every slice waiting out a backoff (it then finds the generation changed). */
  private interrupt(): void {
    this.wake.abort();
    this.wake = new AbortController();
  }

  /** Begins nothing more; resolves once the slices being handled are done. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.generation++;
    this.interrupt();
    await Promise.allSettled([...this.tails.values()]);
  }

  /** Resolves once the handled slices' entries are stored and their commits submitted (the caller bounds the wait). */
  async committed(): Promise<void> {
    await Promise.allSettled([...this.commits.values()]);
  }
}

/** Waits for `done`, heartbeating every second meanwhile (a wait longer than the session timeout would cost the membership). */
async function waitHeartbeating(done: Promise<void>, heartbeat: () => Promise<void>): Promise<void> {
  const state = { finished: false };
  void done.then(() => (state.finished = true));
  await heartbeat();
  while (!state.finished) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([done, new Promise((r) => (timer = setTimeout(r, 1000)))]);
    clearTimeout(timer);
    // Set by `done` while the race above awaited.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (!state.finished) await heartbeat();
  }
}
