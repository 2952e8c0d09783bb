import assert from 'node:assert/strict';
import { startConnect, startMessage, getJson, eventually, freePort, testLogger, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient, type Frame } from '../support/ws-client.js';

const metric = async (admin: string, re: RegExp): Promise<number> => Number(re.exec((await getJson(`${admin}/metrics`)).text)?.[1] ?? NaN);

describe('recovery on embedded backends', function () {
  this.timeout(30_000);

  it('after a Message restart the stream comes back, clients get resync and catch up; nothing accepted is lost', async () => {
    let message: RunningMessage = await startMessage();
    const port = String(message.grpcPort);
    const backends = message.backends;
    const connect: RunningConnect = await startConnect(message.target);
    try {
      await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
      const a = await TestClient.connect(connect.url, { user: 'rec-a' });
      const b = await TestClient.connect(connect.url, { user: 'rec-b' });
      const before = await a.request({ type: 'send', id: 'r1', to: 'rec-b', body: 'before' }, 'accepted');
      await b.next('message');

      await message.stop();
      await eventually('stream lost', async () => (await getJson(`${connect.admin}/readyz`)).status === 503);
      const during = await a.request({ type: 'send', id: 'r2', to: 'rec-b', body: 'during' }, 'error');
      assert.equal(during.type, 'error');
      assert.equal(during.code, 'UNAVAILABLE');

      message = await startMessage({ MESSAGE_GRPC_PORT: port }, backends);
      await a.next('resync', 5000);
      await b.next('resync', 5000);
      assert.equal(await metric(connect.admin, /^switchboard_connect_stream_reconnects_total\{service="connect"\} (\d+)$/m), 1);
      assert.ok((await metric(connect.admin, /switchboard_connect_stream_backoff_seconds_count\{service="connect"\} (\d+)/)) >= 1);

      const retried = await a.request({ type: 'send', id: 'r2', to: 'rec-b', body: 'during' }, 'accepted');
      assert.equal(retried.type, 'accepted');
      const pushed = await b.next('message');
      assert.equal(pushed.body, 'during');
      const all = await b.request({ type: 'sync', id: 's', conversation: before.conversation, after: 0 }, 'messages');
      assert.deepEqual(
        (all.messages as Frame[]).map((m) => [m.seq, m.body]),
        [
          [1, 'before'],
          [2, 'during'],
        ],
      );
      a.close();
      b.close();
    } finally {
      await connect.stop();
      await message.stop();
    }
  });

  it('answers UNAVAILABLE (never accepted) while the log is down, and /readyz says which check failed', async () => {
    const message = await startMessage();
    const connect = await startConnect(message.target);
    try {
      await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
      const a = await TestClient.connect(connect.url, { user: 'ld-a' });
      await message.backends.log.stop();
      const res = await a.request({ type: 'send', id: 'x', to: 'ld-b', body: 'lost?' }, 'error');
      assert.equal(res.type, 'error');
      assert.equal(res.code, 'UNAVAILABLE');
      const ready = await getJson(`http://127.0.0.1:${message.httpPort}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((ready.body as { checks: { log: { ok: boolean } } }).checks.log.ok, false);
      a.close();
    } finally {
      await connect.stop();
      await message.stop();
    }
  });

  it('closes a client that stops reading with 1013 once its buffer passes the limit', async () => {
    const message = await startMessage();
    const connect = await startConnect(message.target, { MAX_BUFFERED_BYTES: '1024', RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_BURST: '100000' });
    try {
      await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
      const sender = await TestClient.connect(connect.url, { user: 'slow-a' });
      const reader = await TestClient.connect(connect.url, { user: 'slow-b' });
      (reader.ws as unknown as { _socket: { pause(): void } })._socket.pause();
      const body = 'x'.repeat(4000);
      let sent = 0;
      const closed = reader.closed;
      let done = false;
      void closed.then(() => (done = true));
      // Enough to fill the kernel's socket buffers and then the gateway's own; bounded in count.
      while (!done && sent < 8000) {
        for (let i = 0; i < 200; i++) sender.send({ type: 'send', id: `s${sent++}`, to: 'slow-b', body });
        await sender.next('accepted', 10_000, (f) => f.id === `s${sent - 1}`);
        sender.take('accepted');
        done = /switchboard_connect_slow_consumer_closes_total\{service="connect"\} [1-9]/.test((await getJson(`${connect.admin}/metrics`)).text);
      }
      assert.ok(done, `slow consumer closed after ${sent} messages`);
      (reader.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      assert.equal((await closed).code, 1013);
      sender.close();
    } finally {
      await connect.stop();
      await message.stop();
    }
  });
});

describe('a Message pod that is still connecting its backends', function () {
  this.timeout(30_000);

  it('parks a new subscription stream and answers subscribed the moment it serves', async () => {
    const { createBackends } = await import('../../services/message/backends.js');
    const { loadMessageConfig } = await import('../../services/message/config.js');
    const { createMessageService } = await import('../../services/message/message-service.js');
    const { loadSwitchboardProto } = await import('../../services/shared/proto.js');
    const { credentials } = await import('@grpc/grpc-js');
    const embedded = createBackends(loadMessageConfig({}), testLogger('message'));
    // The fault is injected: a store whose start is refused until the test lets it through.
    let storeUp = false;
    let refusedStarts = 0;
    const start = async (): Promise<void> => {
      if (!storeUp) {
        refusedStarts++;
        throw new Error('store not reachable yet');
      }
      await embedded.store.start();
    };
    const store = new Proxy(embedded.store, {
      get: (target, prop) => (prop === 'start' ? start : (Reflect.get(target, prop, target) as unknown)),
    });
    const backends = { ...embedded, store };
    const [grpcPort, httpPort] = [await freePort(), await freePort()];
    const config = loadMessageConfig({
      MESSAGE_GRPC_HOST: '127.0.0.1',
      MESSAGE_GRPC_PORT: String(grpcPort),
      MESSAGE_HTTP_HOST: '127.0.0.1',
      MESSAGE_HTTP_PORT: String(httpPort),
      MESSAGE_DRAIN_WINDOW: '0',
      BACKEND_RETRY_MAX: '200ms',
    });
    const service = createMessageService({ config, backends, logger: testLogger('message') });
    // An all-embedded pod's start() waits until it serves; here that happens only later.
    const started = service.start();
    const message = { httpPort, stop: () => service.stop() };
    await eventually('admin up', async () => (await getJson(`http://127.0.0.1:${httpPort}/livez`).catch(() => ({ status: 0 }))).status === 200);
    const client = new (loadSwitchboardProto().grpc.switchboard.v1.MessageService)(`127.0.0.1:${grpcPort}`, credentials.createInsecure());
    try {
      const frames: string[] = [];
      const stream = client.messageStream();
      stream.on('data', (f: { response?: string }) => frames.push(String(f.response)));
      stream.on('error', () => undefined);
      stream.write({ subscribe: { connectServiceId: 'parked', onlineUsers: [] } });
      // A parked stream holds a bounded number of frames.
      const flood = client.messageStream();
      const refused = new Promise<{ code?: number }>((resolve) => flood.on('error', resolve));
      flood.on('data', () => undefined);
      for (let i = 0; i < 1001; i++) flood.write({ presence: { online: [], offline: [], ackId: i + 1 } });
      assert.equal((await refused).code, 8, 'RESOURCE_EXHAUSTED');
      // The pod has retried its store (and refused it) since the stream came: still nothing answered.
      const after = refusedStarts;
      await eventually('two more refused store starts', () => refusedStarts >= after + 2, 5000, 10);
      assert.equal(frames.length, 0, 'no answer while the backends are not connected');
      assert.equal((await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status, 503);
      storeUp = true;
      const t0 = Date.now();
      await eventually('subscribed', () => frames.includes('subscribed'), 5000, 10);
      await eventually('ready', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 5000);
      assert.ok(Date.now() - t0 < 1500);
      await started;
      stream.cancel();
    } finally {
      client.close();
      await message.stop();
    }
  });
});

describe('a Message pod in its drain window (SIGTERM)', function () {
  this.timeout(30_000);
  it('keeps serving sends and pushes during the drain window, then ends its streams so gateways move on', async () => {
    const message = await startMessage({ MESSAGE_DRAIN_WINDOW: '2s' });
    const connect = await startConnect(message.target);
    try {
      await eventually('stream up', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
      const a = await TestClient.connect(connect.url, { user: 'drain-a' });
      const b = await TestClient.connect(connect.url, { user: 'drain-b' });
      const stopping = message.stop();
      await eventually('Message not ready (draining)', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 503, 1000, 10);
      const accepted = await a.request({ type: 'send', id: 'during-drain', to: 'drain-b', body: 'still served' }, 'accepted');
      assert.equal(accepted.type, 'accepted', JSON.stringify(accepted));
      assert.equal((await b.next('message')).body, 'still served', 'pushed over the stream that is still up');
      const sync = await b.request({ type: 'sync', id: 's1', conversation: String(accepted.conversation), after: 0 }, 'messages');
      assert.equal((sync.messages as Frame[]).length, 1);
      await stopping;
      await eventually('the gateway lost its stream', async () => (await getJson(`${connect.admin}/readyz`)).status === 503, 5000);
      const refused = await a.request({ type: 'send', id: 'after-drain', to: 'drain-b', body: 'nobody serves' }, 'error');
      assert.deepEqual([refused.type, refused.code], ['error', 'UNAVAILABLE']);
      a.close();
      b.close();
    } finally {
      await connect.stop();
      await message.stop();
    }
  });
});
