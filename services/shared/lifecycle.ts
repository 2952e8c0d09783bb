import { createLogger, type Logger } from './logger.js';
import { settingsFrom, type RawSettings } from './config.js';
import { ConfigError, UnavailableError } from './errors.js';
import type { Registry } from 'prom-client';
import { countFatalError } from './metrics.js';

/** The two calls every service exposes (ARCHITECTURE.md house style). */
export interface Service<A> {
  start(): Promise<A>;
  stop(): Promise<void>;
}

/** Wraps a stop function so that it runs once and every call returns the same promise. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let p: Promise<void> | undefined;
  return () => (p ??= fn());
}

/** What did not answer within its time: unavailable for now (UNAVAILABLE at the edges; a retry may do). */
export class TimeoutError extends UnavailableError {
  constructor(
    message: string,
    readonly afterMs: number,
  ) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/** Resolves as `promise` does, or rejects with a TimeoutError (`message`) if it takes longer than `ms`. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(message, ms)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One time budget for the phases of a stop: each phase gets what the earlier ones left, so the
 * whole stop ends inside the budget (and inside Kubernetes' grace period) however many phases hang.
 */
export class Deadline {
  private readonly end: number;
  constructor(
    budgetMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.end = now() + budgetMs;
  }

  /** Milliseconds left. */
  get leftMs(): number {
    return Math.max(0, this.end - this.now());
  }

  /** `promise`, or a rejection with `message` when the budget runs out first. */
  run<T>(promise: Promise<T>, message: string): Promise<T> {
    return withTimeout(promise, this.leftMs, message);
  }
}

/** Sleeps `ms` (unref'd so it never holds the process open). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export interface SignalOptions {
  /** A repeat of a signal within this window is the same keypress relayed by a parent (npm, tsx). */
  repeatWindowMs?: number;
  now?: () => number;
  exit?: (code: number) => void;
}

/**
 * The SIGTERM/SIGINT handler of a main.ts: stops the services (in reverse order) and exits 0, or
 * exits 1 when stopping fails or a deliberate second signal arrives. A terminal's Ctrl-C reaches
 * every process of the group, and npm and tsx relay it to their child as well, so the service
 * sees one keypress two or three times within milliseconds: repeats within `repeatWindowMs` of
 * the first signal are ignored.
 */
export function createSignalHandler(services: ReadonlyArray<Service<unknown>>, logger: Logger, opts: SignalOptions = {}): (signal: NodeJS.Signals) => void {
  const windowMs = opts.repeatWindowMs ?? 1000;
  const now = opts.now ?? Date.now;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let firstAt: number | undefined;
  return (signal) => {
    if (firstAt !== undefined) {
      if (now() - firstAt < windowMs) {
        logger.debug({ signal }, 'signal repeated within the relay window (one keypress relayed by a parent process): ignored');
        return;
      }
      logger.warn({ signal }, 'second signal: exiting now');
      exit(1);
      return;
    }
    firstAt = now();
    logger.info({ signal }, 'stopping');
    (async () => {
      for (const s of [...services].reverse()) await s.stop();
    })().then(
      () => {
        logger.info('stopped');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        exit(1);
      },
    );
  };
}

export interface FatalErrorOptions {
  /** Where the errors come from (the process). */
  events?: Pick<NodeJS.EventEmitter, 'on'>;
  exit?: (code: number) => void;
  /** Longest graceful stop before the exit. */
  deadlineMs?: number;
}

/**
 * The last resort for an error nothing handled (an unhandled rejection, an uncaught exception):
 * the state of the process is unknown, so it is logged, counted
 * (switchboard_process_fatal_errors_total), the services get a bounded graceful stop, and the
 * process exits 1 so that its supervisor (the kubelet) starts a fresh one. Handlers at the call
 * sites come first; this only catches what slipped past them.
 */
export function installFatalErrorPolicy(
  services: ReadonlyArray<Service<unknown> & { registry?: Registry }>,
  logger: Logger,
  opts: FatalErrorOptions = {},
): void {
  const events = opts.events ?? process;
  const exit = opts.exit ?? ((code: number) => process.exit(code));
  let fatal = false;
  const onFatal = (kind: string) => (err: unknown) => {
    // Counted by each service of the process (every one of its registries reports it).
    for (const s of services) if (s.registry) countFatalError(s.registry);
    logger.fatal({ err, kind }, `${kind}: stopping so that the process restarts`);
    if (fatal) return;
    fatal = true;
    const stopAll = (async () => {
      for (const s of [...services].reverse()) await s.stop();
    })();
    withTimeout(stopAll, opts.deadlineMs ?? 10_000, 'graceful stop timed out')
      .catch((e: unknown) => logger.error({ err: e }, 'stop after a fatal error failed'))
      .finally(() => exit(1));
  };
  events.on('unhandledRejection', onFatal('unhandled promise rejection'));
  events.on('uncaughtException', onFatal('uncaught exception'));
}

/** Runs services from a main.ts until SIGTERM/SIGINT (see createSignalHandler), with the fatal-error policy. */
export function runUntilSignal(services: ReadonlyArray<Service<unknown> & { registry?: Registry }>, logger: Logger): void {
  const handler = createSignalHandler(services, logger);
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
  installFatalErrorPolicy(services, logger);
}

/**
 * The start-up of every main.ts: settings from the environment and `--flags`, then `start`; a bad
 * setting or a failed start is logged as one fatal line and exits 1.
 */
export async function runMain(name: string, start: (settings: RawSettings) => Promise<void>): Promise<void> {
  const format = process.env.LOG_FORMAT;
  const boot = createLogger(name, 'info', format === 'json' || format === 'pretty' ? format : 'auto');
  try {
    await start(settingsFrom(process.env, process.argv.slice(2)));
  } catch (err: unknown) {
    if (err instanceof ConfigError) boot.fatal(err.message);
    else boot.fatal({ err }, `${name} failed to start`);
    process.exit(1);
  }
}
