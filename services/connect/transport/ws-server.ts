import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from '../../shared/logger.js';
import { AuthError, type Authenticator } from '../auth.js';
import { SUBPROTOCOL } from '../../shared/ws-protocol.js';
import { listen } from '../../shared/listen.js';
import type { Refusal } from '../domain/admission.js';
import type { ClientSocket } from '../domain/session.js';

const STATUS_TEXT: Record<Refusal['status'], string> = {
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};

export interface WsServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  heartbeatMs: number;
  authenticate: Authenticator;
  logger: Logger;
  /** Checks before authentication (draining, origin, capacity, handshake rate). */
  precheck: (req: IncomingMessage) => Refusal | undefined;
  /** Checks once the user is known (per-user connection cap). */
  admit: (user: string) => Refusal | undefined;
  onRefused?: (reason: string) => void;
  /** Plain HTTP requests (not upgrades); returns false when it does not serve the path (→ 404). */
  onHttpRequest?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** A client authenticated and upgraded; returns its frame handler and close handler. */
  onClient(socket: ClientSocket, user: string): { onFrame(data: string, isBinary: boolean): void; onClose(): void };
}

export interface WsServer {
  start(): Promise<number>;
  /** Stops accepting and closes the listening socket (open clients are closed by the caller). */
  stop(): Promise<void>;
  clients(): Set<WebSocket>;
}

/**
 * Holds a client socket's writes until the end of the event-loop turn, so that the frames one turn
 * writes to a socket (the pushes of every stream message read in that turn, an `accepted` among
 * them) leave in one write rather than one system call each; at a push rate of tens of thousands of
 * frames per second, those calls were most of the gateway's CPU. The socket is released in the same
 * turn (`setImmediate` runs after the turn's I/O callbacks), so no frame waits for a later one.
 */
function createTurnCork(): (socket: Duplex) => void {
  let held = new Set<Duplex>();
  const release = (): void => {
    const sockets = held;
    held = new Set();
    for (const socket of sockets) socket.uncork();
  };
  return (socket) => {
    if (held.has(socket)) return;
    if (held.size === 0) setImmediate(release);
    held.add(socket);
    socket.cork();
  };
}

/**
 * The public WebSocket endpoint: `/ws` only, authenticated before the upgrade (401 without a
 * WebSocket otherwise), sub-protocol switchboard.v1, frames larger than the limit closed with
 * 1009 by ws, and protocol-level pings every heartbeat so dead clients are dropped.
 */
export function createWsServer(opts: WsServerOptions): WsServer {
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: opts.maxFrameBytes,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false),
  });
  const http: Server = createServer((req, res) => {
    if (opts.onHttpRequest?.(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found: connect a WebSocket to /ws' }));
  });
  const alive = new WeakSet<WebSocket>();
  const holdForTurn = createTurnCork();

  const refuse = (socket: Duplex, r: Refusal): void => {
    opts.onRefused?.(r.reason);
    const body = JSON.stringify({ error: r.message });
    socket.end(
      `HTTP/1.1 ${r.status} ${STATUS_TEXT[r.status]}\r\n` +
        `Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `${r.status === 503 || r.status === 429 ? 'Retry-After: 1\r\n' : ''}\r\n${body}`,
    );
  };

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => opts.logger.debug({ err }, 'client socket error during upgrade'));
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws') return refuse(socket, { status: 404, message: 'not found: the WebSocket endpoint is /ws', reason: 'not_found' });
    const early = opts.precheck(req);
    if (early) return refuse(socket, early);
    opts.authenticate(req).then(
      (user) => {
        const late = opts.admit(user);
        if (late) return refuse(socket, late);
        wss.handleUpgrade(req, socket, head, (ws) => {
          alive.add(ws);
          ws.on('pong', () => alive.add(ws));
          const handlers = opts.onClient(
            {
              send(text) {
                holdForTurn(socket);
                ws.send(text);
              },
              get bufferedAmount() {
                return ws.bufferedAmount;
              },
              close: (code, reason) => ws.close(code, reason),
            },
            user,
          );
          ws.on('message', (data: RawData, isBinary: boolean) => handlers.onFrame(isBinary ? '' : data.toString('utf8'), isBinary));
          ws.on('close', () => handlers.onClose());
          ws.on('error', (err) => opts.logger.debug({ err }, 'client socket error'));
        });
      },
      (err: unknown) => {
        if (!(err instanceof AuthError)) opts.logger.error({ err }, 'authentication failed unexpectedly');
        refuse(socket, { status: 401, message: err instanceof AuthError ? err.message : 'authentication failed', reason: 'unauthorized' });
      },
    );
  });

  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, opts.heartbeatMs);
  heartbeat.unref();

  let stopping: Promise<void> | undefined;
  return {
    start: () => listen(http, opts.port, opts.host),
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        http.close(() => resolve());
        http.closeIdleConnections();
      })),
    clients: () => wss.clients,
  };
}
