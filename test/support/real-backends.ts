import { randomBytes } from 'node:crypto';
import {
  createFerretServer,
  createKafkaCluster,
  createKafkaServer,
  createPostgresServer,
  createRedisCluster,
  createRedisServer,
  dataDir,
  ferretStorageKind,
  type FerretStorage,
  type KafkaCluster,
  type ManagedServer,
  type RedisCluster,
} from '../env/servers.js';

/** Addresses of real Kafka, MongoDB-compatible and Redis servers, and the servers when we run them. */
export interface RealBackendEnv {
  kafkaBrokers: string;
  mongodbUri: string;
  redisUrl: string;
  /** `cluster` when redisUrl names a Redis Cluster's seed nodes. */
  redisMode: 'standalone' | 'cluster';
  /** Servers this test run started (empty when the addresses came from the environment). */
  managed: {
    kafka?: ManagedServer;
    kafkaCluster?: KafkaCluster;
    mongodb?: ManagedServer;
    redis?: ManagedServer;
    redisCluster?: RedisCluster;
    postgres?: ManagedServer;
  };
}

let shared: Promise<RealBackendEnv> | undefined;
const started: ManagedServer[] = [];

/**
 * The real backends shared by the suites of this run: those given by KAFKA_BROKERS, MONGODB_URI
 * and REDIS_URL, otherwise servers started here (stopped by the root hook); FerretDB stores on
 * SQLite or PostgreSQL as SWITCHBOARD_FERRETDB_STORAGE says. A backend that cannot start fails the
 * suite; it is never skipped.
 */
export function sharedRealBackends(): Promise<RealBackendEnv> {
  return (shared ??= startBackends({ kafka: process.env.KAFKA_BROKERS, mongodb: process.env.MONGODB_URI, redis: process.env.REDIS_URL }));
}

/**
 * Backends of its own for a suite that kills and restarts them; `kafkaNodes`: a Kafka cluster of
 * that many nodes (managed.kafkaCluster); `redisCluster`: a Redis Cluster of 3 masters and 3
 * replicas instead of one server (managed.redisCluster).
 */
export function privateRealBackends(opts: { kafkaNodes?: number; redisCluster?: boolean } = {}): Promise<RealBackendEnv> {
  return startBackends({}, opts.kafkaNodes, opts.redisCluster);
}

let sharedCluster: Promise<string> | undefined;
/**
 * A Redis Cluster shared by the suites of this run: REDIS_CLUSTER_URL's seed nodes, otherwise 3
 * masters and 3 replicas started here (stopped by the root hook). The URL names them all.
 */
export function sharedRedisCluster(): Promise<string> {
  return (sharedCluster ??= process.env.REDIS_CLUSTER_URL
    ? Promise.resolve(process.env.REDIS_CLUSTER_URL)
    : startRedisCluster('redis-cluster').then((c) => c.url));
}

async function startRedisCluster(name: string): Promise<RedisCluster> {
  const cluster = await createRedisCluster(dataDir(name), 3, 1, name);
  started.push(...cluster.nodes);
  await cluster.start();
  return cluster;
}

/** A MongoDB-compatible server of its own on the given storage (the benchmark compares them). */
export async function ferretOn(kind: FerretStorage['kind']): Promise<{ mongodbUri: string }> {
  const { ferret } = await startFerret(kind, `ferretdb-${kind}`);
  return { mongodbUri: ferret.address };
}

/** FerretDB on `kind` storage (with its PostgreSQL server first when it needs one), started and recorded for the stop. */
async function startFerret(kind: FerretStorage['kind'], name: string): Promise<{ ferret: ManagedServer; postgres?: ManagedServer }> {
  const run = async (s: ManagedServer): Promise<ManagedServer> => {
    started.push(s);
    await s.start();
    return s;
  };
  if (kind === 'sqlite') return { ferret: await run(await createFerretServer(dataDir(name), '127.0.0.1', name)) };
  const pg = await createPostgresServer(`${name}-postgres`);
  const postgres = await run(pg.server);
  return { ferret: await run(await createFerretServer(dataDir(name), '127.0.0.1', name, { kind, url: pg.ferretUrl })), postgres };
}

async function startBackends(given: { kafka?: string; mongodb?: string; redis?: string }, kafkaNodes = 1, redisCluster = false): Promise<RealBackendEnv> {
  const env: RealBackendEnv = {
    kafkaBrokers: given.kafka ?? '',
    mongodbUri: given.mongodb ?? '',
    redisUrl: given.redis ?? '',
    redisMode: 'standalone',
    managed: {},
  };
  const jobs: Array<Promise<void>> = [];
  const run = async (server: ManagedServer, set: (s: ManagedServer) => void): Promise<void> => {
    started.push(server);
    await server.start();
    set(server);
  };
  if (!given.kafka && kafkaNodes > 1) {
    jobs.push(
      createKafkaCluster(dataDir('kafka-cluster'), kafkaNodes).then(async (cluster) => {
        started.push(...cluster.nodes);
        await cluster.start();
        env.kafkaBrokers = cluster.address;
        env.managed.kafkaCluster = cluster;
      }),
    );
  } else if (!given.kafka) {
    jobs.push(createKafkaServer(dataDir('kafka')).then((s) => run(s, (x) => ((env.kafkaBrokers = x.address), (env.managed.kafka = x)))));
  }
  if (!given.mongodb) {
    jobs.push(
      startFerret(ferretStorageKind(), 'ferretdb').then(({ ferret, postgres }) => {
        env.mongodbUri = ferret.address;
        env.managed.mongodb = ferret;
        env.managed.postgres = postgres;
      }),
    );
  }
  if (!given.redis && redisCluster) {
    jobs.push(
      startRedisCluster('redis-cluster-private').then((cluster) => {
        env.redisUrl = cluster.url;
        env.redisMode = 'cluster';
        env.managed.redisCluster = cluster;
      }),
    );
  } else if (!given.redis) {
    jobs.push(createRedisServer(dataDir('redis')).then((s) => run(s, (x) => ((env.redisUrl = x.address), (env.managed.redis = x)))));
  }
  const results = await Promise.allSettled(jobs);
  const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed.length > 0)
    throw new Error(`real backends could not start:\n${failed.map((f) => `  ${String(f.reason instanceof Error ? f.reason.message : f.reason)}`).join('\n')}`);
  return env;
}

/** Stops every server this run started. */
export async function stopAllRealBackends(): Promise<void> {
  await Promise.allSettled(started.splice(0).map((s) => s.stop()));
}

/** Settings that point a Message service at the real backends, isolated by a fresh topic, group, database and key prefix. */
export function isolatedBackendSettings(env: RealBackendEnv, extra: Record<string, string> = {}): Record<string, string> {
  const tag = randomBytes(4).toString('hex');
  return {
    KAFKA_BROKERS: env.kafkaBrokers,
    KAFKA_TOPIC: `switchboard.test.${tag}`,
    KAFKA_GROUP_ID: `switchboard-test-${tag}`,
    KAFKA_PARTITIONS: '6',
    MONGODB_URI: env.mongodbUri,
    MONGODB_DATABASE: `switchboard_test_${tag}`,
    REDIS_URL: env.redisUrl,
    REDIS_MODE: env.redisMode,
    REDIS_KEY_PREFIX: `switchboard-test-${tag}:`,
    ...extra,
  };
}
