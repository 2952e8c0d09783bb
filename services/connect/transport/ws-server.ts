import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { KeyPair } from './certificate.js';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
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
  /** Terminate TLS here (wss://), with the certificate given by setCertificate before start; false: plain ws://. */
  tls?: boolean;
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
  /** A client authenticated and upgraded; returns what its frames and its close go to (its session). */
  onClient(socket: ClientSocket, user: string): ClientHandler;
}

/** What a client's socket tells the gateway: each text frame (a binary one is refused), and its close. */
export interface ClientHandler {
  handleFrame(data: string, isBinary: boolean): void;
  markClosed(): void;
}

export interface WsServer {
  start(): Promise<number>;
  /** Stops accepting and closes the listening socket (open clients are closed by the caller). */
  stop(): Promise<void>;
  clients(): Set<WebSocket>;
  /** Serves new TLS connections with this certificate and key (those open keep theirs); only with `tls`. */
  setCertificate(pair: KeyPair): void;
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

/** A client's socket as its session writes to it: each write held for the turn (createTurnCork). */
class TurnCorkedSocket implements ClientSocket {
  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Duplex,
    private readonly holdForTurn: (socket: Duplex) => void,
  ) {}

  send(text: string): void {
    this.holdForTurn(this.socket);
    this.ws.send(text);
  }

  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }
}

/** Ticks per heartbeat interval; each pings its share of the clients. */
export const HEARTBEAT_SLICES = 20;

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
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (opts.onHttpRequest?.(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found: connect a WebSocket to /ws' }));
  };
  const tls = opts.tls ? createTlsServer({}, onRequest) : undefined;
  const http: Server = tls ?? createServer(onRequest);
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

  // Shared by every client's socket (`this` is the socket), so an idle connection holds no closures of its own for them.
  function onPong(this: WebSocket): void {
    alive.add(this);
  }
  function onSocketError(err: Error): void {
    opts.logger.debug({ err }, 'client socket error');
  }
  // Module-level, not a closure of the upgrade's handler: while it is on the socket (until `attach`
  // takes it off, or for the life of a refused socket) it keeps no request or head alive.
  function onUpgradeError(err: Error): void {
    opts.logger.debug({ err }, 'client socket error during upgrade');
  }

  /**
   * An upgraded client: what it holds for as long as it is open. Kept apart from the upgrade's
   * handler, whose scope holds the HTTP request and its head, so that an idle connection retains neither.
   */
  const attach = (ws: WebSocket, socket: Duplex, user: string): void => {
    // ws handles the socket's errors from here on.
    socket.off('error', onUpgradeError);
    alive.add(ws);
    ws.on('pong', onPong);
    const client = opts.onClient(new TurnCorkedSocket(ws, socket, holdForTurn), user);
    ws.on('message', (data: RawData, isBinary: boolean) => client.handleFrame(isBinary ? '' : data.toString('utf8'), isBinary));
    ws.on('close', () => client.markClosed());
    ws.on('error', onSocketError);
  };

  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', onUpgradeError);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/ws') {
      refuse(socket, { status: 404, message: 'not found: the WebSocket endpoint is /ws', reason: 'not_found' });
      return;
    }
    const early = opts.precheck(req);
    if (early) {
      refuse(socket, early);
      return;
    }
    opts.authenticate(req).then(
      (user) => {
        const late = opts.admit(user);
        if (late) {
          refuse(socket, late);
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws) => attach(ws, socket, user));
      },
      (err: unknown) => {
        if (!(err instanceof AuthError)) opts.logger.error({ err }, 'authentication failed unexpectedly');
        refuse(socket, { status: 401, message: err instanceof AuthError ? err.message : 'authentication failed', reason: 'unauthorized' });
      },
    );
  });

  // Every client is pinged once per heartbeat, a slice of them at each of HEARTBEAT_SLICES ticks:
  // pinging all of them at once stalled the event loop (10,000 sockets: about 0.3 s, every pong
  // arriving right after), and with it every push. A client that has not answered its last ping
  // by its next turn is dropped.
  let round: WebSocket[] = [];
  let turn = 0;
  let tick = 0;
  const heartbeat = setInterval(
    () => {
      // A round is HEARTBEAT_SLICES ticks, whatever the number of clients: each is pinged once per interval.
      const slice = tick++ % HEARTBEAT_SLICES;
      if (slice === 0) {
        round = [...wss.clients];
        turn = 0;
      }
      const end = Math.min(round.length, Math.ceil((round.length * (slice + 1)) / HEARTBEAT_SLICES));
      for (; turn < end; turn++) {
        const ws = round[turn]!;
        if (ws.readyState !== WebSocket.OPEN) continue;
        if (!alive.has(ws)) {
          ws.terminate();
          continue;
        }
        alive.delete(ws);
        ws.ping();
      }
      // What the round holds is let go at its end.
      if (slice === HEARTBEAT_SLICES - 1) round = [];
    },
    Math.max(1, Math.floor(opts.heartbeatMs / HEARTBEAT_SLICES)),
  );
  heartbeat.unref();

  let stopping: Promise<void> | undefined;
  return {
    setCertificate(pair) {
      if (!tls) throw new Error('the WebSocket server was started without TLS');
      tls.setSecureContext({ cert: pair.cert, key: pair.key });
    },
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
