import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, stopGracefully, type ServiceProcess } from '../../test/support/processes.js';
import { startFakeMessage } from '../../test/support/fake-message.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, nowMs, spread } from '../lib/stats.js';

const RECEIVER = fileURLToPath(new URL('../lib/push-receiver.ts', import.meta.url));
const BARE = fileURLToPath(new URL('../lib/bare-ws-server.ts', import.meta.url));

function ask<T>(child: ChildProcess, msg: object, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      if (m.error) reject(new Error(typeof m.error === 'string' ? m.error : JSON.stringify(m.error)));
      else if (key in m) {
        child.off('message', on);
        resolve(m as T);
      }
    };
    child.on('message', on);
    child.send(msg);
  });
}

/** Delivered frames per second for `clients` sockets × `frames` frames, started by `trigger`. */
async function measure(receiver: ChildProcess, total: number, trigger: () => void): Promise<number> {
  await ask(receiver, { expect: total }, 'armed');
  const t0 = nowMs();
  const done = ask<{ doneAt: number }>(receiver, {}, 'doneAt');
  trigger();
  const { doneAt } = await done;
  return (total * 1000) / (doneAt - t0);
}

/**
 * Scenario 2: Message pushes to N connected clients through Connect vs a bare ws server writing the
 * same frames. Each repetition measures, one after the other, the gateway with one push per stream
 * message (a Message pod that pushes as messages come), the gateway with the pushes in batches (as a
 * Message pod sends what one consumer batch delivers) and the bare server, so that every ratio
 * compares figures of the same minute; the figures are medians over the repetitions.
 */
export async function pushScenario(o: {
  clients: number;
  frames: number;
  reps: number;
  progress: (l: string) => void;
  cpuProfDir?: string;
}): Promise<ScenarioResult> {
  const procs: ServiceProcess[] = [];
  const children: ChildProcess[] = [];
  const fake = await startFakeMessage();
  try {
    const profile = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, 'push-connect')}`] : [];
    const connect = await startConnectProcess(
      `127.0.0.1:${fake.port}`,
      { CONNECT_HANDSHAKE_RATE: '100000', CONNECT_HANDSHAKE_BURST: '100000' },
      procs,
      profile,
    );
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    const users = Array.from({ length: o.clients }, (_, i) => `push-${i}`);
    const receiver = fork(RECEIVER, [], { execArgv: ['--import', 'tsx'] });
    children.push(receiver);
    await ask(receiver, { urls: users.map((u) => `${connect.url}?user=${u}`) }, 'ready');
    await eventually('presence announced', () => fake.online() === o.clients, 30_000);

    const bare = fork(BARE, [], { execArgv: ['--import', 'tsx'] });
    children.push(bare);
    const port = await new Promise<number>((resolve) => bare.once('message', (m: { port: number }) => resolve(m.port)));
    const bareReceiver = fork(RECEIVER, [], { execArgv: ['--import', 'tsx'] });
    children.push(bareReceiver);
    await ask(bareReceiver, { urls: users.map(() => `ws://127.0.0.1:${port}/ws`) }, 'ready');
    const frame = JSON.stringify({
      type: 'message',
      msgId: 'bench-0',
      conversation: 'dm:bench:all',
      seq: 1,
      from: 'bench',
      to: 'all',
      body: 'push number 0 of the gateway push benchmark',
      ts: Date.now(),
      id: 'c0',
    });
    const frames = Array.from({ length: o.frames }, () => frame);

    const total = o.clients * o.frames;
    const runs = {
      single: () => measure(receiver, total, () => fake.push(users, o.frames)),
      batched: () => measure(receiver, total, () => fake.push(users, o.frames, { batched: true })),
      bare: () => measure(bareReceiver, total, () => bare.send({ frames })),
    };
    const figures = { single: [] as number[], batched: [] as number[], bare: [] as number[] };
    o.progress(`push: warm-up, ${o.clients} clients × ${o.frames} frames`);
    for (const run of Object.values(runs)) await run();
    for (let rep = 1; rep <= o.reps; rep++) {
      for (const [kind, run] of Object.entries(runs) as Array<[keyof typeof runs, () => Promise<number>]>) {
        o.progress(`push: repetition ${rep}/${o.reps}, ${kind}, ${o.clients} clients × ${o.frames} frames`);
        figures[kind].push(await run());
      }
    }
    const ratio = (kind: 'single' | 'batched') => spread(figures[kind].map((v, i) => v / figures.bare[i]!));
    const rounded = (xs: number[]) => formatSpread(spread(xs.map(Math.round)));
    return {
      name: 'Gateway push',
      description:
        "A Message pod (a stand-in that only pushes) pushes messages for N connected users over its stream; Connect writes each as a `message` frame to the users' sockets, with one push per stream message and with the pushes in batches (how a Message pod sends what one consumer batch delivers). Baseline: a bare `ws` server writing the same frames to the same number of sockets in one loop. Receivers run in other processes. The three are measured one after the other in each repetition; medians [range] over the repetitions, each ratio from figures of the same repetition.",
      settings: { clients: o.clients, framesPerClient: o.frames, repetitions: o.reps },
      figures: {
        'switchboard, one push per stream message: frames delivered / s': rounded(figures.single),
        'switchboard, pushes in batches: frames delivered / s': rounded(figures.batched),
        'bare ws: frames delivered / s': rounded(figures.bare),
        'gateway push / bare ws, one push per stream message: per repetition': formatSpread(ratio('single'), 2),
        'gateway push / bare ws, pushes in batches: per repetition': formatSpread(ratio('batched'), 2),
      },
      ratios: {
        'gateway push / bare ws (one push per stream message)': ratio('single').median,
        'gateway push / bare ws (pushes in batches)': ratio('batched').median,
      },
      notes: [],
    };
  } finally {
    for (const c of children) c.kill();
    // A profile is written when the process exits by itself: stop it gracefully first.
    if (o.cpuProfDir) await stopGracefully(procs);
    await killAll(procs);
    await fake.stop();
  }
}
