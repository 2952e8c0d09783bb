import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { isolatedBackendSettings, sharedRealBackends } from '../../test/support/real-backends.js';
import { LoadGenerator } from '../lib/load.js';
import type { ScenarioResult, Step } from '../lib/report.js';
import { summarize } from '../lib/stats.js';

/** embedded: all in-process; real: Kafka, FerretDB, Redis; kafka-redis: real Kafka and Redis with the in-process store. */
export type Backend = 'embedded' | 'real' | 'kafka-redis';

export interface E2eOptions {
  rates: number[];
  durationMs: number;
  warmupMs: number;
  pairs: number;
  workers: number;
  backends: Backend[];
  progress: (line: string) => void;
}

/** Runs one Switchboard (1 Message + 1 Connect process) and offers rising rates until p99 passes 100 ms. */
async function measureSwitchboard(kind: Backend, o: E2eOptions, figures: Record<string, number | string>): Promise<Step[]> {
  const procs: ServiceProcess[] = [];
  const steps: Step[] = [];
  try {
    const real = kind === 'embedded' ? {} : isolatedBackendSettings(await sharedRealBackends());
    const settings = kind === 'kafka-redis' ? Object.fromEntries(Object.entries(real).filter(([k]) => !k.startsWith('MONGODB_'))) : real;
    const message = await startMessageProcess(settings, procs);
    const connect = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, { CONNECT_MAX_CONNECTIONS_PER_USER: '4' }, procs);
    await eventually('gateway ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    const load = await LoadGenerator.start(connect.url, o.pairs, o.workers, `${kind}-${randomBytes(2).toString('hex')}`);
    try {
      for (const rate of o.rates) {
        const step = await load.step(`switchboard (${kind})`, `${kind}-${rate}`, rate, o.durationMs, o.warmupMs, o.progress);
        steps.push(step);
        o.progress(`switchboard (${kind}) @ ${rate}/s: p50 ${step.latency.p50} ms, p99 ${step.latency.p99} ms, achieved ${Math.round(step.achievedPerSec)}/s`);
        if (step.latency.p99 > 100 || step.lost > 0) break;
      }
    } finally {
      await load.close();
    }
    // Where a message's time went: the Message process's mean per backend operation over the run.
    for (const [op, ms] of Object.entries(backendMeans((await getJson(`${message.admin}/metrics`)).text))) {
      figures[`switchboard (${kind}): mean ${op} over the run (ms)`] = ms;
    }
  } finally {
    await killAll(procs);
  }
  return steps;
}

/** Mean milliseconds per backend operation (`backend.op`, successful ones) from a Message /metrics text. */
export function backendMeans(metrics: string): Record<string, number> {
  const sums = new Map<string, { sum: number; count: number }>();
  const re = /^switchboard_message_backend_seconds_(sum|count)\{[^}]*backend="([^"]+)",op="([^"]+)",result="ok"[^}]*\} ([0-9.e+-]+)$/gm;
  for (const [, kind, backend, op, value] of metrics.matchAll(re)) {
    const key = `${backend!}.${op!}`;
    const entry = sums.get(key) ?? { sum: 0, count: 0 };
    entry[kind as 'sum' | 'count'] = Number(value);
    sums.set(key, entry);
  }
  const means: Record<string, number> = {};
  for (const [key, { sum, count }] of [...sums].sort(([a], [b]) => a.localeCompare(b))) {
    if (count > 0) means[key] = Math.round((sum / count) * 1000 * 100) / 100;
  }
  return means;
}

/** The floor: bare kafkajs produce → consume at the same rates on the same broker. */
async function measureKafkaFloor(brokers: string, o: E2eOptions, notes: string[]): Promise<Step[]> {
  const steps: Step[] = [];
  for (const rate of o.rates) {
    const child = fork(fileURLToPath(new URL('../lib/kafka-floor-worker.ts', import.meta.url)), [], { execArgv: ['--import', 'tsx'] });
    const result = await new Promise<{ latencies: number[]; measuredSent: number; error?: string }>((resolve) => {
      child.once('message', (m) => resolve(m as { latencies: number[]; measuredSent: number }));
      child.once('exit', (code) => resolve({ latencies: [], measuredSent: 0, error: `worker exited with code ${code} before reporting` }));
      child.send({ brokers: brokers.split(','), topic: `bench.floor.${randomBytes(3).toString('hex')}`, ratePerSec: rate, durationMs: o.durationMs, warmupMs: o.warmupMs });
    });
    if (result.error) {
      o.progress(`kafka floor @ ${rate}/s failed: ${result.error.split('\n')[0]}`);
      notes.push(`The kafkajs floor failed at ${rate}/s: ${result.error.split('\n')[0]}`);
      break;
    }
    const step: Step = {
      system: 'bare kafkajs round trip',
      offeredPerSec: rate,
      achievedPerSec: (result.latencies.length * 1000) / o.durationMs,
      latency: summarize(result.latencies),
      lost: result.measuredSent - result.latencies.length,
    };
    steps.push(step);
    o.progress(`kafka floor @ ${rate}/s: p50 ${step.latency.p50} ms, p99 ${step.latency.p99} ms`);
    if (step.latency.p99 > 100) break;
  }
  return steps;
}

/** Scenario 1: end-to-end 1:1 messaging at rising offered rates, against the Kafka floor. */
export async function e2eScenario(o: E2eOptions): Promise<ScenarioResult> {
  const steps: Step[] = [];
  const notes: string[] = ['"lost" counts messages of the measured window that had not arrived 5 s after the step ended.'];
  let brokers = '';
  const kafkaBrokers = async () => (brokers ||= (await sharedRealBackends()).kafkaBrokers);
  const figures: Record<string, number | string> = {};
  for (const kind of o.backends) steps.push(...(await measureSwitchboard(kind, o, figures)));
  if (o.backends.some((b) => b !== 'embedded')) steps.push(...(await measureKafkaFloor(await kafkaBrokers(), o, notes)));
  const best = (system: string) => {
    const ok = steps.filter((s) => s.system === system && s.latency.p99 <= 100 && s.lost === 0);
    return ok.length === 0 ? undefined : ok.reduce((a, b) => (b.achievedPerSec > a.achievedPerSec ? b : a));
  };
  const ratios: Record<string, number> = {};
  for (const sys of [...new Set(steps.map((s) => s.system))]) {
    const b = best(sys);
    figures[`${sys}: highest rate with p99 ≤ 100 ms (msg/s)`] = b ? Math.round(b.achievedPerSec) : 0;
    if (b) figures[`${sys}: p99 at that rate (ms)`] = b.latency.p99;
  }
  const floor = best('bare kafkajs round trip');
  for (const sys of new Set(steps.map((s) => s.system))) {
    if (sys === 'bare kafkajs round trip' || sys === 'switchboard (embedded)' || !floor) continue;
    ratios[`${sys} / bare kafkajs round trip (highest rate with p99 ≤ 100 ms)`] = (best(sys)?.achievedPerSec ?? 0) / floor.achievedPerSec;
  }
  return {
    name: 'End-to-end 1:1 messaging',
    description:
      'Open-loop 1:1 traffic through one Connect and one Message process: latency from the intended send time to the recipient\'s `message` frame. Real backends: one KRaft Kafka node, FerretDB (SQLite), Redis, all on this machine; kafka-redis: the same Kafka and Redis with the in-process store (isolates the MongoDB stand-in). Floor: a bare kafkajs produce → consume round trip at the same rates on the same broker.',
    settings: { pairs: o.pairs, workers: o.workers, stepSeconds: o.durationMs / 1000, warmupSeconds: o.warmupMs / 1000, rates: o.rates.join('/') },
    steps,
    figures,
    ratios,
    notes,
  };
}
