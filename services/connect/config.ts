import { z } from 'zod';
import {
  defaultInstanceId,
  internalTlsOf,
  internalTlsProblems,
  internalTlsSettings,
  internalTokenProblems,
  internalTokenSettings,
  systemUserProblems,
  systemUserSettings,
  logSettings,
  parseSettings,
  setting,
  SHARED_SETTING_DOCS,
  type RawSettings,
} from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';

/** How Connect finds Message pods (MESSAGE_DISCOVERY). */
export type DiscoverySpec = { kind: 'dns'; host: string; port: number } | { kind: 'static'; endpoints: string[] };

const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

/** Parses `dns:HOST:PORT` or `HOST:PORT,HOST:PORT`; throws with a precise message. */
export function parseDiscovery(value: string): DiscoverySpec {
  const v = value.trim();
  if (v.startsWith('dns:')) {
    const m = HOST_PORT.exec(v.slice(4));
    if (!m || Number(m[2]) > 65535) throw new Error(`expected dns:HOST:PORT; got "${value}"`);
    return { kind: 'dns', host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  }
  const endpoints = v
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  if (endpoints.length === 0) throw new Error('expected dns:HOST:PORT or HOST:PORT[,HOST:PORT…]; got nothing');
  for (const e of endpoints) {
    const m = HOST_PORT.exec(e);
    if (!m || Number(m[2]) > 65535) throw new Error(`expected HOST:PORT in the list; got "${e}"`);
  }
  return { kind: 'static', endpoints: [...new Set(endpoints)] };
}

/** Room a send frame needs beside its body: the frame's other fields and JSON. */
const FRAME_ENVELOPE_BYTES = 1024;

const schema = z.object({
  CONNECT_WS_HOST: setting.text('0.0.0.0'),
  CONNECT_WS_PORT: setting.port(21005),
  CONNECT_ADMIN_HOST: setting.text('0.0.0.0'),
  CONNECT_ADMIN_PORT: setting.port(22005),
  CONNECT_INSTANCE_ID: setting.optionalText(),
  MESSAGE_DISCOVERY: setting.text('dns:localhost:22004'),
  MESSAGE_DNS_SERVER: setting.optionalText(),
  DISCOVERY_INTERVAL: setting.duration('5s', 100),
  CONNECT_MIN_STREAMS: setting.int(1, 0, 1000),
  STREAM_BACKOFF_INITIAL: setting.duration('1s', 10),
  STREAM_BACKOFF_MULTIPLIER: setting.number(1.6, 1, 10),
  STREAM_BACKOFF_JITTER: setting.number(0.2, 0, 1, true),
  STREAM_BACKOFF_MAX: setting.duration('30s', 10),
  STREAM_BACKOFF_RESET_AFTER: setting.duration('10s'),
  STREAM_CONNECT_TIMEOUT: setting.duration('20s', 100),
  GRPC_KEEPALIVE_TIME: setting.duration('15s', 100),
  GRPC_KEEPALIVE_TIMEOUT: setting.duration('5s', 100),
  RPC_TIMEOUT: setting.duration('5s', 10),
  AUTH_MODE: setting.oneOf(['jwt', 'insecure-dev'], 'jwt'),
  AUTH_JWT_SECRET: setting.optionalText(),
  AUTH_JWKS_URL: setting.optionalText(),
  AUTH_JWT_ISSUER: setting.optionalText(),
  AUTH_JWT_AUDIENCE: setting.optionalText(),
  AUTH_CLOCK_SKEW: setting.duration('30s'),
  MAX_BODY_BYTES: setting.int(4096, 1, 1024 * 1024),
  MAX_FRAME_BYTES: setting.int(64 * 1024, 256, 16 * 1024 * 1024),
  RATE_LIMIT_PER_SECOND: setting.int(50, 1, 100_000),
  RATE_LIMIT_BURST: setting.int(100, 1, 100_000),
  CONNECT_TYPING_INTERVAL: setting.duration('2s', 0, 60_000),
  CONNECT_PRESENCE_DEBOUNCE: setting.duration('3s', 0, 60_000),
  MAX_BUFFERED_BYTES: setting.int(1024 * 1024, 1024, 1024 * 1024 * 1024),
  MAX_VIOLATIONS: setting.int(20, 1, 100_000),
  SYNC_DEFAULT_LIMIT: setting.int(100, 1, 10_000),
  SYNC_MAX_LIMIT: setting.int(500, 1, 10_000),
  HEARTBEAT_INTERVAL: setting.duration('25s', 100),
  CONNECT_DRAIN_WINDOW: setting.duration('5s'),
  CONNECT_SHUTDOWN_TIMEOUT: setting.duration('5s', 100),
  CONNECT_ALLOWED_ORIGINS: setting.text('*'),
  CONNECT_DEMO_PAGE: setting.bool(false),
  CONNECT_TLS_CERT_FILE: setting.optionalText('a file path'),
  CONNECT_TLS_KEY_FILE: setting.optionalText('a file path'),
  CONNECT_TLS_RELOAD_INTERVAL: setting.duration('30s', 100),
  CONNECT_MAX_CONNECTIONS: setting.int(50_000, 1, 10_000_000),
  CONNECT_MAX_CONNECTIONS_PER_USER: setting.int(16, 1, 100_000),
  CONNECT_HANDSHAKE_RATE: setting.int(1000, 1, 1_000_000),
  CONNECT_HANDSHAKE_BURST: setting.int(1000, 1, 1_000_000),
  ...internalTokenSettings,
  ...systemUserSettings,
  ...internalTlsSettings,
  INTERNAL_TLS_SERVER_NAME: setting.optionalText(),
  READINESS_GATE: setting.oneOf(['auto', 'on', 'off'], 'auto'),
  POD_NAME: setting.optionalText(),
  POD_NAMESPACE: setting.optionalText(),
  KUBECONFIG: setting.optionalText(),
  ...logSettings,
});

/** The names of every setting Connect reads (docs/CONFIGURATION.md; the Helm chart's `connect.env`). */
export const CONNECT_SETTINGS: readonly string[] = Object.freeze(Object.keys(schema.shape));

/** The schema, for the configuration reference (config-docs.ts). */
export const CONNECT_SCHEMA = schema;

/** What each Connect setting does: the configuration reference (docs/CONFIGURATION.md) is written from this. */
export const CONNECT_SETTING_DOCS = {
  CONNECT_WS_HOST: 'address the public WebSocket server binds (`/ws`, and the chat page at `/` when enabled)',
  CONNECT_WS_PORT: 'port of the public WebSocket server',
  CONNECT_ADMIN_HOST: 'address the admin HTTP server binds: `/livez`, `/readyz`, `/metrics`',
  CONNECT_ADMIN_PORT: 'port of the admin HTTP server',
  CONNECT_INSTANCE_ID: 'id this gateway subscribes with; default `connect-<host>-<random>`',
  MESSAGE_DISCOVERY: '`dns:HOST:PORT` (one stream per A record, AAAA when there is none: a headless Service) or a fixed list `HOST:PORT,HOST:PORT`',
  MESSAGE_DNS_SERVER: '`IP:PORT` of a DNS server to ask instead of the system resolver',
  DISCOVERY_INTERVAL: 're-resolution period of `dns:` discovery (also re-resolved after every stream failure)',
  CONNECT_MIN_STREAMS: 'streams to Message pods needed for `/readyz` 200 and the readiness gate',
  STREAM_BACKOFF_INITIAL: 'first retry delay of a stream',
  STREAM_BACKOFF_MULTIPLIER: 'growth of the retry delay per failed attempt',
  STREAM_BACKOFF_JITTER: 'random spread of each delay (0.2: ±20 %)',
  STREAM_BACKOFF_MAX: 'cap of the retry delay',
  STREAM_BACKOFF_RESET_AFTER: 'a stream must stay up this long before its backoff starts again from the first delay',
  STREAM_CONNECT_TIMEOUT: "longest wait for a stream's `subscribed` answer",
  GRPC_KEEPALIVE_TIME: 'client keepalive pings on every Message channel',
  GRPC_KEEPALIVE_TIMEOUT: 'a Message pod that does not answer a keepalive ping within this is taken for lost',
  RPC_TIMEOUT: 'deadline of a send, `sync`, `conversations` and of the presence confirmation before `welcome`',
  AUTH_MODE: '`jwt`; `insecure-dev` also accepts `?user=<id>` (the default of `npm start` only; never in production)',
  AUTH_JWT_SECRET: 'HS256 secret, ≥ 32 bytes',
  AUTH_JWKS_URL: 'JWKS URL for RS256/ES256 tokens (keys cached)',
  AUTH_JWT_ISSUER: '`iss` every token must carry, when set',
  AUTH_JWT_AUDIENCE: '`aud` every token must carry, when set',
  AUTH_CLOCK_SKEW: 'tolerance for `exp` and `nbf`',
  MAX_BODY_BYTES: "largest message body, UTF-8 bytes (`TOO_LARGE` beyond); keep it equal to Message's",
  MAX_FRAME_BYTES: 'largest WebSocket frame (closed with 1009 beyond)',
  RATE_LIMIT_PER_SECOND: 'frames a connection may send per second (`RATE_LIMITED` beyond)',
  RATE_LIMIT_BURST: 'burst of the per-connection rate',
  CONNECT_PRESENCE_DEBOUNCE:
    'a followed user (`presence`) must stay offline this long before their followers are told: a reconnect or a page reload is not a flap',
  CONNECT_TYPING_INTERVAL:
    "a connection's `typing` frames for one conversation are relayed at most once per this interval; those in between are absorbed (the indicator is still on: it lasts Message's `TYPING_TTL`)",
  MAX_BUFFERED_BYTES: 'unsent data per client before it is closed with 1013',
  MAX_VIOLATIONS: 'bad or excess frames (refilled one a second) before a close with 1008',
  SYNC_DEFAULT_LIMIT: '`limit` of a sync that names none',
  SYNC_MAX_LIMIT: 'largest `limit` of a sync',
  HEARTBEAT_INTERVAL: 'WebSocket pings; a client that has not answered the previous one is dropped',
  CONNECT_DRAIN_WINDOW: 'on SIGTERM: close frames 1001 spread over this window',
  CONNECT_SHUTDOWN_TIMEOUT: 'then this long for clients to go before they are terminated',
  CONNECT_ALLOWED_ORIGINS: 'browser origins allowed to upgrade, comma-separated, or `*`; others get 403 (clients without `Origin` are not browsers)',
  CONNECT_DEMO_PAGE: 'serve the browser chat page at `/` of the WebSocket port (default `true` under `npm start`)',
  CONNECT_TLS_CERT_FILE:
    'PEM certificate chain: the WebSocket port then serves `wss://` (and the page `https://`); with `CONNECT_TLS_KEY_FILE`. Unset: plain `ws://` (TLS at the ingress)',
  CONNECT_TLS_KEY_FILE: 'PEM private key of `CONNECT_TLS_CERT_FILE`',
  CONNECT_TLS_RELOAD_INTERVAL:
    'how often the certificate and key files are read again: a renewed pair (cert-manager rewriting the Secret) serves new connections without a restart; open ones keep theirs',
  CONNECT_MAX_CONNECTIONS: 'client connections per process (503 beyond)',
  CONNECT_MAX_CONNECTIONS_PER_USER: 'connections per user on one gateway (429 beyond)',
  CONNECT_HANDSHAKE_RATE:
    'new connections per second (503 with `Retry-After` beyond). One core of Connect takes about 3,400 a second, presence announced (`npm run bench -- density`): 1,000 keeps about a third of a core for a reconnect storm and the rest for delivery; after a gateway dies, its N clients are back in about N / this many seconds (`npm run bench -- storm`)',
  CONNECT_HANDSHAKE_BURST: 'burst of the handshake rate',
  READINESS_GATE: 'the Kubernetes readiness gate: `auto` sets it when `POD_NAME` and `POD_NAMESPACE` are set',
  POD_NAME: "this pod's name (downward API), for the readiness gate",
  POD_NAMESPACE: "this pod's namespace (downward API), for the readiness gate",
  KUBECONFIG: 'kubeconfig for the readiness gate outside a cluster (in a pod the ServiceAccount is used)',
  INTERNAL_TLS_SERVER_NAME:
    "the name a Message pod's certificate must carry (a pod is reached at its address); default the host of `MESSAGE_DISCOVERY`'s `dns:` name (the headless Service), or each listed host",
  ...SHARED_SETTING_DOCS,
} satisfies Record<keyof typeof schema.shape, string>;

/** Settings of the Connect gateway, parsed once at start-up: the shape `loadConnectConfig` builds from the schema, written once, there. */
export type ConnectConfig = ReturnType<typeof loadConnectConfig>;

/** Parses the Connect settings; throws ConfigError naming every bad one. */
export function loadConnectConfig(raw: RawSettings) {
  const s = parseSettings(schema, raw);
  const problems: string[] = [];
  let discovery: DiscoverySpec | undefined;
  try {
    discovery = parseDiscovery(s.MESSAGE_DISCOVERY);
  } catch (err: unknown) {
    problems.push(`MESSAGE_DISCOVERY: ${(err as Error).message}`);
  }
  if (s.MESSAGE_DNS_SERVER && !/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d{1,5})?$/.test(s.MESSAGE_DNS_SERVER)) {
    problems.push(`MESSAGE_DNS_SERVER: expected IP:PORT; got "${s.MESSAGE_DNS_SERVER}"`);
  }
  if (s.AUTH_MODE === 'jwt' && !s.AUTH_JWT_SECRET && !s.AUTH_JWKS_URL) {
    problems.push('AUTH_JWT_SECRET or AUTH_JWKS_URL is required when AUTH_MODE=jwt (or set AUTH_MODE=insecure-dev for local development only)');
  }
  if (s.AUTH_JWT_SECRET && Buffer.byteLength(s.AUTH_JWT_SECRET) < 32) {
    problems.push('AUTH_JWT_SECRET: an HS256 secret must be at least 32 bytes');
  }
  if (s.AUTH_JWKS_URL && !/^https?:\/\//.test(s.AUTH_JWKS_URL)) problems.push(`AUTH_JWKS_URL: expected an http(s) URL; got "${s.AUTH_JWKS_URL}"`);
  if (s.SYNC_DEFAULT_LIMIT > s.SYNC_MAX_LIMIT) problems.push('SYNC_DEFAULT_LIMIT must not exceed SYNC_MAX_LIMIT');
  // A send frame is its body and an envelope (type, id, to or conversation): one that cannot hold
  // the largest body allowed would close every such sender with 1009 instead of answering TOO_LARGE.
  if (s.MAX_FRAME_BYTES < s.MAX_BODY_BYTES + FRAME_ENVELOPE_BYTES)
    problems.push(
      `MAX_FRAME_BYTES (${s.MAX_FRAME_BYTES}) leaves no room for a send frame with a body of MAX_BODY_BYTES (${s.MAX_BODY_BYTES}): make it at least ${s.MAX_BODY_BYTES + FRAME_ENVELOPE_BYTES}, or lower MAX_BODY_BYTES`,
    );
  const origins = s.CONNECT_ALLOWED_ORIGINS.split(',')
    .map((o) => o.trim())
    .filter(Boolean);
  const badOrigin = origins.find((o) => o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o));
  if (!s.CONNECT_TLS_CERT_FILE !== !s.CONNECT_TLS_KEY_FILE)
    problems.push('CONNECT_TLS_CERT_FILE and CONNECT_TLS_KEY_FILE go together: set both (wss://) or neither (ws://)');
  if (badOrigin) problems.push(`CONNECT_ALLOWED_ORIGINS: expected * or origins like https://app.example.com; got "${badOrigin}"`);
  problems.push(...internalTokenProblems(s.INTERNAL_AUTH_TOKEN), ...internalTlsProblems(s), ...systemUserProblems(s.SYSTEM_USER));
  const gateOn = s.READINESS_GATE === 'on' || (s.READINESS_GATE === 'auto' && !!s.POD_NAME && !!s.POD_NAMESPACE);
  if (gateOn && (!s.POD_NAME || !s.POD_NAMESPACE)) problems.push('READINESS_GATE=on needs POD_NAME and POD_NAMESPACE (downward API)');
  if (problems.length > 0 || !discovery) throw new ConfigError(problems);
  return Object.freeze({
    wsHost: s.CONNECT_WS_HOST,
    wsPort: s.CONNECT_WS_PORT,
    adminHost: s.CONNECT_ADMIN_HOST,
    adminPort: s.CONNECT_ADMIN_PORT,
    instance: s.CONNECT_INSTANCE_ID ?? defaultInstanceId('connect'),
    discovery,
    dnsServer: s.MESSAGE_DNS_SERVER,
    discoveryIntervalMs: s.DISCOVERY_INTERVAL,
    minStreams: s.CONNECT_MIN_STREAMS,
    backoff: { initialMs: s.STREAM_BACKOFF_INITIAL, multiplier: s.STREAM_BACKOFF_MULTIPLIER, jitter: s.STREAM_BACKOFF_JITTER, maxMs: s.STREAM_BACKOFF_MAX },
    backoffResetAfterMs: s.STREAM_BACKOFF_RESET_AFTER,
    connectTimeoutMs: s.STREAM_CONNECT_TIMEOUT,
    keepaliveMs: s.GRPC_KEEPALIVE_TIME,
    keepaliveTimeoutMs: s.GRPC_KEEPALIVE_TIMEOUT,
    rpcTimeoutMs: s.RPC_TIMEOUT,
    auth: {
      mode: s.AUTH_MODE,
      secret: s.AUTH_JWT_SECRET,
      jwksUrl: s.AUTH_JWKS_URL,
      issuer: s.AUTH_JWT_ISSUER,
      audience: s.AUTH_JWT_AUDIENCE,
      clockSkewSec: Math.round(s.AUTH_CLOCK_SKEW / 1000),
      /** The system account (SYSTEM_USER): no client logs in as it. */
      systemUser: s.SYSTEM_USER,
    },
    /** How long a followed user must stay offline before followers are told (CONNECT_PRESENCE_DEBOUNCE). */
    presenceDebounceMs: s.CONNECT_PRESENCE_DEBOUNCE,
    limits: {
      maxBodyBytes: s.MAX_BODY_BYTES,
      maxFrameBytes: s.MAX_FRAME_BYTES,
      ratePerSecond: s.RATE_LIMIT_PER_SECOND,
      rateBurst: s.RATE_LIMIT_BURST,
      typingIntervalMs: s.CONNECT_TYPING_INTERVAL,
      maxBufferedBytes: s.MAX_BUFFERED_BYTES,
      maxViolations: s.MAX_VIOLATIONS,
      syncDefaultLimit: s.SYNC_DEFAULT_LIMIT,
      syncMaxLimit: s.SYNC_MAX_LIMIT,
    },
    admission: {
      /** Allowed browser origins; undefined: any. Requests without an Origin header (non-browser) are allowed. */
      allowedOrigins: origins.length === 0 || origins.includes('*') ? undefined : origins,
      maxConnections: s.CONNECT_MAX_CONNECTIONS,
      maxConnectionsPerUser: s.CONNECT_MAX_CONNECTIONS_PER_USER,
      handshakeRate: s.CONNECT_HANDSHAKE_RATE,
      handshakeBurst: s.CONNECT_HANDSHAKE_BURST,
    },
    /** Serve the browser chat page at `/` of the WebSocket port. */
    demoPage: s.CONNECT_DEMO_PAGE,
    /** TLS on the WebSocket port: the files read at start and every reload interval; undefined: plain ws://. */
    tls:
      s.CONNECT_TLS_CERT_FILE && s.CONNECT_TLS_KEY_FILE
        ? { certFile: s.CONNECT_TLS_CERT_FILE, keyFile: s.CONNECT_TLS_KEY_FILE, reloadIntervalMs: s.CONNECT_TLS_RELOAD_INTERVAL }
        : undefined,
    /** Shared secret sent to Message on every call (must match Message's INTERNAL_AUTH_TOKEN). */
    internalAuthToken: s.INTERNAL_AUTH_TOKEN,
    /** Mutual TLS to Message (INTERNAL_TLS_*), and the name its pods' certificates carry; undefined: plaintext. */
    internalTls: internalTlsOf(s),
    internalTlsServerName: s.INTERNAL_TLS_SERVER_NAME ?? (discovery.kind === 'dns' ? discovery.host : undefined),
    /** The pod whose readiness-gate condition Connect sets; undefined outside a cluster (gate off). */
    readinessGate: gateOn ? { podName: s.POD_NAME!, namespace: s.POD_NAMESPACE!, kubeconfig: s.KUBECONFIG } : undefined,
    heartbeatMs: s.HEARTBEAT_INTERVAL,
    drainWindowMs: s.CONNECT_DRAIN_WINDOW,
    shutdownTimeoutMs: s.CONNECT_SHUTDOWN_TIMEOUT,
    logLevel: s.LOG_LEVEL,
    logFormat: s.LOG_FORMAT,
  });
}
