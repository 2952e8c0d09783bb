/**
 * A load-generator process (forked by load.ts): holds sender/recipient WebSocket pairs and sends
 * open-loop — on a schedule fixed in advance — so a stalled system shows up as latency instead of
 * as a slower sender. Latency is measured from each message's intended send time.
 */
import WebSocket from 'ws';
import { nowMs } from './stats.js';

export type WorkerCommand =
  | { cmd: 'connect'; url: string; recipientUrl?: string; pairs: Array<[string, string]> }
  | { cmd: 'run'; step: string; ratePerSec: number; durationMs: number; warmupMs: number; drainMs: number }
  | { cmd: 'close' };

export type WorkerEvent =
  | { ev: 'ready' }
  | { ev: 'progress'; sent: number; received: number }
  | { ev: 'done'; latencies: number[]; sent: number; accepted: number; received: number; errors: Record<string, number>; measuredSent: number; measuredReceived: number; elapsedMs: number }
  | { ev: 'error'; message: string };

interface Pair {
  sender: WebSocket;
  recipient: WebSocket;
  to: string;
}

const send = (e: WorkerEvent): void => void process.send!(e);
let pairs: Pair[] = [];

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

async function run(c: Extract<WorkerCommand, { cmd: 'run' }>): Promise<void> {
  const latencies: number[] = [];
  const errors: Record<string, number> = {};
  let sent = 0;
  let accepted = 0;
  let received = 0;
  let measuredSent = 0;
  let measuredReceived = 0;
  const start = nowMs();
  const measureFrom = start + c.warmupMs;
  const end = start + c.warmupMs + c.durationMs;
  const prefix = `${c.step}|`;
  const onRecipient = (data: WebSocket.RawData): void => {
    const f = JSON.parse(data.toString()) as { type: string; body?: string };
    if (f.type !== 'message' || !f.body?.startsWith(prefix)) return;
    received++;
    const intended = Number(f.body.slice(prefix.length).split('|')[1]);
    if (intended >= measureFrom && intended < end) {
      measuredReceived++;
      latencies.push(nowMs() - intended);
    }
  };
  const onSender = (data: WebSocket.RawData): void => {
    const f = JSON.parse(data.toString()) as { type: string; code?: string };
    if (f.type === 'accepted') accepted++;
    else if (f.type === 'error') errors[f.code ?? 'UNKNOWN'] = (errors[f.code ?? 'UNKNOWN'] ?? 0) + 1;
  };
  for (const p of pairs) {
    p.recipient.on('message', onRecipient);
    p.sender.on('message', onSender);
  }
  const progress = setInterval(() => send({ ev: 'progress', sent, received }), 1000);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = nowMs();
      const due = Math.min(Math.floor(((Math.min(t, end) - start) * c.ratePerSec) / 1000), Math.floor(((end - start) * c.ratePerSec) / 1000));
      while (sent < due) {
        const intended = start + (sent * 1000) / c.ratePerSec;
        const p = pairs[sent % pairs.length]!;
        p.sender.send(JSON.stringify({ type: 'send', id: `${c.step}-${sent}`, to: p.to, body: `${prefix}${sent}|${intended}` }));
        if (intended >= measureFrom) measuredSent++;
        sent++;
      }
      if (t >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  // Let messages in flight arrive (those still missing then count as lost or late).
  const drainUntil = nowMs() + c.drainMs;
  while (measuredReceived < measuredSent && nowMs() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  clearInterval(progress);
  for (const p of pairs) {
    p.recipient.off('message', onRecipient);
    p.sender.off('message', onSender);
  }
  send({ ev: 'done', latencies, sent, accepted, received, errors, measuredSent, measuredReceived, elapsedMs: c.durationMs });
}

process.on('message', (c: WorkerCommand) => {
  (async () => {
    if (c.cmd === 'connect') {
      pairs = [];
      for (const [a, b] of c.pairs) pairs.push({ sender: await open(c.url, a), recipient: await open(c.recipientUrl ?? c.url, b), to: b });
      send({ ev: 'ready' });
    } else if (c.cmd === 'run') await run(c);
    else {
      for (const p of pairs) {
        p.sender.terminate();
        p.recipient.terminate();
      }
      process.exit(0);
    }
  })().catch((err: unknown) => send({ ev: 'error', message: err instanceof Error ? err.message : String(err) }));
});
