import assert from 'node:assert/strict';
import { startConnect, getJson, eventually, capturingLogger, type RunningConnect } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { startFakeMessage, type FakeMessage } from '../support/fake-message.js';
import { metricValue } from '../support/processes.js';

/** Frames sent in one write (one TCP segment), so the gateway reads them in one turn. */
function inOneWrite(c: TestClient, frames: object[]): void {
  const socket = (c.ws as unknown as { _socket: { cork(): void; uncork(): void } })._socket;
  socket.cork();
  for (const f of frames) c.send(f as Parameters<TestClient['send']>[0]);
  socket.uncork();
}

describe('Connect stream semantics (against a recording Message stand-in)', () => {
  let fake: FakeMessage;
  let connect: RunningConnect;
  before(async () => {
    fake = await startFakeMessage();
    connect = await startConnect(`127.0.0.1:${fake.port}`, { STREAM_BACKOFF_INITIAL: '100ms' });
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
  });
  after(async () => {
    await connect?.stop();
    await fake?.stop();
  });

  it('announces users as they come and go, re-announces them all after a stream comes back, and sends resync', async () => {
    const subscribes = () => fake.frames.filter((f) => f.request === 'subscribe').map((f) => f.subscribe!);
    assert.equal(subscribes().length, 1);
    assert.equal(subscribes()[0]!.connectServiceId, connect.instance);
    assert.deepEqual(subscribes()[0]!.onlineUsers, []);

    const u1 = await TestClient.connect(connect.url, { user: 'u1' });
    const u2 = await TestClient.connect(connect.url, { user: 'u2' });
    const u2b = await TestClient.connect(connect.url, { user: 'u2' });
    await eventually('presence announced', () => fake.frames.filter((f) => f.request === 'presence').length === 2);
    assert.deepEqual(
      fake.frames.filter((f) => f.request === 'presence').map((f) => f.presence!.online),
      [['u1'], ['u2']],
      'a second device is no new presence',
    );

    fake.drop();
    await u1.next('resync', 5000);
    await u2.next('resync', 5000);
    await eventually('resubscribed', () => subscribes().length === 2, 5000);
    assert.deepEqual([...subscribes()[1]!.onlineUsers].sort(), ['u1', 'u2']);

    u1.close();
    await eventually('offline announced', () => fake.frames.some((f) => f.request === 'presence' && f.presence!.offline.includes('u1')));

    // Pushes reach every connection of the recipients except the one the send came from.
    const origin = await TestClient.connect(connect.url, { user: 'u2' });
    fake.push(['u2'], 1, { body: 'to-u2', excludeConnection: String(origin.welcome.connection) });
    assert.equal((await u2.next('message')).body, 'to-u2');
    assert.equal((await u2b.next('message')).body, 'to-u2');
    // Pushes come over one stream in order: once a later sentinel push is there, nothing else is on its way.
    const sentinel = async (): Promise<void> => {
      fake.push(['u2'], 1, { body: 'sentinel' });
      for (const c of [u2, u2b, origin]) await c.next('message', 5000, (f) => f.body === 'sentinel');
    };
    await sentinel();
    assert.deepEqual(origin.take('message'), [], 'the origin connection got no push');
    fake.push(['someone-else'], 1, { body: 'not-here' });
    await sentinel();
    assert.deepEqual(
      [u2, u2b, origin].map((c) => c.take('message').length),
      [0, 0, 0],
      'a push for a user not here reaches nobody',
    );
    origin.close();
    u2.close();
    u2b.close();
  });

  it('sends over the subscription stream when the pod offers it, with no unary call, and no batch to a pod that reads none', async () => {
    const before = fake.sends.length;
    const c = await TestClient.connect(connect.url, { user: 'sender-1' });
    const acc = await c.request({ type: 'send', id: 'via-stream', to: 'u9', body: 'hi' }, 'accepted');
    assert.equal(acc.msgId, 'fake-sender-1-via-stream');
    assert.deepEqual(fake.sends.slice(before), [{ via: 'stream', clientId: 'via-stream' }]);
    const ids = Array.from({ length: 20 }, (_, i) => `burst-${i}`);
    inOneWrite(
      c,
      ids.map((id, i) => ({ type: 'send', id, to: `u${100 + i}`, body: 'hi' })),
    );
    for (const id of ids) await c.next('accepted', 5000, (f) => f.id === id);
    assert.deepEqual(fake.batches, [], 'this pod did not offer batches: every frame is a gRPC message of its own');
    c.close();
  });
});

describe('Connect sends (against Message stand-ins of either kind)', () => {
  const withGateway = async (
    opts: Parameters<typeof startFakeMessage>[0],
    body: (fake: FakeMessage, connect: RunningConnect) => Promise<void>,
  ): Promise<void> => {
    const fake = await startFakeMessage(opts);
    const connect = await startConnect(`127.0.0.1:${fake.port}`, { STREAM_BACKOFF_INITIAL: '100ms', RPC_TIMEOUT: '20s' });
    try {
      await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
      await body(fake, connect);
    } finally {
      await connect.stop();
      await fake.stop();
    }
  };

  it("gathers the sends of one turn into batches within the byte budget the pod offers, and reads the pod's batches in order", async () => {
    const budget = 1500;
    await withGateway({ batchMaxBytes: budget }, async (fake, connect) => {
      assert.ok(fake.gatewayBatchBytes[0]! >= 1024 * 1024, `the gateway offers batches too (${fake.gatewayBatchBytes[0]} bytes)`);
      const c = await TestClient.connect(connect.url, { user: 'batcher' });
      const ids = Array.from({ length: 40 }, (_, i) => `b-${i}`);
      inOneWrite(
        c,
        ids.map((id, i) => ({ type: 'send', id, to: `peer-${i}`, body: `body ${i} `.repeat(8) })),
      );
      const accepted = [];
      for (const id of ids) accepted.push(await c.next('accepted', 5000, (f) => f.id === id));
      assert.deepEqual(
        accepted.map((a) => a.msgId),
        ids.map((id) => `fake-batcher-${id}`),
      );
      assert.deepEqual(
        fake.sends.map((s) => s.clientId),
        ids,
        'every send once, in the order written',
      );
      const sent = fake.batches.reduce((n, b) => n + b.frames, 0);
      assert.ok(
        fake.batches.length >= 2 && fake.batches.length < 40,
        `40 sends read in one turn went as a few batches (${fake.batches.map((b) => b.frames).join(', ')})`,
      );
      assert.ok(sent >= 30, `most sends came batched (${sent} of 40)`);
      for (const b of fake.batches) assert.ok(b.bytes <= budget, `a batch of ${b.frames} frames is ${b.bytes} bytes, over the pod's ${budget}`);

      fake.push(['batcher'], 30, { batched: true });
      const got = [];
      for (let i = 0; i < 30; i++) got.push((await c.next('message', 5000)).seq);
      assert.deepEqual(
        got,
        Array.from({ length: 30 }, (_, i) => i + 1),
        'a batch of pushes arrives whole and in order',
      );
      c.close();
    });
  });

  it('refuses a Message pod older than the first release (no sends on the stream): no stream, not ready, an error line saying to upgrade Message', async () => {
    const fake = await startFakeMessage({ streamSend: false });
    const logs = capturingLogger('connect');
    const connect = await startConnect(`127.0.0.1:${fake.port}`, { STREAM_BACKOFF_INITIAL: '100ms' }, {}, logs.logger);
    try {
      await eventually(
        'two refused subscriptions',
        async () => (await metricValue(connect.admin, 'switchboard_connect_stream_connect_attempts_total', 'result="failure"')) >= 2,
      );
      assert.equal((await getJson(`${connect.admin}/readyz`)).status, 503);
      assert.equal(await metricValue(connect.admin, 'switchboard_connect_streams_active'), 0);
      assert.ok(logs.lines.some((l) => l.level === 50 && /older than 0\.1\.0.*upgrade Message first/.test(String(l.msg))));
    } finally {
      await connect.stop();
      await fake.stop();
    }
  });

  it('answers UNAVAILABLE at once when the stream is lost with a send unanswered, and the resend goes over the next stream', async () => {
    await withGateway({ answerSends: 'never' }, async (fake, connect) => {
      const c = await TestClient.connect(connect.url, { user: 'lost-send' });
      c.send({ type: 'send', id: 'in-flight', to: 'u9', body: 'hi' });
      await eventually('the send reached the pod', () => fake.sends.length === 1);
      const started = Date.now();
      fake.drop();
      const err = await c.next('error', 5000);
      assert.deepEqual([err.code, err.id], ['UNAVAILABLE', 'in-flight']);
      assert.ok(Date.now() - started < 5000, 'not after the 20 s call timeout');
      await c.next('resync', 5000);
      c.send({ type: 'send', id: 'in-flight', to: 'u9', body: 'hi' });
      await eventually('the resend reached the pod over the new stream', () => fake.sends.length === 2);
      assert.deepEqual(
        fake.sends.map((x) => x.via),
        ['stream', 'stream'],
      );
      c.close();
    });
  });
});
