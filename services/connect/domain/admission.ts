import type { ConnectConfig } from '../config.js';
import type { SessionRegistry } from './session-registry.js';
import { TokenBucket } from './token-bucket.js';

/** Why a WebSocket upgrade is refused: the HTTP answer, and a reason for the metric. */
export interface Refusal {
  status: 401 | 403 | 404 | 429 | 503;
  message: string;
  reason: string;
}

/**
 * Who may open a session (docs/PROTOCOL.md §2): before authentication (draining, origin allow-list,
 * capacity, handshake rate) and after it (connections per user).
 */
export function createAdmission(deps: { config: ConnectConfig['admission']; sessions: SessionRegistry; draining: () => boolean; now: () => number }): {
  precheck(origin: string | undefined): Refusal | undefined;
  admit(user: string): Refusal | undefined;
} {
  const { config, sessions } = deps;
  const handshakes = new TokenBucket(config.handshakeRate, config.handshakeBurst, deps.now);
  const allowedOrigins = config.allowedOrigins ? new Set(config.allowedOrigins) : undefined;
  return {
    precheck(origin) {
      if (deps.draining()) return { status: 503, message: 'gateway is draining; connect to another instance', reason: 'draining' };
      if (allowedOrigins && origin !== undefined && !allowedOrigins.has(origin)) {
        return { status: 403, message: `origin ${origin.slice(0, 100)} is not allowed`, reason: 'origin' };
      }
      if (sessions.size >= config.maxConnections) return { status: 503, message: 'gateway is full; retry later or another instance', reason: 'capacity' };
      if (!handshakes.take()) return { status: 503, message: 'too many new connections; retry later', reason: 'handshake_rate' };
      return undefined;
    },
    admit(user) {
      if (sessions.countOf(user) >= config.maxConnectionsPerUser) {
        return { status: 429, message: `user has ${config.maxConnectionsPerUser} connections on this gateway already`, reason: 'user_cap' };
      }
      return undefined;
    },
  };
}
