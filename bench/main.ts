/**
 * `npm run bench -- <scenario…> [options]` and `make bench` (the short suite).
 * Scenarios: e2e, push, idle, recovery, group, store, density, storm, fanout, peer, typing, frames, all (= the
 * short suite: all but peer, whose Socket.IO figures e2e measures as well, typing: message
 * delivery p99 with and without a typing storm, --typing-rate N msg/s, --keystrokes N a second per typist,
 * and frames: what edit, delete, read and presence cost against a send, --frame-pairs N senders at once,
 * --frame-rounds N texts each sends, has read and changes per repetition). density, storm and fanout take
 * their size from --density N (connections on one gateway; default 10000, the full size 100000),
 * --storm N (clients of the killed gateway; default 5000, full 50000) and --fanout N (members of a
 * group all online; default 2000, full 10000); --push-seconds S (density's pushes, default 20). Options: --rates 250,500,… --duration S --warmup S --reps N
 * --refine N (bisection steps between the rung sustained and the one missed; default 1)
 * --pairs N --workers N --systems embedded,standalone,kafka-redis,real,real-pg,floor,socketio (default: all
 * but real, FerretDB on SQLite, which FerretDB on PostgreSQL outran, and standalone, the embedded system in one process) --clients N
 * --connections N --sizes 1000,10000 --online N --group-rate N --group-reps N (group: members, online members,
 * messages/s (default 50: at 100 both systems and the receiver took this 2-core machine to 1.94–1.98
 * cores, where p99 measures the scheduler), repetitions, default 3) --out DIR --cpu-prof (e2e, group: Message and Connect write V8 CPU profiles to DIR/profiles; push: Connect) --env NAME=VALUE (e2e: a setting for the Switchboard processes, repeatable) --node-arg=FLAG (e2e: a Node flag for the Node processes of every system under test, Switchboard's after its own, e.g. --node-arg=--no-single-threaded-gc; repeatable). Prints a live progress line and writes report.json, report.md and
 * SVG latency charts to --out (default bench/results/<timestamp>).
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { join, relative } from 'node:path';
import { machine } from './lib/machine.js';
import { toMarkdown, writeReport, type Report, type ScenarioResult } from './lib/report.js';
import { writeResults } from './lib/results.js';
import { DEFAULT_SYSTEMS, e2eScenario, SYSTEMS, type System } from './scenarios/e2e.js';
import { pushScenario } from './scenarios/push.js';
import { idleScenario } from './scenarios/idle.js';
import { recoveryScenario } from './scenarios/recovery.js';
import { peerScenario } from './scenarios/peer.js';
import { groupScenario } from './scenarios/group.js';
import { storeScenario } from './scenarios/store.js';
import { densityScenario } from './scenarios/density.js';
import { stormScenario } from './scenarios/storm.js';
import { typingScenario } from './scenarios/typing.js';
import { framesScenario } from './scenarios/frames.js';
import { stopAllRealBackends } from '../test/support/real-backends.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rates: { type: 'string', default: '100,250,500,1000,2000,4000,8000' },
    duration: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '0.5' },
    reps: { type: 'string', default: '3' },
    refine: { type: 'string', default: '1' },
    'cpu-prof': { type: 'boolean', default: false },
    env: { type: 'string', multiple: true, default: [] },
    'node-arg': { type: 'string', multiple: true, default: [] },
    pairs: { type: 'string', default: '150' },
    workers: { type: 'string', default: '1' },
    systems: { type: 'string', default: DEFAULT_SYSTEMS.join(',') },
    clients: { type: 'string', default: '300' },
    connections: { type: 'string', default: '5000' },
    out: { type: 'string' },
    sizes: { type: 'string', default: '1000,10000' },
    online: { type: 'string', default: '500' },
    'group-rate': { type: 'string', default: '50' },
    'group-reps': { type: 'string', default: '3' },
    density: { type: 'string', default: '10000' },
    storm: { type: 'string', default: '5000' },
    fanout: { type: 'string', default: '2000' },
    'push-seconds': { type: 'string', default: '20' },
    'storm-jitter': { type: 'string' },
    'typing-rate': { type: 'string', default: '500' },
    keystrokes: { type: 'string', default: '5' },
    'frame-pairs': { type: 'string', default: '20' },
    'frame-rounds': { type: 'string', default: '50' },
  },
});
/** Stops with a one-line message (exit 2) instead of a stack trace. */
function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(2);
}
const SHORT_SUITE = ['e2e', 'store', 'push', 'idle', 'recovery', 'group', 'density', 'storm', 'fanout'];
const KNOWN = [...SHORT_SUITE, 'peer', 'typing', 'frames', 'all'];
for (const p of positionals) if (!KNOWN.includes(p)) usage(`unknown scenario "${p}" (${KNOWN.join(', ')})`);
for (const s of values.sizes.split(','))
  if (!(Number.isSafeInteger(Number(s)) && Number(s) >= 2)) usage(`--sizes must be group sizes (≥ 2) separated by commas; got "${values.sizes}"`);
if (values.sizes.split(',').some((s) => Number(s) <= Number(values.online)))
  usage(`--online (${values.online}) must be smaller than every group size (--sizes ${values.sizes})`);
for (const name of [
  'duration',
  'warmup',
  'reps',
  'pairs',
  'workers',
  'clients',
  'connections',
  'online',
  'group-rate',
  'group-reps',
  'density',
  'storm',
  'fanout',
  'push-seconds',
  'frame-pairs',
  'frame-rounds',
] as const) {
  const v = Number(values[name]);
  if (!Number.isFinite(v) || v <= 0) usage(`--${name} must be a positive number; got "${values[name]}"`);
}
for (const a of values['node-arg']) if (!/^--[a-z][a-z0-9-]*(=\S+)?$/.test(a)) usage(`--node-arg takes one Node flag, --name or --name=value; got "${a}"`);
if (!(Number.isSafeInteger(Number(values.refine)) && Number(values.refine) >= 0))
  usage(`--refine must be a whole number of steps (0: none); got "${values.refine}"`);
for (const r of values.rates.split(',')) if (!(Number(r) > 0)) usage(`--rates must be positive numbers separated by commas; got "${values.rates}"`);
for (const b of values.systems.split(',')) if (!(SYSTEMS as readonly string[]).includes(b)) usage(`--systems takes ${SYSTEMS.join(', ')}; got "${b}"`);

/** --env NAME=VALUE (repeatable): settings for the Switchboard processes of e2e, on top of each variant's. */
function serviceEnv(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(p);
    if (!m) usage(`--env takes NAME=VALUE (a setting of docs/CONFIGURATION.md); got "${p}"`);
    out[m[1]!] = m[2]!;
  }
  return out;
}

const scenarios = positionals.length === 0 || positionals.includes('all') ? SHORT_SUITE : positionals;
const started = new Date();
const out = values.out ?? fileURLToPath(new URL(`./results/${started.toISOString().replace(/[:.]/g, '-')}`, import.meta.url));
const progress = (line: string): void => void process.stderr.write(`\r\x1b[2K[bench] ${line}`);
const say = (line: string): void => void process.stderr.write(`\r\x1b[2K[bench] ${line}\n`);

const results: ScenarioResult[] = [];
try {
  for (const s of scenarios) {
    say(`scenario ${s}…`);
    const t0 = Date.now();
    if (s === 'e2e') {
      results.push(
        await e2eScenario({
          rates: values.rates.split(',').map(Number),
          durationMs: Number(values.duration) * 1000,
          warmupMs: Number(values.warmup) * 1000,
          pairs: Number(values.pairs),
          workers: Number(values.workers),
          systems: values.systems.split(',') as System[],
          reps: Math.round(Number(values.reps)),
          refine: Number(values.refine),
          cpuProfDir: values['cpu-prof'] ? join(out, 'profiles') : undefined,
          serviceEnv: serviceEnv(values.env),
          nodeArgs: values['node-arg'],
          progress,
        }),
      );
    } else if (s === 'push')
      results.push(
        await pushScenario({
          clients: Number(values.clients),
          frames: 200,
          reps: Math.round(Number(values.reps)),
          progress,
          cpuProfDir: values['cpu-prof'] ? join(out, 'profiles') : undefined,
        }),
      );
    else if (s === 'idle') results.push(await idleScenario({ connections: Number(values.connections), reps: Math.round(Number(values.reps)), progress }));
    else if (s === 'recovery') results.push(await recoveryScenario({ progress }));
    else if (s === 'group') {
      results.push(
        await groupScenario({
          sizes: values.sizes.split(',').map(Number),
          online: Number(values.online),
          rate: Number(values['group-rate']),
          durationMs: Number(values.duration) * 1000,
          warmupMs: Number(values.warmup) * 1000,
          reps: Math.round(Number(values['group-reps'])),
          cpuProfDir: values['cpu-prof'] ? join(out, 'profiles') : undefined,
          progress,
        }),
      );
    } else if (s === 'store') {
      // The stand-ins e2e measures: FerretDB on PostgreSQL, and on SQLite when e2e was asked for it.
      const storages = values.systems.split(',').includes('real') ? (['postgresql', 'sqlite'] as const) : (['postgresql'] as const);
      // 2 s per shape at most: enough writes for a steady rate, and the suite stays under 10 minutes.
      results.push(
        await storeScenario({
          storages: [...storages],
          reps: Math.round(Number(values.reps)),
          durationMs: Math.min(2, Number(values.duration)) * 1000,
          progress,
        }),
      );
    } else if (s === 'density') {
      results.push(
        await densityScenario({
          connections: Number(values.density),
          reps: Math.round(Number(values.reps)),
          pushSeconds: Number(values['push-seconds']),
          progress,
        }),
      );
    } else if (s === 'storm') {
      results.push(
        await stormScenario({
          connections: Number(values.storm),
          reps: Math.round(Number(values.reps)),
          ...(values['storm-jitter'] ? { jitter: Number(values['storm-jitter']) } : {}),
          gatewayEnv: serviceEnv(values.env),
          progress,
        }),
      );
    } else if (s === 'fanout') {
      // Every member online on one gateway (the creator sends), 10 messages a second: members × 10 deliveries a second.
      const members = Number(values.fanout);
      const result = await groupScenario({
        sizes: [members],
        online: members - 1,
        rate: 10,
        durationMs: Math.max(5, Number(values.duration)) * 1000,
        warmupMs: Math.max(1, Number(values.warmup)) * 1000,
        reps: Math.round(Number(values.reps)),
        cpuProfDir: values['cpu-prof'] ? join(out, 'profiles') : undefined,
        progress,
      });
      results.push({ ...result, name: 'Fan-out to a group all online' });
    } else if (s === 'typing') {
      results.push(
        await typingScenario({
          rate: Number(values['typing-rate']),
          pairs: Number(values.pairs),
          keystrokesPerSec: Number(values.keystrokes),
          durationMs: Math.max(5, Number(values.duration)) * 1000,
          warmupMs: Math.max(1, Number(values.warmup)) * 1000,
          reps: Math.round(Number(values.reps)),
          progress,
        }),
      );
    } else if (s === 'frames') {
      results.push(
        await framesScenario({
          pairs: Number(values['frame-pairs']),
          rounds: Number(values['frame-rounds']),
          reps: Math.round(Number(values.reps)),
          progress,
        }),
      );
    } else if (s === 'peer') {
      results.push(
        await peerScenario({
          rates: values.rates.split(',').map(Number),
          durationMs: Number(values.duration) * 1000,
          warmupMs: Number(values.warmup) * 1000,
          pairs: Number(values.pairs),
          progress,
        }),
      );
    }
    const seconds = Math.round((Date.now() - t0) / 1000);
    results[results.length - 1]!.seconds = seconds;
    say(`scenario ${s} done in ${seconds} s`);
  }
} catch (err: unknown) {
  say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
} finally {
  await stopAllRealBackends();
}
if (process.exitCode === 1) process.exit(1);
const report: Report = {
  startedAt: started.toISOString(),
  durationSec: Math.round((Date.now() - started.getTime()) / 1000),
  machine: machine(),
  scenarios: results,
};
const files = writeReport(out, report);
// A full run (make bench) is the latest measurement: bench/RESULTS.md and the README's table say so.
if (positionals.length === 0 || positionals.includes('all'))
  files.push(...writeResults(fileURLToPath(new URL('..', import.meta.url)), report, relative(fileURLToPath(new URL('..', import.meta.url)), out)));
process.stdout.write(`\n${toMarkdown(report)}\nwrote ${files.join(', ')}\n`);
process.exit(0);
