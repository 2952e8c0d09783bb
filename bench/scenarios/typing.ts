import { setTimeout as sleep } from 'node:timers/promises';
import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { isolatedBackendSettings, sharedRealBackends } from '../../test/support/real-backends.js';
import { TestClient } from '../../test/support/ws-client.js';
import { LoadGenerator } from '../lib/load.js';
import type { ScenarioResult, Step } from '../lib/report.js';
import { formatSpread, spread } from '../lib/stats.js';

export interface TypingOptions {
  /** Messages a second offered by the 1:1 pairs. */
  rate: number;
  pairs: number;
  /** `typing` frames a second each typist sends (a fast typist's keystrokes). */
  keystrokesPerSec: number;
  durationMs: number;
  warmupMs: number;
  reps: number;
  progress: (line: string) => void;
}

/**
 * A typing storm beside message traffic: open-loop 1:1 messages on real backends (two gateways,
 * senders on one, recipients on the other), with and without every sender also typing into its
 * conversation from a second connection at `keystrokesPerSec` frames a second (each gateway relays
 * one a conversation every CONNECT_TYPING_INTERVAL; the recipients get them pushed). The steps run
 * back to back in alternating order, `reps` times: message delivery p99 without and with, side by side.
 */
export async function typingScenario(o: TypingOptions): Promise<ScenarioResult> {
  const env = await sharedRealBackends();
  const procs: ServiceProcess[] = [];
  const steps: Step[] = [];
  const typists: TestClient[] = [];
  let frames = 0;
  let pushes = 0;
  try {
    const message = await startMessageProcess(isolatedBackendSettings(env), procs);
    const target = `127.0.0.1:${message.grpcPort}`;
    // The typists' keystrokes count against the frame rate of their connections: room for them.
    const gatewayEnv = { RATE_LIMIT_PER_SECOND: String(Math.max(50, o.keystrokesPerSec * 2)), RATE_LIMIT_BURST: String(Math.max(100, o.keystrokesPerSec * 4)) };
    const gateways = [await startConnectProcess(target, gatewayEnv, procs), await startConnectProcess(target, gatewayEnv, procs)];
    for (const g of gateways) await eventually('Connect ready', async () => (await getJson(`${g.admin}/readyz`)).status === 200, 30_000);
    const tag = `typing-${Date.now().toString(36)}`;
    const load = await LoadGenerator.start(gateways[0]!.url, o.pairs, 1, tag, { recipientUrl: gateways[1]!.url });
    // A second connection of each sender, on the senders' gateway; the recipients' typing pushes are counted by a watcher of its own.
    for (let i = 0; i < o.pairs; i++) typists.push(await TestClient.connect(gateways[0]!.url, { user: `${tag}-s${i}` }));
    const watcher = await TestClient.connect(gateways[1]!.url, { user: `${tag}-r0` });
    watcher.ws.on('message', (d) => {
      if (String(d).includes('"type":"typing"')) pushes++;
    });
    const pids = procs.map((p) => p.child.pid!);
    try {
      for (let rep = 1; rep <= o.reps; rep++) {
        for (const storm of rep % 2 === 1 ? [false, true] : [true, false]) {
          let timer: NodeJS.Timeout | undefined;
          if (storm) {
            // Each typist's keystroke, every 1/keystrokesPerSec s.
            timer = setInterval(() => {
              typists.forEach((t, i) => {
                t.send({ type: 'typing', conversation: `dm:${[`${tag}-s${i}`, `${tag}-r${i}`].sort().join(':')}` });
                frames++;
              });
            }, 1000 / o.keystrokesPerSec);
          }
          const step = await load.step(
            storm ? 'with a typing storm' : 'without typing',
            `typing-${storm ? 'on' : 'off'}-${rep}`,
            o.rate,
            o.durationMs,
            o.warmupMs,
            o.progress,
            pids,
          );
          clearInterval(timer);
          steps.push({ ...step, rep });
          await sleep(500);
        }
      }
    } finally {
      await load.close();
      watcher.close();
    }
  } finally {
    for (const t of typists) t.close();
    await killAll(procs);
  }
  const p99 = (storm: boolean): number[] => steps.filter((s) => s.system === (storm ? 'with a typing storm' : 'without typing')).map((s) => s.latency.p99);
  const ratios = Array.from({ length: o.reps }, (_, i) => {
    const on = steps.find((s) => s.rep === i + 1 && s.system === 'with a typing storm')!;
    const off = steps.find((s) => s.rep === i + 1 && s.system === 'without typing')!;
    return on.latency.p99 / off.latency.p99;
  });
  const stormSeconds = (o.reps * (o.durationMs + o.warmupMs)) / 1000;
  return {
    name: 'Typing storm beside messages',
    description:
      'Open-loop 1:1 messages on real backends (two gateways), with and without every sender typing into its conversation from a second connection; alternating steps, repeated. Delivery p99 side by side.',
    settings: { rate: o.rate, pairs: o.pairs, keystrokesPerSecPerTypist: o.keystrokesPerSec, stepSeconds: o.durationMs / 1000, reps: o.reps },
    steps,
    figures: {
      'delivery p99 without typing (ms)': formatSpread(spread(p99(false)), 1),
      'delivery p99 with the typing storm (ms)': formatSpread(spread(p99(true)), 1),
      'typing frames sent a second (storm)': Math.round(frames / stormSeconds),
      "typing pushes one recipient got a second (storm; its typist's relays)": Number((pushes / stormSeconds).toFixed(2)),
    },
    ratios: { 'p99 with / without typing (median of the repetitions)': spread(ratios).median },
    notes: ['Each gateway relays one typing frame per conversation and connection every CONNECT_TYPING_INTERVAL (2 s); the rest are absorbed there.'],
  };
}
