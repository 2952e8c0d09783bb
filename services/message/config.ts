import { z } from 'zod';
import {
  defaultInstanceId,
  internalTlsOf,
  internalTlsProblems,
  internalTlsSettings,
  internalTokenProblems,
  internalTokenSettings,
  systemUserProblems,
  systemUserSettings,
  logSettings,
  parseSettings,
  setting,
  SHARED_SETTING_DOCS,
  type RawSettings,
} from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { ConnectionString } from 'mongodb-connection-string-url';
import { parseRedisUrl } from './adapters/redis-connection.js';
import { parseApiKeys } from './api/api-keys.js';
import { readFileSync } from 'node:fs';

const schema = z.object({
  MESSAGE_GRPC_HOST: setting.text('0.0.0.0'),
  MESSAGE_GRPC_PORT: setting.port(22004),
  MESSAGE_HTTP_HOST: setting.text('0.0.0.0'),
  MESSAGE_HTTP_PORT: setting.port(21004),
  MESSAGE_INSTANCE_ID: setting.optionalText(),
  MESSAGE_API_HOST: setting.text('0.0.0.0'),
  MESSAGE_API_PORT: setting.port(22006),
  SERVER_API_KEYS: setting.optionalText(),
  SERVER_API_KEYS_FILE: setting.optionalText('a file path'),
  KAFKA_BROKERS: setting.optionalText(),
  MONGODB_URI: setting.optionalText(),
  REDIS_URL: setting.optionalText(),
  REDIS_MODE: setting.oneOf(['standalone', 'cluster'], 'standalone'),
  REDIS_WAIT_REPLICAS: setting.int(-1, -1, 16),
  REDIS_WAIT_TIMEOUT: setting.duration('250ms', 10, 60_000),
  KAFKA_TOPIC: setting.text('switchboard.messages'),
  KAFKA_GROUP_ID: setting.text('switchboard-message'),
  KAFKA_CLIENT_ID: setting.optionalText(),
  KAFKA_PARTITIONS: setting.int(12, 1, 10_000),
  KAFKA_REPLICATION_FACTOR: setting.int(-1, -1, 100),
  KAFKA_MIN_INSYNC_REPLICAS: setting.int(2, 1, 100),
  KAFKA_APPEND_TIMEOUT: setting.duration('5s', 100),
  KAFKA_FETCH_MAX_WAIT: setting.duration('15ms', 1),
  KAFKA_FETCH_MIN_BYTES: setting.int(8192, 1, 64 * 1024 * 1024),
  // At most half the consumer's session timeout (10 s): it heartbeats between fetches.
  KAFKA_FETCH_IDLE_WAIT: setting.duration('500ms', 0, 5000),
  KAFKA_COMMIT_INTERVAL: setting.duration('200ms', 0),
  MONGODB_DATABASE: setting.text('switchboard'),
  REDIS_KEY_PREFIX: setting.text('switchboard:'),
  BACKEND_RETRY_MAX: setting.duration('10s', 100),
  EMBEDDED_LOG_PARTITIONS: setting.int(4, 1, 1024),
  MAX_BODY_BYTES: setting.int(4096, 1, 1024 * 1024),
  SYNC_MAX_LIMIT: setting.int(500, 1, 10_000),
  CONVERSATIONS_MAX: setting.int(1000, 1, 100_000),
  GROUP_MAX_MEMBERS: setting.int(10_000, 2, 1_000_000),
  GROUP_MAX_PER_USER: setting.int(1000, 1, 1_000_000),
  READ_RECEIPTS: setting.bool(true),
  EDIT_WINDOW: setting.duration('48h', 0, 365 * 24 * 3_600_000),
  TYPING_TTL: setting.duration('6s', 1000, 60_000),
  PRESENCE_TTL: setting.duration('30s', 300),
  MESSAGE_KEEPALIVE_TIME: setting.duration('15s', 1000),
  MESSAGE_KEEPALIVE_TIMEOUT: setting.duration('5s', 100),
  MESSAGE_DRAIN_WINDOW: setting.duration('2s'),
  MESSAGE_PUSH_BUFFER_MAX: setting.int(10_000, 1000, 10_000_000),
  MESSAGE_SHUTDOWN_TIMEOUT: setting.duration('5s', 100),
  DEDUPE_WINDOW: setting.duration('24h', 60_000),
  PERSIST_BATCH_MAX: setting.int(1000, 1, 100_000),
  PERSIST_DELAY_MAX: setting.duration('20ms', 0, 10_000),
  PERSIST_BACKLOG_MAX: setting.int(100_000, 1000, 10_000_000),
  PERSIST_WRITES_MAX: setting.int(1, 1, 64),
  ...internalTokenSettings,
  ...systemUserSettings,
  ...internalTlsSettings,
  ...logSettings,
});

/** The names of every setting Message reads (docs/CONFIGURATION.md; the Helm chart's `message.env`). */
export const MESSAGE_SETTINGS: readonly string[] = Object.freeze(Object.keys(schema.shape));

/** The schema, for the configuration reference (config-docs.ts). */
export const MESSAGE_SCHEMA = schema;

/** What each Message setting does: the configuration reference (docs/CONFIGURATION.md) is written from this. */
export const MESSAGE_SETTING_DOCS = {
  MESSAGE_GRPC_HOST: 'address the gRPC server binds: `switchboard.v1.MessageService`, `grpc.health.v1.Health`, reflection',
  MESSAGE_GRPC_PORT: 'port of the gRPC server',
  MESSAGE_HTTP_HOST: 'address the admin HTTP server binds: `/livez`, `/readyz`, `/metrics`',
  MESSAGE_HTTP_PORT: 'port of the admin HTTP server',
  MESSAGE_INSTANCE_ID: 'id of this pod (the pod name in Kubernetes); default `message-<host>-<random>`',
  MESSAGE_API_HOST: 'address the server API binds (`switchboard.v1.ServerApiService`: gRPC and HTTP/JSON on one port, with reflection)',
  MESSAGE_API_PORT: 'port of the server API; served only when `SERVER_API_KEYS` or `SERVER_API_KEYS_FILE` is set',
  SERVER_API_KEYS:
    "the server API's keys, one per line: `<name> <key> [scope,scope…]` (a key of 32-256 printable characters; scopes `publish`, `history`, `presence`, `disconnect`, `groups`, or `*`, the default). Callers send `authorization: Bearer <key>`",
  SERVER_API_KEYS_FILE:
    'a file of keys in the same form (a mounted Secret), read again every 10 s when it changes: keys are added and retired without a restart (chart: `serverApi.keysSecret`)',
  KAFKA_BROKERS: '`host:port,…` of the Kafka cluster; unset: the embedded in-process log (not durable, one replica only)',
  MONGODB_URI:
    "`mongodb://…` or `mongodb+srv://…` (a replica set: its hosts and `replicaSet=`); the database is the URI's path, else `MONGODB_DATABASE`. The URI's `w`, `wtimeoutMS`, `journal`, `readConcernLevel`, `readPreference` and `retryWrites` are used as given; left out, writes and reads are `majority`. Unset: the embedded in-process store",
  REDIS_URL:
    '`redis[s]://[user:password@]host:port[/db]` of the presence directory and hot store; with `REDIS_MODE=cluster`, one or more seed nodes of a Redis Cluster (`redis://:password@host1:6379,host2:6379`). Unset: both in-process',
  REDIS_MODE:
    "`standalone` (one server, or its primary) or `cluster` (a Redis Cluster: each partition's keys share one slot, reads spanning partitions are one pipeline per node)",
  REDIS_WAIT_REPLICAS:
    'replicas a hot-store write must reach (Redis `WAIT`) before its messages are pushed, so that a replica taking over from a failed primary has every seq pushed; fewer within `REDIS_WAIT_TIMEOUT` and the batch is stored before it is pushed instead. -1: 1 in cluster mode, 0 with one server',
  REDIS_WAIT_TIMEOUT: 'how long a hot-store write waits for `REDIS_WAIT_REPLICAS`',
  KAFKA_TOPIC: 'topic of accepted sends (key = conversation)',
  KAFKA_GROUP_ID: 'consumer group of the Message pods',
  KAFKA_CLIENT_ID: 'Kafka client id; default the instance id',
  KAFKA_PARTITIONS: 'partitions of the topic when this pod creates it (it is created when missing)',
  KAFKA_REPLICATION_FACTOR: 'replication factor of a topic this pod creates; -1: the broker default',
  KAFKA_MIN_INSYNC_REPLICAS:
    '`min.insync.replicas` of a topic this pod creates, capped at its replication factor: `accepted` means the send is on at least this many replicas (acks=all); with fewer in sync, sends get `UNAVAILABLE`',
  KAFKA_APPEND_TIMEOUT: 'a send whose append is not acknowledged by then answers `UNAVAILABLE` (the client resends the same id)',
  KAFKA_FETCH_MAX_WAIT:
    'a consumer fetch returns once `KAFKA_FETCH_MIN_BYTES` are there or this long has passed: a longer wait means fewer, larger store writes under load for up to that much more delivery latency',
  KAFKA_FETCH_MIN_BYTES: 'bytes a consumer fetch waits for (see `KAFKA_FETCH_MAX_WAIT`)',
  KAFKA_FETCH_IDLE_WAIT:
    'after a fetch that brought nothing, the next asks for any byte and waits up to this long (0: never), so an idle log is long-polled and the first message after a quiet spell is not delayed',
  KAFKA_COMMIT_INTERVAL:
    'the consumer commits offsets at most once per this interval, every partition handled meanwhile in one commit (0: once per commit round trip); after a crash or rebalance what was handled since the last commit comes again and is recognised',
  MONGODB_DATABASE: 'database when the URI names none',
  REDIS_KEY_PREFIX: 'prefix of the presence keys',
  BACKEND_RETRY_MAX: 'cap of the backoff between attempts to reach a backend at start-up',
  EMBEDDED_LOG_PARTITIONS: 'partitions of the embedded log',
  MAX_BODY_BYTES: "largest message body, UTF-8 bytes (`TOO_LARGE` beyond); keep it equal to Connect's",
  SYNC_MAX_LIMIT: 'largest `limit` of a sync',
  CONVERSATIONS_MAX: 'most conversations `conversations` returns',
  GROUP_MAX_MEMBERS: 'most members of a group; a create or add past it is refused with `BAD_REQUEST` (chart: `message.groupMaxMembers`)',
  GROUP_MAX_PER_USER: 'most groups a user may be in; a create or add of a user in that many is refused with `BAD_REQUEST` (chart: `message.groupMaxPerUser`)',
  TYPING_TTL:
    'how long a `typing` indicator lasts at the other members unless the typist sends `typing` again (clients do every `CONNECT_TYPING_INTERVAL`) or their message arrives',
  EDIT_WINDOW:
    'how long after its send a sender may edit or delete a message (`edit`, `delete`); older ones are refused with `BAD_REQUEST` naming the limit; `0s`: never',
  READ_RECEIPTS:
    "`true`: when a user marks a direct conversation read, the peer is pushed the marker (a read receipt); `false`: only the reader's own connections get it (the markers and unread counts work the same)",
  PRESENCE_TTL: 'life of a presence directory entry unless refreshed (every third of it)',
  MESSAGE_KEEPALIVE_TIME: 'server keepalive pings to gateways',
  MESSAGE_KEEPALIVE_TIMEOUT: 'a gateway that does not answer a keepalive ping within this is dropped',
  MESSAGE_DRAIN_WINDOW: 'on SIGTERM: serve this long with `/readyz` 503 before closing',
  MESSAGE_PUSH_BUFFER_MAX:
    "pushes queued on one gateway's stream; a gateway that reads slower than its users' traffic has its stream ended with `RESOURCE_EXHAUSTED` (it reconnects and its clients resync)",
  MESSAGE_SHUTDOWN_TIMEOUT: 'then this long, at most, for the consumer, the streams and the backends to stop before forcing',
  DEDUPE_WINDOW:
    'a send repeated with the same id within this window is recognised without the store (Redis keeps a record per message for this long); beyond it, the store still has the message',
  PERSIST_BATCH_MAX: 'most messages in one store write; the writes of a busy log carry this many, so the writes per message fall as the rate rises',
  PERSIST_DELAY_MAX: 'how long the first message waiting to be stored waits for others to share its write (pushes do not wait for it)',
  PERSIST_BACKLOG_MAX: 'pushed messages waiting to be stored (the store down or slow) before the consumer waits too; past it, delivery waits for the store',
  PERSIST_WRITES_MAX:
    'store writes in flight at once (4 suits a store slow to answer); past the first, a write starts once messages waited 500 ms, each for its share of the partitions',
  ...SHARED_SETTING_DOCS,
} satisfies Record<keyof typeof schema.shape, string>;

/**
 * Settings of the Message service (docs/PROTOCOL.md §1, docs/CONFIGURATION.md), parsed once at
 * start-up: the shape `loadMessageConfig` builds from the schema, written once, there.
 */
export type MessageConfig = ReturnType<typeof loadMessageConfig>;

/** Parses the Message settings; throws ConfigError naming every bad one. */
export function loadMessageConfig(raw: RawSettings) {
  const s = parseSettings(schema, raw);
  const brokers = s.KAFKA_BROKERS?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const problems: string[] = [];
  if (brokers?.some((b) => !/^[^\s:]+:\d{1,5}$/.test(b))) problems.push(`KAFKA_BROKERS: expected host:port[,host:port…]; got "${s.KAFKA_BROKERS}"`);
  if (s.MONGODB_URI) {
    try {
      // The driver's own parser: one host or a replica set's list, options and all.
      new ConnectionString(s.MONGODB_URI);
    } catch (err: unknown) {
      problems.push(`MONGODB_URI: expected a mongodb:// or mongodb+srv:// URI (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  if (s.REDIS_URL) {
    try {
      parseRedisUrl(s.REDIS_URL, s.REDIS_MODE);
    } catch (err: unknown) {
      problems.push(`REDIS_URL: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  // A brace in the prefix would be the hash tag of every key: the whole hot store in one slot.
  if (s.REDIS_MODE === 'cluster' && /[{}]/.test(s.REDIS_KEY_PREFIX))
    problems.push("REDIS_KEY_PREFIX: no { or } in cluster mode (Redis Cluster hash tags are the store's own)");
  if (s.KAFKA_REPLICATION_FACTOR === 0) problems.push('KAFKA_REPLICATION_FACTOR: expected -1 (broker default) or 1-100');
  problems.push(...internalTokenProblems(s.INTERNAL_AUTH_TOKEN), ...internalTlsProblems(s), ...systemUserProblems(s.SYSTEM_USER));
  if (s.SERVER_API_KEYS && s.SERVER_API_KEYS_FILE) problems.push('SERVER_API_KEYS and SERVER_API_KEYS_FILE: give one of them');
  let apiKeys: { inline: string } | { file: string } | undefined;
  if (s.SERVER_API_KEYS !== undefined) {
    apiKeys = { inline: s.SERVER_API_KEYS };
    try {
      parseApiKeys(s.SERVER_API_KEYS);
    } catch (err: unknown) {
      problems.push(`SERVER_API_KEYS: ${(err as Error).message}`);
    }
  } else if (s.SERVER_API_KEYS_FILE !== undefined) {
    apiKeys = { file: s.SERVER_API_KEYS_FILE };
    try {
      parseApiKeys(readFileSync(s.SERVER_API_KEYS_FILE, 'utf8'));
    } catch (err: unknown) {
      const code = (err as NodeJS.ErrnoException).code;
      problems.push(`SERVER_API_KEYS_FILE: ${code ? `cannot read ${s.SERVER_API_KEYS_FILE} (${code})` : (err as Error).message}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const instance = s.MESSAGE_INSTANCE_ID ?? defaultInstanceId('message');
  return Object.freeze({
    grpcHost: s.MESSAGE_GRPC_HOST,
    grpcPort: s.MESSAGE_GRPC_PORT,
    httpHost: s.MESSAGE_HTTP_HOST,
    httpPort: s.MESSAGE_HTTP_PORT,
    instance,
    /** The server API: where it listens and its keys (inline or a file); undefined keys: not served. */
    api: Object.freeze({ host: s.MESSAGE_API_HOST, port: s.MESSAGE_API_PORT, keys: apiKeys }),
    /** The system account (SYSTEM_USER). */
    systemUser: s.SYSTEM_USER,
    backends: Object.freeze({ kafkaBrokers: brokers, mongodbUri: s.MONGODB_URI, redisUrl: s.REDIS_URL }),
    kafka: Object.freeze({
      topic: s.KAFKA_TOPIC,
      groupId: s.KAFKA_GROUP_ID,
      clientId: s.KAFKA_CLIENT_ID ?? instance,
      partitions: s.KAFKA_PARTITIONS,
      replicationFactor: s.KAFKA_REPLICATION_FACTOR,
      minInsyncReplicas: s.KAFKA_MIN_INSYNC_REPLICAS,
      appendTimeoutMs: s.KAFKA_APPEND_TIMEOUT,
      fetchMaxWaitMs: s.KAFKA_FETCH_MAX_WAIT,
      fetchMinBytes: s.KAFKA_FETCH_MIN_BYTES,
      fetchIdleWaitMs: s.KAFKA_FETCH_IDLE_WAIT,
      commitIntervalMs: s.KAFKA_COMMIT_INTERVAL,
    }),
    mongodbDatabase: s.MONGODB_DATABASE,
    redis: Object.freeze({
      mode: s.REDIS_MODE,
      keyPrefix: s.REDIS_KEY_PREFIX,
      waitReplicas: s.REDIS_WAIT_REPLICAS >= 0 ? s.REDIS_WAIT_REPLICAS : s.REDIS_MODE === 'cluster' ? 1 : 0,
      waitTimeoutMs: s.REDIS_WAIT_TIMEOUT,
    }),
    /** Cap of the backoff between attempts to connect a backend at start-up. */
    backendRetryMaxMs: s.BACKEND_RETRY_MAX,
    /** Shared secret every Connect call must carry (Authorization: Bearer …); undefined: not checked. */
    internalAuthToken: s.INTERNAL_AUTH_TOKEN,
    /** Mutual TLS on the gRPC port (INTERNAL_TLS_*); undefined: plaintext. */
    internalTls: internalTlsOf(s),
    embeddedLogPartitions: s.EMBEDDED_LOG_PARTITIONS,
    maxBodyBytes: s.MAX_BODY_BYTES,
    syncMaxLimit: s.SYNC_MAX_LIMIT,
    conversationsMax: s.CONVERSATIONS_MAX,
    groupMaxMembers: s.GROUP_MAX_MEMBERS,
    groupMaxPerUser: s.GROUP_MAX_PER_USER,
    /** Push a reader's marker to a direct conversation's peer (READ_RECEIPTS). */
    readReceipts: s.READ_RECEIPTS,
    /** How long after its send a message may be edited or deleted (EDIT_WINDOW). */
    editWindowMs: s.EDIT_WINDOW,
    /** How long a typing indicator lasts unless renewed (TYPING_TTL). */
    typingTtlMs: s.TYPING_TTL,
    presenceTtlMs: s.PRESENCE_TTL,
    keepaliveMs: s.MESSAGE_KEEPALIVE_TIME,
    keepaliveTimeoutMs: s.MESSAGE_KEEPALIVE_TIMEOUT,
    drainWindowMs: s.MESSAGE_DRAIN_WINDOW,
    /** Most pushes queued on one gateway stream before it is ended (see GrpcTransportDeps.pushBufferMax). */
    pushBufferMax: s.MESSAGE_PUSH_BUFFER_MAX,
    shutdownTimeoutMs: s.MESSAGE_SHUTDOWN_TIMEOUT,
    dedupeWindowMs: s.DEDUPE_WINDOW,
    persist: Object.freeze({
      batchMax: s.PERSIST_BATCH_MAX,
      delayMaxMs: s.PERSIST_DELAY_MAX,
      backlogMax: s.PERSIST_BACKLOG_MAX,
      writesMax: s.PERSIST_WRITES_MAX,
    }),
    logLevel: s.LOG_LEVEL,
    logFormat: s.LOG_FORMAT,
  });
}
