import { setTimeout as delay } from 'node:timers/promises';
import kafkajs, {
  Kafka,
  logLevel as KafkaLogLevel,
  type Consumer,
  type Producer,
  type Admin,
  type RetryOptions,
  type LogEntry as KafkaLogEntry,
} from 'kafkajs';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import { UnavailableError } from '../../shared/errors.js';
import { withTimeout } from '../../shared/lifecycle.js';
import { GroupCommit } from '../../shared/group-commit.js';
import { retryUntil } from '../../shared/retry.js';
import type { AssignmentListener, BatchHandler, BatchResult, MessageLog } from './log.js';
import { longPollWhenIdle } from './kafka-idle-fetch.js';
import { conversationPartitioner } from './partitioner.js';
import type { AcceptedSend } from '../../shared/message.js';
import { decodeLogRecord, encodeLogRecord } from './log-record.js';

// Not among the names Node finds in kafkajs's CommonJS exports: read from the module object.
const { ConfigResourceTypes } = kafkajs;

export interface KafkaLogOptions {
  brokers: string[];
  clientId: string;
  topic: string;
  groupId: string;
  /** Partitions of the topic when this process creates it. */
  partitions: number;
  /** Replicas of each partition when this process creates the topic (-1: the broker's default.replication.factor). */
  replicationFactor: number;
  /**
   * min.insync.replicas of the topic when this process creates it, capped at its replication
   * factor: an append is acknowledged only once this many replicas have it (acks=all), and
   * refused (UNAVAILABLE) while fewer are in sync.
   */
  minInsyncReplicas: number;
  /** Longest wait for an append to be acknowledged before UNAVAILABLE. */
  appendTimeoutMs: number;
  /**
   * A fetch returns once this many bytes are there or this long has passed: the consumer writes the
   * store once per fetch, so under load a fetch that waits a few milliseconds for more records
   * costs the store (and the broker) fewer, larger writes for a little latency.
   */
  fetchMaxWaitMs: number;
  fetchMinBytes: number;
  /**
   * After a fetch that brought no record, the next one waits up to this long for any record
   * instead (a long poll the broker answers as soon as one arrives): an idle log costs a fetch per
   * this wait rather than per fetchMaxWaitMs. 0: always fetch with the two settings above.
   */
  fetchIdleWaitMs: number;
  /**
   * Offsets are committed at most once per this interval, the partitions stored meanwhile
   * together (0: once per commit round trip). A commit is overhead for delivery — a lost one is a
   * redelivery the store recognises — and the broker serves each as a request of its own.
   */
  commitIntervalMs: number;
  /** Largest slice of a fetched batch handed to the pipeline before its offsets are committed. */
  maxBatch: number;
  logger: Logger;
  /** The random source of the consumer's restart delays (tests make them predictable). */
  random?: () => number;
}

/** How long a stopping consumer waits to leave its group (see finishCurrent). */
const LEAVE_WAIT_MS = 1500;
/**
 * How long a stopping consumer waits for the offsets of what it handled to be committed. A commit
 * in the middle of a rebalance is refused and retried until the rebalance is done: not waited for
 * beyond this, the entries go to the partitions' next owners again, which recognise them.
 */
const COMMIT_WAIT_MS = 1500;
/**
 * The log on Kafka via kafkajs (kept inside this file so a compatible client could replace it).
 * Idempotent producer with acks from all in-sync replicas; appends arriving while a produce is in
 * flight are sent together as the next request (group commit), one request in flight at a time,
 * which keeps their order. The consumer group commits a slice's offsets only after the pipeline
 * has stored it, the partitions stored while a commit is in flight together in the next one.
 */
export function createKafkaLog(opts: KafkaLogOptions): MessageLog {
  const log = opts.logger;
  const random = opts.random ?? Math.random;
  const client = (retry: RetryOptions): Kafka =>
    new Kafka({
      clientId: opts.clientId,
      brokers: opts.brokers,
      connectionTimeout: 3000,
      requestTimeout: 10_000,
      retry,
      logLevel: KafkaLogLevel.WARN,
      logCreator: () => (e: KafkaLogEntry) => {
        const { message, ...rest } = e.log;
        const fields = { namespace: e.namespace, ...rest };
        if (e.level <= KafkaLogLevel.ERROR) log.error(fields, `kafka: ${message}`);
        else if (e.level === KafkaLogLevel.WARN) log.warn(fields, `kafka: ${message}`);
        else log.debug(fields, `kafka: ${message}`);
      },
    });
  const kafka = client({ initialRetryTime: 200, maxRetryTime: 5000, retries: 8 });
  // Start-up probes the cluster with few retries: an unreachable cluster fails the attempt within about a
  // second, so the service's own retry loop reports it and backs off (the full budget would stay silent ~25 s).
  const bootstrap = client({ initialRetryTime: 200, maxRetryTime: 1000, retries: 2 });
  if (!longPollWhenIdle(opts.groupId, opts.fetchIdleWaitMs)) {
    log.warn(
      { fetchMaxWaitMs: opts.fetchMaxWaitMs },
      'this kafkajs cannot long-poll an idle log (KAFKA_FETCH_IDLE_WAIT): its consumer fetches at KAFKA_FETCH_MAX_WAIT even when idle',
    );
  }
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    createPartitioner: conversationPartitioner,
  });
  let producerUp = false;
  let consumerUp = false;
  let consumerDetail = 'consumer not started';
  let stopped = false;
  // Appends arriving while a produce is in flight go out together in the next one.
  const produces = new GroupCommit<AcceptedSend, void>(async (entries) => {
    try {
      await producer.send({
        topic: opts.topic,
        acks: -1,
        messages: entries.map((e) => ({ key: e.conversation, value: encodeLogRecord(e) })),
      });
      return entries.map(() => ({ ok: true, value: undefined }));
    } catch (err: unknown) {
      throw new UnavailableError(`log unavailable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  });

  // Requests by Kafka API (Produce, Fetch, OffsetCommit, …): what the log costs the broker and this process.
  const requests = new Map<string, number>();
  const countRequest = (e: { payload: { apiName: string } }): void => void requests.set(e.payload.apiName, (requests.get(e.payload.apiName) ?? 0) + 1);
  producer.on(producer.events.REQUEST, countRequest);
  producer.on(producer.events.CONNECT, () => (producerUp = true));
  producer.on(producer.events.DISCONNECT, () => (producerUp = false));

  async function ensureTopic(): Promise<void> {
    const admin: Admin = bootstrap.admin();
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(opts.topic)) {
        const replicas = opts.replicationFactor > 0 ? opts.replicationFactor : await defaultReplicationFactor(admin);
        const minInsync = Math.min(opts.minInsyncReplicas, replicas);
        const created = await admin.createTopics({
          topics: [
            {
              topic: opts.topic,
              numPartitions: opts.partitions,
              replicationFactor: opts.replicationFactor,
              configEntries: [{ name: 'min.insync.replicas', value: String(minInsync) }],
            },
          ],
          waitForLeaders: true,
        });
        if (minInsync < opts.minInsyncReplicas) {
          log.warn(
            { topic: opts.topic, replicas, minInsyncReplicas: minInsync },
            `min.insync.replicas capped at the replication factor: an accepted send is on ${minInsync} replica(s)`,
          );
        }
        log.info({ topic: opts.topic, partitions: opts.partitions, replicas, minInsyncReplicas: minInsync, created }, 'kafka topic ensured');
      }
    } finally {
      await admin.disconnect();
    }
  }

  /** The consumer running now, and how to finish it: its slices being handled, then their commits. */
  let current: { consumer: Consumer; drain: () => Promise<void> } | undefined;
  /** Set by stopConsuming: no consumer starts any more. */
  let consumeStopped = true;
  /** A crashed consumer being replaced by a new one. */
  let replacing: Promise<void> | undefined;
  /** Cuts the wait between replacement attempts short when consuming stops. */
  let wakeReplacer = new AbortController();
  let restarts = 0;
  let unreadable = 0;

  async function finishCurrent(): Promise<void> {
    const cur = current;
    current = undefined;
    if (!cur) return;
    await cur.drain();
    // Leaves the group (a crashed consumer has disconnected already). In the middle of a rebalance
    // kafkajs leaves only once the rebalance is done, which waits for every member (up to the
    // rebalance timeout): not waited for beyond a moment, the group then drops this member at its
    // session timeout, and the rest of the stop goes on.
    const left = cur.consumer.disconnect().catch((err: unknown) => log.warn({ err }, 'disconnecting the kafka consumer failed'));
    await withTimeout(left, LEAVE_WAIT_MS, 'leaving the group').catch(() =>
      log.info({ waitedMs: LEAVE_WAIT_MS }, 'the consumer group is rebalancing: leaving it at the session timeout instead'),
    );
  }

  async function stopConsuming(): Promise<void> {
    consumeStopped = true;
    wakeReplacer.abort();
    await replacing;
    await finishCurrent();
    consumerUp = false;
    consumerDetail = 'consumer stopped';
  }

  /**
   * Starts a consumer that feeds its partitions' slices to `handler`. Rejects when it cannot join
   * the group (connect, subscribe or the first join failed); a crash after that calls `crashed`.
   * kafkajs restarts none of its crashed consumers here (`restartOnFailure`): by itself it restarts
   * only after errors it deems retriable, and one it leaves down would leave accepted sends unstored
   * for as long as the process lives — "failed to find group coordinator" while a restarted broker
   * comes back is one such error. Every crash takes the same way instead: a fresh consumer.
   */
  async function runConsumer(handler: BatchHandler, onAssignment: AssignmentListener | undefined, crashed: () => void): Promise<void> {
    const c = kafka.consumer({
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
      random,
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
    let started = false;
    let crash: Error | undefined;
    c.on(c.events.REQUEST, countRequest);
    c.on(c.events.GROUP_JOIN, (e) => {
      lanes.reassigned();
      onAssignment?.(e.payload.memberAssignment[opts.topic] ?? []);
      consumerUp = true;
      consumerDetail = `member of ${opts.groupId}, ${JSON.stringify(e.payload.memberAssignment[opts.topic] ?? [])} assigned`;
      log.info({ assignment: e.payload.memberAssignment, generation: e.payload.groupId }, 'joined consumer group');
    });
    c.on(c.events.CRASH, (e) => {
      crash = e.payload.error;
      lanes.reassigned();
      onAssignment?.([]);
      consumerUp = false;
      consumerDetail = `consumer crashed: ${crash.message}; a new one starts`;
      log.error({ err: crash }, 'kafka consumer crashed; a new one starts');
      if (started) crashed();
    });
    // Out of the group; the detail of a crash stays until the next consumer joins.
    const left = (detail: string) => (): void => {
      onAssignment?.([]);
      consumerUp = false;
      if (!crash) consumerDetail = detail;
    };
    c.on(c.events.DISCONNECT, left('consumer disconnected'));
    c.on(c.events.STOP, left('consumer stopped'));
    // Known before it connects, so that stopConsuming meanwhile finds it.
    current = { consumer: c, drain };
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
                unreadable++;
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
      // `current` changes while the join above awaits.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (current?.consumer === c) await finishCurrent();
      throw err;
    }
    started = true;
  }

  return {
    async start() {
      stopped = false;
      await ensureTopic();
      await producer.connect();
      producerUp = true;
    },
    append(entry) {
      if (stopped) return Promise.reject(new UnavailableError('log is stopping'));
      if (!producerUp) return Promise.reject(new UnavailableError('log unavailable: producer not connected'));
      const done = produces.submit(entry);
      // A produce that outlives the deadline may still land; the client retries with the same id.
      return withTimeout(done, opts.appendTimeoutMs, `log unavailable: no acknowledgement within ${opts.appendTimeoutMs} ms`).catch((err: unknown) => {
        throw err instanceof UnavailableError ? err : new UnavailableError((err as Error).message, { cause: err });
      });
    },
    async consume(handler: BatchHandler, onAssignment?: AssignmentListener) {
      consumeStopped = false;
      wakeReplacer = new AbortController();
      let crashed = false;
      // A crashed consumer is finished and a new one started, with backoff, until one joins; a
      // crash meanwhile (of a consumer that joined) goes round again.
      const replace = (): void => {
        crashed = true;
        if (replacing || consumeStopped) return;
        replacing = (async () => {
          const signal = wakeReplacer.signal;
          const sleep = (ms: number): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);
          // Both flags change while the loop sleeps (another crash, stopConsuming).
          // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
          while (crashed && !consumeStopped) {
            crashed = false;
            restarts++;
            await finishCurrent();
            await sleep(500 + random() * 500);
            await retryUntil(() => runConsumer(handler, onAssignment, replace), {
              backoff: { initialMs: 500, multiplier: 2, jitter: 0.2, maxMs: 10_000 },
              random,
              stopped: () => consumeStopped,
              onRetry: (err, retryInMs) => {
                consumerDetail = `consumer not running: ${err instanceof Error ? err.message : String(err)}; next attempt in ${Math.round(retryInMs)} ms`;
                log.warn({ err, retryInMs }, 'kafka consumer could not join; trying again');
              },
              sleep,
            });
          }
        })().finally(() => (replacing = undefined));
      };
      await runConsumer(handler, onAssignment, replace);
    },
    stopConsuming,
    requestCounts: () => requests,
    consumerRestarts: () => restarts,
    unreadableRecords: () => unreadable,
    async stop() {
      stopped = true;
      await stopConsuming();
      await produces.idle();
      await producer.disconnect();
    },
    health(): CheckResult {
      return { ok: producerUp && consumerUp, detail: `producer ${producerUp ? 'connected' : 'not connected'}; ${consumerDetail}` };
    },
  };
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

/** The replication factor a topic created with -1 gets: the controller's default.replication.factor. */
async function defaultReplicationFactor(admin: Admin): Promise<number> {
  const { controller, brokers } = await admin.describeCluster();
  const node = controller ?? brokers[0]?.nodeId;
  const described = await admin.describeConfigs({
    includeSynonyms: false,
    resources: [{ type: ConfigResourceTypes.BROKER, name: String(node), configNames: ['default.replication.factor'] }],
  });
  const value = Number(described.resources[0]?.configEntries.find((e) => e.configName === 'default.replication.factor')?.configValue);
  return Number.isInteger(value) && value > 0 ? value : 1;
}
