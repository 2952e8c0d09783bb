import { randomBytes } from 'node:crypto';
import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { isolatedBackendSettings, sharedRealBackends } from '../../test/support/real-backends.js';
import { LoadGenerator } from '../lib/load.js';
import type { ScenarioResult, Step } from '../lib/report.js';
import { startSocketIoPeer, type SocketIoPeer } from '../lib/socketio-peer.js';

/**
 * Scenario 5: the same 1:1 workload through Socket.IO (two processes joined by the Redis Streams
 * adapter, senders on one, recipients on the other) and through Switchboard with two gateways.
 */
export async function peerScenario(o: {
  rates: number[];
  durationMs: number;
  warmupMs: number;
  pairs: number;
  progress: (l: string) => void;
}): Promise<ScenarioResult> {
  const env = await sharedRealBackends();
  const steps: Step[] = [];
  let peer: SocketIoPeer | undefined;
  const procs: ServiceProcess[] = [];
  try {
    peer = await startSocketIoPeer(env.redisUrl);
    const sio = await LoadGenerator.start(peer.urls[0], o.pairs, 1, 'sio', { recipientUrl: peer.urls[1], protocol: 'socket.io' });
    try {
      for (const rate of o.rates) {
        const st = await sio.step('socket.io + redis streams adapter (2 processes)', `sio-${rate}`, rate, o.durationMs, o.warmupMs, o.progress);
        steps.push(st);
        if (st.latency.p99 > 100 || st.lost > 0) break;
      }
    } finally {
      await sio.close();
    }

    const message = await startMessageProcess(isolatedBackendSettings(env), procs);
    const gateways = [
      await startConnectProcess(`127.0.0.1:${message.grpcPort}`, {}, procs),
      await startConnectProcess(`127.0.0.1:${message.grpcPort}`, {}, procs),
    ];
    for (const g of gateways) await eventually('ready', async () => (await getJson(`${g.admin}/readyz`)).status === 200, 30_000);
    const sb = await LoadGenerator.start(gateways[0]!.url, o.pairs, 1, `peer-${randomBytes(2).toString('hex')}`, { recipientUrl: gateways[1]!.url });
    try {
      for (const rate of o.rates) {
        const st = await sb.step('switchboard, real backends (2 gateways)', `sbp-${rate}`, rate, o.durationMs, o.warmupMs, o.progress);
        steps.push(st);
        if (st.latency.p99 > 100 || st.lost > 0) break;
      }
    } finally {
      await sb.close();
    }
  } finally {
    peer?.stop();
    await killAll(procs);
  }
  const best = (sys: string) => {
    const ok = steps.filter((s) => s.system.startsWith(sys) && s.latency.p99 <= 100 && s.lost === 0);
    return ok.reduce((a, b) => Math.max(a, b.achievedPerSec), 0);
  };
  const sio = best('socket.io');
  const sb = best('switchboard');
  return {
    name: 'Peer: Socket.IO with the Redis Streams adapter',
    description:
      'The same open-loop 1:1 workload, senders on one server process and recipients on another: Socket.IO 4 joined by @socket.io/redis-streams-adapter (acknowledged emits, no persistence, no ordering or replay guarantees), and Switchboard with two gateways on real backends (durable log, stored history, idempotent sends).',
    settings: { pairs: o.pairs, stepSeconds: o.durationMs / 1000, rates: o.rates.join('/') },
    steps,
    figures: { 'socket.io: highest rate with p99 ≤ 100 ms (msg/s)': Math.round(sio), 'switchboard: highest rate with p99 ≤ 100 ms (msg/s)': Math.round(sb) },
    ratios: sio > 0 ? { 'switchboard / socket.io (sustained rate, p99 ≤ 100 ms)': sb / sio } : {},
    notes: ['Socket.IO here stores nothing: a recipient offline at send time never gets the message.'],
  };
}
