import { z } from 'zod';
import {
  defaultInstanceId,
  internalTokenProblems,
  internalTokenSettings,
  logSettings,
  parseSettings,
  setting,
  type LogLevel,
  type RawSettings,
} from '../shared/config.js';
import type { LogFormat } from '../shared/logger.js';
import { ConfigError } from '../shared/errors.js';

const schema = z.object({
  MESSAGE_GRPC_HOST: setting.text('0.0.0.0'),
  MESSAGE_GRPC_PORT: setting.port(22004),
  MESSAGE_HTTP_HOST: setting.text('0.0.0.0'),
  MESSAGE_HTTP_PORT: setting.port(21004),
  MESSAGE_INSTANCE_ID: setting.optionalText(),
  KAFKA_BROKERS: setting.optionalText(),
  MONGODB_URI: setting.optionalText(),
  REDIS_URL: setting.optionalText(),
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
  PRESENCE_TTL: setting.duration('30s', 300),
  MESSAGE_KEEPALIVE_TIME: setting.duration('15s', 1000),
  MESSAGE_KEEPALIVE_TIMEOUT: setting.duration('5s', 100),
  MESSAGE_DRAIN_WINDOW: setting.duration('2s'),
  MESSAGE_PUSH_BUFFER_MAX: setting.int(10_000, 1000, 10_000_000),
  MESSAGE_SHUTDOWN_TIMEOUT: setting.duration('5s', 100),
  ...internalTokenSettings,
  ...logSettings,
});

/** The names of every setting Message reads (README, Configuration; the Helm chart's `message.env`). */
export const MESSAGE_SETTINGS: readonly string[] = Object.freeze(Object.keys(schema.shape));

/** Settings of the Message service (PROTOCOL.md §1), parsed once at start-up. */
export interface MessageConfig {
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  instanceId: string;
  backends: { kafkaBrokers?: string[]; mongodbUri?: string; redisUrl?: string };
  kafka: {
    topic: string;
    groupId: string;
    clientId: string;
    partitions: number;
    replicationFactor: number;
    minInsyncReplicas: number;
    appendTimeoutMs: number;
    fetchMaxWaitMs: number;
    fetchMinBytes: number;
    fetchIdleWaitMs: number;
    commitIntervalMs: number;
  };
  mongodbDatabase: string;
  redisKeyPrefix: string;
  /** Shared secret every Connect call must carry (Authorization: Bearer …); unset = not checked. */
  internalAuthToken?: string;
  /** Cap of the backoff between attempts to connect a backend at start-up. */
  backendRetryMaxMs: number;
  embeddedLogPartitions: number;
  maxBodyBytes: number;
  syncMaxLimit: number;
  conversationsMax: number;
  /** Most members a group may have. */
  groupMaxMembers: number;
  /** Most groups a user may be in. */
  groupMaxPerUser: number;
  presenceTtlMs: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  drainWindowMs: number;
  shutdownTimeoutMs: number;
  /** Most pushes queued on one gateway stream before it is ended (see GrpcTransportDeps.pushBufferMax). */
  pushBufferMax: number;
  logLevel: LogLevel;
  logFormat: LogFormat;
}

/** Parses the Message settings; throws ConfigError naming every bad one. */
export function loadMessageConfig(raw: RawSettings): Readonly<MessageConfig> {
  const s = parseSettings(schema, raw);
  const brokers = s.KAFKA_BROKERS?.split(',')
    .map((b) => b.trim())
    .filter(Boolean);
  const problems: string[] = [];
  if (brokers?.some((b) => !/^[^\s:]+:\d{1,5}$/.test(b))) problems.push(`KAFKA_BROKERS: expected host:port[,host:port…]; got "${s.KAFKA_BROKERS}"`);
  if (s.MONGODB_URI && !/^mongodb(\+srv)?:\/\//.test(s.MONGODB_URI)) problems.push('MONGODB_URI: expected a mongodb:// or mongodb+srv:// URI');
  if (s.REDIS_URL && !/^rediss?:\/\//.test(s.REDIS_URL)) problems.push('REDIS_URL: expected a redis:// or rediss:// URL');
  if (s.KAFKA_REPLICATION_FACTOR === 0) problems.push('KAFKA_REPLICATION_FACTOR: expected -1 (broker default) or 1-100');
  problems.push(...internalTokenProblems(s.INTERNAL_AUTH_TOKEN));
  if (problems.length > 0) throw new ConfigError(problems);
  const instanceId = s.MESSAGE_INSTANCE_ID ?? defaultInstanceId('message');
  return Object.freeze({
    grpcHost: s.MESSAGE_GRPC_HOST,
    grpcPort: s.MESSAGE_GRPC_PORT,
    httpHost: s.MESSAGE_HTTP_HOST,
    httpPort: s.MESSAGE_HTTP_PORT,
    instanceId,
    backends: Object.freeze({ kafkaBrokers: brokers, mongodbUri: s.MONGODB_URI, redisUrl: s.REDIS_URL }),
    kafka: Object.freeze({
      topic: s.KAFKA_TOPIC,
      groupId: s.KAFKA_GROUP_ID,
      clientId: s.KAFKA_CLIENT_ID ?? instanceId,
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
    redisKeyPrefix: s.REDIS_KEY_PREFIX,
    backendRetryMaxMs: s.BACKEND_RETRY_MAX,
    internalAuthToken: s.INTERNAL_AUTH_TOKEN,
    embeddedLogPartitions: s.EMBEDDED_LOG_PARTITIONS,
    maxBodyBytes: s.MAX_BODY_BYTES,
    syncMaxLimit: s.SYNC_MAX_LIMIT,
    conversationsMax: s.CONVERSATIONS_MAX,
    groupMaxMembers: s.GROUP_MAX_MEMBERS,
    groupMaxPerUser: s.GROUP_MAX_PER_USER,
    presenceTtlMs: s.PRESENCE_TTL,
    keepaliveMs: s.MESSAGE_KEEPALIVE_TIME,
    keepaliveTimeoutMs: s.MESSAGE_KEEPALIVE_TIMEOUT,
    drainWindowMs: s.MESSAGE_DRAIN_WINDOW,
    pushBufferMax: s.MESSAGE_PUSH_BUFFER_MAX,
    shutdownTimeoutMs: s.MESSAGE_SHUTDOWN_TIMEOUT,
    logLevel: s.LOG_LEVEL,
    logFormat: s.LOG_FORMAT,
  });
}
