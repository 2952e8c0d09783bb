import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

const FATAL_ERRORS = 'switchboard_process_fatal_errors_total';

/** Counts an error nothing handled in a service's registry (see installFatalErrorPolicy). */
export function countFatalError(registry: Registry): void {
  const counter = registry.getSingleMetric(FATAL_ERRORS);
  if (counter instanceof Counter) counter.inc();
}

/** A metrics registry for one service with the process metrics (CPU, memory, event loop, GC). */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters (promtool: "non-counter metrics should not have _total suffix");
  // each is the sum of its per-type twin without the suffix, which stays.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name);
  new Counter({
    name: FATAL_ERRORS,
    help: 'Errors nothing handled (unhandled rejections, uncaught exceptions); each stops the process so that it restarts',
    registers: [registry],
  });
  return registry;
}

/**
 * A counter whose values are running totals kept elsewhere (by a library, a module), read at each
 * scrape: `totals` gives each label set's total so far, and the counter adds what grew since.
 */
export function totalsCounter<L extends string = never>(
  registry: Registry,
  o: { name: string; help: string; labelNames?: readonly L[]; totals: () => Iterable<readonly [Partial<Record<L, string>>, number]> },
): void {
  const reported = new Map<string, number>();
  new Counter<L>({
    name: o.name,
    help: o.help,
    labelNames: o.labelNames ?? [],
    registers: [registry],
    collect() {
      for (const [labels, total] of o.totals()) {
        const key = JSON.stringify(labels);
        const grew = total - (reported.get(key) ?? 0);
        if (grew > 0) this.inc(labels, grew);
        reported.set(key, total);
      }
    },
  });
}

/**
 * A counter with one label whose values are known in advance, each exported at 0 from the start:
 * a series that appears only with its first event reads as "no data" to rates and alerts (and to
 * anyone checking what a fresh pod exports) until then.
 */
export function outcomeCounter<L extends string>(registry: Registry, o: { name: string; help: string; label: L; values: readonly string[] }): Counter<L> {
  const counter = new Counter<L>({ name: o.name, help: o.help, labelNames: [o.label], registers: [registry] });
  for (const v of o.values) counter.inc({ [o.label]: v } as Partial<Record<L, string>>, 0);
  return counter;
}
