import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger.js';
import { createAdminServer } from '../shared/admin-server.js';
import { createRegistry } from '../shared/metrics.js';
import { Deadline, once, sleep, withTimeout, type Service } from '../shared/lifecycle.js';
import type { CheckResult } from '../shared/health.js';
import type { ConnectConfig } from './config.js';
import { createAuthenticator, type Authenticator } from './auth.js';
import { CloseCode, Session, type MessageApi, type SessionDeps } from './domain/session.js';
import { createAdmission } from './domain/admission.js';
import { connectionCap, openFilesLimit } from './transport/open-files.js';
import { internalCredentials } from '../shared/internal-tls.js';
import { SessionRegistry } from './domain/session-registry.js';
import { createWsServer } from './transport/ws-server.js';
import { createDemoPage } from './transport/demo-page.js';
import { createDiscovery, type AddressResolver } from './upstream/discovery.js';
import { StreamManager } from './upstream/stream-manager.js';
import { createMessageApi } from './upstream/message-client.js';
import { createDelivery } from './domain/delivery.js';
import { PresenceWatch } from './domain/presence-watch.js';
import { CertificateWatcher, readKeyPair } from './transport/certificate.js';
import { createConnectMetrics } from './metrics.js';
import { createReadinessGate, loadKubeConfig, NO_GATE, type ReadinessGate } from './readiness-gate.js';
import { MAX_GRPC_MESSAGE_BYTES } from '../shared/limits.js';

export interface ConnectAddresses {
  wsPort: number;
  adminPort: number;
  instance: string;
}

export interface ConnectServiceDeps {
  config: ConnectConfig;
  logger: Logger;
  registry?: Registry;
  /** Replaces DNS resolution of the discovery name (tests). */
  resolver?: AddressResolver;
  authenticate?: Authenticator;
  random?: () => number;
  now?: () => number;
  /** Replaces the Kubernetes readiness gate built from the configuration. */
  gate?: ReadinessGate;
  /** Replaces the process's open-files limit (tests). */
  openFilesLimit?: () => number | undefined;
}

/** The Connect gateway: WebSocket sessions, streams to every Message pod, admin HTTP. */
export function createConnectService(deps: ConnectServiceDeps): Service<ConnectAddresses> & { registry: Registry } {
  const { config, logger } = deps;
  const registry = deps.registry ?? createRegistry('connect');
  const m = createConnectMetrics(registry);
  const now = deps.now ?? Date.now;
  let draining = false;
  const gateConfig = config.readinessGate;
  const gate: ReadinessGate =
    deps.gate ??
    (gateConfig
      ? createReadinessGate({
          podName: gateConfig.podName,
          namespace: gateConfig.namespace,
          kubeConfig: loadKubeConfig(gateConfig.kubeconfig),
          logger: logger.child({ component: 'readiness-gate' }),
          onUpdate: (result) => m.gate.inc({ result }),
          now,
          random: deps.random,
        })
      : NO_GATE);

  const sessions = new SessionRegistry((user, err) =>
    logger.warn(
      { err, user },
      "a user's going offline was not announced to every Message pod; their pushes come here until the stream announces its users anew",
    ),
  );
  const delivery = createDelivery({
    sessions,
    now,
    onDelivered: (count, seconds) => {
      m.pushed.inc(count);
      for (let i = 0; i < count; i++) m.latency.observe(seconds);
    },
    onResync: () => m.resyncs.inc(),
  });
  // The users this gateway's clients follow (`presence`), announced to every pod.
  const watch = new PresenceWatch({
    debounceMs: config.presenceDebounceMs,
    announce: (add, remove) => streams.broadcastWatch(add, remove),
    setTimer: (fn, ms) => setTimeout(fn, ms),
    clearTimer: (t) => clearTimeout(t as NodeJS.Timeout),
  });
  const streams = new StreamManager({
    instance: config.instance,
    discovery: createDiscovery(config.discovery, {
      intervalMs: config.discoveryIntervalMs,
      dnsServer: config.dnsServer,
      resolver: deps.resolver,
      logger: logger.child({ component: 'discovery' }),
    }),
    onlineUsers: () => sessions.users(),
    watched: () => watch.users,
    backoff: config.backoff,
    resetAfterMs: config.backoffResetAfterMs,
    connectTimeoutMs: config.connectTimeoutMs,
    keepaliveMs: config.keepaliveMs,
    keepaliveTimeoutMs: config.keepaliveTimeoutMs,
    maxMessageBytes: MAX_GRPC_MESSAGE_BYTES,
    internalAuthToken: config.internalAuthToken,
    ...(config.internalTls
      ? { tls: { credentials: internalCredentials(config.internalTls).channel(), serverName: config.internalTlsServerName, files: config.internalTls } }
      : {}),
    onTlsFailure: () => m.tlsFailures.inc(),
    logger: logger.child({ component: 'streams' }),
    random: deps.random,
    now,
    events: {
      onAttempt: (result) => m.attempts.inc({ result }),
      onBackoff: (ms) => m.backoff.observe(ms / 1000),
      onEndpoints: (n) => m.endpoints.set(n),
      onActiveStreams: (n) => {
        m.active.set(n);
        updateGate();
      },
      onUp: (_endpoint, reconnect) => {
        if (reconnect) m.reconnects.inc();
        // Pushes from that pod may have been missed while its stream was down or not yet open.
        delivery.resyncAll();
      },
      onDown: (_endpoint, wasUp) => {
        // The lost pod's partitions move to pods whose streams are up: clients catch up from them.
        if (wasUp && streams.upCount > 0) delivery.resyncAll();
      },
      onPush: delivery.push,
      onRead: delivery.read,
      onTyping: delivery.typing,
      onPresenceChange: (change) => watch.changed(change),
      onSessions: (users, close) =>
        users.map((user) => {
          const count = sessions.countOf(user);
          // Only the two codes of the server API's Disconnect (docs/PROTOCOL.md §4).
          if (close && (close.code === CloseCode.DISCONNECTED || close.code === CloseCode.DISCONNECTED_FINAL)) {
            for (const session of [...sessions.of(user)]) session.close(close.code, close.reason);
            if (count > 0) logger.info({ user, connections: count, code: close.code, reason: close.reason }, 'user disconnected by the server API');
          }
          return count;
        }),
    },
  });
  sessions.onPresence((online, offline) => streams.broadcastPresence(online, offline));

  /** The readiness rule of docs/PROTOCOL.md §6, shared by /readyz and the readiness gate. */
  function streamReadiness(): CheckResult {
    const up = streams.upCount;
    return { ok: up >= config.minStreams, detail: `${up} of ${streams.endpointCount} message streams up (need ${config.minStreams})` };
  }
  function updateGate(): void {
    const r = streamReadiness();
    if (draining) gate.set(false, 'gateway is draining');
    else gate.set(r.ok, r.detail);
  }

  const api: MessageApi = createMessageApi({
    streams,
    timeoutMs: config.rpcTimeoutMs,
    internalAuthToken: config.internalAuthToken,
  });
  // What every session shares (one object, not one per connection: an idle gateway holds many).
  const sessionDeps: SessionDeps = {
    api,
    instance: config.instance,
    limits: config.limits,
    logger: logger.child({ component: 'session' }),
    now,
    onAccepted: (seconds) => {
      m.accepted.inc();
      m.sendSeconds.observe(seconds);
    },
    onRejected: (code) => m.rejected.inc({ code }),
    onSlowConsumer: () => m.slow.inc(),
    onPolicyClose: () => m.policyCloses.inc(),
    onFollow: (session, users, online) => watch.follow(session, users, online),
    onClosed: (session) => {
      watch.forget(session);
      sessions.remove(session);
      m.clients.set(sessions.size);
    },
  };
  const files = (deps.openFilesLimit ?? openFilesLimit)();
  const cap = connectionCap(config.admission.maxConnections, files);
  if (cap.capped)
    logger.warn(
      { CONNECT_MAX_CONNECTIONS: config.admission.maxConnections, openFilesLimit: files, maxConnections: cap.max },
      `this process may open ${files} files, one per connection: it takes at most ${cap.max} connections (503 beyond); raise the open-files limit (ulimit -n; a container's comes from its runtime) or lower CONNECT_MAX_CONNECTIONS`,
    );
  const admission = createAdmission({ config: { ...config.admission, maxConnections: cap.max }, sessions, draining: () => draining, now });
  const authenticate = deps.authenticate ?? createAuthenticator(config.auth);
  let certificates: CertificateWatcher | undefined;
  const ws = createWsServer({
    host: config.wsHost,
    port: config.wsPort,
    tls: config.tls !== undefined,
    maxFrameBytes: config.limits.maxFrameBytes,
    heartbeatMs: config.heartbeatMs,
    authenticate,
    logger: logger.child({ component: 'ws' }),
    precheck: (req) => admission.precheck(req.headers.origin),
    admit: (user) => admission.admit(user),
    onRefused: (reason) => m.refusedUpgrades.inc({ reason }),
    onHttpRequest: config.demoPage ? createDemoPage({ authMode: config.auth.mode, allowedOrigins: config.admission.allowedOrigins }) : undefined,
    onClient(socket, user) {
      const session = new Session(`c-${randomBytes(8).toString('hex')}`, user, socket, sessionDeps);
      // `welcome` once the Message pods route this user here, so that nothing stored after the
      // client's catch-up goes unpushed; bounded, since a pod that does not answer must not keep
      // the client waiting (its stream's loss resyncs everyone anyway).
      const routedHere = withTimeout(sessions.add(session), config.rpcTimeoutMs, 'presence not confirmed in time');
      m.clients.set(sessions.size);
      void routedHere
        .catch((err: unknown) => logger.warn({ err, user }, 'welcoming the client before its presence was confirmed'))
        .finally(() => session.deliver({ type: 'welcome', user, connection: session.id, instance: config.instance, heartbeatMs: config.heartbeatMs }));
      return session;
    },
  });

  const checks = (): Record<string, CheckResult> => ({
    streams: streamReadiness(),
    draining: draining ? { ok: false, detail: 'draining' } : { ok: true, detail: 'serving' },
  });
  const admin = createAdminServer({ host: config.adminHost, port: config.adminPort, registry, checks, logger });

  return {
    registry,
    async start() {
      if (config.auth.mode === 'insecure-dev') {
        logger.warn('AUTH_MODE=insecure-dev: any client may claim any user with ?user=; never use this outside local development');
      }
      const adminPort = await admin.start();
      if (config.tls) {
        // Unreadable or mismatched files stop the start-up here, with the reason.
        const pair = await readKeyPair(config.tls.certFile, config.tls.keyFile);
        ws.setCertificate(pair);
        certificates = new CertificateWatcher(pair, {
          ...config.tls,
          intervalMs: config.tls.reloadIntervalMs,
          logger: logger.child({ component: 'tls' }),
          onChange: (p) => ws.setCertificate(p),
          onReload: (result) => m.tlsReloads.inc({ result }),
        });
        certificates.start();
      }
      const wsPort = await ws.start();
      streams.start();
      updateGate();
      logger.info({ wsPort, adminPort, instance: config.instance, discovery: config.discovery }, 'connect service started');
      return { wsPort, adminPort, instance: config.instance };
    },
    stop: once(async () => {
      certificates?.stop();
      draining = true;
      updateGate();
      const open = sessions.all();
      logger.info({ clients: open.length, drainWindowMs: config.drainWindowMs }, 'draining');
      // Close frames spread over the window so clients do not all reconnect at the same instant.
      const step = open.length > 0 ? config.drainWindowMs / open.length : 0;
      await Promise.all(
        open.map(async (s, i) => {
          await sleep(Math.floor(i * step));
          s.close(CloseCode.GOING_AWAY, 'server draining; reconnect');
        }),
      );
      // One budget (CONNECT_SHUTDOWN_TIMEOUT) for the rest, so the pod exits inside its grace period.
      const budget = new Deadline(config.shutdownTimeoutMs, now);
      while (ws.clients().size > 0 && budget.leftMs > 0) await sleep(50);
      for (const c of ws.clients()) c.terminate();
      streams.stop();
      await budget
        .run(Promise.all([ws.stop(), gate.stop()]), 'listener close and last gate update did not finish in time')
        .catch((err: unknown) => logger.warn({ err }, 'leaving them to the exit'));
      await admin.stop();
      logger.info('connect service stopped');
    }),
  };
}
