import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { WorkerCommand, WorkerEvent } from './load-worker.js';
import { summarize } from './stats.js';
import { coresBetween, cpuSnapshot, type CpuSnapshot } from './cpu.js';
import type { Step } from './report.js';

const WORKERS = {
  switchboard: fileURLToPath(new URL('./load-worker.ts', import.meta.url)),
  'socket.io': fileURLToPath(new URL('./socketio-worker.ts', import.meta.url)),
};

/** A set of load-generator processes holding `pairs` sender/recipient connections to one gateway. */
export class LoadGenerator {
  private constructor(private readonly workers: ChildProcess[]) {}

  /**
   * Forks `workers` processes and connects `pairs` pairs spread over them: senders to `url`,
   * recipients to `recipientUrl` (default the same), speaking Switchboard's protocol or Socket.IO.
   */
  static async start(
    url: string,
    pairs: number,
    workers: number,
    tag: string,
    opts: { recipientUrl?: string; protocol?: keyof typeof WORKERS } = {},
  ): Promise<LoadGenerator> {
    const file = WORKERS[opts.protocol ?? 'switchboard'];
    const procs = Array.from({ length: workers }, () => fork(file, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
    const gen = new LoadGenerator(procs);
    await Promise.all(
      procs.map((p, w) => {
        const mine: Array<[string, string]> = [];
        for (let i = w; i < pairs; i += workers) mine.push([`${tag}-s${i}`, `${tag}-r${i}`]);
        return gen.request(p, { cmd: 'connect', url, recipientUrl: opts.recipientUrl, pairs: mine }, 'ready');
      }),
    );
    return gen;
  }

  /** The worker processes (their CPU use is reported with every step). */
  get pids(): number[] {
    return this.workers.map((w) => w.pid!);
  }

  /**
   * Offers `ratePerSec` for `durationMs` (after a warm-up) and summarizes what arrived, with the
   * load generator's CPU use (cores) and the CPU time of the processes `systemPids` per message.
   */
  async step(
    system: string,
    step: string,
    ratePerSec: number,
    durationMs: number,
    warmupMs: number,
    progress: (line: string) => void,
    systemPids: number[] = [],
  ): Promise<Step> {
    const cpuBefore = cpuSnapshot(systemPids, this.pids);
    const per = ratePerSec / this.workers.length;
    let sent = 0;
    let received = 0;
    const onProgress = (e: WorkerEvent) => {
      if (e.ev !== 'progress') return;
      sent += e.sent;
      received += e.received;
    };
    const timer = setInterval(() => {
      progress(`${system} @ ${ratePerSec}/s: sent ${sent}, received ${received}`);
      sent = 0;
      received = 0;
    }, 1000);
    for (const w of this.workers) w.on('message', onProgress);
    // Where the CPU went is read over the measured window alone (after the warm-up, before the
    // drain), where the offered rate runs: a step's average would dilute a pegged process.
    const window: { from?: CpuSnapshot; to?: CpuSnapshot } = {};
    const windowTimers = [
      setTimeout(() => (window.from = cpuSnapshot(systemPids, this.pids)), warmupMs),
      setTimeout(() => (window.to = cpuSnapshot(systemPids, this.pids)), warmupMs + durationMs),
    ];
    const results = await Promise.all(
      this.workers.map(
        (w) =>
          this.request(w, { cmd: 'run', step, ratePerSec: per, durationMs, warmupMs, drainMs: 2000 }, 'done') as Promise<Extract<WorkerEvent, { ev: 'done' }>>,
      ),
    );
    clearInterval(timer);
    for (const w of this.workers) w.off('message', onProgress);
    windowTimers.forEach(clearTimeout);
    const cpuAfter = cpuSnapshot(systemPids, this.pids);
    const cpuCores = coresBetween(window.from ?? cpuBefore, window.to ?? cpuAfter);
    const allReceived = results.reduce((a, r) => a + r.received, 0);
    const latencies = results.flatMap((r) => r.latencies);
    const ackLatencies = results.flatMap((r) => r.ackLatencies);
    const measuredSent = results.reduce((a, r) => a + r.measuredSent, 0);
    const measuredReceived = results.reduce((a, r) => a + r.measuredReceived, 0);
    return {
      system,
      offeredPerSec: ratePerSec,
      achievedPerSec: (measuredReceived * 1000) / durationMs,
      latency: summarize(latencies),
      ...(ackLatencies.length > 0 ? { ackLatency: summarize(ackLatencies) } : {}),
      lost: measuredSent - measuredReceived,
      loadgenCpu: cpuCores.loadgen,
      cpuCores,
      ...(systemPids.length > 0 && allReceived > 0
        ? { cpuMsPerMessage: Math.round(((cpuAfter.system - cpuBefore.system) * 1000 * 1000) / allReceived) / 1000 }
        : {}),
    };
  }

  async close(): Promise<void> {
    await Promise.all(
      this.workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            w.once('exit', () => resolve());
            w.send({ cmd: 'close' } satisfies WorkerCommand);
          }),
      ),
    );
  }

  private request(w: ChildProcess, c: WorkerCommand, until: WorkerEvent['ev']): Promise<WorkerEvent> {
    return new Promise((resolve, reject) => {
      const on = (e: WorkerEvent) => {
        if (e.ev === until) {
          w.off('message', on);
          resolve(e);
        } else if (e.ev === 'error') {
          w.off('message', on);
          reject(new Error(e.message));
        }
      };
      w.on('message', on);
      w.send(c);
    });
  }
}
