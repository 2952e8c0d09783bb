import { Writable } from 'node:stream';
import { silentLogger, createLogger, type Logger } from '../../services/shared/logger.js';
import { loadMessageConfig } from '../../services/message/config.js';
import { createBackends, type Backends } from '../../services/message/backends.js';
import { createMessageService, type MessageAddresses } from '../../services/message/message-service.js';
import { loadConnectConfig } from '../../services/connect/config.js';
import { createConnectService, type ConnectAddresses, type ConnectServiceDeps } from '../../services/connect/connect-service.js';

/** A JSON logger whose lines a test reads (`lines`), e.g. to count what a fault logs. */
export function capturingLogger(name: string): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger(name, 'info', 'json', { destination }), lines };
}

/** Logs of services under test: silent unless TEST_LOG_LEVEL is set. */
export function testLogger(name: string): Logger {
  const level = process.env.TEST_LOG_LEVEL;
  return level ? createLogger(name, level as 'debug') : silentLogger();
}

export interface RunningMessage extends MessageAddresses {
  backends: Backends;
  target: string;
  stop(): Promise<void>;
}

/** Starts a Message service in this process on free loopback ports with embedded backends. */
export async function startMessage(settings: Record<string, string> = {}, backends?: Backends, log?: Logger): Promise<RunningMessage> {
  const config = loadMessageConfig({
    MESSAGE_GRPC_HOST: '127.0.0.1',
    MESSAGE_GRPC_PORT: '0',
    MESSAGE_HTTP_HOST: '127.0.0.1',
    MESSAGE_HTTP_PORT: '0',
    MESSAGE_DRAIN_WINDOW: '0',
    ...settings,
  });
  const logger = log ?? testLogger('message');
  const b = backends ?? createBackends(config, logger);
  const service = createMessageService({ config, backends: b, logger });
  const addresses = await service.start();
  return { ...addresses, backends: b, target: `127.0.0.1:${addresses.grpcPort}`, stop: () => service.stop() };
}

export interface RunningConnect extends ConnectAddresses {
  url: string;
  admin: string;
  stop(): Promise<void>;
}

/** A secret for tests (≥ 32 bytes as HS256 requires). */
export const TEST_JWT_SECRET = 'test-secret-0123456789abcdef0123456789';

/** Starts a Connect gateway in this process on free loopback ports, pointed at `discovery`. */
export async function startConnect(
  discovery: string,
  settings: Record<string, string> = {},
  extra: Omit<ConnectServiceDeps, 'config' | 'logger'> = {},
  logger: Logger = testLogger('connect'),
): Promise<RunningConnect> {
  const config = loadConnectConfig({
    CONNECT_WS_HOST: '127.0.0.1',
    CONNECT_WS_PORT: '0',
    CONNECT_ADMIN_HOST: '127.0.0.1',
    CONNECT_ADMIN_PORT: '0',
    MESSAGE_DISCOVERY: discovery,
    AUTH_MODE: 'insecure-dev',
    AUTH_JWT_SECRET: TEST_JWT_SECRET,
    CONNECT_DRAIN_WINDOW: '0',
    STREAM_BACKOFF_INITIAL: '100ms',
    STREAM_BACKOFF_MAX: '1s',
    ...settings,
  });
  const service = createConnectService({ config, logger, ...extra });
  const addresses = await service.start();
  return {
    ...addresses,
    url: `ws://127.0.0.1:${addresses.wsPort}/ws`,
    admin: `http://127.0.0.1:${addresses.adminPort}`,
    stop: () => service.stop(),
  };
}

/** Polls `check` until it returns true, or fails after `timeoutMs` with `what`. */
export async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, everyMs = 25): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** GET a URL; returns status and parsed JSON (or text). */
export async function getJson(url: string): Promise<{ status: number; body: unknown; text: string }> {
  const res = await fetch(url);
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text; // /metrics is text
  }
  return { status: res.status, body, text };
}

/** A loopback port that was free a moment ago (for a server that must start later on a known port). */
export { freePort } from '../env/servers.js';
