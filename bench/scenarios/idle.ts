import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import type { ScenarioResult } from '../lib/report.js';

const rssBytes = (pid: number): number => 1024 * Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const HOLDER = fileURLToPath(new URL('../lib/connection-holder.ts', import.meta.url));
const BARE = fileURLToPath(new URL('../lib/bare-ws-server.ts', import.meta.url));

/** Opens `n` idle WebSockets from another process; resolves when all are open. */
async function hold(url: (i: number) => string, n: number, progress: (l: string) => void): Promise<ChildProcess> {
  const child = fork(HOLDER, [], { execArgv: ['--import', 'tsx'] });
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { open?: number; done?: boolean; error?: string }) => {
      if (m.error) reject(new Error(m.error));
      else if (m.done) resolve();
      else if (m.open !== undefined) progress(`idle: ${m.open}/${n} connections open`);
    });
    child.send({ urls: Array.from({ length: n }, (_, i) => url(i)) });
  });
  return child;
}

/** Scenario 3: memory per idle authenticated connection on Connect vs a bare ws server. */
export async function idleScenario(o: { connections: number; progress: (l: string) => void }): Promise<ScenarioResult> {
  // One process holds every client socket (and Connect one server socket each): each needs a descriptor.
  const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(limit) && o.connections + 1000 > limit) {
    throw new Error(`--connections ${o.connections} needs more open files per process than this shell allows (ulimit -n ${limit}); raise the limit or use at most ${limit - 1000}`);
  }
  const procs: ServiceProcess[] = [];
  const holders: ChildProcess[] = [];
  try {
    const message = await startMessageProcess({}, procs);
    const connect = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, { CONNECT_HANDSHAKE_RATE: '100000', CONNECT_HANDSHAKE_BURST: '100000' }, procs);
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    const pid = connect.proc.child.pid!;
    await new Promise((r) => setTimeout(r, 1000));
    const before = rssBytes(pid);
    holders.push(await hold((i) => `${connect.url}?user=idle-${i}`, o.connections, o.progress));
    await new Promise((r) => setTimeout(r, 3000));
    const after = rssBytes(pid);

    const bare = fork(BARE, [], { execArgv: ['--import', 'tsx'] });
    const port = await new Promise<number>((resolve) => bare.once('message', (m: { port: number }) => resolve(m.port)));
    await new Promise((r) => setTimeout(r, 1000));
    const bareBefore = rssBytes(bare.pid!);
    holders.push(await hold(() => `ws://127.0.0.1:${port}/ws`, o.connections, o.progress));
    await new Promise((r) => setTimeout(r, 3000));
    const bareAfter = rssBytes(bare.pid!);
    bare.kill();

    const per = (after - before) / o.connections;
    const barePer = (bareAfter - bareBefore) / o.connections;
    return {
      name: 'Idle connection density',
      description: 'Resident memory added per idle authenticated WebSocket (insecure-dev user ids, presence announced, heartbeats on), measured on the Connect process, against a bare `ws` server holding the same number of sockets.',
      settings: { connections: o.connections },
      figures: {
        'Connect: bytes per idle connection': Math.round(per),
        'bare ws: bytes per idle connection': Math.round(barePer),
        'Connect: connections per GiB (estimate)': Math.floor(2 ** 30 / Math.max(per, 1)),
        'Connect RSS with all connections (MiB)': Math.round(after / 2 ** 20),
      },
      ratios: { 'memory per idle connection, Connect / bare ws': per / barePer },
      notes: ['RSS deltas include garbage not yet collected; run with more --connections for steadier figures.'],
    };
  } finally {
    for (const h of holders) h.kill();
    await killAll(procs);
  }
}
