import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { createAdminServer } from '../shared/admin-server.js';
import { createRegistry, outcomeCounter, totalsCounter } from '../shared/metrics.js';
import { Deadline, once, sleep, type Service } from '../shared/lifecycle.js';
import { PodLifecycle } from './lifecycle.js';
import { retryUntil } from '../shared/retry.js';
import type { CheckResult } from '../shared/health.js';
import type { MessageConfig } from './config.js';
import type { Backends } from './backends.js';
import { Sequencer } from './domain/sequencer.js';
import { groupInserts } from './domain/grouped-inserts.js';
import { ConsumerRosters, RosterCache, readRosters } from './domain/roster.js';
import { SendAcceptor } from './domain/send-acceptor.js';
import { History } from './domain/history.js';
import { ReadMarking, SenderMarkers, withSenderMarkers } from './domain/read-markers.js';
import { TypingRelay } from './domain/typing.js';
import { PresenceQuery } from './domain/presence-query.js';
import { PUSH_RESULTS, STREAM_END_REASONS, SubscriberRegistry } from './domain/subscribers.js';
import { REWRITE_REASONS } from './domain/presence-directory.js';
import { createPipeline, STORE_FIRST_REASONS } from './domain/pipeline.js';
import { internalCredentials } from '../shared/internal-tls.js';
import { Persister } from './domain/persister.js';
import { withHotReads } from './domain/hot-reads.js';
import { createGrpcTransport, SERVICE_NAME } from './transport/grpc-server.js';
import { backendHistogram, instrument } from './adapters/instrument.js';
import { ApiKeys } from './api/api-keys.js';
import { createServerApi, SERVER_API_METHODS, SERVER_API_OUTCOMES } from './api/server-api.js';

export interface MessageAddresses {
  grpcPort: number;
  httpPort: number;
  /** The server API's port; undefined when it is not served (no keys). */
  apiPort?: number;
  instance: string;
}

export interface MessageServiceDeps {
  config: MessageConfig;
  backends: Backends;
  logger: Logger;
  registry?: Registry;
  /** Random source of the retry backoff (tests). */
  random?: () => number;
}

/** How stale a group's membership may be when a send is checked against it. */
const ROSTER_MAX_AGE_MS = 1000;
/** How long a send waits for the store's membership before it is checked against the last one read. */
const ROSTER_STALE_AFTER_MS = 250;

/** Most messages in one grouped store write (ten partition batches of the logs' 100). */
const STORE_WRITE_MAX_MESSAGES = 1000;
/**
 * Grouped store writes at once: stores apply a write's statements one by one, so a few run side
 * by side (4 × the store's update slice of 16 keeps FerretDB's SQLite pool of 100 from running dry).
 */
const STORE_WRITES_IN_FLIGHT = 4;
/** Of the shutdown budget, what the last phases keep (ending the streams, the gRPC server, the backends' connections). */
const STOP_RESERVE_MS = 1000;

/** The Message service: gRPC API, log consumer pipeline, subscriber streams, admin HTTP. */
export function createMessageService(deps: MessageServiceDeps): Service<MessageAddresses> & { registry: Registry } {
  const { config, backends, logger } = deps;
  const registry = deps.registry ?? createRegistry('message');
  const metrics = {
    subscribers: new Gauge({ name: 'switchboard_message_subscribers', help: 'Connect streams this Message pod holds', registers: [registry] }),
    sends: outcomeCounter(registry, {
      name: 'switchboard_message_sends_total',
      help: 'Send requests by result',
      label: 'result',
      values: ['accepted', 'rejected', 'unavailable'],
    }),
    stored: new Counter({ name: 'switchboard_message_stored_total', help: 'Messages written to the store with their seq', registers: [registry] }),
    storeLatency: new Histogram({
      name: 'switchboard_message_store_latency_seconds',
      help: 'From accept to in the store (behind the push, on the hot path)',
      // A bucket edge at 2 s: the bound the benchmark holds the lag to.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers: [registry],
    }),
    persistBatch: new Histogram({
      name: 'switchboard_message_persist_batch_messages',
      help: 'Messages per store write of the persister (they grow with the rate)',
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
      registers: [registry],
    }),
    conflicts: new Counter({
      name: 'switchboard_message_seq_conflicts_total',
      help: "Pushed messages whose seq another message holds in the store (never by design: see the log's error lines)",
      registers: [registry],
    }),
    pushes: outcomeCounter(registry, {
      name: 'switchboard_message_pushes_total',
      help: 'Pushes to gateways by result: sent on the stream, dropped (the stream could not take it), skipped (the gateway holding the user has no stream here since its stream ended; it resyncs its clients when it subscribes again)',
      label: 'result',
      values: PUSH_RESULTS,
    }),
    streamsEnded: outcomeCounter(registry, {
      name: 'switchboard_message_streams_ended_total',
      help: 'Gateway streams ended, by reason (push_buffer_full: the gateway read slower than its pushes arrived, MESSAGE_PUSH_BUFFER_MAX)',
      label: 'reason',
      values: STREAM_END_REASONS,
    }),
    storeFirst: outcomeCounter(registry, {
      name: 'switchboard_message_store_first_batches_total',
      help: "Consumed batches stored before their push instead of pushed first, by reason: the hot store (Redis) away, or failing the partition's last batch (a Redis Cluster node failing over, a write its replicas did not acknowledge in time)",
      label: 'reason',
      values: STORE_FIRST_REASONS,
    }),
    repushes: new Counter({
      name: 'switchboard_message_repushes_total',
      help: 'Redelivered log entries found stored and pushed again (whoever stored them may have failed before pushing: a lost store reply, a crash)',
      registers: [registry],
    }),
    directoryRewrites: outcomeCounter(registry, {
      name: 'switchboard_message_presence_rewrites_total',
      help: "Full rewrites of the presence directory from the gateways' announcements, by reason (store_reset: Redis restarted empty, flushed or failed over)",
      label: 'reason',
      values: REWRITE_REASONS,
    }),
  };
  totalsCounter(registry, {
    name: 'switchboard_message_log_requests_total',
    help: "Requests this pod sent to the log's servers (Kafka), by API: Produce per accepted message is what the producer's group commit saves",
    labelNames: ['api'],
    totals: () => [...(backends.log.requestCounts?.() ?? [])].map(([api, n]) => [{ api }, n] as const),
  });

  totalsCounter(registry, {
    name: 'switchboard_message_log_records_unreadable_total',
    help: 'Log records that were not send entries (another writer, corruption): skipped, so whatever they held is not delivered; each is logged with its partition and offset',
    totals: () => (backends.log.unreadableRecords ? [[{}, backends.log.unreadableRecords()] as const] : []),
  });

  totalsCounter(registry, {
    name: 'switchboard_message_log_consumer_restarts_total',
    help: 'Log consumers this pod started anew after one crashed (the log stays unconsumed until one joins)',
    totals: () => (backends.log.consumerRestarts ? [[{}, backends.log.consumerRestarts()] as const] : []),
  });

  const backendTime = backendHistogram(registry);
  const timedStore = instrument(
    'store',
    backends.store,
    [
      'lastSeq',
      'lastSeqs',
      'insertMessage',
      'insertMessages',
      'storedAlready',
      'readMessages',
      'listConversations',
      'membershipChanges',
      'setMembers',
      'groupCounts',
      'markRead',
      'readMarkers',
      'advanceMarkers',
    ],
    backendTime,
  );
  // Senders' read markers follow their own messages into the store (one's own messages are read).
  const senderMarkers = new SenderMarkers(timedStore, logger.child({ component: 'read-markers' }));
  const store = withSenderMarkers(timedStore, senderMarkers);
  const presence = instrument('presence', backends.presence, ['refresh', 'remove', 'lookup', 'epoch'], backendTime);
  const hot = instrument('hot', backends.hot, ['claim', 'record', 'sequenced', 'read', 'lastSeqs', 'listing', 'persisted'], backendTime);
  /**
   * Pushes wait for the store only where the store is a real one: a pushed message is recorded in
   * the hot store and stored behind (the Persister). On the embedded store, which answers in
   * microseconds, a batch is stored and then pushed.
   */
  const behindThePush = !backends.embedded.includes('store');
  // Readers see what is pushed and not yet stored.
  const readable = behindThePush ? withHotReads(store, hot, logger.child({ component: 'reads' })) : store;
  const log = instrument('log', backends.log, ['append'], backendTime);

  // The pod's phase: what the transport, readiness and gRPC health read (health is set on entering a phase).
  const lifecycle = new PodLifecycle((serving) => {
    for (const service of ['', SERVICE_NAME]) transport.health.setStatus(service, serving ? 'SERVING' : 'NOT_SERVING');
  });
  const subscribers = new SubscriberRegistry({
    presence,
    presenceTtlMs: config.presenceTtlMs,
    logger: logger.child({ component: 'subscribers' }),
    onCountChange: (n) => metrics.subscribers.set(n),
    onPush: (result) => metrics.pushes.inc({ result }),
    onDirectoryRewrite: (reason) => metrics.directoryRewrites.inc({ reason }),
  });
  const rosters = new RosterCache(readable, { maxAgeMs: ROSTER_MAX_AGE_MS, staleAfterMs: ROSTER_STALE_AFTER_MS });
  const consumerRosters = new ConsumerRosters(
    (conversations) => readRosters(readable, conversations),
    behindThePush ? async (conversations) => new Map([...(await hot.lastSeqs(conversations))].map(([c, l]) => [c, l.seq])) : undefined,
  );
  const acceptor = new SendAcceptor({
    log,
    maxBodyBytes: config.maxBodyBytes,
    maxGroupMembers: config.groupMaxMembers,
    maxGroupsPerUser: config.groupMaxPerUser,
    groupCounts: (users) => readable.groupCounts(users),
    roster: (conversation) => rosters.get(conversation),
    message: async (conversation, seq) => (await readable.readMessages(conversation, seq - 1, 1)).find((m) => m.seq === seq),
    editWindowMs: config.editWindowMs,
    systemUser: config.systemUser,
    onResult: (result) => metrics.sends.inc({ result }),
  });
  const history = new History(readable, { maxSyncLimit: config.syncMaxLimit, maxConversations: config.conversationsMax });
  const reads = new ReadMarking({
    store: readable,
    history,
    receipts: config.readReceipts,
    route: (marker, users, origin) => subscribers.routeRead(marker, users, origin),
  });
  // Partition batches stored before their push at the same time share their store writes (see groupInserts).
  const sequencer = new Sequencer(groupInserts(store, { maxMessages: STORE_WRITE_MAX_MESSAGES, maxInFlight: STORE_WRITES_IN_FLIGHT }), {
    ...(behindThePush
      ? {
          hot: {
            hot,
            instance: config.instance,
            dedupeWindowMs: config.dedupeWindowMs,
            onClaimFailed: (partitions: readonly number[], err: unknown, retryInMs: number) =>
              logger.warn({ err, partitions, retryInMs }, 'claiming assigned partitions in the hot store failed; trying again'),
          },
        }
      : {}),
  });
  const persister = behindThePush
    ? new Persister({
        store,
        hot,
        maxBatch: config.persist.batchMax,
        maxDelayMs: config.persist.delayMaxMs,
        backlogMax: config.persist.backlogMax,
        maxInFlight: config.persist.writesMax,
        logger: logger.child({ component: 'persister' }),
        random: deps.random,
        onWritten: (messages) => {
          const t = Date.now();
          metrics.persistBatch.observe(messages.length);
          metrics.stored.inc(messages.length);
          for (const m of messages) metrics.storeLatency.observe((t - m.ts) / 1000);
        },
        onConflict: () => metrics.conflicts.inc(),
      })
    : undefined;
  new Gauge({
    name: 'switchboard_message_persist_lag_messages',
    help: 'Pushed messages not yet in the store',
    registers: [registry],
    collect() {
      this.set(persister?.backlog ?? 0);
    },
  });
  new Gauge({
    name: 'switchboard_message_persist_lag_seconds',
    help: 'How long the oldest pushed message not yet in the store has waited since it was accepted (0: none waits)',
    registers: [registry],
    collect() {
      const oldest = persister?.oldestWaiting;
      this.set(oldest === undefined ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
    },
  });
  const pipeline = createPipeline({
    persister,
    hotReady: () => backends.hot.health().ok,
    sequencer,
    subscribers,
    groups: {
      read: (conversations, partition) => consumerRosters.get(conversations, partition),
      setMembers: (c, members, seq, title) => store.setMembers(c, members, seq, title),
      changed: (c) => rosters.forget(c),
      seen: (c, seq) => consumerRosters.seen(c, seq),
    },
    logger: logger.child({ component: 'pipeline' }),
    onStored: (ms) => {
      metrics.stored.inc();
      metrics.storeLatency.observe(ms / 1000);
    },
    onRepushed: (n) => metrics.repushes.inc(n),
    onStoreFirst: (reason) => metrics.storeFirst.inc({ reason }),
  });
  const typing = new TypingRelay({
    roster: (conversation) => rosters.get(conversation),
    ttlMs: config.typingTtlMs,
    route: (t, audience) => subscribers.routeTyping(t, audience),
  });
  const presenceQuery = new PresenceQuery({
    store: readable,
    roster: (conversation) => rosters.get(conversation),
    online: (user) => subscribers.isOnline(user),
    maxConversations: config.conversationsMax,
  });
  const transport = createGrpcTransport({
    acceptor,
    history,
    reads,
    typing,
    presence: presenceQuery,
    subscribers,
    instance: config.instance,
    logger: logger.child({ component: 'grpc' }),
    maxMessageBytes: Math.max(64 * 1024, config.maxBodyBytes * 4 + 4096),
    keepaliveMs: config.keepaliveMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    pushBufferMax: config.pushBufferMax,
    unavailable: () => lifecycle.refusal,
    streamsServed: () => lifecycle.streamsServed(),
    internalAuthToken: config.internalAuthToken,
    credentials: internalCredentials(config.internalTls).server(),
    onStreamEnd: (reason) => metrics.streamsEnded.inc({ reason }),
  });
  const apiCalls = new Counter({
    name: 'switchboard_server_api_calls_total',
    help: 'Server API calls by method and outcome (the gRPC code name: OK, Unauthenticated, PermissionDenied, InvalidArgument, Unavailable, …)',
    labelNames: ['method', 'code'],
    registers: [registry],
  });
  if (config.api.keys) for (const method of SERVER_API_METHODS) for (const code of SERVER_API_OUTCOMES) apiCalls.inc({ method, code }, 0);
  const apiKeys = config.api.keys ? ApiKeys.load(config.api.keys, logger.child({ component: 'server-api' })) : undefined;
  const api = apiKeys
    ? createServerApi({
        acceptor,
        history,
        subscribers,
        keys: apiKeys,
        instance: config.instance,
        systemUser: config.systemUser,
        maxSyncLimit: config.syncMaxLimit,
        unavailable: () => lifecycle.refusal,
        logger: logger.child({ component: 'server-api' }),
        onCall: (method, code) => apiCalls.inc({ method, code }),
      })
    : undefined;
  const checks = (): Record<string, CheckResult> => ({
    log: backends.log.health(),
    store: backends.store.health(),
    presence: backends.presence.health(),
    draining: lifecycle.stopRequested ? { ok: false, detail: 'draining' } : { ok: true, detail: 'serving' },
  });

  /** Runs `attempt` until it succeeds or the service drains, with capped exponential backoff. */
  const retry = (name: string, attempt: () => Promise<void>): Promise<boolean> =>
    retryUntil(attempt, {
      backoff: { initialMs: 200, multiplier: 2, jitter: 0.2, maxMs: config.backendRetryMaxMs },
      stopped: () => lifecycle.stopRequested,
      onRetry: (err, delay) => logger.warn({ err, backend: name, retryInMs: delay }, `${name} not reachable yet; retrying`),
      sleep,
      random: deps.random,
    });

  /**
   * Connects the backends each on its own (any start order of the system works, and one that is
   * down holds up none of the others), starts consuming once the log and the store are there, and
   * serves once everything is.
   */
  async function connectBackends(): Promise<void> {
    const connected = (name: string, backend: { start(): Promise<void> }): Promise<boolean> => retry(name, () => backend.start());
    const [store, presence, log, hotUp] = [
      connected('store', backends.store),
      connected('presence', backends.presence),
      connected('log', backends.log),
      connected('hot store', backends.hot),
    ];
    subscribers.start();
    // Cached seqs and rosters follow the partitions this consumer owns.
    const onAssignment = (partitions: readonly number[]): void => {
      void sequencer.assigned(partitions);
      consumerRosters.assigned(partitions);
    };
    const consuming = (async () => (await log) && (await store) && retry('consumer', () => backends.log.consume(pipeline, onAssignment)))();
    const [presenceUp, consumerUp, hotStoreUp] = await Promise.all([presence, consuming, hotUp]);
    if (presenceUp && consumerUp && hotStoreUp && lifecycle.transition(['starting'], 'serving')) logger.info('backends connected; serving');
  }
  let connecting: Promise<void> = Promise.resolve();
  const admin = createAdminServer({ host: config.httpHost, port: config.httpPort, registry, checks, logger });

  return {
    registry,
    async start() {
      if (backends.embedded.length > 0) {
        logger.warn(
          { embedded: backends.embedded },
          `embedded ${backends.embedded.join(', ')}: data is NOT durable and only ONE Message replica may run; set KAFKA_BROKERS, MONGODB_URI and REDIS_URL for production`,
        );
      }
      const httpPort = await admin.start();
      const grpcPort = await transport.bind(config.grpcHost, config.grpcPort);
      const apiPort = api ? await api.listen(config.api.host, config.api.port) : undefined;
      apiKeys?.watch(10_000);
      logger.info(
        {
          grpcPort,
          httpPort,
          instance: config.instance,
          ...(api ? { apiPort, apiKeys: apiKeys?.names } : { serverApi: 'off (no SERVER_API_KEYS or SERVER_API_KEYS_FILE)' }),
        },
        'message service started',
      );
      connecting = connectBackends();
      // Embedded backends connect at once; callers in one process (npm start, tests) get a ready pod.
      if (backends.embedded.length === 3) await connecting;
      return { grpcPort, httpPort, ...(apiPort !== undefined ? { apiPort } : {}), instance: config.instance };
    },
    stop: once(async () => {
      // Never connected: nothing to drain, calls are refused already.
      if (!lifecycle.transition(['serving'], 'draining')) lifecycle.transition(['starting'], 'stopping');
      logger.info({ drainWindowMs: config.drainWindowMs }, 'draining');
      await sleep(config.drainWindowMs);
      // From here on one budget (MESSAGE_SHUTDOWN_TIMEOUT) for every phase together, so that the
      // pod exits inside its grace period whatever hangs (a backend still connecting, Kafka gone).
      const budget = new Deadline(config.shutdownTimeoutMs);
      // How long each phase took, in the last line: where a slow stop spent its time.
      const phasesMs: Record<string, number> = {};
      let phaseStart = Date.now();
      const phase = (name: string): void => {
        phasesMs[name] = Date.now() - phaseStart;
        phaseStart = Date.now();
      };
      await budget.run(connecting, 'backends still connecting').catch((err: unknown) => logger.warn({ err }, 'stopping while backends are still connecting'));
      // Finish and commit the batch in progress while the streams can still carry its pushes;
      // the partitions then move to the other pods.
      await budget
        .run(backends.log.stopConsuming(), 'consumer stop deadline passed')
        .catch((err: unknown) => logger.warn({ err }, 'consumer did not stop in time; its partitions move after the session timeout'));
      phase('consumer');
      // What was pushed and not yet stored goes to the store now; what the budget leaves behind is
      // redelivered to the partitions' next owners (the offsets wait for it).
      // A moment of the budget stays for the streams, the gRPC server and the backends.
      const unpersisted = await persister?.stop(Math.max(0, budget.leftMs - STOP_RESERVE_MS));
      if (unpersisted) logger.warn({ messages: unpersisted }, "pushed messages not stored by the deadline; the partitions' next owners store them");
      phase('persist');
      // Ending the streams with UNAVAILABLE moves every gateway to the other pods at once; from
      // now on calls are refused too (the gateways retry them on another pod).
      lifecycle.transition(['draining'], 'stopping');
      subscribers.stop('message pod is shutting down');
      try {
        await budget.run(
          new Promise<void>((resolve, reject) => transport.server.tryShutdown((err) => (err ? reject(err) : resolve()))),
          'gRPC drain deadline passed',
        );
      } catch (err: unknown) {
        logger.warn({ err }, 'forcing gRPC shutdown');
        transport.server.forceShutdown();
      }
      apiKeys?.stop();
      // Senders' markers still waiting get what is left of a moment; the rest are lost (best effort).
      await budget.run(Promise.race([senderMarkers.idle(), sleep(500)]), 'read markers deadline passed').catch(() => undefined);
      senderMarkers.stop();
      await budget
        .run(api?.close() ?? Promise.resolve(), 'server API close deadline passed')
        .catch((err: unknown) => logger.warn({ err }, 'server API connections left to the exit'));
      phase('grpc');
      await budget
        .run(Promise.all([backends.log.stop(), backends.presence.stop(), backends.hot.stop(), backends.store.stop()]), 'backends did not stop in time')
        .catch((err: unknown) => logger.warn({ err }, 'leaving backend connections to the exit'));
      await admin.stop();
      phase('backends');
      lifecycle.transition(['stopping'], 'stopped');
      logger.info({ phasesMs }, 'message service stopped');
    }),
  };
}
