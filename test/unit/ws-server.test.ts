import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import WebSocket from 'ws';
import { createWsServer, HEARTBEAT_SLICES, type WsServer } from '../../services/connect/transport/ws-server.js';
import type { ClientSocket } from '../../services/connect/domain/session.js';
import { SUBPROTOCOL } from '../../services/shared/ws-protocol.js';
import { silentLogger } from '../../services/shared/logger.js';

/** Counts the writes the server makes to the socket of the client whose local port is `port` (each is a system call). */
function countWrites(port: () => number | undefined): { count(): number; restore(): void } {
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (this: Socket, ...args: unknown[]) => void>;
  const original = { _write: proto._write, _writev: proto._writev };
  let n = 0;
  for (const name of ['_write', '_writev'] as const) {
    proto[name] = function (this: Socket, ...args: unknown[]) {
      if (this.remotePort === port()) n++;
      return original[name].apply(this, args);
    };
  }
  return {
    count: () => n,
    restore: () => Object.assign(proto, original),
  };
}

describe('ws server: writes to a client', () => {
  let server: WsServer;
  let client: WebSocket;
  let socket: ClientSocket;
  let received: string[];
  let writes: ReturnType<typeof countWrites>;

  beforeEach(async () => {
    let accepted!: (s: ClientSocket) => void;
    const serverSide = new Promise<ClientSocket>((r) => (accepted = r));
    server = createWsServer({
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 1 << 16,
      heartbeatMs: 60_000,
      authenticate: async () => 'u1',
      logger: silentLogger(),
      precheck: () => undefined,
      admit: () => undefined,
      onClient(s) {
        accepted(s);
        return { handleFrame: () => undefined, markClosed: () => undefined };
      },
    });
    const port = await server.start();
    client = new WebSocket(`ws://127.0.0.1:${port}/ws`, SUBPROTOCOL);
    received = [];
    client.on('message', (data) => received.push(data.toString()));
    await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
    socket = await serverSide;
    writes = countWrites(() => (client as unknown as { _socket?: Socket })._socket?.localPort);
  });
  afterEach(async () => {
    writes.restore();
    client.terminate();
    await server.stop();
  });

  const arrived = async (n: number): Promise<void> => {
    while (received.length < n) await new Promise((r) => setTimeout(r, 5));
  };

  it('sends the frames written in one event-loop turn in one write, in order', async () => {
    for (let i = 0; i < 100; i++) socket.send(`frame ${i}`);
    await arrived(100);
    assert.deepEqual(
      received,
      Array.from({ length: 100 }, (_, i) => `frame ${i}`),
    );
    assert.equal(writes.count(), 1, 'one write for the turn');
  });

  it('sends a lone frame in its own turn, without waiting for a later one', async () => {
    socket.send('first');
    await arrived(1);
    await new Promise((r) => setTimeout(r, 20));
    socket.send('second');
    await arrived(2);
    assert.deepEqual(received, ['first', 'second']);
    assert.equal(writes.count(), 2);
  });

  it('sends the frames of a turn before a close written in the same turn', async () => {
    const closed = new Promise<number>((r) => client.once('close', (code) => r(code)));
    socket.send('a');
    socket.send('b');
    socket.close(1008, 'policy');
    assert.equal(await closed, 1008);
    assert.deepEqual(received, ['a', 'b']);
  });

  it('reports the frames held for the turn in bufferedAmount (the slow-consumer check sees them)', () => {
    const before = socket.bufferedAmount;
    socket.send('x'.repeat(1000));
    assert.ok(socket.bufferedAmount >= before + 1000, `bufferedAmount ${socket.bufferedAmount}`);
  });
});

describe('ws server: heartbeat', () => {
  it('pings every client once per interval, spread over it (not all in one tick), and drops a client that stops answering', async function () {
    this.timeout(15_000);
    // Intervals long enough that a busy machine's late timers stay inside the bounds below.
    const heartbeatMs = 1000;
    const server = createWsServer({
      host: '127.0.0.1',
      port: 0,
      maxFrameBytes: 1 << 16,
      heartbeatMs,
      authenticate: async () => 'u1',
      logger: silentLogger(),
      precheck: () => undefined,
      admit: () => undefined,
      onClient: () => ({ handleFrame: () => undefined, markClosed: () => undefined }),
    });
    const port = await server.start();
    const opened: WebSocket[] = [];
    const open = (autoPong: boolean): Promise<WebSocket> =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, SUBPROTOCOL, { autoPong });
        opened.push(ws);
        ws.once('open', () => resolve(ws)).once('error', reject);
      });
    try {
      const clients = await Promise.all(Array.from({ length: HEARTBEAT_SLICES }, () => open(true)));
      const silent = await open(false);
      const pings = clients.map(() => [] as number[]);
      clients.forEach((c, i) => c.on('ping', () => pings[i]!.push(Date.now())));
      const closedAt = new Promise<number>((r) => silent.once('close', () => r(Date.now())));
      const start = Date.now();
      await new Promise((r) => setTimeout(r, heartbeatMs * 3.5));
      for (const [i, p] of pings.entries()) assert.ok(p.length >= 2 && p.length <= 4, `client ${i}: ${p.length} pings in 3.5 intervals`);
      const firstRound = pings.map((p) => p[0]!);
      assert.ok(Math.max(...firstRound) - Math.min(...firstRound) >= heartbeatMs / 2, 'the pings of a round are spread over the interval');
      assert.ok((await closedAt) - start <= heartbeatMs * 3, 'the client that stopped answering is dropped by its next turns');
      for (const c of clients) assert.equal(c.readyState, WebSocket.OPEN, 'the others stay');
    } finally {
      for (const c of opened) c.terminate();
      await server.stop();
    }
  });
});
