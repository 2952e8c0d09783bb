import { Worker } from 'node:worker_threads';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LevelWithSilent } from 'pino';
import type { Logger, LogFormat } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import { UnavailableError } from '../../shared/errors.js';
import type { KafkaLogOptions } from './kafka-log.js';
import type { AssignmentListener, BatchHandler, LogBatch, MessageLog, SendEntry } from './log.js';

/** What the thread is started with: the Kafka log's settings and how it logs (its logger cannot cross). */
export interface KafkaThreadData {
  options: Omit<KafkaLogOptions, 'logger'>;
  log: { name: string; level: LevelWithSilent; format: LogFormat };
}

/** An error as it crosses the thread boundary. */
export interface ThreadError {
  message: string;
  unavailable: boolean;
}

/** Main thread → Kafka thread. */
export type ToThread =
  | { t: 'call'; id: number; op: 'start' | 'consume' | 'stopConsuming' | 'stop' }
  | { t: 'append'; items: { id: number; entry: SendEntry }[] }
  | { t: 'handled'; id: number; error?: ThreadError };

/** Kafka thread → main thread. */
export type FromThread =
  | { t: 'reply'; id: number; error?: ThreadError }
  | { t: 'acks'; items: { id: number; error?: ThreadError }[] }
  | { t: 'batch'; id: number; batch: LogBatch }
  | { t: 'assignment'; partitions: number[] }
  | { t: 'status'; health: CheckResult; requests: [string, number][]; restarts: number };

export interface KafkaLogThreadOptions extends KafkaLogOptions {
  /** Level and format of the thread's own logger (the main thread's logger cannot cross). */
  threadLog: { name: string; level: LevelWithSilent; format: LogFormat };
}

/** The worker's module beside this one: `.ts` under tsx (tests, `npm run start:message`), `.js` compiled. */
const WORKER = new URL(`./kafka-log-thread-worker${extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/**
 * The Kafka log (createKafkaLog) run on a thread of its own, behind the same MessageLog. kafkajs
 * decodes every fetch, encodes every produce and allocates for both; on the main thread that work
 * and its garbage collection share the event loop with the gRPC calls, so an `accepted` waits
 * behind the consumer's fetches and the pipeline's store writes and pushes. Here the main thread
 * keeps the pipeline and the calls; the thread keeps kafkajs, its timers and its heap, and the
 * two exchange entries (appends, batches) and their outcomes as messages, a turn of the event loop's
 * worth at a time. A thread that fails is an error nothing handled: the process stops and restarts.
 */
export function createKafkaLogOnThread(opts: KafkaLogThreadOptions): MessageLog {
  const { logger, threadLog, ...options } = opts;
  let worker: Worker | undefined;
  let nextId = 1;
  const calls = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  const appends = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let outgoing: { id: number; entry: SendEntry }[] = [];
  let flushing = false;
  let handler: BatchHandler | undefined;
  let onAssignment: AssignmentListener | undefined;
  let health: CheckResult = { ok: false, detail: 'kafka thread not started' };
  let requests = new Map<string, number>();
  let restarts = 0;
  let stopping = false;

  const toError = (e: ThreadError): Error => (e.unavailable ? new UnavailableError(e.message) : new Error(e.message));
  const post = (m: ToThread): void => worker?.postMessage(m);
  /** Fails what waits on a thread that is gone. */
  const failPending = (message: string): void => {
    for (const waiting of [calls, appends]) {
      for (const p of waiting.values()) p.reject(new UnavailableError(message));
      waiting.clear();
    }
  };

  function spawn(): Worker {
    const data: KafkaThreadData = { options, log: threadLog };
    // tsx's loader does not reach worker threads by itself: a TypeScript worker registers it first
    // (found from the working directory, as `node --import tsx` finds it).
    const w = WORKER.pathname.endsWith('.ts')
      ? new Worker(`import('tsx/esm/api').then((t) => { t.register(); return import(${JSON.stringify(WORKER.href)}); })`, { eval: true, workerData: data })
      : new Worker(WORKER, { workerData: data });
    // The services' own handles keep the process alive, not this thread.
    w.unref();
    w.on('message', (m: FromThread) => {
      switch (m.t) {
        case 'reply': {
          const p = calls.get(m.id);
          calls.delete(m.id);
          if (m.error) p?.reject(toError(m.error));
          else p?.resolve();
          return;
        }
        case 'acks':
          for (const a of m.items) {
            const p = appends.get(a.id);
            appends.delete(a.id);
            if (a.error) p?.reject(toError(a.error));
            else p?.resolve();
          }
          return;
        case 'batch': {
          const h = handler;
          const done = h ? h(m.batch) : Promise.reject(new Error('no consumer on the main thread'));
          done.then(
            () => post({ t: 'handled', id: m.id }),
            (err: unknown) => post({ t: 'handled', id: m.id, error: { message: err instanceof Error ? err.message : String(err), unavailable: err instanceof UnavailableError } }),
          );
          return;
        }
        case 'assignment':
          onAssignment?.(m.partitions);
          return;
        case 'status':
          health = m.health;
          requests = new Map(m.requests);
          restarts = m.restarts;
          return;
      }
    });
    w.on('error', (err) => {
      health = { ok: false, detail: `kafka thread failed: ${err.message}` };
      failPending(`log unavailable: kafka thread failed: ${err.message}`);
      // Nothing consumes or produces any more: as for an error the main thread did not handle,
      // the process stops and its supervisor starts a fresh one.
      process.nextTick(() => {
        throw err;
      });
    });
    w.on('exit', (code) => {
      if (worker === w) worker = undefined;
      if (!stopping) logger.error({ code }, 'kafka thread exited');
      health = { ok: false, detail: `kafka thread exited (${code})` };
      failPending('log unavailable: kafka thread exited');
    });
    return w;
  }

  function call(op: 'start' | 'consume' | 'stopConsuming' | 'stop'): Promise<void> {
    if (!worker) return Promise.reject(new UnavailableError('log unavailable: kafka thread not running'));
    const id = nextId++;
    const done = new Promise<void>((resolve, reject) => calls.set(id, { resolve, reject }));
    post({ t: 'call', id, op });
    return done;
  }

  /** The appends of this turn of the event loop go to the thread as one message. */
  function flush(): void {
    flushing = false;
    const items = outgoing;
    outgoing = [];
    if (items.length === 0) return;
    if (worker) return post({ t: 'append', items });
    for (const { id } of items) appends.get(id)?.reject(new UnavailableError('log unavailable: kafka thread not running'));
    for (const { id } of items) appends.delete(id);
  }

  return {
    async start() {
      stopping = false;
      worker ??= spawn();
      await call('start');
    },
    append(entry) {
      if (!worker || stopping) return Promise.reject(new UnavailableError(stopping ? 'log is stopping' : 'log unavailable: producer not connected'));
      const id = nextId++;
      const done = new Promise<void>((resolve, reject) => appends.set(id, { resolve, reject }));
      outgoing.push({ id, entry });
      if (!flushing) {
        flushing = true;
        setImmediate(flush);
      }
      return done;
    },
    async consume(h, listener) {
      handler = h;
      onAssignment = listener;
      await call('consume');
    },
    async stopConsuming() {
      if (worker) await call('stopConsuming');
    },
    async stop() {
      stopping = true;
      const w = worker;
      if (!w) return;
      // The appends accepted so far go out ahead of the stop (the log finishes them first).
      flush();
      try {
        await call('stop');
      } finally {
        worker = undefined;
        await w.terminate();
      }
    },
    requestCounts: () => requests,
    consumerRestarts: () => restarts,
    health: () => health,
  };
}
