import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startConnect, startMessage, getJson, eventually, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { messagesBeforeSentinel } from '../support/traffic.js';

/** docs/PROTOCOL.md §3–§5 end to end on embedded backends: one Message, one Connect. */
describe('messaging end to end (embedded backends)', function () {
  let message: RunningMessage;
  let connect: RunningConnect;
  const clients: TestClient[] = [];
  const open = async (user: string): Promise<TestClient> => {
    const c = await TestClient.connect(connect.url, { user });
    clients.push(c);
    return c;
  };
  let n = 0;
  const uid = (name: string) => `${name}-${process.pid}-${++n}`;

  before(async () => {
    message = await startMessage();
    connect = await startConnect(message.target);
    await eventually('Connect ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(async () => {
    await connect?.stop();
    await message?.stop();
  });

  it('welcomes a client with its user, connection, instance and heartbeat', async () => {
    const u = uid('w');
    const ws = new WebSocket(`${connect.url}?user=${u}`, 'switchboard.v1');
    const first = await new Promise<Frame>((resolve) => ws.once('message', (d) => resolve(JSON.parse(d.toString()) as Frame)));
    assert.equal(ws.protocol, 'switchboard.v1');
    ws.close();
    assert.equal(first.type, 'welcome');
    assert.equal(first.user, u);
    assert.match(String(first.connection), /^c-[0-9a-f]{16}$/);
    assert.equal(first.instance, connect.instance);
    assert.equal(first.heartbeatMs, 25000);
  });

  it('delivers between two users: accepted to the sender, message to the recipient', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await open(a);
    const cb = await open(b);
    const acc = await ca.request({ type: 'send', id: 'm1', to: b, body: 'hello' }, 'accepted');
    const conv = a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
    assert.equal(acc.type, 'accepted');
    assert.equal(acc.conversation, conv);
    assert.equal(typeof acc.msgId, 'string');
    assert.ok(Math.abs(Number(acc.ts) - Date.now()) < 5000);
    const msg = await cb.next('message');
    assert.deepEqual(msg, { type: 'message', msgId: acc.msgId, conversation: conv, seq: 1, from: a, to: b, body: 'hello', ts: acc.ts, id: 'm1' });
    assert.deepEqual(await messagesBeforeSentinel(cb, ca, a), [], 'the sending connection gets accepted, not a push');
  });

  it('routes among three users: each gets only its own messages', async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const [ca, cb, cc] = [await open(a), await open(b), await open(c)];
    await ca.request({ type: 'send', id: 'ab', to: b, body: 'a→b' }, 'accepted');
    await cb.request({ type: 'send', id: 'bc', to: c, body: 'b→c' }, 'accepted');
    await cc.request({ type: 'send', id: 'ca', to: a, body: 'c→a' }, 'accepted');
    assert.equal((await cb.next('message')).body, 'a→b');
    assert.equal((await cc.next('message')).body, 'b→c');
    assert.equal((await ca.next('message')).body, 'c→a');
    // Each message came to this gateway as one push, handled whole when it arrived: any stray
    // delivery was written to its socket before a sentinel pushed to that socket afterwards.
    const cd = await open(uid('d'));
    for (const [client, user] of [
      [ca, a],
      [cb, b],
      [cc, c],
    ] as const) {
      assert.deepEqual(await messagesBeforeSentinel(cd, client, user), [], `${user} got only its own message`);
    }
  });

  it("echoes to the sender's other devices and to every device of the recipient", async () => {
    const [a, b] = [uid('a'), uid('b')];
    const a1 = await open(a);
    const a2 = await open(a);
    const b1 = await open(b);
    const b2 = await open(b);
    const acc = await a1.request({ type: 'send', id: 'multi', to: b, body: 'to all devices' }, 'accepted');
    for (const c of [a2, b1, b2]) {
      const m = await c.next('message');
      assert.equal(m.msgId, acc.msgId);
      assert.equal(m.from, a);
    }
    assert.deepEqual(await messagesBeforeSentinel(b1, a1, a), [], 'the sending device gets accepted, not its own push');
  });

  it('delivers 20 quick sends in seq order with their bodies in send order', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await open(a);
    const cb = await open(b);
    for (let i = 1; i <= 20; i++) ca.send({ type: 'send', id: `q${i}`, to: b, body: `n${i}` });
    const got: Frame[] = [];
    for (let i = 0; i < 20; i++) got.push(await cb.next('message'));
    assert.deepEqual(
      got.map((m) => m.seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.deepEqual(
      got.map((m) => m.body),
      Array.from({ length: 20 }, (_, i) => `n${i + 1}`),
    );
    const accepted: Frame[] = [];
    for (let i = 0; i < 20; i++) accepted.push(await ca.next('accepted'));
    assert.deepEqual(
      accepted.map((f) => f.id),
      Array.from({ length: 20 }, (_, i) => `q${i + 1}`),
    );
  });

  it('answers a resend with the same id with the same msgId and stores no second message', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await open(a);
    const cb = await open(b);
    const first = await ca.request({ type: 'send', id: 'same', to: b, body: 'once' }, 'accepted');
    const pushed = await cb.next('message');
    assert.equal(pushed.ts, first.ts, 'the message carries the time it was first accepted');
    // accepted.ts is when this send was accepted; the msgId names the message the first one made.
    const second = await ca.request({ type: 'send', id: 'same', to: b, body: 'once' }, 'accepted');
    assert.equal(second.msgId, first.msgId);
    assert.ok(Number(second.ts) >= Number(first.ts));
    assert.deepEqual(await messagesBeforeSentinel(ca, cb, b), [], 'no second push');
    const sync = await cb.request({ type: 'sync', id: 's', conversation: first.conversation, after: 0 }, 'messages');
    const stored = sync.messages as Frame[];
    assert.deepEqual(
      stored.map((m) => m.body),
      ['once', 'sentinel'],
      'one stored message for the two sends (and the sentinel after it)',
    );
    assert.deepEqual([stored[0]!.msgId, stored[0]!.seq, stored[0]!.ts], [first.msgId, 1, first.ts], 'stored with the first accept time');
  });

  it('ignores a spoofed "from": the sender is always the authenticated user', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await open(a);
    const cb = await open(b);
    await ca.request({ type: 'send', id: 'spoof', to: b, body: 'who am i', from: 'admin' }, 'accepted');
    const m = await cb.next('message');
    assert.equal(m.from, a);
  });

  it('lets an offline user catch up with conversations + sync, paging with hasMore', async () => {
    const [a, b] = [uid('a'), uid('b')];
    const ca = await open(a);
    for (let i = 1; i <= 3; i++) await ca.request({ type: 'send', id: `off${i}`, to: b, body: `missed ${i}` }, 'accepted');
    const conv = a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
    let cb!: TestClient;
    await eventually('messages stored', async () => {
      cb ??= await open(b);
      const list = await cb.request({ type: 'conversations', id: `l${Date.now()}` }, 'conversations');
      // b has read none of the three: all unread.
      return JSON.stringify(list.items) === JSON.stringify([{ conversation: conv, lastSeq: 3, readSeq: 0, unread: 3 }]);
    });
    const page1 = await cb.request({ type: 'sync', id: 'p1', conversation: conv, after: 0, limit: 2 }, 'messages');
    assert.deepEqual(
      (page1.messages as Frame[]).map((m) => [m.seq, m.body]),
      [
        [1, 'missed 1'],
        [2, 'missed 2'],
      ],
    );
    assert.equal(page1.hasMore, true);
    assert.equal(page1.conversation, conv);
    const page2 = await cb.request({ type: 'sync', id: 'p2', conversation: conv, after: 2, limit: 2 }, 'messages');
    assert.deepEqual(
      (page2.messages as Frame[]).map((m) => m.seq),
      [3],
    );
    assert.equal(page2.hasMore, false);
    const empty = await cb.request({ type: 'sync', id: 'p3', conversation: conv, after: 3 }, 'messages');
    assert.deepEqual(empty.messages, []);
  });

  it("answers FORBIDDEN to a sync of a stranger's conversation", async () => {
    const [a, b, c] = [uid('a'), uid('b'), uid('c')];
    const ca = await open(a);
    await ca.request({ type: 'send', id: 'secret', to: b, body: 'private' }, 'accepted');
    const cc = await open(c);
    const conv = a < b ? `dm:${a}:${b}` : `dm:${b}:${a}`;
    const res = await cc.request({ type: 'sync', id: 'peek', conversation: conv, after: 0 }, 'error');
    assert.equal(res.type, 'error');
    assert.equal(res.code, 'FORBIDDEN');
    assert.equal(res.id, 'peek');
  });

  it('answers bad frames with error frames and keeps the connection open', async () => {
    const a = uid('a');
    const ca = await open(a);
    ca.send('{"type":');
    assert.deepEqual(await ca.next('error'), { type: 'error', code: 'BAD_REQUEST', message: 'frame is not valid JSON' });
    ca.send({ type: 'teleport', id: 't1' });
    assert.deepEqual(await ca.next('error'), { type: 'error', id: 't1', code: 'BAD_REQUEST', message: 'unknown frame type "teleport"' });
    ca.send({ type: 'send', id: 'big', to: 'x', body: 'y'.repeat(4097) });
    const tooLarge = await ca.next('error');
    assert.equal(tooLarge.code, 'TOO_LARGE');
    assert.equal(tooLarge.id, 'big');
    ca.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await ca.next('error')).code, 'BAD_REQUEST');
    ca.send({ type: 'send', id: 'amb', to: 'b:c', body: 'x' });
    assert.equal((await ca.next('error')).code, 'BAD_REQUEST');
    assert.deepEqual(await ca.request({ type: 'ping', id: 'still-here' }, 'pong'), { type: 'pong', id: 'still-here' });
  });

  it('keeps Message’s error code end to end: a body Connect lets through and Message finds too large is TOO_LARGE, not BAD_REQUEST', async () => {
    // The two services read MAX_BODY_BYTES each; here the gateway allows more than Message does.
    const lenient = await startConnect(message.target, { MAX_BODY_BYTES: '8192' });
    try {
      await eventually('ready', async () => (await getJson(`${lenient.admin}/readyz`)).status === 200);
      const c = await TestClient.connect(lenient.url, { user: uid('big') });
      const err = await c.request({ type: 'send', id: 'mid', to: uid('b'), body: 'y'.repeat(5000) }, 'error');
      assert.deepEqual([err.code, err.id, err.message], ['TOO_LARGE', 'mid', 'body is 5000 bytes; the limit is 4096']);
      c.close();
    } finally {
      await lenient.stop();
    }
  });

  it('closes a connection that sends a frame over 64 KiB with 1009', async () => {
    const ca = await open(uid('a'));
    ca.send(JSON.stringify({ type: 'ping', id: 'p', pad: 'x'.repeat(65 * 1024) }));
    const closed = await ca.closed;
    assert.equal(closed.code, 1009);
  });

  it('exposes the §4 metric names on /metrics and JSON readiness on both services', async () => {
    const metrics = (await getJson(`${connect.admin}/metrics`)).text;
    for (const name of [
      'switchboard_connect_stream_connect_attempts_total',
      'switchboard_connect_stream_reconnects_total',
      'switchboard_connect_streams_active',
      'switchboard_connect_stream_backoff_seconds',
      'switchboard_connect_message_endpoints',
      'switchboard_connect_clients',
      'switchboard_messages_accepted_total',
      'switchboard_messages_pushed_total',
      'switchboard_delivery_latency_seconds',
    ]) {
      assert.match(metrics, new RegExp(`^# TYPE ${name} `, 'm'), name);
    }
    assert.match(metrics, /^switchboard_connect_streams_active\{service="connect"\} 1$/m);
    assert.match(metrics, /^switchboard_connect_stream_connect_attempts_total\{result="success",service="connect"\} 1$/m);
    assert.match(metrics, /^process_resident_memory_bytes/m);
    // Every accepted send's round trip through Message is timed at the gateway.
    const accepted = Number(/^switchboard_messages_accepted_total\{service="connect"\} (\d+)$/m.exec(metrics)?.[1]);
    assert.ok(accepted > 0, 'the sends of the tests above were accepted');
    assert.match(metrics, new RegExp(`^switchboard_connect_send_seconds_count\\{service="connect"\\} ${accepted}$`, 'm'));
    const mm = (await getJson(`http://127.0.0.1:${message.httpPort}/metrics`)).text;
    assert.match(mm, /^switchboard_message_subscribers\{service="message"\} 1$/m);
    // Backend operation timings: the sends of the tests above were appended and stored.
    for (const [backend, op] of [
      ['log', 'append'],
      ['store', 'lastSeqs'],
      ['store', 'insertMessages'],
      ['presence', 'refresh'],
    ]) {
      assert.match(
        mm,
        new RegExp(`^switchboard_message_backend_seconds_count\\{service="message",backend="${backend}",op="${op}",result="ok"\\} [1-9]`, 'm'),
        `${backend}.${op}`,
      );
    }
    // Every outcome is exported from the start, at 0 until it happens: alerts and rates read a series, not its absence.
    assert.match(metrics, /^switchboard_connect_stream_connect_attempts_total\{result="failure",service="connect"\} 0$/m);
    for (const result of ['accepted', 'rejected', 'unavailable'])
      assert.match(mm, new RegExp(`^switchboard_message_sends_total\\{result="${result}",service="message"\\} \\d+$`, 'm'), result);
    assert.match(mm, /^switchboard_message_sends_total\{result="unavailable",service="message"\} 0$/m);
    assert.match(mm, /^switchboard_message_pushes_total\{result="dropped",service="message"\} 0$/m);
    // The send path asks no store: idempotency comes from the derived msgId.
    assert.doesNotMatch(mm, /backend="store",op="(claimSend|hasMessage)"/);
    const ready = await getJson(`http://127.0.0.1:${message.httpPort}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(Object.keys((ready.body as { checks: object }).checks).sort(), ['draining', 'log', 'presence', 'store']);
    const live = await getJson(`${connect.admin}/livez`);
    assert.equal(live.status, 200);
    assert.equal((live.body as { live: boolean }).live, true);
  });
});
