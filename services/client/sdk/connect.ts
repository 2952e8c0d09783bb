import { ChatClient, type ChatClientOptions, type ClientSocket, type SocketHandlers } from './chat-client.js';
import { SUBPROTOCOL } from './protocol.js';

/** Anything with the standard WebSocket API: the browser's, Node's global one (22+), or the `ws` package's. */
export interface WebSocketLike {
  onopen: ((event: never) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: { code: number; reason: string }) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor: `globalThis.WebSocket`, or `WebSocket` from `ws`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** How to reach a gateway and who to be. */
export interface ConnectOptions extends Partial<Omit<ChatClientOptions, 'onEvent' | 'open'>> {
  /** The gateway's WebSocket URL: `ws[s]://host:21005/ws`. */
  url: string | URL;
  /**
   * A JWT whose `sub` is the user, or a function giving one for each connection attempt (called
   * again on every reconnect, so an expired token is replaced). A failing function is retried
   * with the reconnect backoff.
   */
  token?: string | (() => string | Promise<string>);
  /** On a gateway in `AUTH_MODE=insecure-dev` only: the user id to be. */
  user?: string;
  /** Reports what happens: connected, messages in order, sends accepted or failed, … */
  onEvent: ChatClientOptions['onEvent'];
  /** The WebSocket implementation; default `globalThis.WebSocket` (browsers, Node 22+). */
  WebSocket?: WebSocketConstructor;
  /**
   * Opens the socket yourself instead (to send headers, trust a CA, or report the HTTP status of a
   * refused upgrade, as the terminal client does with `ws`): the URL already carries the token.
   */
  open?: (url: URL, handlers: SocketHandlers) => ClientSocket;
  /** What to report when a socket closes before it opened (a browser hides the HTTP status). */
  unopenedReason?: () => string;
}

/**
 * Connects to a gateway and keeps the connection: reconnects with backoff and jitter, resends
 * what was not accepted with the same ids, catches up and reports every message once, in order.
 *
 * ```ts
 * import { connect } from 'switchboard/client';
 * const chat = connect({ url: 'wss://chat.example.com/ws', token: () => fetchToken(), onEvent: (e) => console.log(e) });
 * chat.send('alice', 'hello');
 * ```
 */
export function connect(options: ConnectOptions): ChatClient {
  const { url, token, user, WebSocket: Impl, open, unopenedReason, ...rest } = options;
  const opener = open ?? standardSocket(Impl ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket, unopenedReason);
  const client = new ChatClient({
    newId: randomId,
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (t) => clearTimeout(t as Parameters<typeof clearTimeout>[0]),
    ...rest,
    open: (handlers) => {
      // The socket opens once the token is there; a close before then cancels it.
      let socket: ClientSocket | undefined;
      let cancelled = false;
      const begin = (jwt: string | undefined): void => {
        if (cancelled) return;
        const target = new URL(url);
        if (jwt) target.searchParams.set('token', jwt);
        else if (user !== undefined) target.searchParams.set('user', user);
        socket = opener(target, handlers);
      };
      if (typeof token === 'function')
        Promise.resolve()
          .then(token)
          .then(begin, (err: unknown) => {
            if (!cancelled) handlers.onClose(1006, `no token: ${err instanceof Error ? err.message : String(err)}`);
          });
      else begin(token);
      return {
        send: (text) => socket?.send(text),
        close: (code, reason) => {
          cancelled = true;
          socket?.close(code, reason);
        },
      };
    },
  });
  client.start();
  return client;
}

/** Opens sockets with the standard WebSocket API and the protocol's sub-protocol. */
export function standardSocket(Impl: WebSocketConstructor | undefined, unopenedReason?: () => string): (url: URL, h: SocketHandlers) => ClientSocket {
  if (!Impl) throw new Error('no WebSocket implementation: pass one (e.g. WebSocket from the ws package on Node 20)');
  return (url, h) => {
    const ws = new Impl(url.toString(), SUBPROTOCOL);
    let opened = false;
    ws.onopen = () => {
      opened = true;
      h.onOpen();
    };
    ws.onmessage = (e) => h.onMessage(String(e.data));
    ws.onclose = (e) => h.onClose(e.code, opened ? e.reason : e.reason || unopenedReason?.() || 'gateway unreachable or refused the connection');
    return { send: (t) => ws.send(t), close: (c, r) => ws.close(c, r) };
  };
}

/** A fresh client id: 24 hex digits (crypto.getRandomValues works where randomUUID needs a secure context). */
export function randomId(): string {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
