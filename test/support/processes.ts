import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface LogLine {
  msg?: string;
  level?: number;
  [key: string]: unknown;
}

/** Every service process the run spawned: a failed test's are kept (see hooks.ts). */
export const spawned: ServiceProcess[] = [];

/** A service running as a real child process, with its JSON log lines collected. */
export class ServiceProcess {
  readonly lines: LogLine[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** When it exited (ms since the epoch); undefined while it runs. */
  exitedAt: number | undefined;
  private output = '';

  constructor(readonly child: ChildProcess) {
    spawned.push(this);
    let partial = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      partial += chunk.toString();
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) {
        this.output += `${p}\n`;
        try {
          this.lines.push(JSON.parse(p) as LogLine);
        } catch {
          this.lines.push({ msg: p });
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) =>
      child.on('exit', (code, signal) => {
        this.exitedAt = Date.now();
        resolve({ code, signal });
      }),
    );
  }

  /** Waits for the first log line whose msg equals `msg` (and that matches `match`). */
  async waitForLog(msg: string, timeoutMs = 20_000, match: (l: LogLine) => boolean = () => true): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.lines.find((l) => l.msg === msg && match(l));
      if (line) return line;
      if (this.child.exitCode !== null) throw new Error(`process exited (${this.child.exitCode}) before logging "${msg}":\n${this.output.slice(-3000)}`);
      if (Date.now() > deadline) throw new Error(`no "${msg}" log within ${timeoutMs} ms:\n${this.output.slice(-3000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Everything the process printed so far. */
  get text(): string {
    return this.output;
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** package.json's scripts, read once. */
let scripts: Record<string, string> | undefined;

/**
 * The Node flags `npm start` / `npm run start:<kind>` runs a service with: those of its script in
 * package.json, where they are set (the flags between `node` and `--import tsx`).
 */
export function scriptNodeFlags(kind: 'message' | 'connect' | 'standalone'): string[] {
  const name = kind === 'standalone' ? 'start' : `start:${kind}`;
  scripts ??= (JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { scripts: Record<string, string> }).scripts;
  const m = /^exec node((?: --[\w-]+(?:=\S+)?)*) --import tsx services\/\w+\/main\.ts$/.exec(scripts[name] ?? '');
  if (!m) throw new Error(`package.json's "${name}" script is not "exec node [flags] --import tsx services/<kind>/main.ts": ${scripts[name]}`);
  return m[1]!.split(' ').filter(Boolean);
}

/** The container image's command line (the Dockerfile's ENTRYPOINT), as a list. */
export function imageEntrypoint(): string[] {
  const m = /^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(`${ROOT}/Dockerfile`, 'utf8'));
  if (!m) throw new Error('the Dockerfile has no ENTRYPOINT in exec form');
  return JSON.parse(m[1]!) as string[];
}

/**
 * Spawns `npm run start:<kind>`'s entry point directly with node + tsx, its script's Node flags and
 * the given env; `nodeArgs` come after the script's flags (a later flag wins).
 */
export function spawnService(kind: 'message' | 'connect' | 'standalone', env: Record<string, string>, nodeArgs: string[] = []): ServiceProcess {
  const child = spawn(process.execPath, [...scriptNodeFlags(kind), ...nodeArgs, '--import', 'tsx', `services/${kind}/main.ts`], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new ServiceProcess(child);
}

/**
 * Runs an npm script exactly as a person does (`npm start`, `npm run start:connect`), in a process
 * group of its own so that a test can send a signal to the whole group, as a terminal's Ctrl-C
 * does (see `interrupt`).
 */
export function spawnNpm(script: string, env: Record<string, string>): ServiceProcess {
  const args = script === 'start' ? ['start'] : ['run', script];
  const child = spawn('npm', args, { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  return new ServiceProcess(child);
}

/** Sends `signal` to the process group of `p` (every process npm started), like Ctrl-C in a terminal. */
export function interrupt(p: ServiceProcess, signal: NodeJS.Signals = 'SIGINT'): void {
  if (p.child.exitCode === null && p.child.signalCode === null) process.kill(-p.child.pid!, signal);
}

/** Sends SIGTERM to each process and waits up to `ms` for it to exit (a V8 CPU profile is written only when a process exits by itself). */
export async function stopGracefully(procs: ServiceProcess[], ms = 15_000): Promise<void> {
  await Promise.all(procs.map(async (p) => (p.kill('SIGTERM'), await Promise.race([p.exited, new Promise((r) => setTimeout(r, ms))]))));
}

/** Kills every process in `procs` that still runs (after-hook cleanup). */
export async function killAll(procs: ServiceProcess[]): Promise<void> {
  for (const p of procs) {
    if (p.child.spawnargs[0] === 'npm' && p.child.exitCode === null) {
      try {
        process.kill(-p.child.pid!, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    }
    p.kill('SIGKILL');
  }
  await Promise.all(procs.map((p) => p.exited));
}

/** Loopback-only bind addresses for spawned services. */
export const LOOPBACK = {
  MESSAGE_GRPC_HOST: '127.0.0.1',
  MESSAGE_HTTP_HOST: '127.0.0.1',
  MESSAGE_API_HOST: '127.0.0.1',
  CONNECT_WS_HOST: '127.0.0.1',
  CONNECT_ADMIN_HOST: '127.0.0.1',
};

export interface MessageProcess {
  proc: ServiceProcess;
  admin: string;
  grpcPort: number;
  /** The server API's port, when it serves one. */
  apiPort?: number;
}

/** Spawns a Message process and waits until it serves (backends connected). */
export async function startMessageProcess(settings: Record<string, string>, procs?: ServiceProcess[], nodeArgs: string[] = []): Promise<MessageProcess> {
  const proc = spawnService('message', { ...LOOPBACK, MESSAGE_GRPC_PORT: '0', MESSAGE_HTTP_PORT: '0', MESSAGE_DRAIN_WINDOW: '0', ...settings }, nodeArgs);
  procs?.push(proc);
  const started = await proc.waitForLog('message service started');
  await proc.waitForLog('backends connected; serving', 60_000);
  return {
    proc,
    admin: `http://127.0.0.1:${String(started.httpPort)}`,
    grpcPort: Number(started.grpcPort),
    ...(started.apiPort !== undefined ? { apiPort: Number(started.apiPort) } : {}),
  };
}

export interface ConnectProcess {
  proc: ServiceProcess;
  url: string;
  admin: string;
}

/** Spawns a Connect process (insecure-dev auth, quick backoff) pointed at `discovery`. */
export async function startConnectProcess(
  discovery: string,
  settings: Record<string, string> = {},
  procs?: ServiceProcess[],
  nodeArgs: string[] = [],
): Promise<ConnectProcess> {
  const proc = spawnService(
    'connect',
    {
      ...LOOPBACK,
      CONNECT_WS_PORT: '0',
      CONNECT_ADMIN_PORT: '0',
      AUTH_MODE: 'insecure-dev',
      MESSAGE_DISCOVERY: discovery,
      STREAM_BACKOFF_INITIAL: '200ms',
      STREAM_BACKOFF_MAX: '2s',
      CONNECT_DRAIN_WINDOW: '0',
      ...settings,
    },
    nodeArgs,
  );
  procs?.push(proc);
  const started = await proc.waitForLog('connect service started');
  return { proc, url: `ws://127.0.0.1:${String(started.wsPort)}/ws`, admin: `http://127.0.0.1:${String(started.adminPort)}` };
}

/** A value of a metric on a /metrics endpoint (0 when absent). */
export async function metricValue(admin: string, name: string, labels = ''): Promise<number> {
  return metricIn(await (await fetch(`${admin}/metrics`)).text(), name, labels);
}

/** The sum of every series of a metric (all its label values). */
export async function metricTotal(admin: string, name: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(new RegExp(`^${name.replace(/[.*+?^$()|[\]\\]/g, '\\$&')}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'gm'))) total += Number(m[1]);
  return total;
}

/** A value of a metric in a /metrics text (0 when absent), for several values read from one scrape. */
export function metricIn(text: string, name: string, labels = ''): number {
  const escaped = `${name}{${labels}${labels ? ',' : ''}service="`.replace(/[{}.*+?^$()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped}[a-z]+"\\} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}
