import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, eventually, freePort } from '../../test/support/services.js';
import { killAll, metricValue, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { TestClient } from '../../test/support/ws-client.js';
import { SendLoop, syncAll } from '../../test/support/traffic.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, nowMs, spread } from '../lib/stats.js';
import { coresBetween, cpuSnapshot } from '../lib/cpu.js';
import { checkOpenFiles, crowdStatus, openCrowds, type Crowd } from '../lib/crowds.js';
import { CLIENT_RECONNECT } from '../../services/client/sdk/index.js';

export interface StormOptions {
  connections: number;
  reps: number;
  /** The clients' relative jitter with jitter on (the client's own by default). */
  jitter?: number;
  /** Settings of the gateway that replaces the killed one (the product's defaults by default). */
  gatewayEnv?: Record<string, string>;
  progress: (line: string) => void;
}

interface StormRun {
  /** From the kill until every client was connected again (ms). */
  allBackMs: number;
  /** From the new gateway's start until then (ms). */
  afterRestartMs: number;
  /** Handshakes the new gateway refused (503: its handshake rate), and attempts in all. */
  refusals: number;
  attempts: number;
  /** Message's CPU while the clients came back (cores). */
  messageCores: number;
  /** The new gateway's CPU meanwhile (cores). */
  connectCores: number;
  /** Sends refused (UNAVAILABLE, or no answer) and resent, and sends accepted, by a client on another gateway meanwhile. */
  resent: number;
  accepted: number;
  /** Accepted sends not in the store afterwards (must be 0). */
  lost: number;
}

async function once(o: StormOptions, jitter: number, rep: number): Promise<StormRun> {
  const procs: ServiceProcess[] = [];
  const crowds: Crowd[] = [];
  let sender: TestClient | undefined;
  let loop: SendLoop | undefined;
  const label = (what: string): string => `storm: repetition ${rep}/${o.reps}, jitter ${jitter > 0 ? 'on' : 'off'}, ${what}`;
  try {
    const message = await startMessageProcess({}, procs);
    const target = `127.0.0.1:${message.grpcPort}`;
    const port = await freePort();
    // The gateway the clients are on, filled fast; the one that replaces it has the defaults.
    const first = await startConnectProcess(
      target,
      { CONNECT_WS_PORT: String(port), CONNECT_HANDSHAKE_RATE: '1000000', CONNECT_HANDSHAKE_BURST: '1000000' },
      procs,
    );
    await eventually('Connect ready', async () => (await getJson(`${first.admin}/readyz`)).status === 200, 30_000);
    // The sender's and the checker's gateway (the checker syncs every conversation it sent to: no rate limit).
    const other = await startConnectProcess(target, { RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_BURST: '100000' }, procs);
    await eventually('the other Connect ready', async () => (await getJson(`${other.admin}/readyz`)).status === 200, 30_000);
    const tag = `s${rep}${jitter > 0 ? 'j' : 'n'}`;
    const users = Array.from({ length: o.connections }, (_, i) => `${tag}-${i}`);
    await openCrowds(first.url, users, crowds, (open) => o.progress(label(`${open}/${o.connections} connections open`)), { jitter });
    sender = await TestClient.connect(other.url, { user: `${tag}-sender` });
    // Sends to the storm's users from another gateway, one at a time, each resent until accepted.
    loop = new SendLoop(sender, `${tag}-`, (i) => ({ to: users[(i * 7919) % users.length]! }));
    await sleep(2000);
    const before = await crowdStatus(crowds);
    const cpuBefore = cpuSnapshot([message.proc.child.pid], []);
    const killedAt = nowMs();
    first.proc.child.kill('SIGKILL');
    await eventually('every client lost its connection', async () => (await crowdStatus(crowds)).open === 0, 30_000, 50);
    const restartedAt = nowMs();
    const second = await startConnectProcess(target, { ...o.gatewayEnv, CONNECT_WS_PORT: String(port) }, procs);
    const cpuConnect = cpuSnapshot([second.proc.child.pid], []);
    let status = await crowdStatus(crowds);
    while (status.open < o.connections) {
      if (nowMs() - killedAt > 600_000) throw new Error(`storm: ${status.open}/${o.connections} back after 10 minutes`);
      o.progress(label(`${status.open}/${o.connections} back, ${status.refusals - before.refusals} handshakes refused`));
      await sleep(100);
      status = await crowdStatus(crowds);
    }
    const cpuAfter = cpuSnapshot([message.proc.child.pid], []);
    const connectCores = coresBetween(cpuConnect, cpuSnapshot([second.proc.child.pid], [])).system;
    await loop.stop();
    const refusedByGateway = await metricValue(second.admin, 'switchboard_connect_refused_upgrades_total', 'reason="handshake_rate"');
    // Nothing accepted is lost: every accepted send is in its conversation.
    const reader = await TestClient.connect(other.url, { user: `${tag}-sender` });
    let lost = 0;
    try {
      const byConversation = new Map<string, Set<string>>();
      for (const [msgId, conversation] of loop.conversationOf) byConversation.set(conversation, (byConversation.get(conversation) ?? new Set()).add(msgId));
      for (const [conversation, ids] of byConversation) {
        const stored = new Set((await syncAll(reader, conversation)).map((m) => String(m.msgId)));
        for (const id of ids) if (!stored.has(id)) lost++;
      }
    } finally {
      reader.close();
    }
    return {
      allBackMs: status.lastOpenAt - killedAt,
      afterRestartMs: status.lastOpenAt - restartedAt,
      refusals: Math.max(status.refusals - before.refusals, refusedByGateway),
      attempts: status.attempts - before.attempts,
      messageCores: coresBetween(cpuBefore, cpuAfter).system,
      connectCores,
      resent: loop.count('unavailable', 0),
      accepted: loop.accepted.size,
      lost,
    };
  } finally {
    await loop?.stop().catch(() => undefined);
    sender?.close();
    for (const c of crowds) c.stop();
    await killAll(procs);
  }
}

/**
 * Scenario: a reconnect storm. The Connect process holding N clients is killed (SIGKILL) and a new
 * one started on the same port with the product's defaults; every client reconnects with the
 * client's backoff (CLIENT_RECONNECT: 500 ms, ×1.6, capped at 10 s), with its jitter and without,
 * in alternating order. Meanwhile a client on another gateway sends to them.
 */
export async function stormScenario(o: StormOptions): Promise<ScenarioResult> {
  checkOpenFiles(o.connections, 'storm');
  const runs: { on: StormRun[]; off: StormRun[] } = { on: [], off: [] };
  for (let rep = 1; rep <= o.reps; rep++) {
    const order: Array<'on' | 'off'> = rep % 2 === 1 ? ['on', 'off'] : ['off', 'on'];
    for (const mode of order) runs[mode].push(await once(o, mode === 'on' ? (o.jitter ?? CLIENT_RECONNECT.jitter) : 0, rep));
  }
  const figures: Record<string, string | number> = {};
  for (const [mode, rs] of Object.entries(runs)) {
    const f = (pick: (r: StormRun) => number, digits = 0) => formatSpread(spread(rs.map(pick)), digits);
    const label = `jitter ${mode}`;
    figures[`${label}: all ${o.connections.toLocaleString('en-US')} back, from the kill (s), median [range]`] = f((r) => r.allBackMs / 1000, 1);
    figures[`${label}: all back, from the new gateway's start (s), median [range]`] = f((r) => r.afterRestartMs / 1000, 1);
    figures[`${label}: handshakes refused (503) / attempts, median [range]`] = `${f((r) => r.refusals)} / ${f((r) => r.attempts)}`;
    figures[`${label}: Message CPU while they came back (cores), median [range]`] = f((r) => r.messageCores, 2);
    figures[`${label}: new gateway CPU while they came back (cores), median [range]`] = f((r) => r.connectCores, 2);
    figures[`${label}: sends from another gateway refused and resent / accepted, median [range]`] = `${f((r) => r.resent)} / ${f((r) => r.accepted)}`;
    figures[`${label}: accepted sends not stored, most of the repetitions (must be 0)`] = Math.max(...rs.map((r) => r.lost));
  }
  return {
    name: 'Reconnect storm',
    description: `${o.connections.toLocaleString('en-US')} clients on one Connect process; it is killed (SIGKILL) and a new one started on the same port with the product's defaults (CONNECT_HANDSHAKE_RATE 1,000/s, burst 1,000); every client reconnects with the client's own backoff (500 ms, ×1.6, capped at 10 s), with its jitter (each retry anywhere within ±50 % of the backoff) and without, alternating which goes first. A client on another gateway sends to them throughout, each send resent until accepted. Message on embedded backends; fresh processes per run; medians [range].`,
    settings: { connections: o.connections, repetitions: o.reps },
    figures,
    ratios: {
      'time until all back, jitter on / off': spread(runs.on.map((r, i) => r.allBackMs / runs.off[i]!.allBackMs)).median,
      'handshakes refused, jitter on / off': spread(runs.on.map((r, i) => r.refusals / Math.max(1, runs.off[i]!.refusals))).median,
    },
    notes: [],
  };
}
