import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { credentials, loadPackageDefinition, makeGenericClientConstructor, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { loadSwitchboardProto, type MessageServiceClient, type MessageStreamRequest, type MessageStreamResponse__Output } from '../../services/shared/proto.js';
import { capturingLogger, eventually, getJson, startMessage, testLogger, type RunningMessage } from '../support/services.js';
import { metricIn } from '../support/processes.js';
import { createGrpcTransport } from '../../services/message/transport/grpc-server.js';
import type { SendAcceptor } from '../../services/message/domain/send-acceptor.js';
import type { ReadMarking } from '../../services/message/domain/read-markers.js';
import type { TypingRelay } from '../../services/message/domain/typing.js';
import type { PresenceQuery } from '../../services/message/domain/presence-query.js';
import type { History } from '../../services/message/domain/history.js';
import type { SubscriberRegistry } from '../../services/message/domain/subscribers.js';

type Unary = (req: unknown, cb: (err: ServiceError | null, res: Record<string, unknown>) => void) => void;

/** The Message gRPC API as a client sees it: health, reflection, validation. */
describe('Message gRPC API', () => {
  let message: RunningMessage;
  let client: MessageServiceClient;
  before(async () => {
    message = await startMessage();
    const { grpc } = loadSwitchboardProto();
    client = new grpc.switchboard.v1.MessageService(message.target, credentials.createInsecure());
  });
  after(async () => {
    client?.close();
    await message?.stop();
  });
  const call = (method: 'send' | 'sync' | 'conversations', req: object) =>
    new Promise<{ err: ServiceError | null; res: unknown }>((resolve) =>
      (client[method] as unknown as Unary).call(client, req, (err, res) => resolve({ err, res })),
    );

  it('serves grpc.health.v1 with SERVING for the service and the server', async () => {
    const def = loadSync(healthProtoPath, { keepCase: true, enums: String });
    const Health = (loadPackageDefinition(def) as unknown as { grpc: { health: { v1: { Health: new (t: string, c: unknown) => Client & { check: Unary } } } } })
      .grpc.health.v1.Health;
    const health = new Health(message.target, credentials.createInsecure());
    for (const service of ['', 'switchboard.v1.MessageService']) {
      const res = await new Promise<Record<string, unknown>>((resolve, reject) => health.check({ service }, (err, r) => (err ? reject(err) : resolve(r))));
      assert.equal(res.status, 'SERVING', service);
    }
    health.close();
  });

  it('lists switchboard.v1.MessageService through server reflection', async () => {
    const require = createRequire(import.meta.url);
    const root = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');
    const def = loadSync('grpc/reflection/v1/reflection.proto', { includeDirs: [root], keepCase: true });
    const svc = (
      loadPackageDefinition(def) as unknown as {
        grpc: { reflection: { v1: { ServerReflection: { service: Parameters<typeof makeGenericClientConstructor>[0] } } } };
      }
    ).grpc.reflection.v1.ServerReflection;
    const Ctor = makeGenericClientConstructor(svc.service, 'ServerReflection');
    const c = new Ctor(message.target, credentials.createInsecure()) as unknown as Client & {
      ServerReflectionInfo: () => NodeJS.ReadWriteStream & { write(o: object): void };
    };
    const stream = c.ServerReflectionInfo();
    const reply = await new Promise<{ list_services_response: { service: Array<{ name: string }> } }>((resolve, reject) => {
      stream.on('data', resolve);
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    stream.end();
    c.close();
    assert.ok(reply.list_services_response.service.some((s) => s.name === 'switchboard.v1.MessageService'));
  });

  it('answers INVALID_ARGUMENT with a precise message for bad requests', async () => {
    const bad = await call('send', { fromUser: 'a', clientId: 'x', toUser: 'no spaces allowed', body: 'hi' });
    assert.equal(bad.err?.code, status.INVALID_ARGUMENT);
    assert.match(bad.err.details, /^to must be a user id/);
    const big = await call('send', { fromUser: 'a', clientId: 'x', toUser: 'b', body: 'x'.repeat(5000) });
    assert.equal(big.err?.code, status.INVALID_ARGUMENT);
    assert.equal(big.err?.details, 'body is 5000 bytes; the limit is 4096');
    // INVALID_ARGUMENT is both BAD_REQUEST and TOO_LARGE: the trailers say which.
    assert.deepEqual(big.err?.metadata.get('switchboard-error-code'), ['TOO_LARGE']);
    assert.deepEqual(bad.err?.metadata.get('switchboard-error-code'), ['BAD_REQUEST']);
    const limit = await call('sync', { user: 'a', conversation: 'dm:a:b', afterSeq: 0, limit: 0 });
    assert.equal(limit.err?.code, status.INVALID_ARGUMENT);
    assert.equal(limit.err?.details, 'limit must be an integer 1-500');
    const noUser = await call('conversations', { user: '' });
    assert.equal(noUser.err?.code, status.INVALID_ARGUMENT);
  });

  it('answers PERMISSION_DENIED to a sync by a non-member (Connect is not trusted)', async () => {
    const r = await call('sync', { user: 'mallory', conversation: 'dm:alice:bob', afterSeq: 0, limit: 10 });
    assert.equal(r.err?.code, status.PERMISSION_DENIED);
  });

  it('refuses a MessageStream whose first frame is not subscribe', async () => {
    const stream = client.messageStream();
    const err = await new Promise<ServiceError>((resolve) => {
      stream.on('error', resolve);
      stream.on('data', () => undefined);
      stream.write({ presence: { online: ['u1'], offline: [] } });
    });
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.equal(err.details, 'the first frame must be subscribe');
  });

  it('acknowledges a subscribe, then confirms a presence update on the same stream', async () => {
    const stream = client.messageStream();
    const frames: Array<{ response?: string; subscribed?: { messageServiceId: string } }> = [];
    stream.on('data', (f: (typeof frames)[number]) => frames.push(f));
    stream.on('error', () => undefined);
    stream.write({ subscribe: { connectServiceId: 'grpc-test', onlineUsers: ['u1'] } });
    stream.write({ presence: { online: ['u2'], offline: [], ackId: 1 } });
    const deadline = Date.now() + 3000;
    while (frames.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stream.cancel();
    assert.deepEqual(
      frames.map((f) => f.response),
      ['subscribed', 'presenceApplied'],
    );
    assert.equal(frames[0]!.subscribed!.messageServiceId, message.instance);
  });

  /** A gateway's subscription stream, with its frames collected and a wait for one that matches. */
  const subscribed = async (gateway: string, onlineUsers: string[], batchMaxBytes = 0) => {
    const stream = client.messageStream();
    const frames: MessageStreamResponse__Output[] = [];
    stream.on('data', (f: MessageStreamResponse__Output) => frames.push(f));
    stream.on('error', () => undefined);
    const frame = async (what: string, match: (f: MessageStreamResponse__Output) => boolean) => {
      await eventually(what, () => frames.some(match), 5000);
      return frames.find(match)!;
    };
    stream.write({ subscribe: { connectServiceId: gateway, onlineUsers, batchMaxBytes } });
    const sub = await frame('subscribed', (f) => f.response === 'subscribed');
    return { stream, frames, frame, offersStreamSend: sub.subscribed!.streamSend };
  };

  const frames = (gw: { frames: MessageStreamResponse__Output[] }, response: string) => gw.frames.filter((f) => f.response === response);

  it("answers sends on the subscription stream: accepted with the unary Send's msgId, a precise status for bad ones, the origin connection excluded", async () => {
    const sender = await subscribed('gw-stream-send', ['ss-a']);
    const peer = await subscribed('gw-stream-peer', ['ss-b']);
    try {
      assert.equal(sender.offersStreamSend, true, 'the pod offers sends on the stream');
      const result = (requestId: number) =>
        sender.frame(`send result ${requestId}`, (f) => f.response === 'sendResult' && f.sendResult!.requestId === requestId);
      // originInstance on the wire is ignored: the origin is the stream's own gateway.
      const req = { fromUser: 'ss-a', clientId: 'ss-1', toUser: 'ss-b', body: 'over the stream', originInstance: 'someone-else', originConnection: 'conn-1' };
      sender.stream.write({ send: { requestId: 7, send: req } });
      const accepted = (await result(7)).sendResult!;
      assert.equal(accepted.result, 'accepted');
      assert.equal(accepted.accepted!.conversation, 'dm:ss-a:ss-b');
      const unary = await call('send', req);
      assert.equal(unary.err, null);
      assert.equal((unary.res as { msgId: string }).msgId, accepted.accepted!.msgId, 'one idempotency key whichever way the send came');
      const push = await peer.frame('push to the peer gateway', (f) => f.response === 'push');
      assert.deepEqual([push.push!.message!.body, push.push!.excludeConnection], ['over the stream', '']);
      const own = await sender.frame('push to the sender gateway (the sender user is here)', (f) => f.response === 'push');
      assert.equal(own.push!.excludeConnection, 'conn-1', 'the sending connection is excluded on its own gateway');

      const bad = [
        { ...req, clientId: 'ss-2', toUser: 'not a user' },
        { ...req, clientId: 'ss-3', body: 'x'.repeat(5000) },
      ];
      bad.forEach((send, i) => sender.stream.write({ send: { requestId: 8 + i, send } }));
      sender.stream.write({ send: { requestId: 10 } });
      const errors = await Promise.all([8, 9, 10].map(async (id) => (await result(id)).sendResult!));
      const unaryErrors = await Promise.all(bad.map(async (r) => (await call('send', r)).err!));
      assert.deepEqual(
        errors.map((r) => [r.result, r.error!.code, r.error!.message, r.error!.reason]),
        [
          ...unaryErrors.map((e) => ['error', e.code, e.details, e.metadata.get('switchboard-error-code')[0]]),
          ['error', status.INVALID_ARGUMENT, 'send is required', 'BAD_REQUEST'],
        ],
        'the status, message and error code the unary Send answers',
      );
      assert.deepEqual(
        errors.map((r) => r.error!.reason),
        ['BAD_REQUEST', 'TOO_LARGE', 'BAD_REQUEST'],
      );
      assert.deepEqual(
        unaryErrors.map((e) => e.code),
        [status.INVALID_ARGUMENT, status.INVALID_ARGUMENT],
      );
      assert.match(errors[1]!.error!.message, /^body is 5000 bytes; the limit is 4096$/);
      sender.stream.write({ presence: { online: [], offline: [], ackId: 7 } });
      await sender.frame('a presence confirmation after the refused sends: the stream stays up', (f) => f.presenceApplied?.ackId === 7);
      assert.deepEqual([...frames(sender, 'batch'), ...frames(peer, 'batch')], [], 'gateways that read no batches get none');
    } finally {
      sender.stream.cancel();
      peer.stream.cancel();
    }
  });

  it('confirms a presence update that asks for it, once it is applied (and leaves others unanswered)', async () => {
    const gw = await subscribed('gw-presence', []);
    try {
      assert.equal(frames(gw, 'subscribed')[0]!.subscribed!.presenceAck, true, 'the pod offers presence confirmations');
      gw.stream.write({ presence: { online: ['pa-1'], offline: [] } });
      gw.stream.write({ presence: { online: ['pa-2'], offline: [], ackId: 41 } });
      const applied = await gw.frame('presence applied', (f) => f.response === 'presenceApplied');
      assert.equal(applied.presenceApplied!.ackId, 41);
      gw.stream.write({ presence: { online: [], offline: ['pa-1'], ackId: 42 } });
      await gw.frame('the next confirmation', (f) => f.presenceApplied?.ackId === 42);
      assert.deepEqual(
        frames(gw, 'presenceApplied').map((f) => f.presenceApplied!.ackId),
        [41, 42],
        'no answer to an update without ack_id',
      );
    } finally {
      gw.stream.cancel();
    }
  });

  it('reads a batch of frames in order, and answers a gateway that reads batches in batches within its byte budget', async () => {
    const budget = 700;
    const gw = await subscribed('gw-batch', ['bt-a'], budget);
    try {
      assert.ok(frames(gw, 'subscribed')[0]!.subscribed!.batchMaxBytes >= 60 * 1024, 'the pod offers to read batches');
      const sends = Array.from({ length: 12 }, (_, i) => ({
        requestId: 100 + i,
        send: { fromUser: 'bt-a', clientId: `bt-${i}`, toUser: `bt-peer-${i}`, body: `batched ${i}`, originConnection: 'c' },
      }));
      gw.stream.write({ batch: { requests: [...sends.map((send) => ({ send })), { presence: { online: [], offline: [], ackId: 9 } }] } });
      const flat = () => gw.frames.flatMap((f) => (f.response === 'batch' ? f.batch!.responses : [f]));
      const results = () =>
        flat()
          .filter((f) => f.response === 'sendResult')
          .map((f) => f.sendResult!);
      await eventually(
        '12 send results and the presence confirmation',
        () => results().length === 12 && flat().some((f) => f.presenceApplied?.ackId === 9),
        5000,
      );
      assert.deepEqual(
        results()
          .map((r) => [r.requestId, r.result])
          .sort(),
        sends.map((s) => [s.requestId, 'accepted']).sort(),
      );
      const batches = frames(gw, 'batch');
      assert.ok(
        batches.some((b) => b.batch!.responses.length > 1),
        'answers of one turn share a batch',
      );
      const { responseSerialize } = loadSwitchboardProto().grpc.switchboard.v1.MessageService.service.MessageStream;
      for (const b of batches)
        assert.ok(responseSerialize(b).length <= budget, `a batch of ${b.batch!.responses.length} is over the gateway's ${budget} bytes`);
      assert.ok(batches.length >= 3, `12 answers of ~200 bytes need several batches of ${budget} bytes (${batches.length})`);
      for (const i of [0, 11]) {
        const ok = await call('send', sends[i]!.send);
        assert.equal(
          (ok.res as { msgId: string }).msgId,
          results().find((r) => r.requestId === 100 + i)!.accepted!.msgId,
          'a batched send is the same send (same msgId on retry)',
        );
      }
    } finally {
      gw.stream.cancel();
    }
  });

  it('refuses a batch that holds subscribe or another batch (INVALID_ARGUMENT), before acting on any of its frames', async () => {
    const bad: Array<[string, MessageStreamRequest]> = [
      ['subscribe', { subscribe: { connectServiceId: 'again', onlineUsers: [] } }],
      ['batch', { batch: { requests: [] } }],
    ];
    for (const [name, inner] of bad) {
      const gw = await subscribed(`gw-bad-batch-${name}`, [], 1000);
      const err = await new Promise<ServiceError>((resolve) => {
        gw.stream.on('error', resolve);
        gw.stream.write({ batch: { requests: [{ presence: { online: [], offline: [], ackId: 5 } }, inner] } });
      });
      assert.deepEqual([err.code, err.details], [status.INVALID_ARGUMENT, 'a batch may not hold subscribe or another batch'], name);
      assert.deepEqual(frames(gw, 'presenceApplied'), [], `${name}: nothing of the batch was acted on`);
    }
  });

  it('refuses a send before subscribe as the first frame', async () => {
    const stream = client.messageStream();
    const err = await new Promise<ServiceError>((resolve) => {
      stream.on('error', resolve);
      stream.on('data', () => undefined);
      stream.write({ send: { requestId: 1, send: { fromUser: 'a', clientId: 'c', toUser: 'b', body: 'hi' } } });
    });
    assert.equal(err.code, status.INVALID_ARGUMENT);
    assert.equal(err.details, 'the first frame must be subscribe');
  });
});

/** A gateway that stops reading its stream cannot make a Message pod buffer without bound. */
describe('Message gRPC API: push backpressure', () => {
  it('ends the stream of a gateway that does not read (RESOURCE_EXHAUSTED) once MESSAGE_PUSH_BUFFER_MAX pushes are queued, counts it and the pushes skipped for that gateway, and goes on serving', async function () {
    this.timeout(60_000);
    const { logger, lines } = capturingLogger('message');
    const message = await startMessage({ MESSAGE_PUSH_BUFFER_MAX: '1000' }, undefined, logger);
    const metric = async (name: string, labels: string) => metricIn((await getJson(`http://127.0.0.1:${message.httpPort}/metrics`)).text, name, labels);
    const { grpc } = loadSwitchboardProto();
    // One connection per gateway, as in a deployment (HTTP/2 flow control also has a per-connection
    // window, so a paused stream would stall its connection's other streams).
    const connection = () => new grpc.switchboard.v1.MessageService(message.target, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    const client = connection();
    const gateways: MessageServiceClient[] = [];
    try {
      const subscribe = async (gateway: string) => {
        const own = connection();
        gateways.push(own);
        const stream = own.messageStream();
        const frames: Array<{ response?: string }> = [];
        const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
        stream.on('data', (f: { response?: string }) => frames.push(f));
        stream.write({ subscribe: { connectServiceId: gateway, onlineUsers: ['slow-reader'] } });
        while (!frames.some((f) => f.response === 'subscribed')) await new Promise((r) => setTimeout(r, 20));
        return { stream, frames, ended };
      };
      const slow = await subscribe('gw-slow');
      slow.stream.pause(); // stops reading: HTTP/2 flow control holds what the pod writes
      const send = (i: number) =>
        new Promise<void>((resolve, reject) =>
          client.send({ fromUser: 'writer', clientId: `bp-${i}`, toUser: 'slow-reader', body: 'x'.repeat(4000) }, (err) => (err ? reject(err) : resolve())),
        );
      let outcome: ServiceError | undefined;
      void slow.ended.then((e) => (outcome = e));
      for (let i = 0; i < 5000 && !outcome; i += 50) await Promise.all(Array.from({ length: 50 }, (_, j) => send(i + j)));
      slow.stream.resume();
      const err = await slow.ended;
      assert.equal(err.code, status.RESOURCE_EXHAUSTED);
      assert.match(err.details, /^\d+ pushes queued on this stream \(MESSAGE_PUSH_BUFFER_MAX\); reconnect and resync$/);
      assert.ok(Number(/^\d+/.exec(err.details)![0]) >= 1000);
      assert.equal(await metric('switchboard_message_streams_ended_total', 'reason="push_buffer_full"'), 1);
      // Pushes for the users of the gateway whose stream ended are skipped, and counted.
      const skipped = await metric('switchboard_message_pushes_total', 'result="skipped"');
      for (let i = 0; i < 20; i++) await send(900_000 + i);
      await eventually('20 more pushes skipped', async () => (await metric('switchboard_message_pushes_total', 'result="skipped"')) === skipped + 20, 10_000);
      const ends = lines.filter((l) => l.msg === 'gateway stream ended' && l.instance === 'gw-slow');
      assert.deepEqual(
        ends.map((l) => l.reason),
        ['push_buffer_full'],
        'one line for the one stream end',
      );
      // The pod goes on serving: a gateway that subscribes now gets the next push for that user.
      const next = await subscribe('gw-next');
      await send(999_999);
      await eventually('the new gateway receives the next push', () => next.frames.some((f) => f.response === 'push'), 20_000);
      next.stream.cancel();
    } finally {
      for (const c of [client, ...gateways]) c.close();
      await message.stop();
    }
  });
});

/** The Message gRPC transport alone, over stand-ins of the domain (a registry that registers anyone unless overridden). */
function bareTransport(overrides: Partial<Parameters<typeof createGrpcTransport>[0]>): ReturnType<typeof createGrpcTransport> {
  return createGrpcTransport({
    acceptor: {} as SendAcceptor,
    history: {} as History,
    reads: {} as ReadMarking,
    typing: {} as TypingRelay,
    presence: {} as PresenceQuery,
    subscribers: { attach: () => undefined, update: () => true, detach: () => true } as unknown as SubscriberRegistry,
    instance: 'message-test',
    logger: testLogger('grpc'),
    maxMessageBytes: 1 << 20,
    keepaliveMs: 10_000,
    pushBufferMax: 10_000,
    keepaliveTimeoutMs: 5000,
    unavailable: () => undefined,
    streamsServed: async () => undefined,
    ...overrides,
  });
}

/** Failures while a gateway's stream is set up are answered on that stream, never by a crash. */
describe('Message gRPC transport: failures on the subscription path', () => {
  it('answers UNAVAILABLE when registering the gateway fails, and keeps serving', async () => {
    const { grpc } = loadSwitchboardProto();
    const attachFailing = {
      attach: () => {
        throw new Error('registry exploded');
      },
      update: () => true,
      detach: () => true,
    };
    const transport = bareTransport({ subscribers: attachFailing as unknown as SubscriberRegistry });
    const port = await transport.bind('127.0.0.1', 0);
    const c = new grpc.switchboard.v1.MessageService(`127.0.0.1:${port}`, credentials.createInsecure());
    const rejections: unknown[] = [];
    const onRejection = (r: unknown): void => void rejections.push(r);
    process.on('unhandledRejection', onRejection);
    try {
      for (let i = 0; i < 2; i++) {
        const stream = c.messageStream();
        const err = await new Promise<ServiceError>((resolve) => {
          stream.on('error', resolve);
          stream.on('data', () => undefined);
          stream.write({ subscribe: { connectServiceId: `gw-${i}`, onlineUsers: ['u1'] } });
        });
        assert.equal(err.code, status.UNAVAILABLE);
        assert.equal(err.details, 'registering the gateway failed: registry exploded');
      }
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(rejections, [], 'nothing escaped as an unhandled rejection');
    } finally {
      process.off('unhandledRejection', onRejection);
      c.close();
      transport.server.forceShutdown();
    }
  });
});

/** A pod that cannot take sends (draining, backends lost) says so per send on the stream, as on the unary Send. */
describe('Message gRPC transport: stream sends while unavailable', () => {
  it('answers each stream send UNAVAILABLE with the reason, keeps the stream, and accepts again once available', async () => {
    const { grpc } = loadSwitchboardProto();
    let reason: string | undefined = 'draining';
    const accepted: string[] = [];
    const transport = bareTransport({
      acceptor: {
        accept: async (cmd: { clientId: string }) => (accepted.push(cmd.clientId), { msgId: `m-${cmd.clientId}`, conversation: 'dm:a:b', ts: 1 }),
      } as unknown as SendAcceptor,
      unavailable: () => reason,
    });
    const port = await transport.bind('127.0.0.1', 0);
    const c = new grpc.switchboard.v1.MessageService(`127.0.0.1:${port}`, credentials.createInsecure());
    const stream = c.messageStream();
    try {
      const frames: MessageStreamResponse__Output[] = [];
      stream.on('data', (f: MessageStreamResponse__Output) => frames.push(f));
      stream.on('error', () => undefined);
      stream.write({ subscribe: { connectServiceId: 'gw', onlineUsers: [] } });
      const result = async (requestId: number) => {
        await eventually(`result ${requestId}`, () => frames.some((f) => f.sendResult?.requestId === requestId), 5000);
        return frames.find((f) => f.sendResult?.requestId === requestId)!.sendResult!;
      };
      const send = { fromUser: 'a', clientId: 'c1', toUser: 'b', body: 'hi' };
      stream.write({ send: { requestId: 1, send } });
      const refused = await result(1);
      assert.deepEqual([refused.result, refused.error?.code, refused.error?.message], ['error', status.UNAVAILABLE, 'draining']);
      assert.deepEqual(accepted, [], 'nothing reached the acceptor');
      reason = undefined;
      stream.write({ send: { requestId: 2, send } });
      const ok = await result(2);
      assert.deepEqual([ok.result, ok.accepted?.msgId], ['accepted', 'm-c1']);
    } finally {
      stream.cancel();
      c.close();
      transport.server.forceShutdown();
    }
  });
});

describe('Message gRPC API: a sync reply within one gRPC message', function () {
  this.timeout(30_000);
  it('cuts a sync of large bodies to what fits in 4 MiB and says hasMore; asking on from the last seq gets the rest', async () => {
    const message = await startMessage({ MAX_BODY_BYTES: String(1024 * 1024) });
    const { grpc } = loadSwitchboardProto();
    const client = new grpc.switchboard.v1.MessageService(message.target, credentials.createInsecure());
    const unary = <T>(method: 'send' | 'sync', req: object) =>
      new Promise<T>((resolve, reject) => (client[method] as unknown as Unary).call(client, req, (err, res) => (err ? reject(err) : resolve(res as T))));
    try {
      await eventually('serving', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200);
      const body = (i: number) => String(i).repeat(1024 * 1024);
      for (let i = 1; i <= 6; i++) await unary('send', { fromUser: 'big-a', clientId: `big-${i}`, toUser: 'big-b', body: body(i) });
      type Reply = { messages: Array<{ seq: number; body: string }>; hasMore: boolean };
      const read = async (): Promise<Reply> => {
        for (;;) {
          const r = await unary<Reply>('sync', { user: 'big-b', conversation: 'dm:big-a:big-b', afterSeq: 0, limit: 10 });
          if (r.messages.length > 0) return r;
          await new Promise((res) => setTimeout(res, 50)); // stored behind the accept
        }
      };
      const first = await read();
      assert.ok(first.messages.length >= 1 && first.messages.length <= 3, `${first.messages.length} messages of 1 MiB in the first reply`);
      assert.equal(first.hasMore, true);
      const seen = [...first.messages];
      for (let more = true; more;) {
        const r = await unary<Reply>('sync', { user: 'big-b', conversation: 'dm:big-a:big-b', afterSeq: seen.at(-1)!.seq, limit: 10 });
        seen.push(...r.messages);
        more = r.hasMore || seen.length < 6;
        if (r.messages.length === 0) await new Promise((res) => setTimeout(res, 50));
      }
      assert.deepEqual(
        seen.map((m) => [m.seq, m.body === body(m.seq)]),
        [1, 2, 3, 4, 5, 6].map((s) => [s, true]),
      );
    } finally {
      client.close();
      await message.stop();
    }
  });
});
