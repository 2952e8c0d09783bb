import assert from 'node:assert/strict';
import { getJson, eventually } from '../support/services.js';
import { killAll, metricValue, spawnService, LOOPBACK, type MessageProcess, type ServiceProcess } from '../support/processes.js';
import { isolatedBackendSettings, privateRealBackends, type RealBackendEnv } from '../support/real-backends.js';
import { describeVerdict, twoByTwoUnderTraffic, type LiveTraffic } from '../support/live-traffic.js';
import { expectAllAcceptedStored } from '../support/traffic.js';
import { mongoCommand, proxied, type TcpProxy } from '../support/tcp-proxy.js';
import { createRedisPresence } from '../../services/message/adapters/redis-presence.js';
import { silentLogger } from '../../services/shared/logger.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const WARN = 40;

/**
 * Faults under steady traffic with real backends and real processes (two Message, two Connect,
 * the store behind a TCP proxy), asserting what users see: every accepted message pushed to its
 * recipient or covered by a `resync`, and in the end stored once with gap-free seqs.
 */
describe('faults under traffic: Redis restarted empty, store replies lost, start during an outage, drain', function () {
  this.timeout(300_000);
  let env: RealBackendEnv;
  let store: TcpProxy;
  let settings: Record<string, string>;
  const procs: ServiceProcess[] = [];
  let m1: MessageProcess;
  let m2: MessageProcess;
  let traffic: LiveTraffic;

  before(async () => {
    env = await privateRealBackends();
    const viaProxy = await proxied(env.mongodbUri);
    store = viaProxy.proxy;
    settings = isolatedBackendSettings(env, { MONGODB_URI: viaProxy.uri, MESSAGE_DRAIN_WINDOW: '2s', BACKEND_RETRY_MAX: '1s' });
    // 20 users over the two gateways, 3 messages a second each.
    ({
      messages: [m1, m2],
      traffic,
    } = await twoByTwoUnderTraffic(settings, procs, 'fault'));
  });
  after(async () => {
    traffic?.close();
    await killAll(procs.splice(0));
    await store?.stop();
    for (const s of Object.values(env?.managed ?? {})) await s.stop();
  });

  const warnings = (p: ServiceProcess, from: number, to = Number.POSITIVE_INFINITY) =>
    p.lines.filter((l) => (l.level ?? 0) >= WARN && Number(l.time) >= from && Number(l.time) < to);

  it('steady traffic: every accepted message is pushed to its recipient', async () => {
    const t0 = Date.now();
    await sleep(5000);
    const v = traffic.verdict(t0, Date.now() - 2000);
    assert.ok(v.total >= 100, describeVerdict(v));
    assert.equal(v.pushed, v.total, describeVerdict(v));
  });

  it('Redis killed and restarted empty: pushes go on the whole time, the directory is whole again at once, and the logs say so in a few lines', async () => {
    const redis = env.managed.redis!;
    const prefix = settings.REDIS_KEY_PREFIX!;
    const directory = createRedisPresence({ url: redis.address, keyPrefix: prefix, logger: silentLogger() });
    const downAt = Date.now();
    await redis.kill();
    await sleep(8000);
    const upAt = Date.now();
    await redis.start();
    // The directory (what other parts ask about where users are) lists every online user again
    // well before the next periodic refresh (a third of PRESENCE_TTL, 10 s).
    await directory.start();
    await eventually('every online user in the directory again', async () => (await directory.lookup(traffic.users)).size === traffic.users.length, 3000, 100);
    const rebuiltMs = Date.now() - upAt;
    await directory.stop();
    await sleep(8000);
    const v = traffic.verdict(downAt, Date.now() - 2000);
    assert.equal(v.missing.length, 0, describeVerdict(v));
    assert.equal(v.liveShare, 1, `routing needs no Redis: ${describeVerdict(v)}`);
    for (const m of [m1, m2]) {
      assert.ok((await metricValue(m.admin, 'switchboard_message_presence_rewrites_total', 'reason="store_reset"')) >= 1, 'the restart was noticed as one');
      const lines = warnings(m.proc, downAt, upAt);
      // Before: a warning per routed batch (tens a second). Now the first of each kind, then a count.
      assert.ok(lines.length <= 25, `${lines.length} warnings in 8 s of outage:\n${lines.map((l) => l.msg).join('\n')}`);
    }
    assert.ok(rebuiltMs <= 3000, `directory whole ${rebuiltMs} ms after the restart`);
  });

  it('store replies lost after the write was applied: the messages are pushed all the same', async () => {
    // The insert of messages reaches the store, which stores them; its reply never comes back.
    const insertMessages = mongoCommand('insert', 'messages');
    const from = Date.now();
    for (let i = 1; i <= 5; i++) {
      store.cutAfterApply(insertMessages, 1);
      await eventually(`cut ${i}`, () => store.cuts >= i, 20_000, 50);
      await sleep(500);
    }
    await sleep(5000);
    const v = traffic.verdict(from, Date.now() - 3000);
    assert.ok(v.total >= 50, describeVerdict(v));
    assert.equal(v.missing.length, 0, describeVerdict(v));
    // The writes whose replies were lost failed there, and were made again.
    const failed = async (admin: string): Promise<number> =>
      Number(
        /^switchboard_message_backend_seconds_count\{service="message",backend="store",op="insertMessages",result="error"\} (\d+)$/m.exec(
          (await getJson(`${admin}/metrics`)).text,
        )?.[1] ?? 0,
      );
    assert.ok((await failed(m1.admin)) + (await failed(m2.admin)) >= 5, 'the five cut writes failed and were retried');
  });

  it('a Message pod started while Redis is down connects the log and the store and consumes; it serves the moment Redis returns', async () => {
    const redis = env.managed.redis!;
    await redis.stop();
    const m3 = spawnService('message', { ...LOOPBACK, MESSAGE_GRPC_PORT: '0', MESSAGE_HTTP_PORT: '0', MESSAGE_DRAIN_WINDOW: '0', ...settings });
    procs.push(m3);
    try {
      const started = await m3.waitForLog('message service started');
      const admin = `http://127.0.0.1:${String(started.httpPort)}`;
      type Ready = { ready: boolean; checks: Record<string, { ok: boolean; detail: string }> };
      const readyz = async () => (await getJson(`${admin}/readyz`)) as { status: number; body: Ready };
      await eventually(
        'log and store connected, consumer in the group, presence down',
        async () => {
          const { body } = await readyz();
          return body.checks.log?.ok === true && body.checks.store?.ok === true && body.checks.presence?.ok === false;
        },
        60_000,
        200,
      );
      const { status, body } = await readyz();
      assert.equal(status, 503, 'not ready while presence is down');
      assert.match(body.checks.log!.detail, /member of/);
      const upAt = Date.now();
      await redis.start();
      await eventually('ready once Redis is back', async () => (await readyz()).status === 200, 10_000, 100);
      assert.ok(Date.now() - upAt <= 3000, `ready ${Date.now() - upAt} ms after Redis came back`);
    } finally {
      m3.kill('SIGTERM');
      await m3.exited;
    }
  });

  it('SIGTERM of a Message pod under traffic: the drain finishes by itself inside its budget, exit 0, nothing missed', async () => {
    const from = Date.now();
    m2.proc.kill('SIGTERM');
    const exit = await m2.proc.exited;
    const tookMs = m2.proc.exitedAt! - from;
    assert.deepEqual(exit, { code: 0, signal: null });
    const forced = m2.proc.lines.filter((l) => /forcing|did not stop in time|deadline passed|still connecting/.test(String(l.msg)));
    assert.deepEqual(
      forced.map((l) => l.msg),
      [],
      'no phase ran into its deadline',
    );
    // The 2 s drain window, then the streams, the consumer and the backends: well inside the 5 s budget.
    assert.ok(tookMs < 2000 + 2500, `stopped ${tookMs} ms after SIGTERM`);
    await sleep(8000);
    const v = traffic.verdict(from, Date.now() - 3000);
    assert.equal(v.missing.length, 0, describeVerdict(v));
  });

  it('in the end every accepted message is stored once, with gap-free seqs', async () => {
    await traffic.stop();
    const final = await traffic.settle(20_000);
    assert.equal(final.missing.length, 0, describeVerdict(final));
    for (const [conversation, { member, msgIds }] of traffic.conversations())
      await expectAllAcceptedStored(traffic.clientOf(member), conversation, msgIds, 60_000);
  });
});
