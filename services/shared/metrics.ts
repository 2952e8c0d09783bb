import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

let fatalErrors = 0;

/** Counts an error nothing handled (see installFatalErrorPolicy); every registry reports it. */
export function countFatalError(): void {
  fatalErrors++;
}

/** A metrics registry for one service with the process metrics (CPU, memory, event loop, GC). */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  let reported = 0;
  new Counter({
    name: 'switchboard_process_fatal_errors_total',
    help: 'Errors nothing handled (unhandled rejections, uncaught exceptions); each stops the process so that it restarts',
    registers: [registry],
    collect() {
      this.inc(fatalErrors - reported);
      reported = fatalErrors;
    },
  });
  return registry;
}
