import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { outcomeCounter } from '../shared/metrics.js';

/** The gateway's metrics (names are part of docs/PROTOCOL.md §6; the reconnect ones above all). */
export function createConnectMetrics(registry: Registry) {
  return {
    attempts: outcomeCounter(registry, {
      name: 'switchboard_connect_stream_connect_attempts_total',
      help: 'Attempts to open a subscription stream to a Message pod',
      label: 'result',
      values: ['success', 'failure'],
    }),
    reconnects: new Counter({
      name: 'switchboard_connect_stream_reconnects_total',
      help: 'Streams re-established after having been up and lost',
      registers: [registry],
    }),
    active: new Gauge({ name: 'switchboard_connect_streams_active', help: 'Established subscription streams', registers: [registry] }),
    backoff: new Histogram({
      name: 'switchboard_connect_stream_backoff_seconds',
      help: 'Delay waited before each stream retry',
      buckets: [0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128],
      registers: [registry],
    }),
    endpoints: new Gauge({ name: 'switchboard_connect_message_endpoints', help: 'Message endpoints currently discovered', registers: [registry] }),
    clients: new Gauge({ name: 'switchboard_connect_clients', help: 'Open client WebSockets', registers: [registry] }),
    accepted: new Counter({ name: 'switchboard_messages_accepted_total', help: '`accepted` frames sent', registers: [registry] }),
    pushed: new Counter({ name: 'switchboard_messages_pushed_total', help: '`message` frames pushed to client sockets', registers: [registry] }),
    latency: new Histogram({
      name: 'switchboard_delivery_latency_seconds',
      help: "From accept to push onto the recipient's socket",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    sendSeconds: new Histogram({
      name: 'switchboard_connect_send_seconds',
      help: 'From a send leaving the gateway for Message to its accepted coming back (gRPC, Message, the log append)',
      buckets: [0.001, 0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'switchboard_connect_rejected_frames_total',
      help: 'Client frames answered with an error, by code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    slow: new Counter({
      name: 'switchboard_connect_slow_consumer_closes_total',
      help: 'Clients closed with 1013 because their send buffer passed the limit',
      registers: [registry],
    }),
    resyncs: new Counter({ name: 'switchboard_connect_resyncs_total', help: 'Times every client was told to resync', registers: [registry] }),
    tlsFailures: new Counter({
      name: 'switchboard_connect_stream_tls_failures_total',
      help: 'Stream attempts to Message pods that failed in the TLS handshake (INTERNAL_TLS_*: a certificate one side does not trust, or TLS on one side only)',
      registers: [registry],
    }),
    refusedUpgrades: new Counter({
      name: 'switchboard_connect_refused_upgrades_total',
      help: 'WebSocket upgrades refused, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    policyCloses: new Counter({
      name: 'switchboard_connect_policy_closes_total',
      help: 'Clients closed with 1008 for persistent bad or excess frames',
      registers: [registry],
    }),
    tlsReloads: outcomeCounter(registry, {
      name: 'switchboard_connect_tls_reloads_total',
      help: 'Changed TLS certificate files found, by result: applied to new connections, or refused (unreadable or not a valid pair; the current certificate is kept)',
      label: 'result',
      values: ['applied', 'refused'] as const,
    }),
    gate: new Counter({
      name: 'switchboard_connect_readiness_gate_updates_total',
      help: 'Patches of the pod readiness-gate condition, by result',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
  };
}

export type ConnectMetrics = ReturnType<typeof createConnectMetrics>;
