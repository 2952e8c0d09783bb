import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONNECT_SETTINGS, loadConnectConfig } from '../../services/connect/config.js';
import { MESSAGE_SETTINGS, loadMessageConfig } from '../../services/message/config.js';
import { settingsFrom, parseDuration } from '../../services/shared/config.js';
import { ConfigError } from '../../services/shared/errors.js';
import { parseRedisUrl } from '../../services/message/adapters/redis-connection.js';

describe('configuration', () => {
  it('has the documented defaults', () => {
    const m = loadMessageConfig({});
    assert.equal(m.grpcPort, 22004);
    assert.equal(m.httpPort, 21004);
    assert.equal(m.maxBodyBytes, 4096);
    assert.deepEqual([m.kafka.fetchMaxWaitMs, m.kafka.fetchMinBytes, m.kafka.fetchIdleWaitMs], [15, 8192, 500]);
    const c = loadConnectConfig({ AUTH_JWT_SECRET: 'x'.repeat(32) });
    assert.equal(c.wsPort, 21005);
    assert.equal(c.adminPort, 22005);
    assert.deepEqual(c.discovery, { kind: 'dns', host: 'localhost', port: 22004 });
    assert.equal(c.auth.mode, 'jwt');
    assert.deepEqual(c.backoff, { initialMs: 1000, multiplier: 1.6, jitter: 0.2, maxMs: 30_000 });
    assert.equal(c.minStreams, 1);
    assert.deepEqual(
      [c.limits.maxFrameBytes, c.limits.ratePerSecond, c.limits.rateBurst, c.limits.maxBufferedBytes, c.heartbeatMs],
      [65536, 50, 100, 1048576, 25000],
    );
  });

  it('names every bad setting at once', () => {
    assert.throws(
      () => loadMessageConfig({ MESSAGE_GRPC_PORT: 'abc', MESSAGE_DRAIN_WINDOW: 'soon', MAX_BODY_BYTES: '0' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.problems.length === 3 &&
        e.message.includes('MESSAGE_GRPC_PORT: expected a port number 0-65535; got "abc"') &&
        e.message.includes('MESSAGE_DRAIN_WINDOW') &&
        e.message.includes('MAX_BODY_BYTES'),
    );
  });

  it('serves the server API only with keys, and stops at start-up on keys it cannot use or a bad SYSTEM_USER', () => {
    assert.equal(loadMessageConfig({}).api.keys, undefined);
    assert.deepEqual(loadMessageConfig({ SERVER_API_KEYS: `app ${'k'.repeat(32)}` }).api.keys, { inline: `app ${'k'.repeat(32)}` });
    const refused = (raw: Record<string, string>, why: string): void =>
      assert.throws(
        () => loadMessageConfig(raw),
        (e: unknown) => e instanceof ConfigError && e.message.includes(why),
      );
    refused({ SERVER_API_KEYS: 'app short' }, 'SERVER_API_KEYS: line 1 (app): the key must be 32-256 printable ASCII characters');
    refused({ SERVER_API_KEYS_FILE: '/nonexistent/keys' }, 'SERVER_API_KEYS_FILE: cannot read /nonexistent/keys (ENOENT)');
    refused({ SERVER_API_KEYS: `a ${'k'.repeat(32)}`, SERVER_API_KEYS_FILE: '/x' }, 'give one of them');
    refused({ SYSTEM_USER: 'no spaces please' }, 'SYSTEM_USER: must be a user id');
  });

  it("takes a MongoDB URI as the driver does (a replica set's host list, SRV, options), and refuses one it cannot read", () => {
    for (const uri of [
      'mongodb://db-0.db:27017,db-1.db:27017,db-2.db:27017/chat?replicaSet=rs0&w=majority',
      'mongodb+srv://cluster.example.com/chat',
      'mongodb://db',
    ]) {
      assert.equal(loadMessageConfig({ MONGODB_URI: uri }).backends.mongodbUri, uri);
    }
    for (const [uri, why] of [
      ['http://db:27017', /MONGODB_URI: expected a mongodb:\/\/ or mongodb\+srv:\/\/ URI \(Invalid scheme/],
      ['mongodb://', /MONGODB_URI: .*host list are required/],
    ] as const) {
      assert.throws(
        () => loadMessageConfig({ MONGODB_URI: uri }),
        (e: unknown) => e instanceof ConfigError && why.test(e.message),
      );
    }
  });

  it('takes one Redis server, or the seed nodes of a Redis Cluster in cluster mode; waits for a replica by default only in cluster mode', () => {
    const one = loadMessageConfig({ REDIS_URL: 'redis://:secret@redis:6379/2' });
    assert.deepEqual(one.redis, { mode: 'standalone', keyPrefix: 'switchboard:', waitReplicas: 0, waitTimeoutMs: 250 });
    const cluster = loadMessageConfig({ REDIS_URL: 'rediss://app:pw@redis-0:6379,redis-1:6379,[::1]:7000', REDIS_MODE: 'cluster' });
    assert.deepEqual([cluster.redis.mode, cluster.redis.waitReplicas], ['cluster', 1]);
    assert.equal(loadMessageConfig({ REDIS_URL: 'redis://r:6379', REDIS_MODE: 'cluster', REDIS_WAIT_REPLICAS: '0' }).redis.waitReplicas, 0);
    assert.deepEqual(parseRedisUrl('rediss://app:p%40ss@redis-0:6379,redis-1', 'cluster'), {
      tls: true,
      username: 'app',
      password: 'p@ss',
      seeds: [
        { host: 'redis-0', port: 6379 },
        { host: 'redis-1', port: 6379 },
      ],
      db: 0,
    });
    for (const [settings, why] of [
      [{ REDIS_URL: 'http://redis:6379' }, /REDIS_URL: expected redis:\/\//],
      [{ REDIS_URL: 'redis://a:6379,b:6379' }, /REDIS_URL: several hosts are seed nodes of a Redis Cluster: set REDIS_MODE=cluster/],
      [{ REDIS_URL: 'redis://a:6379/3', REDIS_MODE: 'cluster' }, /REDIS_URL: a Redis Cluster has database 0 only/],
      [{ REDIS_URL: 'redis://a:port', REDIS_MODE: 'cluster' }, /REDIS_URL: /],
      [{ REDIS_URL: 'redis://a:6379', REDIS_MODE: 'cluster', REDIS_KEY_PREFIX: 'app{1}:' }, /REDIS_KEY_PREFIX: no \{ or \} in cluster mode/],
      [{ REDIS_MODE: 'sentinel' }, /REDIS_MODE/],
    ] as const) {
      assert.throws(
        () => loadMessageConfig(settings),
        (e: unknown) => e instanceof ConfigError && why.test(e.message),
        JSON.stringify(settings),
      );
    }
  });

  it('TLS on the gateway: the certificate and key files go together', () => {
    const base = { AUTH_MODE: 'insecure-dev' };
    assert.equal(loadConnectConfig(base).tls, undefined);
    assert.deepEqual(loadConnectConfig({ ...base, CONNECT_TLS_CERT_FILE: '/tls/tls.crt', CONNECT_TLS_KEY_FILE: '/tls/tls.key' }).tls, {
      certFile: '/tls/tls.crt',
      keyFile: '/tls/tls.key',
      reloadIntervalMs: 30_000,
    });
    for (const half of [{ CONNECT_TLS_CERT_FILE: '/tls/tls.crt' }, { CONNECT_TLS_KEY_FILE: '/tls/tls.key' }]) {
      assert.throws(
        () => loadConnectConfig({ ...base, ...half }),
        (e: unknown) => e instanceof ConfigError && /CONNECT_TLS_CERT_FILE and CONNECT_TLS_KEY_FILE go together/.test(e.message),
      );
    }
  });

  it('refuses a Kafka fetch that never waits or asks for no bytes', () => {
    assert.throws(
      () => loadMessageConfig({ KAFKA_FETCH_MAX_WAIT: '0ms', KAFKA_FETCH_MIN_BYTES: '0' }),
      (e: unknown) =>
        e instanceof ConfigError && e.problems.length === 2 && e.message.includes('KAFKA_FETCH_MAX_WAIT') && e.message.includes('KAFKA_FETCH_MIN_BYTES'),
    );
    assert.equal(loadMessageConfig({ KAFKA_FETCH_MAX_WAIT: '500ms', KAFKA_FETCH_MIN_BYTES: '1' }).kafka.fetchMaxWaitMs, 500);
  });

  it('long-polls an idle Kafka log for KAFKA_FETCH_IDLE_WAIT (0: never), and refuses a bad wait', () => {
    assert.equal(loadMessageConfig({ KAFKA_FETCH_IDLE_WAIT: '2s' }).kafka.fetchIdleWaitMs, 2000);
    assert.equal(loadMessageConfig({ KAFKA_FETCH_IDLE_WAIT: '0' }).kafka.fetchIdleWaitMs, 0);
    assert.throws(
      () => loadMessageConfig({ KAFKA_FETCH_IDLE_WAIT: 'later' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('KAFKA_FETCH_IDLE_WAIT'),
    );
    // The consumer heartbeats between fetches: a poll longer than half its 10 s session would risk it.
    assert.throws(
      () => loadMessageConfig({ KAFKA_FETCH_IDLE_WAIT: '6s' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('KAFKA_FETCH_IDLE_WAIT: expected a duration of 0-5000 ms'),
    );
    assert.equal(loadMessageConfig({ KAFKA_FETCH_IDLE_WAIT: '5s' }).kafka.fetchIdleWaitMs, 5000);
  });

  it('commits Kafka offsets at most every 200 ms unless told otherwise (0: every commit round trip), and refuses a bad interval', () => {
    assert.equal(loadMessageConfig({}).kafka.commitIntervalMs, 200);
    assert.equal(loadMessageConfig({ KAFKA_COMMIT_INTERVAL: '0' }).kafka.commitIntervalMs, 0);
    assert.equal(loadMessageConfig({ KAFKA_COMMIT_INTERVAL: '1s' }).kafka.commitIntervalMs, 1000);
    assert.throws(
      () => loadMessageConfig({ KAFKA_COMMIT_INTERVAL: 'soon' }),
      (e: unknown) => e instanceof ConfigError && e.message.includes('KAFKA_COMMIT_INTERVAL'),
    );
  });

  it('refuses a frame limit that cannot carry the largest body (a sender would be closed with 1009, not told TOO_LARGE)', () => {
    const secret = { AUTH_JWT_SECRET: 'x'.repeat(32) };
    assert.throws(
      () => loadConnectConfig({ ...secret, MAX_BODY_BYTES: '65536', MAX_FRAME_BYTES: '65536' }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message.includes('MAX_FRAME_BYTES (65536) leaves no room for a send frame with a body of MAX_BODY_BYTES (65536): make it at least 66560'),
    );
    assert.equal(loadConnectConfig({ ...secret, MAX_BODY_BYTES: '65536', MAX_FRAME_BYTES: '66560' }).limits.maxBodyBytes, 65536);
  });

  it('refuses JWT mode without a key, short secrets and bad discovery', () => {
    assert.throws(() => loadConnectConfig({}), /AUTH_JWT_SECRET or AUTH_JWKS_URL is required/);
    assert.throws(() => loadConnectConfig({ AUTH_JWT_SECRET: 'short' }), /at least 32 bytes/);
    assert.throws(() => loadConnectConfig({ AUTH_MODE: 'insecure-dev', MESSAGE_DISCOVERY: 'dns:nohost' }), /MESSAGE_DISCOVERY: expected dns:HOST:PORT/);
    assert.throws(() => loadConnectConfig({ AUTH_MODE: 'open' }), /AUTH_MODE: expected one of jwt, insecure-dev; got "open"/);
    assert.throws(() => loadConnectConfig({ AUTH_MODE: 'insecure-dev', MESSAGE_DNS_SERVER: 'dns.example' }), /MESSAGE_DNS_SERVER/);
  });

  it('parses discovery lists and dns names', () => {
    const c = loadConnectConfig({ AUTH_MODE: 'insecure-dev', MESSAGE_DISCOVERY: '127.0.0.1:1, 127.0.0.2:2,127.0.0.1:1' });
    assert.deepEqual(c.discovery, { kind: 'static', endpoints: ['127.0.0.1:1', '127.0.0.2:2'] });
    const d = loadConnectConfig({ AUTH_MODE: 'insecure-dev', MESSAGE_DISCOVERY: 'dns:message-headless.ns.svc:22004' });
    assert.deepEqual(d.discovery, { kind: 'dns', host: 'message-headless.ns.svc', port: 22004 });
  });

  it('takes every setting from the command line too', () => {
    const raw = settingsFrom({ MESSAGE_GRPC_PORT: '1' }, ['--message-grpc-port=0', '--log-level', 'debug']);
    const m = loadMessageConfig(raw);
    assert.equal(m.grpcPort, 0);
    assert.equal(m.logLevel, 'debug');
    assert.throws(() => settingsFrom({}, ['oops']), /unexpected argument/);
    assert.throws(() => settingsFrom({}, ['--log-level']), /needs a value/);
  });

  it('parses durations', () => {
    assert.deepEqual(['250', '250ms', '5s', '1.5m', '24h', 'x', '-1s'].map(parseDuration), [250, 250, 5000, 90000, 86400000, undefined, undefined]);
  });
  it('the configuration reference (docs/CONFIGURATION.md) lists every setting of each service, and nothing else', () => {
    const reference = readFileSync(new URL('../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
    // The names in the first column of a section's table.
    const documented = (section: string): string[] => {
      const body = reference.split(`\n## ${section}\n`)[1]!.split('\n#')[0]!;
      return body
        .split('\n')
        .filter((l) => l.startsWith('| `'))
        .map((row) => /`([A-Z_][A-Z0-9_]*)`/.exec(row.split('|')[1]!)![1]!);
    };
    assert.deepEqual(documented('Message').sort(), [...MESSAGE_SETTINGS].sort());
    assert.deepEqual(documented('Connect').sort(), [...CONNECT_SETTINGS].sort());
  });
});
