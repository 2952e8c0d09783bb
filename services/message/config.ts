import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { parseSettings, setting, type RawSettings } from '../shared/config.js';
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
  EMBEDDED_LOG_PARTITIONS: setting.int(4, 1, 1024),
  MAX_BODY_BYTES: setting.int(4096, 1, 1024 * 1024),
  IDEMPOTENCY_WINDOW: setting.duration('24h', 1000),
  SYNC_MAX_LIMIT: setting.int(500, 1, 10_000),
  CONVERSATIONS_MAX: setting.int(1000, 1, 100_000),
  PRESENCE_TTL: setting.duration('30s', 300),
  MESSAGE_KEEPALIVE_TIME: setting.duration('15s', 1000),
  MESSAGE_KEEPALIVE_TIMEOUT: setting.duration('5s', 100),
  MESSAGE_DRAIN_WINDOW: setting.duration('2s'),
  MESSAGE_SHUTDOWN_TIMEOUT: setting.duration('5s', 100),
  LOG_LEVEL: setting.oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], 'info'),
});

/** Settings of the Message service (PROTOCOL.md §1), parsed once at start-up. */
export interface MessageConfig {
  grpcHost: string;
  grpcPort: number;
  httpHost: string;
  httpPort: number;
  instanceId: string;
  backends: { kafkaBrokers?: string[]; mongodbUri?: string; redisUrl?: string };
  embeddedLogPartitions: number;
  maxBodyBytes: number;
  idempotencyWindowMs: number;
  syncMaxLimit: number;
  conversationsMax: number;
  presenceTtlMs: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  drainWindowMs: number;
  shutdownTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

/** Parses the Message settings; throws ConfigError naming every bad one. */
export function loadMessageConfig(raw: RawSettings): Readonly<MessageConfig> {
  const s = parseSettings(schema, raw);
  const brokers = s.KAFKA_BROKERS?.split(',').map((b) => b.trim()).filter(Boolean);
  const problems: string[] = [];
  if (brokers?.some((b) => !/^[^\s:]+:\d{1,5}$/.test(b))) problems.push(`KAFKA_BROKERS: expected host:port[,host:port…]; got "${s.KAFKA_BROKERS}"`);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    grpcHost: s.MESSAGE_GRPC_HOST,
    grpcPort: s.MESSAGE_GRPC_PORT,
    httpHost: s.MESSAGE_HTTP_HOST,
    httpPort: s.MESSAGE_HTTP_PORT,
    instanceId: s.MESSAGE_INSTANCE_ID ?? `message-${hostname()}-${randomBytes(3).toString('hex')}`,
    backends: Object.freeze({ kafkaBrokers: brokers, mongodbUri: s.MONGODB_URI, redisUrl: s.REDIS_URL }),
    embeddedLogPartitions: s.EMBEDDED_LOG_PARTITIONS,
    maxBodyBytes: s.MAX_BODY_BYTES,
    idempotencyWindowMs: s.IDEMPOTENCY_WINDOW,
    syncMaxLimit: s.SYNC_MAX_LIMIT,
    conversationsMax: s.CONVERSATIONS_MAX,
    presenceTtlMs: s.PRESENCE_TTL,
    keepaliveMs: s.MESSAGE_KEEPALIVE_TIME,
    keepaliveTimeoutMs: s.MESSAGE_KEEPALIVE_TIMEOUT,
    drainWindowMs: s.MESSAGE_DRAIN_WINDOW,
    shutdownTimeoutMs: s.MESSAGE_SHUTDOWN_TIMEOUT,
    logLevel: s.LOG_LEVEL,
  });
}
