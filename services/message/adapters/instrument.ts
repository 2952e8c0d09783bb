import { Histogram, type Registry } from 'prom-client';

/** Names of the methods of T that return promises. */
type AsyncMethods<T> = { [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never }[keyof T] & string;

export type BackendHistogram = Histogram<'backend' | 'op' | 'result'>;

export function backendHistogram(registry: Registry): BackendHistogram {
  return new Histogram({
    name: 'switchboard_message_backend_seconds',
    help: 'Duration of backend operations (log, store, presence) by operation and result',
    labelNames: ['backend', 'op', 'result'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
}

/**
 * The same backend with the duration of each named operation observed (result ok or error), so
 * an operator sees which backend a slow send or a slow consumer waits for.
 */
export function instrument<T extends object>(backend: string, target: T, ops: readonly AsyncMethods<T>[], histogram: BackendHistogram): T {
  const wrapped = new Map<PropertyKey, unknown>();
  for (const op of ops) {
    const fn = target[op] as (...args: unknown[]) => Promise<unknown>;
    wrapped.set(op, async (...args: unknown[]) => {
      const end = histogram.startTimer({ backend, op });
      try {
        const result = await fn.apply(target, args);
        end({ result: 'ok' });
        return result;
      } catch (err: unknown) {
        end({ result: 'error' });
        throw err;
      }
    });
  }
  return new Proxy(target, { get: (t, key, receiver) => (wrapped.has(key) ? wrapped.get(key) : Reflect.get(t, key, receiver)) });
}
