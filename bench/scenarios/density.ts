import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, eventually, freePort } from '../../test/support/services.js';
import { killAll, metricValue, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { TestClient } from '../../test/support/ws-client.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, nowMs, spread, summarize } from '../lib/stats.js';
import { HeapProbe } from '../lib/heap-probe.js';
import { checkOpenFiles, crowdStatus, openCrowds, type Crowd } from '../lib/crowds.js';
import { coresBetween, cpuSnapshot } from '../lib/cpu.js';

/** Connections opened first and kept, so that what is measured excludes first-use costs (code compiled, caches filled). */
const PRIMER = 200;

export interface DensityOptions {
  connections: number;
  reps: number;
  /** How long the pushes to 1 % of the users run (s). */
  pushSeconds: number;
  progress: (line: string) => void;
}

interface DensityRun {
  liveBytes: number;
  rssBytes: number;
  connectPerSec: number;
  /** Connect's CPU while the connections were opened (cores). */
  openingCores: number;
  loopP99Ms: number;
  push: { p50: number; p99: number; max: number };
  pushes: number;
  missing: number;
  drops: number;
}

/** Event-loop delay p99 since the last scrape (prom-client resets its histogram at each). */
const loopP99 = async (admin: string): Promise<number> => (await metricValue(admin, 'nodejs_eventloop_lag_p99_seconds')) * 1000;

async function once(o: DensityOptions, messageTarget: string, rep: number): Promise<DensityRun> {
  const procs: ServiceProcess[] = [];
  const crowds: Crowd[] = [];
  let probe: HeapProbe | undefined;
  let sender: TestClient | undefined;
  const label = (what: string): string => `density: repetition ${rep}/${o.reps}, ${what}`;
  try {
    const inspector = await freePort();
    const connect = await startConnectProcess(
      messageTarget,
      {
        CONNECT_HANDSHAKE_RATE: '1000000',
        CONNECT_HANDSHAKE_BURST: '1000000',
        CONNECT_MAX_CONNECTIONS: String(o.connections + PRIMER + 100),
        RATE_LIMIT_PER_SECOND: '100000',
        RATE_LIMIT_BURST: '100000',
      },
      procs,
      [`--inspect=127.0.0.1:${inspector}`],
    );
    await eventually('Connect ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    probe = await HeapProbe.open(inspector);
    const tag = `d${rep}`;
    await openCrowds(
      connect.url,
      Array.from({ length: PRIMER }, (_, i) => `${tag}-primer-${i}`),
      crowds,
      () => undefined,
    );
    await sleep(500);
    const before = await probe.live();
    const users = Array.from({ length: o.connections }, (_, i) => `${tag}-${i}`);
    const cpuBefore = cpuSnapshot([connect.proc.child.pid], []);
    const { firstAt, lastAt } = await openCrowds(connect.url, users, crowds, (open) => o.progress(label(`${open}/${o.connections} connections open`)));
    const openingCores = coresBetween(cpuBefore, cpuSnapshot([connect.proc.child.pid], [])).system;
    // Connect announces the new users' presence after the handshakes: let it finish.
    await sleep(1000);
    const after = await probe.live();
    // Held idle (heartbeats on) for 10 s: the event loop's delay meanwhile.
    o.progress(label(`holding ${o.connections} connections`));
    await loopP99(connect.admin);
    await sleep(10_000);
    const loopP99Ms = await loopP99(connect.admin);

    // 1 % of the users each receive one message a second, open-loop (each sent at its intended time).
    const recipients = users.slice(0, Math.max(1, Math.floor(o.connections / 100)));
    sender = await TestClient.connect(connect.url, { user: `${tag}-sender` });
    await Promise.all(crowds.map((c) => c.ask({ cmd: 'arm' }, 'armed')));
    const total = recipients.length * o.pushSeconds;
    const start = nowMs();
    for (let k = 0; k < total; k++) {
      const intended = start + (k * 1000) / recipients.length;
      const wait = intended - nowMs();
      if (wait > 0) await sleep(wait);
      if (k % recipients.length === 0)
        o.progress(label(`pushes to ${recipients.length} users a second: ${Math.round(k / recipients.length)}/${o.pushSeconds} s`));
      sender.send({ type: 'send', id: `p${k}`, to: recipients[k % recipients.length]!, body: String(intended) });
    }
    // Collected once all arrived, or 10 s after the last was sent (a missing push is counted, not waited for).
    const deadline = nowMs() + 10_000;
    while ((await crowdStatus(crowds)).received < total && nowMs() < deadline) await sleep(250);
    const latencies: number[] = [];
    for (const c of crowds) latencies.push(...(await c.ask({ cmd: 'collect' }, 'collected')).latencies);
    const status = await crowdStatus(crowds);
    const s = summarize(latencies);
    return {
      liveBytes: (after.heapUsed + after.external - before.heapUsed - before.external) / o.connections,
      rssBytes: (after.rss - before.rss) / o.connections,
      connectPerSec: (o.connections * 1000) / (lastAt - firstAt),
      openingCores,
      loopP99Ms,
      push: { p50: s.p50, p99: s.p99, max: s.max },
      pushes: total,
      missing: total - latencies.length,
      drops: status.drops,
    };
  } finally {
    sender?.close();
    probe?.close();
    for (const c of crowds) c.stop();
    await killAll(procs);
  }
}

/**
 * Scenario: how many live sockets one Connect process holds while it still delivers. N
 * authenticated WebSockets from load processes (several loopback source addresses past 25,000),
 * then 1 % of the users each receive one message a second. Fresh Connect per repetition; Message
 * on embedded backends, the same for all.
 */
export async function densityScenario(o: DensityOptions): Promise<ScenarioResult> {
  checkOpenFiles(o.connections + PRIMER + 100, 'density');
  const procs: ServiceProcess[] = [];
  const runs: DensityRun[] = [];
  try {
    const message = await startMessageProcess({}, procs);
    for (let rep = 1; rep <= o.reps; rep++) runs.push(await once(o, `127.0.0.1:${message.grpcPort}`, rep));
  } finally {
    await killAll(procs);
  }
  const f = (pick: (r: DensityRun) => number, digits = 0) => formatSpread(spread(runs.map(pick)), digits);
  const live = spread(runs.map((r) => r.liveBytes)).median;
  const p99 = spread(runs.map((r) => r.push.p99)).median;
  const drops = Math.max(...runs.map((r) => r.drops));
  return {
    name: 'Connection density',
    description: `One Connect process holding ${o.connections.toLocaleString('en-US')} authenticated WebSockets (insecure-dev user ids, presence announced, heartbeats on) opened by load processes, on top of ${PRIMER} opened first; then 1 % of the users (${Math.max(1, Math.floor(o.connections / 100))}) each receive one message a second for ${o.pushSeconds} s, sent open-loop by another client through Message (embedded backends). Memory is read through the process's inspector after a full collection; the event-loop delay is Connect's own (prom-client) over 10 s of holding. Fresh Connect per repetition; medians [range].`,
    settings: { connections: o.connections, pushSeconds: o.pushSeconds, repetitions: o.reps },
    figures: {
      'live bytes per connection (target ≤ 4,096), median [range]': f((r) => Math.round(r.liveBytes)),
      'resident bytes per connection, median [range]': f((r) => Math.round(r.rssBytes)),
      'connections accepted per second while opening, median [range]': f((r) => Math.round(r.connectPerSec)),
      "Connect's CPU while opening (cores), median [range]": f((r) => r.openingCores, 2),
      'handshakes per second one core of Connect takes (accepted per second / cores), median [range]': f((r) =>
        Math.round(r.connectPerSec / Math.max(r.openingCores, 0.01)),
      ),
      "event-loop delay p99 while holding (ms; prom-client's, its 10 ms sampling interval included), median [range]": f((r) => r.loopP99Ms, 1),
      'push p50, send to receipt (ms), median [range]': f((r) => r.push.p50, 1),
      'push p99, send to receipt (ms; target ≤ 100), median [range]': f((r) => r.push.p99, 1),
      'push max (ms), median [range]': f((r) => r.push.max, 1),
      'pushes missing, most of the repetitions': Math.max(...runs.map((r) => r.missing)),
      'connections dropped, most of the repetitions (target 0)': drops,
    },
    ratios: {},
    notes: [
      `Targets: live memory ≤ 4 KB per idle connection: ${live <= 4096 ? 'met' : 'missed'} (${Math.round(live)} B); push p99 ≤ 100 ms: ${p99 <= 100 ? 'met' : 'missed'} (${p99} ms); no connection dropped: ${drops === 0 ? 'met' : 'missed'}.`,
    ],
  };
}
