import assert from 'node:assert/strict';
import { connect, SUBPROTOCOL, type ChatEvent, type WebSocketLike } from '../../services/client/sdk/index.js';

/** A WebSocket the test drives: every one the SDK opens, with its URL and what it sent. */
class FakeWebSocket implements WebSocketLike {
  static opened: FakeWebSocket[] = [];
  onopen: ((event: never) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  sent: string[] = [];
  closedWith: number | undefined;
  constructor(
    readonly url: string,
    readonly protocol?: string | string[],
  ) {
    FakeWebSocket.opened.push(this);
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closedWith = code;
  }
  /** The gateway accepts and says welcome. */
  welcome(user: string): void {
    this.onopen?.(undefined as never);
    this.onmessage?.({ data: JSON.stringify({ type: 'welcome', user, connection: 'c1', instance: 'gw' }) });
  }
}

/** A clock the test moves: timers run when it says so. */
function fakeTimers() {
  const due: Array<{ fn: () => void; ms: number; cancelled?: boolean }> = [];
  return {
    due,
    setTimer: (fn: () => void, ms: number) => {
      const t = { fn, ms };
      due.push(t);
      return t;
    },
    clearTimer: (t: unknown) => void ((t as { cancelled?: boolean }).cancelled = true),
    run: () => {
      for (const t of due.splice(0)) if (!t.cancelled) t.fn();
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('the client SDK’s connect(): tokens, sockets and reconnects', () => {
  beforeEach(() => (FakeWebSocket.opened = []));

  it('asks the token callback before each attempt, so a reconnect carries a fresh token, and speaks the sub-protocol', async () => {
    const timers = fakeTimers();
    const events: ChatEvent[] = [];
    let minted = 0;
    const chat = connect({
      url: 'wss://chat.example/ws',
      token: async () => `jwt-${++minted}`,
      WebSocket: FakeWebSocket,
      onEvent: (e) => events.push(e),
      policy: { up: () => undefined, nextDelay: () => 750 },
      ...timers,
    });
    await tick();
    const first = FakeWebSocket.opened[0]!;
    assert.equal(first.url, 'wss://chat.example/ws?token=jwt-1');
    assert.equal(first.protocol, SUBPROTOCOL);
    first.welcome('alice');
    assert.equal(chat.user, 'alice');
    first.onclose?.({ code: 1001, reason: 'server draining; reconnect' });
    assert.deepEqual(
      events.filter((e) => e.kind === 'disconnected'),
      [{ kind: 'disconnected', code: 1001, reason: 'server draining; reconnect', retryInMs: 750 }],
    );
    assert.equal(FakeWebSocket.opened.length, 1, 'nothing before the backoff delay');
    timers.run();
    await tick();
    assert.equal(FakeWebSocket.opened[1]!.url, 'wss://chat.example/ws?token=jwt-2', 'a fresh token for the new connection');
    chat.stop();
  });

  it('retries with backoff when the token callback fails, and queues sends until connected', async () => {
    const timers = fakeTimers();
    const events: ChatEvent[] = [];
    let calls = 0;
    const chat = connect({
      url: 'ws://localhost:21005/ws',
      token: () => {
        if (++calls === 1) throw new Error('identity provider down');
        return 'jwt-ok';
      },
      WebSocket: FakeWebSocket,
      onEvent: (e) => events.push(e),
      policy: { up: () => undefined, nextDelay: () => 500 },
      ...timers,
    });
    const id = chat.send('bob', 'queued while connecting');
    await tick();
    assert.equal(FakeWebSocket.opened.length, 0);
    assert.deepEqual(events.at(-1), { kind: 'disconnected', code: 1006, reason: 'no token: identity provider down', retryInMs: 500 });
    timers.run();
    await tick();
    const ws = FakeWebSocket.opened[0]!;
    ws.welcome('alice');
    assert.deepEqual(JSON.parse(ws.sent[0]!), { type: 'send', id, to: 'bob', body: 'queued while connecting' });
    chat.stop();
  });

  it('connects as ?user= on an insecure-dev gateway, names the likely cause of a socket closed before it opened, and cancels an attempt stopped before its token came', async () => {
    const timers = fakeTimers();
    const events: ChatEvent[] = [];
    const chat = connect({
      url: 'ws://localhost:21005/ws',
      user: '1001',
      WebSocket: FakeWebSocket,
      onEvent: (e) => events.push(e),
      unopenedReason: () => 'origin not allowed',
      policy: { up: () => undefined, nextDelay: () => 500 },
      ...timers,
    });
    const ws = FakeWebSocket.opened[0]!;
    assert.equal(ws.url, 'ws://localhost:21005/ws?user=1001');
    ws.onclose?.({ code: 1006, reason: '' });
    assert.equal((events.at(-1) as { reason: string }).reason, 'origin not allowed');
    chat.stop();

    let release: (t: string) => void = () => undefined;
    const slow = connect({
      url: 'ws://localhost:21005/ws',
      token: () => new Promise<string>((r) => (release = r)),
      WebSocket: FakeWebSocket,
      onEvent: () => undefined,
      ...fakeTimers(),
    });
    slow.stop();
    release('late');
    await tick();
    assert.equal(FakeWebSocket.opened.length, 1, 'no socket opened after stop');
  });
});
