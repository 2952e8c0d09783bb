/**
 * A crowd of WebSocket clients in one process (forked by the density and storm scenarios): opens
 * its share of the connections from its own loopback source addresses, keeps them open, counts
 * what drops, times the pushes it receives, and, when asked to, reconnects every lost connection
 * as the real client does (services/shared/backoff.js: exponential backoff, with or without jitter).
 */
import WebSocket from 'ws';
import { ReconnectPolicy } from '../../services/shared/backoff.js';
import { CLIENT_RECONNECT } from '../../services/client/sdk/index.js';
import { nowMs } from './stats.js';

export type CrowdCommand =
  | {
      cmd: 'open';
      /** The gateway's WebSocket URL, without the query. */
      url: string;
      users: string[];
      /** This crowd's first connection's index over all crowds: picks its source addresses. */
      base: number;
      /** Reconnect lost connections with the client's backoff (jitter 0.2, or 0), or leave them closed. */
      reconnect?: { jitter: number };
    }
  | { cmd: 'arm' }
  | { cmd: 'collect' }
  | { cmd: 'status' };

export type CrowdEvent =
  | { ev: 'opened'; open: number; firstAt: number; lastAt: number }
  | { ev: 'progress'; open: number }
  | { ev: 'armed' }
  | { ev: 'collected'; latencies: number[] }
  | { ev: 'status'; open: number; drops: number; refusals: number; attempts: number; lastOpenAt: number; received: number }
  | { ev: 'error'; message: string };

/** Connections per source address: below the ephemeral port range (32768–60999) towards one server port. */
const PER_ADDRESS = 25_000;
/** Handshakes in flight at once while opening. */
const CONCURRENCY = 200;

const send = (e: CrowdEvent): void => void process.send!(e);
let open = 0;
let drops = 0;
let refusals = 0;
let attempts = 0;
let lastOpenAt = 0;
let armed = false;
let latencies: number[] = [];

function connect(
  url: string,
  user: string,
  index: number,
  reconnect: { jitter: number } | undefined,
  policy: ReconnectPolicy | undefined,
  first: (ok: boolean) => void,
): void {
  attempts++;
  // Spread source addresses so one (address, port) pair never runs out of ephemeral ports; the
  // first block names none (binding one makes the kernel search the ports already bound: slow).
  const block = Math.floor(index / PER_ADDRESS);
  const ws = new WebSocket(`${url}?user=${encodeURIComponent(user)}`, 'switchboard.v1', {
    perMessageDeflate: false,
    ...(block > 0 ? { localAddress: `127.0.0.${1 + block}` } : {}),
  });
  let up = false;
  ws.on('open', () => {
    up = true;
    open++;
    lastOpenAt = nowMs();
    policy?.up();
    first(true);
  });
  ws.on('unexpected-response', (_req, res) => {
    // Refused at the handshake (503: the gateway's handshake rate, or not ready).
    refusals++;
    res.resume();
    ws.terminate();
  });
  ws.on('message', (data) => {
    if (!armed) return;
    const text = data.toString();
    if (!text.startsWith('{"type":"message"')) return;
    const f = JSON.parse(text) as { body: string };
    const sentAt = Number(f.body);
    if (Number.isFinite(sentAt)) latencies.push(nowMs() - sentAt);
  });
  ws.on('error', () => undefined);
  ws.on('close', () => {
    if (up) {
      open--;
      drops++;
    }
    // Without reconnecting, a first connection that failed fails the open; with it, the next attempt may succeed.
    if (!reconnect || !policy) {
      if (!up) first(false);
      return;
    }
    setTimeout(() => connect(url, user, index, reconnect, policy, up ? () => undefined : first), policy.nextDelay());
  });
}

process.on('message', (c: CrowdCommand) => {
  (async () => {
    switch (c.cmd) {
      case 'open': {
        const firstAt = nowMs();
        for (let i = 0; i < c.users.length; i += CONCURRENCY) {
          await Promise.all(
            c.users.slice(i, i + CONCURRENCY).map(
              (user, j) =>
                new Promise<void>((resolve, reject) => {
                  const policy = c.reconnect ? new ReconnectPolicy({ ...CLIENT_RECONNECT, jitter: c.reconnect.jitter }, 10_000) : undefined;
                  connect(c.url, user, c.base + i + j, c.reconnect, policy, (ok) =>
                    ok ? resolve() : reject(new Error(`${user}: the first connection failed`)),
                  );
                }),
            ),
          );
          send({ ev: 'progress', open });
        }
        send({ ev: 'opened', open, firstAt, lastAt: nowMs() });
        return;
      }
      case 'arm':
        latencies = [];
        armed = true;
        send({ ev: 'armed' });
        return;
      case 'collect':
        armed = false;
        send({ ev: 'collected', latencies });
        return;
      case 'status':
        send({ ev: 'status', open, drops, refusals, attempts, lastOpenAt, received: latencies.length });
        return;
    }
  })().catch((err: unknown) => send({ ev: 'error', message: err instanceof Error ? err.message : String(err) }));
});
