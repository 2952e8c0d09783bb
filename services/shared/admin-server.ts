import { listen } from './listen.js';
import { createServer, type Server } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import type { Logger } from './logger.js';
import { readiness, type ReadinessChecks } from './health.js';

export interface AdminServerOptions {
  host: string;
  port: number;
  registry: Registry;
  checks: ReadinessChecks;
  logger: Logger;
  /** /livez fails when the event loop was blocked longer than this within the last window. */
  maxEventLoopDelayMs?: number;
}

/** HTTP admin endpoints: /livez (process only), /readyz (JSON checks), /metrics (Prometheus). */
export interface AdminServer {
  start(): Promise<number>;
  stop(): Promise<void>;
}

/** Creates the admin HTTP server shared by both services. */
export function createAdminServer(opts: AdminServerOptions): AdminServer {
  const maxDelayMs = opts.maxEventLoopDelayMs ?? 10_000;
  const loop = monitorEventLoopDelay({ resolution: 50 });
  // The histogram is reset every window so /livez judges recent behaviour only.
  let windowMaxMs = 0;
  const windowTimer = setInterval(() => {
    windowMaxMs = loop.max / 1e6;
    loop.reset();
  }, 10_000);
  windowTimer.unref();

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(405, { error: 'method not allowed' });
      return;
    }
    if (path === '/livez') {
      const delayMs = Math.max(windowMaxMs, loop.max / 1e6);
      json(delayMs <= maxDelayMs ? 200 : 503, { live: delayMs <= maxDelayMs, eventLoopDelayMaxMs: Math.round(delayMs) });
    } else if (path === '/readyz') {
      const body = readiness(opts.checks());
      json(body.ready ? 200 : 503, body);
    } else if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          opts.logger.error({ err }, 'metrics collection failed');
          json(500, { error: 'metrics collection failed' });
        },
      );
    } else {
      json(404, { error: 'not found', endpoints: ['/livez', '/readyz', '/metrics'] });
    }
  });
  server.keepAliveTimeout = 5_000;

  let stopping: Promise<void> | undefined;
  return {
    start: () => {
      loop.enable();
      return listen(server, opts.port, opts.host);
    },
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        clearInterval(windowTimer);
        loop.disable();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
