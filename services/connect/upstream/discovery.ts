import { promises as dns } from 'node:dns';
import { isIP } from 'node:net';
import type { Logger } from '../../shared/logger.js';
import type { DiscoverySpec } from '../config.js';

/** `host:port` with IPv6 addresses bracketed. */
export function formatEndpoint(address: string, port: number): string {
  return isIP(address) === 6 ? `[${address}]:${port}` : `${address}:${port}`;
}

/** A resolver of the Message name to addresses: IPv4 when there are any, else IPv6 (one per pod). */
export type AddressResolver = (host: string) => Promise<string[]>;

/**
 * Resolves with the DNS server at `server` (IP:PORT) when given, else with the system resolver
 * (getaddrinfo, so /etc/hosts names such as localhost work). A dual-stack pod has an A and an
 * AAAA record; taking one family keeps one stream per pod. An answer of "no such name / no
 * records" is an empty set; any other failure throws, and the previous set is kept.
 */
export function createAddressResolver(server?: string): AddressResolver {
  if (server) {
    const resolver = new dns.Resolver({ timeout: 2000, tries: 2 });
    resolver.setServers([server]);
    return async (host) => {
      const v4 = await resolver.resolve4(host).catch(absentAsEmpty);
      if (v4.length > 0) return v4;
      return resolver.resolve6(host).catch(absentAsEmpty);
    };
  }
  return async (host) => {
    const all = await dns.lookup(host, { all: true }).catch(absentAsEmpty);
    const v4 = all.filter((a) => a.family === 4).map((a) => a.address);
    return v4.length > 0 ? v4 : all.filter((a) => a.family === 6).map((a) => a.address);
  };
}

function absentAsEmpty(err: NodeJS.ErrnoException): never[] {
  if (err.code === 'ENOTFOUND' || err.code === 'ENODATA') return [];
  throw err;
}

export interface Discovery {
  /** Resolves now and then every interval; `onChange` gets every new endpoint set. */
  start(onChange: (endpoints: string[]) => void): void;
  /** Asks for a resolution soon (e.g. after a stream failed); coalesced. */
  refresh(): void;
  stop(): void;
}

/** Endpoint discovery: a fixed list, or DNS re-resolved periodically and on demand. */
export function createDiscovery(spec: DiscoverySpec, opts: { intervalMs: number; resolver?: AddressResolver; dnsServer?: string; logger: Logger }): Discovery {
  if (spec.kind === 'static') {
    return {
      start: (onChange) => onChange([...spec.endpoints]),
      refresh: () => undefined,
      stop: () => undefined,
    };
  }
  const resolve = opts.resolver ?? (isIP(spec.host) ? async () => [spec.host] : createAddressResolver(opts.dnsServer));
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let stopped = false;
  let last = '';
  let notify: (endpoints: string[]) => void = () => undefined;

  const resolveOnce = async (): Promise<void> => {
    try {
      const addresses = await resolve(spec.host);
      const endpoints = [...new Set(addresses.map((a) => formatEndpoint(a, spec.port)))].sort();
      const key = endpoints.join(',');
      if (!stopped && key !== last) {
        last = key;
        opts.logger.info({ host: spec.host, endpoints }, 'message endpoints changed');
        notify(endpoints);
      }
    } catch (err: unknown) {
      opts.logger.warn({ err, host: spec.host }, 'resolving message endpoints failed; keeping the previous set');
    }
  };
  const run = (): void => {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = resolveOnce().finally(() => {
      running = undefined;
      if (again) {
        again = false;
        run();
      }
    });
  };

  return {
    start(onChange) {
      notify = onChange;
      run();
      timer = setInterval(run, opts.intervalMs);
      timer.unref();
    },
    refresh: run,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
