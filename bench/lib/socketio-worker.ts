/**
 * The load worker for the Socket.IO peer: the same commands and open-loop schedule as
 * load-worker.ts, over socket.io-client. Senders emit "send" with an ack (the peer's `accepted`);
 * recipients get "message".
 */
import { io, type Socket } from 'socket.io-client';
import { nowMs } from './stats.js';
import type { WorkerCommand, WorkerEvent } from './load-worker.js';

interface Pair {
  sender: Socket;
  recipient: Socket;
  to: string;
}
const send = (e: WorkerEvent): void => void process.send!(e);
let pairs: Pair[] = [];

function open(url: string, user: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], auth: { user }, reconnection: false });
    s.once('ready', () => resolve(s));
    s.once('connect_error', reject);
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
  const onMessage = (m: { body: string }): void => {
    if (!m.body.startsWith(prefix)) return;
    received++;
    const intended = Number(m.body.slice(prefix.length).split('|')[1]);
    if (intended >= measureFrom && intended < end) {
      measuredReceived++;
      latencies.push(nowMs() - intended);
    }
  };
  for (const p of pairs) p.recipient.on('message', onMessage);
  const progress = setInterval(() => send({ ev: 'progress', sent, received }), 1000);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const t = nowMs();
      const due = Math.floor(((Math.min(t, end) - start) * c.ratePerSec) / 1000);
      while (sent < due) {
        const intended = start + (sent * 1000) / c.ratePerSec;
        const p = pairs[sent % pairs.length]!;
        p.sender.emit('send', { id: `${c.step}-${sent}`, to: p.to, body: `${prefix}${sent}|${intended}` }, (ack: { ok: boolean }) => {
          if (ack.ok) accepted++;
          else errors.REJECTED = (errors.REJECTED ?? 0) + 1;
        });
        if (intended >= measureFrom) measuredSent++;
        sent++;
      }
      if (t >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const drainUntil = nowMs() + c.drainMs;
  while (measuredReceived < measuredSent && nowMs() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  clearInterval(progress);
  for (const p of pairs) p.recipient.off('message', onMessage);
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
        p.sender.disconnect();
        p.recipient.disconnect();
      }
      process.exit(0);
    }
  })().catch((err: unknown) => send({ ev: 'error', message: err instanceof Error ? err.message : String(err) }));
});
