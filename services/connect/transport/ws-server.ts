import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Logger } from '../../shared/logger.js';
import { AuthError, type Authenticator } from '../auth.js';

export const SUBPROTOCOL = 'switchboard.v1';

export interface WsServerOptions {
  host: string;
  port: number;
  maxFrameBytes: number;
  heartbeatMs: number;
  authenticate: Authenticator;
  logger: Logger;
  /** False while the gateway must refuse new clients (draining or overloaded): they get 503. */
  accepting: () => boolean;
  /** A client authenticated and upgraded; returns its frame handler and close handler. */
  onClient(ws: WebSocket, user: string): { onFrame(data: string, isBinary: boolean): void; onClose(): void };
}

export interface WsServer {
  start(): Promise<number>;
  /** Stops accepting and closes the listening socket (open clients are closed by the caller). */
  stop(): Promise<void>;
  clients(): Set<WebSocket>;
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
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found: connect a WebSocket to /ws' }));
  });
  const alive = new WeakSet<WebSocket>();

  const refuse = (socket: Duplex, code: number, message: string): void => {
    const body = JSON.stringify({ error: message });
    socket.end(`HTTP/1.1 ${code} ${code === 401 ? 'Unauthorized' : code === 404 ? 'Not Found' : code === 503 ? 'Service Unavailable' : 'Bad Request'}\r\n` +
      `Connection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  };

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', (err) => opts.logger.debug({ err }, 'client socket error during upgrade'));
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws') return refuse(socket, 404, 'not found: the WebSocket endpoint is /ws');
    if (!opts.accepting()) return refuse(socket, 503, 'gateway is not accepting connections; retry another instance');
    opts.authenticate(req).then(
      (user) => {
        if (!opts.accepting()) return refuse(socket, 503, 'gateway is not accepting connections; retry another instance');
        wss.handleUpgrade(req, socket, head, (ws) => {
          alive.add(ws);
          ws.on('pong', () => alive.add(ws));
          const handlers = opts.onClient(ws, user);
          ws.on('message', (data: RawData, isBinary: boolean) => handlers.onFrame(isBinary ? '' : data.toString('utf8'), isBinary));
          ws.on('close', () => handlers.onClose());
          ws.on('error', (err) => opts.logger.debug({ err }, 'client socket error'));
        });
      },
      (err: unknown) => {
        if (!(err instanceof AuthError)) opts.logger.error({ err }, 'authentication failed unexpectedly');
        refuse(socket, 401, err instanceof AuthError ? err.message : 'authentication failed');
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
    start: () =>
      new Promise<number>((resolve, reject) => {
        http.once('error', reject);
        http.listen(opts.port, opts.host, () => {
          http.off('error', reject);
          resolve((http.address() as AddressInfo).port);
        });
      }),
    stop: () =>
      (stopping ??= new Promise<void>((resolve) => {
        clearInterval(heartbeat);
        http.close(() => resolve());
        http.closeIdleConnections();
      })),
    clients: () => wss.clients,
  };
}
