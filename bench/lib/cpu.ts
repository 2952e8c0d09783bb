import { readFileSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const TICKS_PER_SEC = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** A process's name and the CPU seconds (user + system) it has used so far, from /proc/<pid>/stat; undefined once it is gone. */
function readStat(pid: number | string): { comm: string; seconds: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name sits in parentheses (it may hold spaces); utime and stime are the 12th and 13th fields after it.
    const close = stat.lastIndexOf(') ');
    const fields = stat.slice(close + 2).split(' ');
    return { comm: stat.slice(stat.indexOf('(') + 1, close), seconds: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SEC };
  } catch {
    return undefined;
  }
}

/** CPU seconds each of `pids` has used so far — the same measure for the services, the peer's servers and the load generator (0 once gone). */
function cpuSecondsEach(pids: ReadonlyArray<number | undefined>): number[] {
  return pids.map((pid) => (pid === undefined ? 0 : (readStat(pid)?.seconds ?? 0)));
}

/** The backend servers of the real-backend variants, by the start of their process name. */
const BACKEND_PROCESSES: ReadonlyArray<readonly [BackendName, string]> = [
  ['kafka', 'java'],
  ['redis', 'redis-server'],
  ['ferretdb', 'ferretdb'],
  ['postgresql', 'postgres'],
];
export type BackendName = 'kafka' | 'redis' | 'ferretdb' | 'postgresql';

/**
 * One pass over /proc: CPU seconds each backend server's processes (every PostgreSQL backend
 * process too) and every process of the machine have used so far. The machine's figure sums the
 * processes (exact scheduler accounting) rather than reading /proc/stat, whose tick sampling
 * misses much of the short bursts an event-driven workload runs in (here it read 0.2 of a core
 * less than the processes it holds).
 */
function processCpuSeconds(): { backends: Record<BackendName, number>; all: number } {
  const backends: Record<BackendName, number> = { kafka: 0, redis: 0, ferretdb: 0, postgresql: 0 };
  let all = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const p = readStat(entry);
    if (!p) continue;
    all += p.seconds;
    const backend = BACKEND_PROCESSES.find(([, prefix]) => p.comm.startsWith(prefix))?.[0];
    if (backend) backends[backend] += p.seconds;
  }
  return { backends, all };
}

/** Seconds the machine's virtual CPUs have waited for the host so far (steal: a neighbour's load; /proc/stat). */
function stealSeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
  return Number(fields[8] ?? 0) / TICKS_PER_SEC;
}

/**
 * Seconds the main thread of each process has waited in a run queue for a core so far
 * (/proc/<pid>/schedstat; 0 when unknown): the time a single-threaded stage loses to sharing the
 * cores, which its CPU seconds do not show.
 */
export function runQueueSeconds(pids: ReadonlyArray<number | undefined>): number[] {
  return pids.map((pid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9 || 0;
    } catch {
      return 0;
    }
  });
}

/** Where a machine's CPU went over an interval, in cores (CPU seconds per second). */
export interface CpuCores {
  /** The system under test (its service processes). */
  system: number;
  /** The same, per process, in the order of the pids given (one process pegged at 1.0 is its own limit). */
  processes: number[];
  /** Per process, the share of the time its main thread waited for a core (running + waiting near 1.0: saturated). */
  waiting: number[];
  loadgen: number;
  kafka: number;
  redis: number;
  ferretdb: number;
  postgresql: number;
  /** Every process of the machine (their sum). */
  machine: number;
  /** Time the virtual CPUs waited for the host. */
  steal: number;
}

export interface CpuSnapshot {
  at: number;
  system: number;
  processes: number[];
  waits: number[];
  loadgen: number;
  backends: Record<BackendName, number>;
  machine: { busy: number; steal: number };
}

export function cpuSnapshot(systemPids: ReadonlyArray<number | undefined>, loadgenPids: ReadonlyArray<number | undefined>): CpuSnapshot {
  const { backends, all } = processCpuSeconds();
  const processes = cpuSecondsEach(systemPids);
  return {
    at: performance.now(),
    system: processes.reduce((a, b) => a + b, 0),
    processes,
    waits: runQueueSeconds(systemPids),
    loadgen: cpuSecondsEach(loadgenPids).reduce((a, b) => a + b, 0),
    backends,
    machine: { busy: all, steal: stealSeconds() },
  };
}

/** The cores used between two snapshots, rounded to hundredths. */
export function coresBetween(a: CpuSnapshot, b: CpuSnapshot): CpuCores {
  const sec = (b.at - a.at) / 1000;
  const c = (x: number, y: number) => Math.round(((y - x) / sec) * 100) / 100;
  return {
    system: c(a.system, b.system),
    processes: b.processes.map((v, i) => c(a.processes[i] ?? 0, v)),
    waiting: b.waits.map((v, i) => c(a.waits[i] ?? 0, v)),
    loadgen: c(a.loadgen, b.loadgen),
    kafka: c(a.backends.kafka, b.backends.kafka),
    redis: c(a.backends.redis, b.backends.redis),
    ferretdb: c(a.backends.ferretdb, b.backends.ferretdb),
    postgresql: c(a.backends.postgresql, b.backends.postgresql),
    machine: c(a.machine.busy, b.machine.busy),
    steal: c(a.machine.steal, b.machine.steal),
  };
}
