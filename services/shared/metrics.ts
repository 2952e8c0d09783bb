import { Registry, collectDefaultMetrics } from 'prom-client';

/** A metrics registry for one service with the process metrics (CPU, memory, event loop, GC). */
export function createRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
