import assert from 'node:assert/strict';
import { getJson, eventually } from '../support/services.js';
import { killAll, metricValue, type MessageProcess, type ServiceProcess } from '../support/processes.js';
import { isolatedBackendSettings, privateRealBackends, type RealBackendEnv } from '../support/real-backends.js';
import { describeVerdict, twoByTwoUnderTraffic, type LiveTraffic } from '../support/live-traffic.js';
import { expectAllAcceptedStored, syncAll } from '../support/traffic.js';
import { mongoCommand, proxied, type TcpProxy } from '../support/tcp-proxy.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The delivery path on real backends (two Message, two Connect processes; the store behind a TCP
 * proxy that can take it away or slow it down): a push waits for the log and the seq, never for
 * the store; what was pushed and not yet stored is readable; a consumer killed between the two
 * hands its messages to the next owner with the same seqs.
 */
describe('delivery at the speed of the log: the store behind the push', function () {
  this.timeout(300_000);
  let env: RealBackendEnv;
  let store: TcpProxy;
  const procs: ServiceProcess[] = [];
  let messages: MessageProcess[];
  let traffic: LiveTraffic;
  const lag = async (what: 'messages' | 'seconds'): Promise<number> =>
    (
      await Promise.all(messages.filter((m) => m.proc.exitedAt === undefined).map((m) => metricValue(m.admin, `switchboard_message_persist_lag_${what}`)))
    ).reduce((a, b) => a + b, 0);

  before(async () => {
    env = await privateRealBackends();
    const viaProxy = await proxied(env.mongodbUri);
    store = viaProxy.proxy;
    const settings = isolatedBackendSettings(env, { MONGODB_URI: viaProxy.uri, BACKEND_RETRY_MAX: '1s' });
    ({ messages, traffic } = await twoByTwoUnderTraffic(settings, procs, 'path'));
    await sleep(3000);
  });
  after(async () => {
    traffic?.close();
    await killAll(procs.splice(0));
    await store?.stop();
    for (const s of Object.values(env?.managed ?? {})) await s.stop();
  });

  it('the store down for 60 s under traffic: every message is pushed live all along, the lag is a metric, and history catches up', async () => {
    store.setDown(true);
    const downAt = Date.now();
    await eventually('a persist lag of over 5 s', async () => (await lag('seconds')) > 5, 30_000, 500);
    await sleep(Math.max(0, downAt + 60_000 - Date.now()));
    const v = traffic.verdict(downAt, Date.now() - 2000);
    assert.ok(v.total >= 1000, describeVerdict(v));
    assert.equal(v.missing.length, 0, describeVerdict(v));
    assert.equal(v.liveShare, 1, `every message pushed while the store was down: ${describeVerdict(v)}`);
    assert.ok((await lag('messages')) >= 1000, `messages waiting for the store: ${await lag('messages')}`);
    store.setDown(false);
    const upAt = Date.now();
    await eventually('the backlog stored', async () => (await lag('messages')) === 0, 60_000, 500);
    const caughtUpMs = Date.now() - upAt;
    assert.ok(caughtUpMs < 30_000, `stored ${caughtUpMs} ms after the store came back`);
    assert.deepEqual(traffic.collisions, [], 'no seq was pushed with two bodies');
  });

  it('a client reconnecting while pushed messages are not stored yet gets them by sync, and `conversations` lists them', async () => {
    // The store's writes of messages answered 4 s late (its reads as fast as ever): what is pushed
    // now is not stored for a while.
    store.delayOnly = mongoCommand('insert', 'messages');
    store.delayMs = 4000;
    try {
      const from = Date.now();
      await eventually('pushed messages waiting for the store', async () => (await lag('messages')) >= 20, 20_000, 200);
      const recent = traffic.acceptedBetween(from).filter((d) => d.pushedAt !== undefined);
      const sample = recent[recent.length - 1]!;
      // The recipient comes back and asks from the seq before the newest message it was pushed.
      const reader = traffic.clientOf(sample.to);
      const res = await reader.request(
        { type: 'sync', id: `catch-up-${Date.now()}`, conversation: `dm:${[sample.from, sample.to].sort().join(':')}`, after: sample.seq! - 1, limit: 10 },
        'messages',
        15_000,
      );
      assert.equal(res.type, 'messages', JSON.stringify(res));
      const got = res.messages as Array<{ msgId: string; seq: number }>;
      assert.equal(got[0]?.msgId, sample.msgId, `sync returns the pushed message not yet stored (seq ${sample.seq})`);
      assert.equal(got[0]?.seq, sample.seq);
      // And `conversations` lists the conversation at that seq or later, the store still behind.
      const list = await reader.request({ type: 'conversations', id: `list-${Date.now()}` }, 'conversations', 15_000);
      assert.equal(list.type, 'conversations', JSON.stringify(list));
      const items = list.items as Array<{ conversation: string; lastSeq: number }>;
      const listed = items.find((i) => i.conversation === `dm:${[sample.from, sample.to].sort().join(':')}`);
      assert.ok(listed && listed.lastSeq >= sample.seq!, `conversations lists it at seq ≥ ${sample.seq}: ${JSON.stringify(listed)}`);
      assert.ok((await lag('messages')) > 0, 'the store was still behind when both were answered');
    } finally {
      store.delayMs = 0;
      store.delayOnly = undefined;
    }
  });

  it('a Message process killed after pushing and before storing: the next owner gives its messages the same seqs, each stored once', async () => {
    // Slow store: the victim holds pushed messages that are not stored when it dies.
    store.delayMs = 1500;
    const victim = messages[0]!;
    await eventually(
      'the victim holds pushed messages not stored yet',
      async () => (await metricValue(victim.admin, 'switchboard_message_persist_lag_messages')) >= 10,
      20_000,
      100,
    );
    const held = await metricValue(victim.admin, 'switchboard_message_persist_lag_messages');
    victim.proc.kill('SIGKILL');
    await victim.proc.exited;
    store.delayMs = 0;
    await sleep(20_000); // the group's session timeout (10 s), the rebalance, the redelivery
    assert.ok(held >= 10, `${held} pushed and not stored when it died`);
    assert.deepEqual(traffic.collisions, [], 'no seq was pushed with two bodies');
  });

  it('in the end: every accepted message stored once with gap-free seqs, each with the seq it was pushed with', async () => {
    await traffic.stop();
    const final = await traffic.settle(30_000);
    assert.equal(final.missing.length, 0, describeVerdict(final));
    for (const [conversation, { member, msgIds }] of traffic.conversations()) {
      await expectAllAcceptedStored(traffic.clientOf(member), conversation, msgIds, 60_000);
      const stored = await syncAll(traffic.clientOf(member), conversation);
      for (const m of stored) {
        const pushed = traffic.deliveries.get(String(m.msgId))?.seq;
        if (pushed !== undefined) assert.equal(m.seq, pushed, `${conversation}: ${String(m.msgId)} stored at the seq it was pushed with`);
      }
    }
    assert.deepEqual(traffic.collisions, []);
    const metrics = await getJson(`${messages[1]!.admin}/metrics`);
    assert.match(metrics.text, /^switchboard_message_seq_conflicts_total\{service="message"\} 0$/m);
  });
});
