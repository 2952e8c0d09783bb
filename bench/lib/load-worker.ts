/**
 * A load-generator process (forked by load.ts) speaking Switchboard's WebSocket protocol: it holds
 * sender/recipient pairs and sends open-loop (see open-loop.ts).
 */
import WebSocket from 'ws';
import { serveWorker } from './open-loop.js';

export type WorkerCommand =
  | { cmd: 'connect'; url: string; recipientUrl?: string; pairs: Array<[string, string]> }
  | { cmd: 'run'; step: string; ratePerSec: number; durationMs: number; warmupMs: number; drainMs: number }
  | { cmd: 'close' };

export type WorkerEvent =
  | { ev: 'ready' }
  | { ev: 'progress'; sent: number; received: number }
  | {
      ev: 'done';
      latencies: number[];
      ackLatencies: number[];
      sent: number;
      accepted: number;
      received: number;
      errors: Record<string, number>;
      measuredSent: number;
      measuredReceived: number;
      elapsedMs: number;
    }
  | { ev: 'error'; message: string };

function open(url: string, user: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    u.searchParams.set('user', user);
    const ws = new WebSocket(u, 'switchboard.v1', { perMessageDeflate: false });
    ws.once('message', () => resolve(ws)); // welcome
    ws.once('error', reject);
    ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

serveWorker(async (c) => {
  const pairs: Array<{ sender: WebSocket; recipient: WebSocket; to: string }> = [];
  for (const [a, b] of c.pairs) pairs.push({ sender: await open(c.url, a), recipient: await open(c.recipientUrl ?? c.url, b), to: b });
  // Acknowledgements arrive in send order per connection; each sender keeps its pending callbacks.
  const pending = pairs.map(() => [] as Array<(ok: boolean, code?: string) => void>);
  pairs.forEach((p, i) =>
    p.sender.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type: string; code?: string };
      if (f.type === 'accepted' || f.type === 'error') pending[i]!.shift()?.(f.type === 'accepted', f.code);
    }),
  );
  let onBody: ((body: string) => void) | undefined;
  for (const p of pairs) {
    p.recipient.on('message', (data) => {
      const f = JSON.parse(data.toString()) as { type: string; body?: string };
      if (f.type === 'message' && f.body !== undefined) onBody?.(f.body);
    });
  }
  return {
    pairs: pairs.length,
    send(i, id, body, done) {
      const p = pairs[i]!;
      pending[i]!.push(done);
      p.sender.send(JSON.stringify({ type: 'send', id, to: p.to, body }));
    },
    receive: (fn) => void (onBody = fn),
    close() {
      for (const p of pairs) {
        p.sender.terminate();
        p.recipient.terminate();
      }
    },
  };
});
