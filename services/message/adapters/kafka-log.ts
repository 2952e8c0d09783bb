import kafkajs, { Kafka, logLevel as KafkaLogLevel, type Producer, type Admin, type RetryOptions, type LogEntry as KafkaLogEntry } from 'kafkajs';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import { UnavailableError } from '../../shared/errors.js';
import { withTimeout } from '../../shared/lifecycle.js';
import { GroupCommit } from '../../shared/group-commit.js';
import type { MessageLog } from './log.js';
import { ConsumerSupervisor } from './kafka-consumer.js';
import { longPollWhenIdle } from './kafka-idle-fetch.js';
import { conversationPartitioner } from './partitioner.js';
import type { AcceptedSend } from '../../shared/message.js';
import { encodeLogRecord } from './log-record.js';

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

/**
 * The log on Kafka via kafkajs (kept inside this file and kafka-consumer.ts, so a compatible client
 * could replace it). Idempotent producer with acks from all in-sync replicas; appends arriving while
 * a produce is in flight are sent together as the next request (group commit), one request in
 * flight at a time, which keeps their order. The consumer side is the ConsumerSupervisor: it keeps
 * one consumer of the group running and commits a slice's offsets only after the pipeline has
 * stored it.
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
  let stopped = false;
  let partitionCount: number | undefined;
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
      // The topic's own count: the producer places a conversation by it, and so do its readers.
      const [metadata] = (await admin.fetchTopicMetadata({ topics: [opts.topic] })).topics;
      const count = metadata?.partitions.length ?? 0;
      if (count === 0) throw new Error(`kafka topic ${opts.topic} has no partitions in its metadata`);
      if (count !== opts.partitions)
        log.info(
          { topic: opts.topic, partitions: count, KAFKA_PARTITIONS: opts.partitions },
          'the topic has its own partition count; KAFKA_PARTITIONS applies only when this pod creates it',
        );
      partitionCount = count;
    } finally {
      await admin.disconnect();
    }
  }

  const consumers = new ConsumerSupervisor({
    kafka,
    topic: opts.topic,
    groupId: opts.groupId,
    partitions: opts.partitions,
    fetchMaxWaitMs: opts.fetchMaxWaitMs,
    fetchMinBytes: opts.fetchMinBytes,
    commitIntervalMs: opts.commitIntervalMs,
    maxBatch: opts.maxBatch,
    logger: log,
    random,
    onRequest: countRequest,
  });

  return {
    async start() {
      stopped = false;
      await ensureTopic();
      await producer.connect();
      producerUp = true;
    },
    partitions() {
      if (partitionCount === undefined) throw new Error('the log has not started: its partitions are not known yet');
      return partitionCount;
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
    consume: (handler, onAssignment) => consumers.consume(handler, onAssignment),
    stopConsuming: () => consumers.stop(),
    requestCounts: () => requests,
    consumerRestarts: () => consumers.restarts,
    unreadableRecords: () => consumers.unreadable,
    async stop() {
      stopped = true;
      await consumers.stop();
      await produces.idle();
      await producer.disconnect();
    },
    health(): CheckResult {
      const consumer = consumers.health();
      return { ok: producerUp && consumer.ok, detail: `producer ${producerUp ? 'connected' : 'not connected'}; ${consumer.detail}` };
    },
  };
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
