import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { getJson, eventually } from '../../test/support/services.js';
import {
  killAll,
  stopGracefully,
  metricIn,
  startConnectProcess,
  startMessageProcess,
  spawnService,
  LOOPBACK,
  type ServiceProcess,
} from '../../test/support/processes.js';
import { ferretOn, isolatedBackendSettings, sharedRealBackends } from '../../test/support/real-backends.js';
import { proxied } from '../../test/support/tcp-proxy.js';
import { LoadGenerator } from '../lib/load.js';
import type { ScenarioResult, Step } from '../lib/report.js';
import { startSocketIoPeer } from '../lib/socketio-peer.js';
import { formatSpread, spread, summarize } from '../lib/stats.js';
import { bucketsIn, quantileBetween } from '../lib/histogram.js';
import type { FloorCommand, FloorReply, FloorVia } from '../lib/kafka-floor-worker.js';

/**
 * embedded: all in-process (a Message and a Connect process); standalone: the same in one process,
 * as `npm start` runs it; kafka-redis: real Kafka and Redis with the in-process store (isolates
 * the MongoDB stand-in); real: Kafka, FerretDB on SQLite, Redis; real-pg: the same with FerretDB on
 * PostgreSQL; floor: a bare kafkajs produce → consume round trip on the same broker; socketio: the
 * peer, two Socket.IO processes joined by the Redis Streams adapter.
 */
export const SYSTEMS = ['embedded', 'standalone', 'kafka-redis', 'real', 'real-pg', 'real-pg-slow', 'floor', 'socketio'] as const;
export type System = (typeof SYSTEMS)[number];
/**
 * What `make bench` measures: every variant but FerretDB on SQLite, which FerretDB on PostgreSQL
 * outran (bench/RESULTS.md; `--systems real,real-pg` compares the two), and the one-process embedded system
 * (`--systems embedded,standalone,socketio`).
 */
export const DEFAULT_SYSTEMS: readonly System[] = SYSTEMS.filter((s) => s !== 'real' && s !== 'standalone');
/** The Switchboard variants on Kafka, whose send → `accepted` is compared with the floor's produce. */
const ON_KAFKA = ['kafka-redis', 'real', 'real-pg', 'real-pg-slow'] as const;
/**
 * Measured side by side (pairedLadder), step by step at the same rates: the peer and the embedded
 * variants held to its rate at p99 ≤ 20 ms, whose comparison a burst of steal in one system's
 * minutes and not the other's decided when each ran its ladder on its own.
 */
const SIDE_BY_SIDE: ReadonlyArray<readonly System[]> = [
  ['embedded', 'standalone', 'socketio'],
  // The store made slow on purpose against the same store unslowed: pushes must not wait for it.
  ['real-pg', 'real-pg-slow'],
];
/** What the slow store adds to every reply of FerretDB in the real-pg-slow variant (a TCP proxy). */
export const SLOW_STORE_MS = 200;
/** The variants whose backends are all in-process (no broker, no store server). */
const inProcess = (sys: System): boolean => sys === 'embedded' || sys === 'standalone';

const LABEL: Record<System, string> = {
  embedded: 'switchboard (embedded)',
  standalone: 'switchboard (embedded, one process: npm start)',
  'kafka-redis': 'switchboard (Kafka + Redis, in-process store)',
  real: 'switchboard (Kafka + FerretDB/SQLite + Redis)',
  'real-pg': 'switchboard (Kafka + FerretDB/PostgreSQL + Redis)',
  'real-pg-slow': `switchboard (Kafka + FerretDB/PostgreSQL slowed by ${SLOW_STORE_MS} ms a reply + Redis)`,
  floor: 'bare kafkajs produce → consume',
  socketio: 'socket.io + redis streams adapter',
};

/**
 * Where the first repetition's ladder starts: a system known to hold 1,000 msg/s here starts a
 * rung below (a cold consumer group is not thrown into its best rate), the real-backend variants
 * (400–1,000 msg/s here) two rungs below that; a first step that misses goes down the ladder.
 */
const FIRST_RUNG: Record<System, number> = {
  embedded: 500,
  standalone: 500,
  'kafka-redis': 500,
  real: 250,
  'real-pg': 250,
  'real-pg-slow': 250,
  floor: 500,
  socketio: 500,
};

export interface E2eOptions {
  rates: number[];
  durationMs: number;
  warmupMs: number;
  pairs: number;
  workers: number;
  systems: System[];
  reps: number;
  /** Bisection steps after each repetition's ladder, between the rung it sustained and the one it missed. */
  refine: number;
  /** When set, Message and Connect run with --cpu-prof and write their profiles under this folder. */
  cpuProfDir?: string;
  /** Settings given to the Switchboard processes on top of the variant's (tuning experiments). */
  serviceEnv?: Record<string, string>;
  /** Node flags for every Node process of the systems under test, Switchboard's and the peer's, after their own. */
  nodeArgs?: string[];
  progress: (line: string) => void;
}

/** The bar a step must pass to count as sustained. */
const passes = (s: Step): boolean => s.latency.p99 <= 100 && s.lost === 0;
/** The embedded target's own bar: the peer's rate at p99 ≤ 20 ms. */
const TIGHT_P99_MS = 20;
const passesTight = (s: Step): boolean => s.latency.p99 <= TIGHT_P99_MS && s.lost === 0;
/** The bars bisected for: the embedded variant and the peer are compared at the tight one too. */
const barsOf = (sys: System): Array<(s: Step) => boolean> => (inProcess(sys) || sys === 'socketio' ? [passes, passesTight] : [passes]);
/**
 * Each repetition's fresh processes warm up before the ladder (not recorded), at the rate of its
 * first step, in slices of WARMUP_SLICE_MS, until the CPU their processes spend per message stops
 * falling (a slice within WARMUP_SETTLED of the one before) or WARMUP_MAX_SLICES have run: the
 * JIT, the heap and the pools settle at the load they are first measured at. At the ladder's
 * lowest rate for a fixed 2.5 s instead (100 msg/s, 250 messages), a later repetition's first step
 * at 1,000 msg/s was the worst step of its ladder on Kafka + Redis in both runs that showed it
 * (Message at 0.79–0.85 of a core against 0.58–0.66 at 2,000 msg/s a few steps later); and
 * Message on FerretDB spends 0.63–0.80 of a core at 250 msg/s in its first 5–10 s of load and
 * 0.25–0.48 after 20–40 s.
 */
const WARMUP_SLICE_MS = 1250;
/** The first slice's unrecorded lead-in (the load generator's connections get going). */
const WARMUP_LEAD_IN_MS = 500;
const WARMUP_MAX_SLICES = 12;
const WARMUP_SETTLED = 0.9;

/**
 * Whether a warm-up has run long enough, given the CPU milliseconds per message of its slices so
 * far: at least two slices, and the last one no longer below WARMUP_SETTLED of the one before
 * (or the most slices allowed).
 */
export function warmedUp(cpuMsPerMessage: readonly number[], maxSlices = WARMUP_MAX_SLICES): boolean {
  const n = cpuMsPerMessage.length;
  if (n >= maxSlices) return true;
  // A slice with no figure (NaN: nothing delivered) is never settled, nor the one after it.
  return n >= 2 && cpuMsPerMessage[n - 1]! >= cpuMsPerMessage[n - 2]! * WARMUP_SETTLED;
}

/**
 * Runs the warm-up slices of a repetition's fresh processes and records how it went as a figure:
 * its seconds and the CPU ms per message of each slice.
 */
async function warmUp(
  load: LoadGenerator,
  label: string,
  tag: string,
  rep: number,
  rate: number,
  o: E2eOptions,
  pids: number[],
  figures: Record<string, number | string>,
): Promise<void> {
  const trail: number[] = [];
  while (!warmedUp(trail)) {
    const slice = await load.step(label, `${tag}-warm${trail.length}`, rate, WARMUP_SLICE_MS, trail.length === 0 ? WARMUP_LEAD_IN_MS : 0, o.progress, pids);
    trail.push(slice.cpuMsPerMessage ?? NaN);
  }
  figures[`${label}: warm-up, rep ${rep}, at ${rate} msg/s: seconds; CPU ms per message of each slice`] =
    `${((WARMUP_LEAD_IN_MS + trail.length * WARMUP_SLICE_MS) / 1000).toFixed(2)}; ${trail.map((v) => (Number.isFinite(v) ? v.toFixed(2) : '—')).join(', ')}`;
}
/** The Kafka broker's warm-up before the first repetition (not recorded). */
const BROKER_WARMUP_MS = 8000;
/** The rate at which CPU per message is compared (same workload for every system). */
const CPU_RATE = 1000;
/** The rate at which store operations per message are held to their target. */
const STORE_OPS_RATE = 2000;

/**
 * Offers rates of the ladder from `start` upwards until a step misses the bar; when the first
 * step already misses it, goes downwards until one passes. So the first repetition climbs from
 * the bottom and later ones start just below the rate the first one sustained. Then, for each of
 * `bars` (the sustained bar first), `refine` bisection steps between the highest rate that passed
 * it and the lowest above that missed it (rounded to 50 msg/s; none when they are within 30 % of
 * each other), so a doubling ladder can still tell 3,000 from 2,000 or 4,000 at every bar a
 * target is set at.
 */
export async function ladder(
  rates: number[],
  start: number,
  run: (rate: number) => Promise<Step>,
  refine = 0,
  bars: ReadonlyArray<(s: Step) => boolean> = [passes],
): Promise<Step[]> {
  return (await pairedLadder(rates, start, [run], refine, bars))[0]!;
}

/**
 * The ladder of several systems measured side by side: every rate offered runs each system's
 * step, back to back, in an order that alternates from rate to rate, so that whatever else the
 * machine does meanwhile (another tenant's steal comes in bursts of a minute or so) meets them
 * alike and their comparison at each rate is a pair. Climbs from `start` while any of them passes
 * the bar, and descends from it until each has passed it somewhere; then bisects for each system
 * and bar as `ladder` does, each bisection step run by every system for which some bar is
 * undecided at its rate (the others passed it below that rate and missed it above, or the reverse,
 * and their step there would only cost time). Returns each system's steps, in the order of `runs`.
 */
export async function pairedLadder(
  rates: number[],
  start: number,
  runs: ReadonlyArray<(rate: number) => Promise<Step>>,
  refine = 0,
  bars: ReadonlyArray<(s: Step) => boolean> = [passes],
): Promise<Step[][]> {
  const steps: Step[][] = runs.map(() => []);
  let reversed = false;
  const runAll = async (rate: number, who: (i: number) => boolean = () => true): Promise<Step[]> => {
    const order = runs.map((_, i) => i).filter(who);
    if (reversed) order.reverse();
    reversed = !reversed;
    const got: Step[] = [];
    for (const i of order) steps[i]!.push((got[i] = await runs[i]!(rate)));
    return got;
  };
  /** The rates between which a system's steps leave `bar` undecided: the highest that passed it, the lowest above that which missed it. */
  const bracket = (own: Step[], bar: (s: Step) => boolean): [number, number] => {
    const lo = Math.max(0, ...own.filter(bar).map((s) => s.offeredPerSec));
    return [lo, Math.min(...own.filter((s) => !bar(s) && s.offeredPerSec > lo).map((s) => s.offeredPerSec))];
  };
  const first = await runAll(rates[start]!);
  if (first.some(passes)) {
    for (let i = start + 1; i < rates.length; i++) if (!(await runAll(rates[i]!)).some(passes)) break;
  }
  if (!first.every(passes)) {
    for (let i = start - 1; i >= 0; i--) {
      await runAll(rates[i]!);
      if (steps.every((own) => own.some(passes))) break;
    }
  }
  for (const bar of bars) {
    for (const own of steps) {
      for (let k = 0; k < refine; k++) {
        const [lo, hi] = bracket(own, bar);
        if (lo === 0 || !Number.isFinite(hi) || hi / lo <= 1.3) break;
        const mid = Math.round((lo + hi) / 2 / 50) * 50;
        if (mid <= lo || mid >= hi) break;
        // Run by every system it tells something: those for which some bar is undecided there.
        await runAll(mid, (i) =>
          bars.some((b) => {
            const [l, h] = bracket(steps[i]!, b);
            return l < mid && mid < h;
          }),
        );
      }
    }
  }
  return steps;
}

/** Fresh processes of a Switchboard variant (added to `procs`), ready, with the load generator connected. */
async function startSwitchboard(
  sys: Exclude<System, 'floor' | 'socketio'>,
  o: E2eOptions,
  procs: ServiceProcess[],
  nodeArgsOf: (service: string) => string[] = () => [],
  onClose: Array<() => Promise<void>> = [],
) {
  const { message, connect } =
    sys === 'standalone' ? await startStandalone(o, procs, nodeArgsOf) : await startMessageAndConnect(sys, o, procs, nodeArgsOf, onClose);
  await eventually('gateway ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
  const pids = procs.map((p) => p.child.pid!);
  const load = await LoadGenerator.start(connect.url, o.pairs, o.workers, `${sys}-${randomBytes(2).toString('hex')}`);
  return { message, connect, pids, load };
}

/** A Message and a Connect process on the variant's backends, the shape of a deployment. */
async function startMessageAndConnect(
  sys: Exclude<System, 'floor' | 'socketio' | 'standalone'>,
  o: E2eOptions,
  procs: ServiceProcess[],
  nodeArgsOf: (service: string) => string[],
  onClose: Array<() => Promise<void>>,
) {
  let settings: Record<string, string> = {};
  if (sys !== 'embedded') {
    const real = isolatedBackendSettings(await sharedRealBackends());
    if (sys === 'kafka-redis') settings = Object.fromEntries(Object.entries(real).filter(([k]) => !k.startsWith('MONGODB_')));
    else {
      let uri = (await ferretOn(sys === 'real' ? 'sqlite' : 'postgresql')).mongodbUri;
      if (sys === 'real-pg-slow') {
        const slow = await proxied(uri);
        slow.proxy.delayMs = SLOW_STORE_MS;
        onClose.push(() => slow.proxy.stop());
        uri = slow.uri;
      }
      settings = { ...real, MONGODB_URI: uri };
    }
  }
  const message = await startMessageProcess({ ...settings, ...o.serviceEnv }, procs, nodeArgsOf('message'));
  const connect = await startConnectProcess(
    `127.0.0.1:${message.grpcPort}`,
    { CONNECT_MAX_CONNECTIONS_PER_USER: '4', ...o.serviceEnv },
    procs,
    nodeArgsOf('connect'),
  );
  return { message, connect };
}

/**
 * The whole system in one process on embedded backends, as `npm start` runs it (its Connect still
 * reaches its Message over loopback gRPC).
 */
async function startStandalone(o: E2eOptions, procs: ServiceProcess[], nodeArgsOf: (service: string) => string[]) {
  const proc = spawnService(
    'standalone',
    {
      ...LOOPBACK,
      MESSAGE_GRPC_PORT: '0',
      MESSAGE_HTTP_PORT: '0',
      CONNECT_WS_PORT: '0',
      CONNECT_ADMIN_PORT: '0',
      CONNECT_DEMO_PAGE: 'false',
      CONNECT_DRAIN_WINDOW: '0',
      CONNECT_MAX_CONNECTIONS_PER_USER: '4',
      ...o.serviceEnv,
    },
    nodeArgsOf('standalone'),
  );
  procs.push(proc);
  const m = await proc.waitForLog('message service started');
  const c = await proc.waitForLog('connect service started');
  return {
    message: { proc, admin: `http://127.0.0.1:${String(m.httpPort)}`, grpcPort: Number(m.grpcPort) },
    connect: { proc, url: `ws://127.0.0.1:${String(c.wsPort)}/ws`, admin: `http://127.0.0.1:${String(c.adminPort)}` },
  };
}

/** A system's fresh processes and load generator for one repetition, ready to warm up and to run steps. */
interface Runner {
  /** The warm-up before its first step (not recorded; its figure is). */
  warm(rate: number): Promise<void>;
  step(rate: number): Promise<Step>;
  /** Stops the load generator and the processes (recording what is read at the end). */
  close(): Promise<void>;
}

/** One repetition's fresh Message and Connect processes of a Switchboard variant. */
async function openSwitchboard(
  sys: Exclude<System, 'floor' | 'socketio'>,
  o: E2eOptions,
  rep: number,
  figures: Record<string, number | string>,
): Promise<Runner> {
  const procs: ServiceProcess[] = [];
  const nodeArgsOf = (service: string): string[] => [
    ...(o.nodeArgs ?? []),
    ...(o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, `${sys}-rep${rep}-${service}`)}`] : []),
  ];
  let started: Awaited<ReturnType<typeof startSwitchboard>>;
  const onClose: Array<() => Promise<void>> = [];
  try {
    started = await startSwitchboard(sys, o, procs, nodeArgsOf, onClose);
  } catch (err: unknown) {
    await killAll(procs);
    for (const c of onClose) await c();
    throw err;
  }
  const { message, connect, pids, load } = started;
  return {
    // Warm-up (not recorded): the JIT, connection pools and the consumer group settle.
    warm: (rate) => warmUp(load, LABEL[sys], sys, rep, rate, o, pids, figures),
    step: async (rate) => {
      const before = await counters(connect.admin, message.admin);
      const step: Step = { ...(await load.step(LABEL[sys], `${sys}-${rep}-${rate}`, rate, o.durationMs, o.warmupMs, o.progress, pids)), rep };
      const after = await counters(connect.admin, message.admin);
      // Store operations per message stored during this step (the target is set at 2,000 msg/s).
      const stored = after.stored - before.stored;
      const storeCalls = (c: Counters) => Object.entries(c.backend).reduce((n, [op, t]) => n + (op.startsWith('store.') ? t.count : 0), 0);
      step.storedPerSec = Math.round(stored / ((after.at - before.at) / 1000));
      // What the store kept up with: stored over stored plus the backlog's growth (a steady lag,
      // however long, leaves the backlog where it was).
      const grown = Math.max(0, after.backlog - before.backlog);
      if (stored + grown > 0) step.storePace = Math.round((stored / (stored + grown)) * 100) / 100;
      if (stored > 0) step.storeOpsPerMessage = Math.round(((storeCalls(after) - storeCalls(before)) / stored) * 1000) / 1000;
      if (stored > 0 && !inProcess(sys)) step.producesPerMessage = Math.round(((after.produces - before.produces) / stored) * 1000) / 1000;
      if (!inProcess(sys)) step.fetchesPerSecond = Math.round(((after.fetches - before.fetches) / (after.at - before.at)) * 1000);
      const p99 = (text: (c: Counters) => string, name: string, labels: Record<string, string> = {}) =>
        Math.round(quantileBetween(bucketsIn(text(before), name, labels), bucketsIn(text(after), name, labels), 0.99) * 1000 * 10) / 10;
      step.deliveryHops = {
        stored: p99((c) => c.messageText, 'switchboard_message_store_latency_seconds'),
        storeWrite: p99((c) => c.messageText, 'switchboard_message_backend_seconds', { backend: 'store', op: 'insertMessages', result: 'ok' }),
        lookup: p99((c) => c.messageText, 'switchboard_message_backend_seconds', { backend: 'presence', op: 'lookup', result: 'ok' }),
        pushed: p99((c) => c.connectText, 'switchboard_delivery_latency_seconds'),
      };
      if (rate === CPU_RATE && step.ackLatency) {
        // Where send → accepted went at this step, mean and p99: the gateway's call to Message and
        // back, and within it the log append; the rest is the client ↔ gateway WebSocket hop.
        const mean = (a: Totals | undefined, b: Totals | undefined) =>
          a && a.count > (b?.count ?? 0) ? Math.round(((a.sum - (b?.sum ?? 0)) / (a.count - (b?.count ?? 0))) * 1000 * 100) / 100 : NaN;
        figures[`${LABEL[sys]}: send → accepted at ${rate} msg/s, rep ${rep} (mean ms): at the client / gateway → Message → gateway / log append`] =
          `${step.ackLatency.mean} / ${mean(after.connect, before.connect)} / ${mean(after.backend['log.append'], before.backend['log.append'])}`;
        figures[`${LABEL[sys]}: send → accepted at ${rate} msg/s, rep ${rep} (p99 ms): at the client / gateway → Message → gateway / log append`] =
          `${step.ackLatency.p99} / ${p99((c) => c.connectText, 'switchboard_connect_send_seconds')} / ${p99((c) => c.messageText, 'switchboard_message_backend_seconds', { backend: 'log', op: 'append', result: 'ok' })}`;
        // What the processes themselves stalled for during the step: prom-client resets its
        // event-loop delay histogram at every scrape, so the second scrape covers the step; it
        // samples with a 10 ms timer and records the whole interval, so the delay is beyond 10 ms.
        const ms = (v: number) => Math.round((v - 0.01) * 1000 * 10) / 10;
        const gcPerSec = (text: (c: Counters) => string) =>
          Math.round(((gcSeconds(text(after)) - gcSeconds(text(before))) * 1e7) / (after.at - before.at)) / 10;
        figures[
          `${LABEL[sys]}: at ${rate} msg/s, rep ${rep}: event-loop delay p99 Connect / Message (ms, beyond its 10 ms timer); GC time Connect / Message (ms per s)`
        ] =
          `${ms(metricIn(after.connectText, 'nodejs_eventloop_lag_p99_seconds'))} / ${ms(metricIn(after.messageText, 'nodejs_eventloop_lag_p99_seconds'))}; ${gcPerSec((c) => c.connectText)} / ${gcPerSec((c) => c.messageText)}`;
      }
      o.progress(`${LABEL[sys]} rep ${rep} @ ${rate}/s: p50 ${step.latency.p50} ms, p99 ${step.latency.p99} ms, achieved ${Math.round(step.achievedPerSec)}/s`);
      return step;
    },
    async close() {
      try {
        await load.close();
        // Where a message's time went (this repetition).
        for (const [op, { mean, count }] of Object.entries(backendOps((await getJson(`${message.admin}/metrics`)).text))) {
          figures[`${LABEL[sys]}: mean ${op}, rep ${rep} (ms, calls over the repetition)`] = `${mean} (${count.toLocaleString('en-US')})`;
        }
        // A profile is written when the process exits by itself: stop them gracefully first.
        if (o.cpuProfDir) await stopGracefully(procs);
      } finally {
        await killAll(procs);
        for (const c of onClose) await c();
      }
    },
  };
}

interface Totals {
  sum: number;
  count: number;
}
interface Counters {
  /** The gateway's send round trips through Message (seconds, count). */
  connect: Totals;
  /** Message's successful backend operations by `backend.op`. */
  backend: Record<string, Totals>;
  /** Messages Message has stored. */
  stored: number;
  /** Messages pushed and not yet stored (the persist lag gauge). */
  backlog: number;
  /** Kafka Produce requests Message has sent. */
  produces: number;
  /** Kafka Fetch requests Message's consumer has sent. */
  fetches: number;
  /** The two /metrics texts, for histograms read over a step. */
  connectText: string;
  messageText: string;
  /** When they were read (performance.now(), ms). */
  at: number;
}

/** The running totals a step's figures are the differences of. */
async function counters(connectAdmin: string, messageAdmin: string): Promise<Counters> {
  const [connect, message] = await Promise.all([getJson(`${connectAdmin}/metrics`), getJson(`${messageAdmin}/metrics`)]);
  return {
    connect: { sum: metricIn(connect.text, 'switchboard_connect_send_seconds_sum'), count: metricIn(connect.text, 'switchboard_connect_send_seconds_count') },
    backend: backendTotals(message.text),
    stored: metricIn(message.text, 'switchboard_message_stored_total'),
    backlog: metricIn(message.text, 'switchboard_message_persist_lag_messages'),
    produces: metricIn(message.text, 'switchboard_message_log_requests_total', 'api="Produce"'),
    fetches: metricIn(message.text, 'switchboard_message_log_requests_total', 'api="Fetch"'),
    connectText: connect.text,
    messageText: message.text,
    at: performance.now(),
  };
}

/** Seconds a process has spent in garbage collection, every kind. */
function gcSeconds(metrics: string): number {
  let total = 0;
  for (const [, v] of metrics.matchAll(/^nodejs_gc_duration_seconds_sum\{[^}]*\} ([0-9.e+-]+)$/gm)) total += Number(v);
  return total;
}

/** Per backend operation (`backend.op`, successful ones): total seconds and count, from a Message /metrics text. */
function backendTotals(metrics: string): Record<string, Totals> {
  const totals: Record<string, Totals> = {};
  const re = /^switchboard_message_backend_seconds_(sum|count)\{[^}]*backend="([^"]+)",op="([^"]+)",result="ok"[^}]*\} ([0-9.e+-]+)$/gm;
  for (const [, kind, backend, op, value] of metrics.matchAll(re)) {
    const entry = (totals[`${backend!}.${op!}`] ??= { sum: 0, count: 0 });
    entry[kind as 'sum' | 'count'] = Number(value);
  }
  return totals;
}

/** Per backend operation (`backend.op`, successful ones): mean milliseconds and count, from a Message /metrics text. */
export function backendOps(metrics: string): Record<string, { mean: number; count: number }> {
  const out: Record<string, { mean: number; count: number }> = {};
  for (const [key, { sum, count }] of Object.entries(backendTotals(metrics)).sort(([a], [b]) => a.localeCompare(b))) {
    if (count > 0) out[key] = { mean: Math.round((sum / count) * 1000 * 100) / 100, count };
  }
  return out;
}

interface FloorRun {
  latencies: number[];
  ackLatencies: number[];
  measuredSent: number;
  error?: string;
}

/**
 * A bare kafkajs produce → consume worker process on a topic of its own: it joins once and runs
 * steps one after another (a fresh worker per repetition, as the systems get fresh processes).
 */
class FloorWorker {
  private constructor(private readonly child: ChildProcess) {}

  static async open(brokers: string): Promise<FloorWorker> {
    const child = fork(fileURLToPath(new URL('../lib/kafka-floor-worker.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
    const w = new FloorWorker(child);
    const r = await w.ask({ cmd: 'open', brokers: brokers.split(','), topic: `bench.floor.${randomBytes(3).toString('hex')}` });
    if (r.type === 'error') {
      w.close();
      throw new Error(`the kafkajs floor could not start: ${r.error.split('\n')[0]}`);
    }
    return w;
  }

  private ask(c: FloorCommand): Promise<FloorReply> {
    return new Promise<FloorReply>((resolve) => {
      const exited = (code: number | null): void => resolve({ type: 'error', error: `worker exited with code ${code} before reporting` });
      this.child.once('exit', exited);
      this.child.once('message', (m) => {
        this.child.off('exit', exited);
        resolve(m as FloorReply);
      });
      this.child.send(c);
    });
  }

  async run(rate: number, durationMs: number, warmupMs: number, via: FloorVia = 'kafkajs'): Promise<FloorRun> {
    const r = await this.ask({ cmd: 'run', ratePerSec: rate, durationMs, warmupMs, via });
    if (r.type === 'result') return r;
    return { latencies: [], ackLatencies: [], measuredSent: 0, error: r.type === 'error' ? r.error : 'unexpected reply' };
  }

  close(): void {
    if (this.child.exitCode === null && this.child.connected) this.child.send({ cmd: 'close' } satisfies FloorCommand);
  }
}

/**
 * Warms the broker up before its first measured step (not recorded): a JVM just started serves the
 * first seconds of load slower (class loading, the JIT). Switchboard on Kafka + Redis does it, so
 * that what Switchboard asks of the broker (an idempotent producer, fetches that wait for 8 KB,
 * offset commits) is loaded before the first measured step. No warm-up of a few seconds covered
 * C2's compile threads (the broker took 0.66–0.84 of a core in the first repetition against
 * 0.15–0.38 later, whichever warm-up): the test broker runs with C1 only (test/env/servers.ts).
 */
async function warmBroker(o: E2eOptions): Promise<void> {
  o.progress(`warming the Kafka broker up: Switchboard on Kafka + Redis at 1000 msg/s for ${BROKER_WARMUP_MS / 1000} s (not recorded)`);
  const procs: ServiceProcess[] = [];
  try {
    const { pids, load } = await startSwitchboard('kafka-redis', o, procs);
    try {
      await load.step('broker warm-up', 'broker-warm', 1000, BROKER_WARMUP_MS, 500, o.progress, pids);
    } finally {
      await load.close();
    }
  } finally {
    await killAll(procs);
  }
}

/** The floor's step at CPU_RATE produced through Message's log adapter instead of one bare send per message. */
const FLOOR_VIA_LOG = "floor through Message's log adapter (idempotent producer, one produce in flight, group commit)";

/**
 * One repetition of the floor: bare kafkajs at each rate of the ladder, one worker for the
 * repetition; then one step at CPU_RATE with the same worker producing through Message's log
 * adapter, so that send → `accepted` can be split into what the producer costs and what the rest of
 * Switchboard does (same repetition, same broker, minutes apart at most).
 */
async function measureKafkaFloor(o: E2eOptions, rep: number, start: number, notes: string[]): Promise<Step[]> {
  const brokers = (await sharedRealBackends()).kafkaBrokers;
  let worker: FloorWorker | undefined;
  const step = async (label: string, rate: number, via: FloorVia): Promise<Step> => {
    // A worker that failed a step is replaced for the next one.
    worker ??= await FloorWorker.open(brokers);
    const result = await worker.run(rate, o.durationMs, o.warmupMs, via);
    if (result.error) {
      notes.push(`${label} failed at ${rate}/s (rep ${rep}): ${result.error.split('\n')[0]}`);
      worker.close();
      worker = undefined;
    }
    const s: Step = {
      system: label,
      rep,
      offeredPerSec: rate,
      achievedPerSec: (result.latencies.length * 1000) / o.durationMs,
      latency: summarize(result.latencies),
      ...(result.ackLatencies.length > 0 ? { ackLatency: summarize(result.ackLatencies) } : {}),
      lost: result.error ? Math.max(1, result.measuredSent) : result.measuredSent - result.latencies.length,
    };
    o.progress(`${label} rep ${rep} @ ${rate}/s: p50 ${s.latency.p50} ms, p99 ${s.latency.p99} ms, ack p99 ${s.ackLatency?.p99 ?? '—'} ms`);
    return s;
  };
  try {
    const steps = await ladder(o.rates, start, (rate) => step(LABEL.floor, rate, 'kafkajs'), o.refine);
    steps.push(await step(FLOOR_VIA_LOG, CPU_RATE, 'message-log'));
    return steps;
  } finally {
    worker?.close();
  }
}

/** One repetition's two fresh Socket.IO processes of the peer, senders on one, recipients on the other. */
async function openSocketIo(o: E2eOptions, rep: number, figures: Record<string, number | string>): Promise<Runner> {
  const peer = await startSocketIoPeer((await sharedRealBackends()).redisUrl, o.nodeArgs);
  let load: LoadGenerator;
  try {
    load = await LoadGenerator.start(peer.urls[0], o.pairs, o.workers, `sio-${randomBytes(2).toString('hex')}`, {
      recipientUrl: peer.urls[1],
      protocol: 'socket.io',
    });
  } catch (err: unknown) {
    peer.stop();
    throw err;
  }
  return {
    warm: (rate) => warmUp(load, LABEL.socketio, 'sio', rep, rate, o, peer.pids, figures),
    async step(rate) {
      const step = await load.step(LABEL.socketio, `sio-${rep}-${rate}`, rate, o.durationMs, o.warmupMs, o.progress, peer.pids);
      o.progress(`${LABEL.socketio} rep ${rep} @ ${rate}/s: p50 ${step.latency.p50} ms, p99 ${step.latency.p99} ms`);
      return { ...step, rep };
    },
    async close() {
      try {
        await load.close();
      } finally {
        peer.stop();
      }
    },
  };
}

/**
 * One repetition of the systems of `group`, side by side: each one's fresh processes, its warm-up
 * at the first step's rate, then their ladder (pairedLadder; one system: the plain ladder).
 * Returns each system's steps, in the order of `group`.
 */
async function measureSideBySide(
  group: ReadonlyArray<Exclude<System, 'floor'>>,
  o: E2eOptions,
  rep: number,
  start: number,
  figures: Record<string, number | string>,
): Promise<Step[][]> {
  const runners: Runner[] = [];
  // Every runner is closed, whatever happened; a failure to close is reported unless the step failed first.
  const closeAll = async (): Promise<void> => {
    const closed = await Promise.allSettled(runners.map((r) => r.close()));
    const failed = closed.find((c): c is PromiseRejectedResult => c.status === 'rejected');
    if (failed) throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
  };
  let result: Step[][];
  try {
    for (const sys of group) runners.push(sys === 'socketio' ? await openSocketIo(o, rep, figures) : await openSwitchboard(sys, o, rep, figures));
    for (const r of runners) await r.warm(o.rates[start]!);
    result = await pairedLadder(
      o.rates,
      start,
      runners.map((r) => (rate: number) => r.step(rate)),
      o.refine,
      barsOf(group[0]!),
    );
  } catch (err: unknown) {
    await closeAll().catch(() => undefined);
    throw err;
  }
  await closeAll();
  return result;
}

/** The highest achieved rate of a repetition's steps that passed the bar (0 when none did). */
function sustained(steps: Step[], bar: (s: Step) => boolean = passes): number {
  return steps.filter(bar).reduce((a, s) => Math.max(a, s.achievedPerSec), 0);
}

/**
 * Scenario 1: end-to-end 1:1 messaging at rising offered rates. Every repetition measures every
 * system once, one after the other (the peer and the embedded variants side by side, step by step),
 * so that each ratio compares figures of the same repetition;
 * figures are medians over the repetitions with their range.
 */
export async function e2eScenario(o: E2eOptions): Promise<ScenarioResult> {
  const steps: Step[] = [];
  const notes: string[] = [
    '"lost" counts messages of the measured window that had not arrived 2 s after the step ended (a step that passes has a p99 of 100 ms at most).',
    "Load-gen CPU is the load generator's CPU use during a step, in cores: near 1.0 per worker process means the generator, not the system, was the limit.",
    "ack p99: from the intended send time to the sender's `accepted` (Socket.IO: its acknowledgement; the floor: the produce's acks from all in-sync replicas).",
    `CPU ms / msg: CPU time of all processes of the system under test (Message + Connect; the two Socket.IO processes) per delivered message; compared at ${CPU_RATE} msg/s.`,
    'produces / msg and fetches / s: Kafka Produce requests of Message per stored message, and Fetch requests of its consumer per second over the step (warm-up and drain included): a busy log is fetched about once per KAFKA_FETCH_MAX_WAIT, an idle one long-polled (KAFKA_FETCH_IDLE_WAIT).',
    "Where the CPU went: cores used during the step's measured window (after the warm-up, before the drain); the system under test per process is Message + Connect, or the Socket.IO process of the senders + that of the recipients. Each is single-threaded: one near 1.0 is that process's limit even when the machine has a core to spare; so is one whose running plus waiting for a core (its main thread's run-queue time, next column) nears 1.0.",
  ];
  const figures: Record<string, number | string> = {};
  const ratios: Record<string, number> = {};
  const perRep = new Map<System, number[]>(o.systems.map((s) => [s, []]));
  /** The same at p99 ≤ 20 ms, among the steps each repetition ran. */
  const perRepTight = new Map<System, number[]>(o.systems.map((s) => [s, []]));
  const startAt = new Map<System, number>();
  /** Where the scenario's time went: seconds per system over its repetitions (processes started and stopped, warm-ups and steps). */
  const secondsOf = new Map<string, number>();
  if (o.systems.some((sys) => !inProcess(sys) && sys !== 'socketio')) {
    const t0 = Date.now();
    await warmBroker(o);
    secondsOf.set('broker warm-up', (Date.now() - t0) / 1000);
  }
  // The peer and the embedded variants compared with it at the tight bar are measured side by
  // side, and so are the store and the same store slowed.
  const groups: System[][] = [];
  for (const sys of o.systems) {
    const together = (SIDE_BY_SIDE.find((g) => g.includes(sys)) ?? [sys]).filter((s) => o.systems.includes(s));
    if (together.length < 2) groups.push([sys]);
    else if (sys === together[0]) groups.push([...together]);
  }
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const group of groups) {
      const start = Math.min(
        ...group.map(
          (sys) =>
            startAt.get(sys) ??
            Math.max(
              0,
              o.rates.findIndex((r) => r >= FIRST_RUNG[sys]),
            ),
        ),
      );
      const name = group.join(' + ');
      o.progress(`rep ${rep}/${o.reps}: ${group.map((sys) => LABEL[sys]).join(' and ')}`);
      const t0 = Date.now();
      const got =
        group[0] === 'floor'
          ? [await measureKafkaFloor(o, rep, start, notes)]
          : await measureSideBySide(group as Exclude<System, 'floor'>[], o, rep, start, figures);
      secondsOf.set(name, (secondsOf.get(name) ?? 0) + (Date.now() - t0) / 1000);
      group.forEach((sys, i) => {
        steps.push(...got[i]!);
        // The system's own ladder (the floor's repetition also has a step through Message's log adapter).
        const own = got[i]!.filter((s) => s.system === LABEL[sys]);
        const rate = sustained(own);
        perRep.get(sys)!.push(rate);
        perRepTight.get(sys)!.push(sustained(own, passesTight));
        // Later repetitions start one rung below what the first sustained, and no higher than the
        // rate at which CPU per message and send → accepted are compared (so every repetition
        // measures it; the floor too, whose produce p99 there is the other side of the latter: a
        // floor that sustained 3,000 msg/s once started its later repetitions at 2,000 and left
        // one repetition of three to compare).
        if (rep === 1) {
          const below = Math.max(0, o.rates.findIndex((r) => r >= rate) - 1);
          const cpuRung = o.rates.indexOf(CPU_RATE);
          startAt.set(sys, cpuRung >= 0 && rate >= CPU_RATE ? Math.min(below, cpuRung) : below);
        }
      });
    }
  }
  for (const sys of o.systems) {
    const rates = perRep.get(sys)!;
    figures[`${LABEL[sys]}: highest rate with p99 ≤ 100 ms (msg/s), median [range]`] = formatSpread(spread(rates));
    if (barsOf(sys).length > 1)
      figures[`${LABEL[sys]}: highest rate with p99 ≤ ${TIGHT_P99_MS} ms among the steps run (msg/s), median [range]`] = formatSpread(
        spread(perRepTight.get(sys)!),
      );
    const p99s = o.rates
      .map((rate) => ({ rate, p99: steps.filter((s) => s.system === LABEL[sys] && s.offeredPerSec === rate).map((s) => s.latency.p99) }))
      .filter((x) => x.p99.length === o.reps);
    const top = p99s.filter((x) => spread(x.p99).median <= 100).pop();
    if (top) figures[`${LABEL[sys]}: p99 at ${top.rate} msg/s (ms), median [range]`] = formatSpread(spread(top.p99), 1);
    const cpu = steps.filter((s) => s.system === LABEL[sys] && s.offeredPerSec === CPU_RATE && s.cpuMsPerMessage !== undefined).map((s) => s.cpuMsPerMessage!);
    if (cpu.length > 0) figures[`${LABEL[sys]}: CPU ms per message at ${CPU_RATE} msg/s, median [range]`] = formatSpread(spread(cpu), 3);
    // Store operations per stored message at the target's rate, in the repetitions whose step there
    // passed (n says how many; an overloaded step batches more and would flatter it), or else at the
    // highest rate below it that every repetition measured and passed (a variant that cannot hold
    // 2,000 msg/s).
    const opsAt = [...o.rates]
      .reverse()
      .filter((r) => r <= STORE_OPS_RATE)
      .map((rate) => ({
        rate,
        at: steps.filter((s) => s.system === LABEL[sys] && s.offeredPerSec === rate && passes(s) && s.storeOpsPerMessage !== undefined),
      }));
    const ops = opsAt.find((x) => (x.rate === STORE_OPS_RATE ? x.at.length > 0 : x.at.length === o.reps));
    if (ops)
      figures[`${LABEL[sys]}: store operations per stored message at ${ops.rate} msg/s (target ≤ 0.05 at ${STORE_OPS_RATE}), median [range]`] = formatSpread(
        spread(ops.at.map((s) => s.storeOpsPerMessage!)),
        3,
      );
    if (sys === 'real' || sys === 'real-pg') {
      // The MongoDB stand-in's share of the machine per message (FerretDB with its PostgreSQL, or SQLite in FerretDB's own process).
      const stand = steps
        .filter((s) => s.system === LABEL[sys] && s.cpuCores && s.achievedPerSec > 0)
        .map((s) => ((s.cpuCores!.ferretdb + s.cpuCores!.postgresql) * 1000) / s.achievedPerSec);
      if (stand.length > 0)
        figures[`${LABEL[sys]}: FerretDB + its storage, CPU ms per delivered message over the steps, median [range]`] = formatSpread(spread(stand), 2);
      // The bound of this variant on this machine: how busy the whole machine (services, Kafka,
      // Redis, the stand-in, the load generator, the idle other variant) was at the rate each
      // repetition sustained.
      const busy = steps
        .filter((s) => s.system === LABEL[sys] && s.cpuCores && s.offeredPerSec === perRep.get(sys)?.[(s.rep ?? 0) - 1])
        .map((s) => s.cpuCores!.machine);
      if (busy.length > 0)
        figures[`${LABEL[sys]}: the whole machine's busy cores (of ${availableParallelism()}) at the rate each repetition sustained, median [range]`] =
          formatSpread(spread(busy), 2);
    }
    const gen = steps.filter((s) => s.system === LABEL[sys] && s.loadgenCpu !== undefined).map((s) => s.loadgenCpu!);
    if (gen.length > 0) figures[`${LABEL[sys]}: load-gen CPU per step (cores), highest`] = Math.max(...gen);
  }
  // send → accepted against the floor's produce → acks, same rate and repetition (Kafka variants).
  for (const sys of ON_KAFKA) {
    if (!perRep.has(sys) || !perRep.has('floor')) continue;
    const ackP99 = (label: string, rep: number, rate: number) =>
      steps.find((s) => s.system === label && s.rep === rep && s.offeredPerSec === rate)?.ackLatency?.p99;
    for (const rate of [CPU_RATE, ...o.rates.filter((r) => r < CPU_RATE).reverse()]) {
      // The repetitions in which both measured this rate (later ones may start above it).
      const pairs = Array.from({ length: o.reps }, (_, i) => [ackP99(LABEL[sys], i + 1, rate), ackP99(LABEL.floor, i + 1, rate)] as const).filter(
        ([a, b]) => a !== undefined && b !== undefined,
      );
      if (pairs.length === 0) continue;
      figures[`${LABEL[sys]}: send → accepted p99 at ${rate} msg/s (ms), median [range]`] = formatSpread(spread(pairs.map(([a]) => a!)), 1);
      figures[`${LABEL[sys]}: accepted p99 minus the floor's produce p99 at ${rate} msg/s (ms; target ≤ 5), median [range]`] = formatSpread(
        spread(pairs.map(([a, b]) => a! - b!)),
        1,
      );
      break;
    }
  }
  if (perRep.has('floor')) {
    const floorAck = steps.filter((s) => s.system === LABEL.floor && s.offeredPerSec === CPU_RATE && s.ackLatency).map((s) => s.ackLatency!.p99);
    if (floorAck.length > 0) figures[`${LABEL.floor}: produce → acks p99 at ${CPU_RATE} msg/s (ms), median [range]`] = formatSpread(spread(floorAck), 1);
    const ackP99At = (label: string, rep: number) => steps.find((s) => s.system === label && s.rep === rep && s.offeredPerSec === CPU_RATE)?.ackLatency?.p99;
    const viaLog = Array.from({ length: o.reps }, (_, i) => ackP99At(FLOOR_VIA_LOG, i + 1)).filter((v): v is number => v !== undefined);
    if (viaLog.length > 0) figures[`${FLOOR_VIA_LOG}: append → acks p99 at ${CPU_RATE} msg/s (ms), median [range]`] = formatSpread(spread(viaLog), 1);
    // send → accepted minus the floor's produce, split at Message's log adapter alone, per repetition:
    // what its producer costs over one bare send per message, and what the rest of the path adds.
    for (const sys of ON_KAFKA) {
      if (!perRep.has(sys)) continue;
      const split = Array.from(
        { length: o.reps },
        (_, i) => [ackP99At(LABEL[sys], i + 1), ackP99At(FLOOR_VIA_LOG, i + 1), ackP99At(LABEL.floor, i + 1)] as const,
      ).filter((t): t is readonly [number, number, number] => t.every((v) => v !== undefined));
      if (split.length === 0) continue;
      figures[`${LABEL[sys]}: accepted p99 minus the floor's at ${CPU_RATE} msg/s, split: Message's log adapter over bare kafkajs (ms), median [range]`] =
        formatSpread(spread(split.map(([, l, f]) => l - f)), 1);
      figures[
        `${LABEL[sys]}: accepted p99 minus the floor's at ${CPU_RATE} msg/s, split: the rest of the path over Message's log adapter alone (ms), median [range]`
      ] = formatSpread(spread(split.map(([a, l]) => a - l)), 1);
    }
  }
  figures['seconds spent, by system over its repetitions (processes, warm-ups, steps)'] = [...secondsOf]
    .map(([sys, sec]) => `${sys} ${Math.round(sec)}`)
    .join(', ');
  // Ratios of the same repetition, then their median (and range as a figure).
  const ratio = (name: string, a: System, b: System, of = perRep): void => {
    if (!of.has(a) || !of.has(b)) return;
    const xs = of
      .get(a)!
      .map((v, i) => (of.get(b)![i]! > 0 ? v / of.get(b)![i]! : NaN))
      .filter(Number.isFinite);
    if (xs.length === 0) return;
    const s = spread(xs);
    ratios[name] = s.median;
    figures[`${name}: per repetition`] = formatSpread(s, 2);
  };
  ratio('kafka-redis / floor (sustained rate; target ≥ 1.5)', 'kafka-redis', 'floor');
  ratio('real (FerretDB/SQLite) / floor (sustained rate; target ≥ 0.5)', 'real', 'floor');
  ratio('real (FerretDB/PostgreSQL) / floor (sustained rate; target ≥ 0.8)', 'real-pg', 'floor');
  ratio('embedded / socket.io peer (sustained rate; target ≥ 1.0)', 'embedded', 'socketio');
  ratio(`embedded / socket.io peer (highest rate with p99 ≤ ${TIGHT_P99_MS} ms; target ≥ 1.0)`, 'embedded', 'socketio', perRepTight);
  ratio('standalone (one process) / socket.io peer (sustained rate)', 'standalone', 'socketio');
  ratio(`standalone (one process) / socket.io peer (highest rate with p99 ≤ ${TIGHT_P99_MS} ms)`, 'standalone', 'socketio', perRepTight);
  ratio('real (FerretDB/PostgreSQL slowed) / floor (sustained rate)', 'real-pg-slow', 'floor');
  // How far the store lags behind the pushes (accept → stored, p99 of each step), and the highest
  // rate at which it keeps up (p99 ≤ 2 s).
  for (const sys of ['real', 'real-pg', 'real-pg-slow'] as const) {
    if (!perRep.has(sys)) continue;
    const byRate = new Map<number, number[]>();
    // The store's pace (stored / (stored + backlog growth)): below 1 it falls behind (the lag grows).
    const paceByRate = new Map<number, number[]>();
    // Stored per second over the step against the offered rate: a pace of 1 says nothing when the
    // consumer itself fell behind (the store is paced by what was consumed).
    const storedShareByRate = new Map<number, number[]>();
    const add = (m: Map<number, number[]>, r: number, v: number): void => void m.set(r, [...(m.get(r) ?? []), v]);
    for (const st of steps.filter((x) => x.system === LABEL[sys] && x.deliveryHops)) {
      add(byRate, st.offeredPerSec, st.deliveryHops!.stored);
      if (st.storePace !== undefined) add(paceByRate, st.offeredPerSec, st.storePace);
      if (st.storedPerSec !== undefined) add(storedShareByRate, st.offeredPerSec, st.storedPerSec / st.offeredPerSec);
    }
    const rates = [...byRate.keys()].sort((a, b) => a - b);
    if (rates.length === 0) continue;
    const median = (m: Map<number, number[]>, r: number): number | undefined => (m.has(r) ? spread(m.get(r)!).median : undefined);
    figures[`${LABEL[sys]}: persist lag p99 (accept → stored, ms) by offered rate, median of the repetitions`] = rates
      .map((r) => `${r}: ${Math.round(median(byRate, r)!)}`)
      .join(', ');
    figures[`${LABEL[sys]}: store pace (stored / (stored + backlog growth)) by offered rate, median of the repetitions`] = rates
      .map((r) => `${r}: ${median(paceByRate, r)?.toFixed(2) ?? '—'}`)
      .join(', ');
    // Keeping up at a rate: the lag's p99 within 2 s, a pace of at least 0.9 (a lag still growing
    // when the step ended has a small p99 all the same), and at least 0.9 of the offered rate
    // stored. The figure is the highest rate up to which every rate run kept up.
    const keeps = (r: number): boolean => median(byRate, r)! <= 2000 && (median(paceByRate, r) ?? 0) >= 0.9 && (median(storedShareByRate, r) ?? 0) >= 0.9;
    const firstMiss = rates.findIndex((r) => !keeps(r));
    const keptUpTo = firstMiss < 0 ? rates.at(-1)! : firstMiss === 0 ? 0 : rates[firstMiss - 1]!;
    figures[
      `${LABEL[sys]}: highest rate up to which the store keeps up (lag p99 ≤ 2 s, pace ≥ 0.9, ≥ 0.9 of the offered rate stored; msg/s), median of the repetitions`
    ] = keptUpTo;
  }
  // The store slowed on purpose against the same store, side by side: push p99 at the highest rate
  // both sustained in the repetition (target: within 10 %, pushes do not wait for the store).
  if (perRep.has('real-pg') && perRep.has('real-pg-slow')) {
    const xs: number[] = [];
    const at: number[] = [];
    for (let rep = 1; rep <= o.reps; rep++) {
      const of = (sys: System) => steps.filter((st) => st.system === LABEL[sys] && st.rep === rep && passes(st));
      const slowRates = new Set(of('real-pg-slow').map((st) => st.offeredPerSec));
      const common = of('real-pg').filter((st) => slowRates.has(st.offeredPerSec));
      const top = common.sort((a, b) => b.offeredPerSec - a.offeredPerSec)[0];
      if (!top) continue;
      const slow = of('real-pg-slow').find((st) => st.offeredPerSec === top.offeredPerSec)!;
      xs.push(slow.latency.p99 / top.latency.p99);
      at.push(top.offeredPerSec);
    }
    if (xs.length > 0) {
      ratios[`real-pg with the store slowed by ${SLOW_STORE_MS} ms / unslowed (push p99 at the same rate; target ≤ 1.10)`] = spread(xs).median;
      figures[`store slowed / unslowed push p99: per repetition (at msg/s ${at.join(', ')})`] = formatSpread(spread(xs), 2);
    }
  }
  const cpuOf = (sys: System): number[] =>
    Array.from(
      { length: o.reps },
      (_, i) => steps.find((s) => s.system === LABEL[sys] && s.rep === i + 1 && s.offeredPerSec === CPU_RATE)?.cpuMsPerMessage ?? NaN,
    );
  if (perRep.has('embedded') && perRep.has('socketio')) {
    const xs = cpuOf('embedded')
      .map((v, i) => v / cpuOf('socketio')[i]!)
      .filter(Number.isFinite);
    if (xs.length > 0) {
      ratios[`embedded / socket.io peer (CPU per message at ${CPU_RATE} msg/s; target ≤ 2)`] = spread(xs).median;
      figures[`embedded / socket.io peer CPU per message: per repetition`] = formatSpread(spread(xs), 2);
    }
  }
  return {
    name: 'End-to-end 1:1 messaging',
    description: `Open-loop 1:1 traffic through one Connect and one Message process: latency from the intended send time to the recipient's \`message\` frame. Every repetition runs every system once (fresh processes, a warm-up at the rate of its first step until their CPU per message stops falling, ${(WARMUP_LEAD_IN_MS + 2 * WARMUP_SLICE_MS) / 1000}–${(WARMUP_LEAD_IN_MS + WARMUP_MAX_SLICES * WARMUP_SLICE_MS) / 1000} s, then the rate ladder from 500 msg/s up or down, from 250 for the real-backend variants, and bisection steps between the rung passed and the rung missed; later repetitions start one rung below the first one's result). The peer and the embedded variants run side by side: their processes are up together, every rate of their climb runs each one's step back to back, in alternating order, and a bisection step runs for each one still undecided at its rate. The Kafka broker is warmed up before the first repetition by Switchboard on Kafka + Redis at 1,000 msg/s for 8 s (unrecorded). Real backends: one KRaft Kafka node, FerretDB on SQLite or on PostgreSQL, Redis, all on this machine; kafka-redis: the same Kafka and Redis with the in-process store. Floor: a bare kafkajs produce → consume round trip at the same rates on the same broker (one worker process per repetition, joined once). Peer: two Socket.IO processes joined by the Redis Streams adapter, senders on one and recipients on the other.`,
    settings: {
      pairs: o.pairs,
      workers: o.workers,
      reps: o.reps,
      stepSeconds: o.durationMs / 1000,
      warmupSeconds: o.warmupMs / 1000,
      rates: o.rates.join('/'),
      // A tuning experiment's settings are part of what its figures mean.
      ...(o.serviceEnv && Object.keys(o.serviceEnv).length > 0
        ? {
            env: Object.entries(o.serviceEnv)
              .map(([k, v]) => `${k}=${v}`)
              .join(' '),
          }
        : {}),
      ...(o.nodeArgs && o.nodeArgs.length > 0 ? { nodeArgs: o.nodeArgs.join(' ') } : {}),
    },
    steps,
    figures,
    ratios,
    notes,
  };
}
