import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, stopGracefully, type ServiceProcess } from '../../test/support/processes.js';
import { startFakeMessage } from '../../test/support/fake-message.js';
import type { ScenarioResult } from '../lib/report.js';
import { nowMs } from '../lib/stats.js';

const RECEIVER = fileURLToPath(new URL('../lib/push-receiver.ts', import.meta.url));
const BARE = fileURLToPath(new URL('../lib/bare-ws-server.ts', import.meta.url));

function ask<T>(child: ChildProcess, msg: object, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const on = (m: Record<string, unknown>) => {
      if (m.error) reject(new Error(String(m.error)));
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

/** Scenario 2: Message pushes to N connected clients through Connect vs a bare ws server writing the same frames. */
export async function pushScenario(o: { clients: number; frames: number; progress: (l: string) => void; cpuProfDir?: string }): Promise<ScenarioResult> {
  const procs: ServiceProcess[] = [];
  const children: ChildProcess[] = [];
  const fake = await startFakeMessage();
  try {
    const profile = o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, 'push-connect')}`] : [];
    const connect = await startConnectProcess(`127.0.0.1:${fake.port}`, { CONNECT_HANDSHAKE_RATE: '100000', CONNECT_HANDSHAKE_BURST: '100000' }, procs, profile);
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    const users = Array.from({ length: o.clients }, (_, i) => `push-${i}`);
    const receiver = fork(RECEIVER, [], { execArgv: ['--import', 'tsx'] });
    children.push(receiver);
    await ask(receiver, { urls: users.map((u) => `${connect.url}?user=${u}`) }, 'ready');
    await eventually('presence announced', () => fake.online() === o.clients, 30_000);
    const total = o.clients * o.frames;
    o.progress(`push: switchboard, ${o.clients} clients × ${o.frames} frames`);
    await measure(receiver, total, () => fake.push(users, o.frames)); // warm-up
    const sb = await measure(receiver, total, () => fake.push(users, o.frames));

    const bare = fork(BARE, [], { execArgv: ['--import', 'tsx'] });
    children.push(bare);
    const port = await new Promise<number>((resolve) => bare.once('message', (m: { port: number }) => resolve(m.port)));
    const bareReceiver = fork(RECEIVER, [], { execArgv: ['--import', 'tsx'] });
    children.push(bareReceiver);
    await ask(bareReceiver, { urls: users.map(() => `ws://127.0.0.1:${port}/ws`) }, 'ready');
    const frame = JSON.stringify({ type: 'message', msgId: 'bench-0', conversation: 'dm:bench:all', seq: 1, from: 'bench', to: 'all', body: 'push number 0 of the gateway push benchmark', ts: Date.now(), id: 'c0' });
    const frames = Array.from({ length: o.frames }, () => frame);
    o.progress(`push: bare ws, ${o.clients} clients × ${o.frames} frames`);
    await measure(bareReceiver, total, () => bare.send({ frames }));
    const base = await measure(bareReceiver, total, () => bare.send({ frames }));
    return {
      name: 'Gateway push',
      description: 'A Message pod (a stand-in that only pushes) pushes messages for N connected users over its stream; Connect writes each as a `message` frame to the users\' sockets. Baseline: a bare `ws` server writing the same frames to the same number of sockets. Receivers run in another process.',
      settings: { clients: o.clients, framesPerClient: o.frames },
      figures: { 'switchboard: frames delivered / s': Math.round(sb), 'bare ws: frames delivered / s': Math.round(base) },
      ratios: { 'gateway push / bare ws': sb / base },
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
