import WebSocket from 'ws';

export interface Frame {
  type: string;
  [key: string]: unknown;
}

/**
 * A WebSocket test client that queues every frame it receives, so a test can await the next frame
 * of a type (or assert that none came).
 */
export class TestClient {
  readonly frames: Frame[] = [];
  private waiters: Array<() => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The welcome frame (user, connection id, instance). */
  welcome: Frame = { type: 'welcome' };

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (isBinary) throw new Error('server sent a binary frame');
      this.frames.push(JSON.parse(data.toString()) as Frame);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => undefined); // surfaced through `closed` or the open promise
  }

  /**
   * Connects as `user` (insecure-dev) or with `token`; resolves after the welcome frame. `ca`: the
   * CA a wss:// gateway's certificate must chain to; `host`: the name to ask for (TLS SNI and the
   * Host header) when the URL names an address, as a client does through an ingress by its DNS name.
   */
  static async connect(url: string, opts: { user?: string; token?: string; header?: boolean; ca?: Buffer; host?: string } = {}): Promise<TestClient> {
    const u = new URL(url);
    if (opts.user) u.searchParams.set('user', opts.user);
    if (opts.token && !opts.header) u.searchParams.set('token', opts.token);
    const headers: Record<string, string> = {
      ...(opts.token && opts.header ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(opts.host ? { host: opts.host } : {}),
    };
    const ws = new WebSocket(u, 'switchboard.v1', {
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      ...(opts.ca ? { ca: opts.ca } : {}),
      ...(opts.host ? { servername: opts.host } : {}),
    });
    const client = new TestClient(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once('error', reject);
    });
    client.welcome = await client.next('welcome');
    return client;
  }

  /** Sends a frame (object → JSON, string → as is). */
  send(frame: Frame | string): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Removes and returns the first received frame of `type` (waiting up to `timeoutMs`). */
  async next(type: string, timeoutMs = 5000, match: (f: Frame) => boolean = () => true): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => f.type === type && match(f));
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no "${type}" frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /**
   * Sends a request frame and returns its reply of `replyType`. Any other reply with the same id
   * fails the call: an `error` frame when a success was asked for, a success when `replyType` is
   * 'error' (a test that expects a refusal asks for 'error').
   */
  async request(frame: Frame & { id: string }, replyType: string, timeoutMs = 5000): Promise<Frame> {
    const reply = await this.exchange(frame, replyType, timeoutMs);
    if (reply.type !== replyType) throw new Error(`${JSON.stringify(frame).slice(0, 200)} was answered with ${JSON.stringify(reply)}, not "${replyType}"`);
    return reply;
  }

  /** Sends a request frame and returns its reply: the one of `replyType` or an `error` with the same id, whichever comes (any reply when `replyType` is 'error'). */
  async exchange(frame: Frame & { id: string }, replyType: string, timeoutMs = 5000): Promise<Frame> {
    this.send(frame);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.frames.findIndex((f) => f.id === frame.id && (f.type === replyType || f.type === 'error' || replyType === 'error'));
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no reply to ${JSON.stringify(frame).slice(0, 200)} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** All frames of `type` received so far (removed from the queue). */
  take(type: string): Frame[] {
    const out = this.frames.filter((f) => f.type === type);
    this.frames.splice(0, this.frames.length, ...this.frames.filter((f) => f.type !== type));
    return out;
  }

  close(): void {
    this.ws.close(1000);
  }
}

/** Attempts an upgrade and returns the HTTP status it was refused with (or 101). */
export async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, 'switchboard.v1', { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

/**
 * The clients a suite opens as users on its gateways (by index), closed together by `closeAll`;
 * `uid` makes a name unique to the run (suites share backends).
 */
export function clientPool(gatewayUrls: () => readonly string[]): {
  open: (user: string, gateway?: number) => Promise<TestClient>;
  uid: (name: string) => string;
  closeAll: () => void;
} {
  const clients: TestClient[] = [];
  let n = 0;
  return {
    open: async (user, gateway = 0) => {
      const c = await TestClient.connect(gatewayUrls()[gateway]!, { user });
      clients.push(c);
      return c;
    },
    uid: (name) => `${name}-${process.pid}-${++n}`,
    closeAll: () => {
      for (const c of clients.splice(0)) c.close();
    },
  };
}
