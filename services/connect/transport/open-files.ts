import { readFileSync } from 'node:fs';

/** Descriptors a gateway keeps for what is not a client (streams to Message pods, DNS, the admin port, files), at most. */
export const RESERVED_DESCRIPTORS = 1000;

/**
 * The process's limit on open files (its soft limit: Node raises it to the hard limit at start),
 * from /proc/self/limits; undefined where that cannot be read (not Linux) or says unlimited.
 */
export function openFilesLimit(read: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number | undefined {
  try {
    const line = read()
      .split('\n')
      .find((l) => l.startsWith('Max open files'));
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The client connections a gateway can hold: CONNECT_MAX_CONNECTIONS, or fewer when the process
 * may not open that many files (each connection is one), keeping RESERVED_DESCRIPTORS for the rest.
 * Beyond the limit a connection would fail in accept (EMFILE) instead of getting a 503.
 */
export function connectionCap(configured: number, limit: number | undefined): { max: number; capped: boolean } {
  if (limit === undefined) return { max: configured, capped: false };
  // A tenth of a small limit is enough for the rest.
  const reserved = Math.min(RESERVED_DESCRIPTORS, Math.floor(limit / 10));
  if (configured <= limit - reserved) return { max: configured, capped: false };
  return { max: Math.max(1, limit - reserved), capped: true };
}
