import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { getJson, eventually, freePort } from '../../test/support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, spread } from '../lib/stats.js';
import { HeapProbe } from '../lib/heap-probe.js';

const HOLDER = fileURLToPath(new URL('../lib/connection-holder.ts', import.meta.url));
const BARE = fileURLToPath(new URL('../lib/bare-ws-server.ts', import.meta.url));

/** Connections opened, and left open, before the first reading (see measure). */
const PRIMER = 200;

/** Opens `n` idle WebSockets from another process; resolves when all are open. */
async function hold(url: (i: number) => string, n: number, progress: (l: string) => void, label: string): Promise<ChildProcess> {
  const child = fork(HOLDER, [], { execArgv: ['--import', 'tsx'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.on('message', (m: { open?: number; done?: boolean; error?: string }) => {
        if (m.error) reject(new Error(m.error));
        else if (m.done) resolve();
        else if (m.open !== undefined) progress(`${label}: ${m.open}/${n} connections open`);
      });
      child.once('exit', (code) => reject(new Error(`the connection holder exited (${code}) before its connections were open`)));
      child.send({ urls: Array.from({ length: n }, (_, i) => url(i)) });
    });
  } catch (err: unknown) {
    // Not yet among the caller's holders: it would outlive the scenario.
    child.kill();
    throw err;
  }
  return child;
}

interface PerConnection {
  /** Live memory (the V8 heap's live objects and external memory) after a full collection. */
  live: number;
  /** Resident memory, read right after that collection. */
  rss: number;
}

/**
 * What a server process holds per idle connection: PRIMER connections are opened first and kept
 * (what the first connections cost once: code compiled, caches filled), then `n` more; the figure
 * is what those `n` add, each side read after a full collection, so that it is what the process
 * retains. RSS read without one swung the figure by a factor of 10 between runs (a bare ws server:
 * 0.7–8.7 KB per connection), with when the process had last collected and how far its young
 * generation had grown.
 */
async function measure(
  probe: HeapProbe,
  url: (i: number) => string,
  n: number,
  holders: ChildProcess[],
  progress: (l: string) => void,
  label: string,
): Promise<PerConnection> {
  holders.push(await hold((i) => url(n + i), PRIMER, progress, `${label}, primer`));
  await sleep(500);
  const before = await probe.live();
  holders.push(await hold(url, n, progress, label));
  // Connect announces the new users' presence after the handshakes: let it finish.
  await sleep(500);
  const after = await probe.live();
  return { live: (after.heapUsed + after.external - before.heapUsed - before.external) / n, rss: (after.rss - before.rss) / n };
}

/** Scenario 3: memory per idle authenticated connection on Connect vs a bare ws server, over repetitions. */
export async function idleScenario(o: { connections: number; reps: number; progress: (l: string) => void }): Promise<ScenarioResult> {
  // One process holds each batch of client sockets (and the server one socket each): each needs a descriptor.
  const limit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (Number.isFinite(limit) && o.connections + PRIMER + 1000 > limit) {
    throw new Error(
      `--connections ${o.connections} needs more open files per process than this shell allows (ulimit -n ${limit}); raise the limit or use at most ${limit - PRIMER - 1000}`,
    );
  }
  const procs: ServiceProcess[] = [];
  const children: ChildProcess[] = [];
  const connect: PerConnection[] = [];
  const bare: PerConnection[] = [];
  try {
    // Message is not measured: one for every repetition; each repetition gets a fresh Connect and a fresh bare server.
    const message = await startMessageProcess({}, procs);
    for (let rep = 1; rep <= o.reps; rep++) {
      const label = (what: string) => `idle: repetition ${rep}/${o.reps}, ${what}`;
      const repProcs: ServiceProcess[] = [];
      const holders: ChildProcess[] = [];
      const probes: HeapProbe[] = [];
      try {
        const connectInspector = await freePort();
        const gateway = await startConnectProcess(
          `127.0.0.1:${message.grpcPort}`,
          { CONNECT_HANDSHAKE_RATE: '100000', CONNECT_HANDSHAKE_BURST: '100000' },
          repProcs,
          [`--inspect=127.0.0.1:${connectInspector}`],
        );
        await eventually('ready', async () => (await getJson(`${gateway.admin}/readyz`)).status === 200, 30_000);
        const bareInspector = await freePort();
        const server = fork(BARE, [], { execArgv: [`--inspect=127.0.0.1:${bareInspector}`, '--import', 'tsx'] });
        children.push(server);
        const port = await new Promise<number>((resolve) => server.once('message', (m: { port: number }) => resolve(m.port)));
        const connectProbe = await HeapProbe.open(connectInspector);
        probes.push(connectProbe);
        const bareProbe = await HeapProbe.open(bareInspector);
        probes.push(bareProbe);
        // Both servers are up together and measured one after the other, in an order that alternates.
        const runs = [
          async () => connect.push(await measure(connectProbe, (i) => `${gateway.url}?user=idle-${i}`, o.connections, holders, o.progress, label('Connect'))),
          async () => bare.push(await measure(bareProbe, () => `ws://127.0.0.1:${port}/ws`, o.connections, holders, o.progress, label('bare ws'))),
        ];
        for (const run of rep % 2 === 1 ? runs : runs.reverse()) await run();
        server.kill();
      } finally {
        for (const p of probes) p.close();
        for (const h of holders) h.kill();
        await killAll(repProcs);
      }
    }
    const bytes = (xs: PerConnection[], k: keyof PerConnection) => formatSpread(spread(xs.map((x) => Math.round(x[k]))));
    const ratio = (k: keyof PerConnection) => spread(connect.map((c, i) => c[k] / bare[i]![k]));
    return {
      name: 'Idle connection density',
      description: `Memory added per idle authenticated WebSocket (insecure-dev user ids, presence announced, heartbeats on) on the Connect process, against a bare \`ws\` server holding the same number of sockets: what ${o.connections.toLocaleString('en-US')} connections add to a process that already holds ${PRIMER.toLocaleString('en-US')}, each side read through the process's inspector after a full collection. Live memory is the V8 heap's live objects plus external memory (Buffers, ArrayBuffers); resident memory is read right after the same collection. Fresh processes in each repetition, both servers up together and measured in an order that alternates; medians [range], each ratio from figures of the same repetition.`,
      settings: { connections: o.connections, primer: PRIMER, repetitions: o.reps },
      figures: {
        'Connect: live bytes per idle connection': bytes(connect, 'live'),
        'bare ws: live bytes per idle connection': bytes(bare, 'live'),
        'live memory per idle connection, Connect / bare ws: per repetition': formatSpread(ratio('live'), 2),
        'Connect: resident bytes per idle connection': bytes(connect, 'rss'),
        'bare ws: resident bytes per idle connection': bytes(bare, 'rss'),
        'resident memory per idle connection, Connect / bare ws: per repetition': formatSpread(ratio('rss'), 2),
        'Connect: connections per GiB of live memory (estimate, median)': Math.floor(2 ** 30 / Math.max(spread(connect.map((c) => c.live)).median, 1)),
      },
      ratios: { 'live memory per idle connection, Connect / bare ws': ratio('live').median },
      notes: [],
    };
  } finally {
    for (const c of children) c.kill();
    await killAll(procs);
  }
}
