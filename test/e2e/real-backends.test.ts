import assert from 'node:assert/strict';
import { getJson, eventually, freePort } from '../support/services.js';
import {
  killAll,
  metricValue,
  startConnectProcess,
  startMessageProcess,
  type ConnectProcess,
  type MessageProcess,
  type ServiceProcess,
} from '../support/processes.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { isolatedBackendSettings, sharedRealBackends } from '../support/real-backends.js';
import { dm, expectAllAcceptedStored, gapFree, sendReliably, syncAll } from '../support/traffic.js';
import { credentials } from '@grpc/grpc-js';
import { Kafka, logLevel } from 'kafkajs';
import { loadSwitchboardProto } from '../../services/shared/proto.js';

const sum = (xs: number[]): number => xs.reduce((x, y) => x + y, 0);

/** docs/PROTOCOL.md §5 on Kafka, the MongoDB wire protocol and Redis, with 2 Message and 2 Connect processes. */
describe('two Message and two Connect processes on real backends', function () {
  this.timeout(240_000);
  const procs: ServiceProcess[] = [];
  const messages: MessageProcess[] = [];
  const gateways: ConnectProcess[] = [];
  let backendSettings: Record<string, string>;
  const clients: TestClient[] = [];
  const open = async (g: ConnectProcess, user: string): Promise<TestClient> => {
    const c = await TestClient.connect(g.url, { user });
    clients.push(c);
    return c;
  };

  before(async () => {
    const env = await sharedRealBackends();
    backendSettings = isolatedBackendSettings(env);
    const ports = [await freePort(), await freePort()];
    for (const p of ports) messages.push(await startMessageProcess({ ...backendSettings, MESSAGE_GRPC_PORT: String(p) }, procs));
    const discovery = ports.map((p) => `127.0.0.1:${p}`).join(',');
    for (let i = 0; i < 2; i++) gateways.push(await startConnectProcess(discovery, { RATE_LIMIT_PER_SECOND: '1000', RATE_LIMIT_BURST: '1000' }, procs));
    for (const g of gateways) {
      await eventually('both streams up', async () => (await metricValue(g.admin, 'switchboard_connect_streams_active')) === 2, 30_000);
    }
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(() => killAll(procs));

  it('delivers across gateways and Message processes, and spreads partitions over the group', async () => {
    const pairs = Array.from({ length: 12 }, (_, i) => [`x${i}-a`, `x${i}-b`] as const);
    const ends = await Promise.all(pairs.map(async ([a, b]) => [await open(gateways[0]!, a), await open(gateways[1]!, b)] as const));
    await Promise.all(
      ends.map(async ([ca, cb], i) => {
        const [a, b] = pairs[i]!;
        const acc = await sendReliably(ca, { id: `ab-${i}`, to: b, body: `from ${a}` });
        const got = await cb.next('message', 20_000);
        assert.equal(got.msgId, acc.msgId);
        assert.equal(got.from, a);
        await sendReliably(cb, { id: `ba-${i}`, to: a, body: `from ${b}` });
        assert.equal((await ca.next('message', 20_000)).from, b);
      }),
    );
    // Stored behind the push: every one of the 24, by the two pods together.
    let stored: number[] = [];
    await eventually(
      'the 24 messages stored',
      async () => {
        stored = await Promise.all(messages.map((m) => metricValue(m.admin, 'switchboard_message_stored_total')));
        return stored[0]! + stored[1]! >= 24;
      },
      20_000,
      100,
    );
    assert.equal(stored[0]! + stored[1]!, 24);
    assert.ok(
      stored.every((n) => n > 0),
      `both Message processes stored messages: ${stored.join(', ')}`,
    );
    // What each pod asked of Kafka, by API: the 24 sends went out in at most 24 produces between them.
    const requests = async (api: string) => Promise.all(messages.map((m) => metricValue(m.admin, 'switchboard_message_log_requests_total', `api="${api}"`)));
    const produces = await requests('Produce');
    assert.ok(produces[0]! + produces[1]! >= 1 && produces[0]! + produces[1]! <= 24, `Produce requests: ${produces.join(', ')}`);
    // 80 sends at once from one client (under the gateway's burst of 100), each to another user
    // (a connection's sends to one conversation go one after the other, to keep their order): the
    // producers' group commit puts many in one Produce request; one request per send would be 80.
    const producedBefore = sum(await requests('Produce'));
    const [burster] = ends[0]!;
    const burst = await Promise.all(
      Array.from({ length: 80 }, (_, i) => burster.request({ type: 'send', id: `burst-${i}`, to: `burst-peer-${i}`, body: `burst ${i}` }, 'accepted', 20_000)),
    );
    assert.equal(new Set(burst.map((f) => f.msgId)).size, 80);
    const producedForBurst = sum(await requests('Produce')) - producedBefore;
    assert.ok(producedForBurst >= 1 && producedForBurst <= 20, `80 concurrent sends went out in ${producedForBurst} Produce requests`);
    for (const api of ['Fetch', 'OffsetCommit', 'JoinGroup'])
      assert.ok(
        (await requests(api)).every((n) => n >= 1),
        `${api} requests from both pods`,
      );
    for (const m of messages) {
      const ready = await getJson(`${m.admin}/readyz`);
      assert.equal(ready.status, 200);
      assert.match(JSON.stringify(ready.body), /member of switchboard-test-/);
    }
  });

  it('skips a record in the topic that is not a send entry: counted (the alert’s metric), logged, and the sends around it delivered', async () => {
    const [ga, gb] = gateways;
    const ca = await open(ga!, 'foreign-a');
    const cb = await open(gb!, 'foreign-b');
    const unreadable = async () => sum(await Promise.all(messages.map((m) => metricValue(m.admin, 'switchboard_message_log_records_unreadable_total'))));
    assert.equal(await unreadable(), 0);
    const before = await sendReliably(ca, { id: 'foreign-1', to: 'foreign-b', body: 'before' });
    // Another writer's record, in the partition of the conversation, between two sends.
    const kafka = new Kafka({ clientId: 'foreign-writer', brokers: backendSettings.KAFKA_BROKERS!.split(','), logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    try {
      await producer.send({ topic: backendSettings.KAFKA_TOPIC!, messages: [{ key: dm('foreign-a', 'foreign-b'), value: '{"not":"a send entry"}' }] });
    } finally {
      await producer.disconnect();
    }
    const after = await sendReliably(ca, { id: 'foreign-2', to: 'foreign-b', body: 'after' });
    const got = [await cb.next('message', 20_000), await cb.next('message', 20_000)];
    assert.deepEqual(
      got.map((f) => [f.msgId, f.seq]),
      [
        [before.msgId, 1],
        [after.msgId, 2],
      ],
      'both pushed, no seq spent on the foreign record',
    );
    await eventually('the skipped record counted once', async () => (await unreadable()) === 1, 10_000, 100);
  });

  it('settles the same retry reaching both Message processes at the same moment: one msgId, one stored message, no gap', async () => {
    const { grpc } = loadSwitchboardProto();
    const grpcClients = messages.map((m) => new grpc.switchboard.v1.MessageService(`127.0.0.1:${m.grpcPort}`, credentials.createInsecure()));
    const send = (c: (typeof grpcClients)[number], clientId: string, body: string) =>
      new Promise<{ msgId: string }>((resolve, reject) =>
        c.send({ fromUser: 'race-a', clientId, toUser: 'race-b', body, originInstance: 'test', originConnection: 'test' }, (err, res) =>
          err ? reject(err) : resolve(res as { msgId: string }),
        ),
      );
    try {
      const ids = Array.from({ length: 20 }, (_, i) => `race-${i}`);
      // Each send reaches both pods at once, three times (a client resending on two gateways).
      const answers = await Promise.all(
        ids.flatMap((id) => [0, 1, 0, 1, 0, 1].map((k) => send(grpcClients[k]!, id, `body ${id}`).then((r) => [id, r.msgId] as const))),
      );
      for (const id of ids) assert.equal(new Set(answers.filter(([i]) => i === id).map(([, m]) => m)).size, 1, `one msgId for ${id}`);
      const reader = await open(gateways[0]!, 'race-b');
      const want = new Set(answers.map(([, m]) => m));
      await eventually('all stored', async () => (await syncAll(reader, dm('race-a', 'race-b'))).length >= want.size, 30_000, 300);
      const stored = await syncAll(reader, dm('race-a', 'race-b'));
      gapFree(stored, 'race conversation');
      assert.deepEqual(new Set(stored.map((m) => String(m.msgId))), want, 'exactly one stored message per send id');
    } finally {
      for (const c of grpcClients) c.close();
    }
  });

  it('loses nothing accepted when a Message process is SIGKILLed with 600 messages in flight', async () => {
    const senders = 12;
    const perSender = 50;
    const pairs = Array.from({ length: senders }, (_, i) => [`k${i}-a`, `k${i}-b`] as const);
    const ends = await Promise.all(pairs.map(async ([a, b], i) => [await open(gateways[i % 2]!, a), await open(gateways[(i + 1) % 2]!, b)] as const));
    const accepted = new Map<string, string[]>(); // conversation → msgIds
    let acceptedCount = 0;
    let unavailable = 0;
    let killed = false;
    const victim = messages[0]!;

    const runs = ends.map(async ([ca], i) => {
      const [a, b] = pairs[i]!;
      const conv = dm(a, b);
      // All sends queued at once: Connect keeps them in order per conversation.
      const replies = await Promise.all(
        Array.from({ length: perSender }, async (_, n) => {
          const acc = await sendReliably(ca, { id: `${a}-${n}`, to: b, body: `${n}` }, { onUnavailable: () => unavailable++, deadlineMs: 120_000 });
          acceptedCount++;
          if (acceptedCount >= 150 && !killed) {
            killed = true;
            victim.proc.kill('SIGKILL');
          }
          return acc;
        }),
      );
      accepted.set(
        conv,
        replies.map((r) => String(r.msgId)),
      );
    });
    await Promise.all(runs);
    assert.ok(killed, 'the Message process was killed mid-run');
    assert.equal(acceptedCount, senders * perSender);

    // Every accepted message is stored exactly once with gap-free seqs (after the group rebalanced);
    // each conversation is checked (and reported) on its own.
    const checks = await Promise.allSettled(ends.map(([, cb], i) => expectAllAcceptedStored(cb, dm(...pairs[i]!), accepted.get(dm(...pairs[i]!))!, 90_000)));
    const failures = checks.flatMap((c) => (c.status === 'rejected' ? [(c.reason as Error).message] : []));
    assert.deepEqual(failures, [], `conversations incomplete after the kill:\n${failures.join('\n')}`);

    // Steady state after recovery: no message is pushed twice.
    const [ca, cb] = ends[0]!;
    cb.take('message');
    for (let n = 0; n < 20; n++) await sendReliably(ca, { id: `steady-${n}`, to: pairs[0]![1], body: `steady ${n}` });
    const pushes: Frame[] = [];
    await eventually(
      'steady pushes',
      () => {
        pushes.push(...cb.take('message'));
        return pushes.filter((p) => String(p.body).startsWith('steady')).length >= 20;
      },
      30_000,
    );
    const steady = pushes.filter((p) => String(p.body).startsWith('steady'));
    assert.equal(new Set(steady.map((p) => p.msgId)).size, steady.length, 'no duplicate push in steady state');
    assert.deepEqual(
      steady.map((p) => p.body),
      Array.from({ length: 20 }, (_, n) => `steady ${n}`),
    );
  });
});
