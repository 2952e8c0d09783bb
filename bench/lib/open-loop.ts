/**
 * The open-loop schedule shared by the load workers: sends happen at times fixed in advance
 * (start + n / rate), whatever the system does, and each message carries its intended send time so
 * the recipient measures latency from it.
 */
import { nowMs } from './stats.js';
import type { WorkerCommand, WorkerEvent } from './load-worker.js';

/** How a worker talks to the system under test. */
export interface LoadTransport {
  pairs: number;
  /** Sends `body` from pair `i`'s sender to its recipient; `done` reports the acknowledgement. */
  send(i: number, id: string, body: string, done: (ok: boolean, code?: string) => void): void;
  /** Starts (or, with undefined, stops) handing every received message body to `onBody`. */
  receive(onBody: ((body: string) => void) | undefined): void;
}

/**
 * How many sends of an open-loop schedule are due `elapsedMs` after its start: send n is intended at
 * n / rate, so it is due from that moment on (the first at once), and a run of `durationMs` has those
 * intended before its end.
 */
export function sendsDue(elapsedMs: number, ratePerSec: number, durationMs: number): number {
  const total = Math.ceil((durationMs * ratePerSec) / 1000);
  return Math.min(total, Math.floor((elapsedMs * ratePerSec) / 1000) + 1);
}

export async function runOpenLoop(c: Extract<WorkerCommand, { cmd: 'run' }>, t: LoadTransport, report: (e: WorkerEvent) => void): Promise<void> {
  const latencies: number[] = [];
  // From the intended send time to the acknowledgement (Switchboard's `accepted`), measured sends only.
  const ackLatencies: number[] = [];
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
  t.receive((body) => {
    if (!body.startsWith(prefix)) return;
    received++;
    const intended = Number(body.slice(prefix.length).split('|')[1]);
    if (intended >= measureFrom && intended < end) {
      measuredReceived++;
      latencies.push(nowMs() - intended);
    }
  });
  const progress = setInterval(() => report({ ev: 'progress', sent, received }), 1000);
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = nowMs();
      const due = sendsDue(now - start, c.ratePerSec, end - start);
      while (sent < due) {
        const intended = start + (sent * 1000) / c.ratePerSec;
        t.send(sent % t.pairs, `${c.step}-${sent}`, `${prefix}${sent}|${intended}`, (ok, code) => {
          if (ok) {
            accepted++;
            if (intended >= measureFrom) ackLatencies.push(nowMs() - intended);
          } else errors[code ?? 'UNKNOWN'] = (errors[code ?? 'UNKNOWN'] ?? 0) + 1;
        });
        if (intended >= measureFrom) measuredSent++;
        sent++;
      }
      if (now >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  // Let messages in flight arrive; those still missing then count as lost (or late).
  const drainUntil = nowMs() + c.drainMs;
  while (measuredReceived < measuredSent && nowMs() < drainUntil) await new Promise((r) => setTimeout(r, 20));
  clearInterval(progress);
  t.receive(undefined);
  report({ ev: 'done', latencies, ackLatencies, sent, accepted, received, errors, measuredSent, measuredReceived, elapsedMs: c.durationMs });
}

/** Serves the worker protocol over IPC for a transport made by `connect`. */
export function serveWorker(connect: (c: Extract<WorkerCommand, { cmd: 'connect' }>) => Promise<LoadTransport & { close(): void }>): void {
  const report = (e: WorkerEvent): void => void process.send!(e);
  let transport: (LoadTransport & { close(): void }) | undefined;
  process.on('message', (c: WorkerCommand) => {
    (async () => {
      if (c.cmd === 'connect') {
        transport = await connect(c);
        report({ ev: 'ready' });
      } else if (c.cmd === 'run') await runOpenLoop(c, transport!, report);
      else {
        transport?.close();
        process.exit(0);
      }
    })().catch((err: unknown) => report({ ev: 'error', message: err instanceof Error ? err.message : String(err) }));
  });
}
