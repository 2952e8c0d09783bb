import type { Logger } from './logger.js';

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

/** Resolves after `ms`, or rejects with `message` if `promise` takes longer. */
export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Sleeps `ms` (unref'd so it never holds the process open). */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/**
 * Runs services from a main.ts: stops them on SIGTERM/SIGINT (in reverse order) and exits 0,
 * or exits 1 when stopping fails or a second signal arrives.
 */
export function runUntilSignal(services: ReadonlyArray<Service<unknown>>, logger: Logger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    (async () => {
      for (const s of [...services].reverse()) await s.stop();
    })().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}
