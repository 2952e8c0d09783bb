import { getJson, eventually, freePort } from '../../test/support/services.js';
import { killAll, metricValue, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { isolatedBackendSettings, sharedRealBackends } from '../../test/support/real-backends.js';
import { TestClient, type Frame } from '../../test/support/ws-client.js';
import { dm, sendReliably, syncAll } from '../../test/support/traffic.js';
import type { ScenarioResult } from '../lib/report.js';

/**
 * Scenario 4: SIGKILL the Message process under load (real backends), start it again at once, and
 * measure how long until Connect's stream is back and the first push after the restart lands; then
 * count the messages accepted during the run that are missing (must be 0).
 */
export async function recoveryScenario(o: { progress: (l: string) => void; pairs?: number; rounds?: number }): Promise<ScenarioResult> {
  const pairs = o.pairs ?? 20;
  const rounds = o.rounds ?? 3;
  const procs: ServiceProcess[] = [];
  const clients: TestClient[] = [];
  const settings = isolatedBackendSettings(await sharedRealBackends());
  const grpcPort = await freePort();
  try {
    let message = await startMessageProcess({ ...settings, MESSAGE_GRPC_PORT: String(grpcPort) }, procs);
    const connect = await startConnectProcess(`127.0.0.1:${grpcPort}`, { STREAM_BACKOFF_INITIAL: '1s', STREAM_BACKOFF_MAX: '30s' }, procs);
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    const ends: Array<[TestClient, TestClient, string, string]> = [];
    for (let i = 0; i < pairs; i++) {
      const a = await TestClient.connect(connect.url, { user: `rec-a${i}` });
      const b = await TestClient.connect(connect.url, { user: `rec-b${i}` });
      clients.push(a, b);
      ends.push([a, b, `rec-a${i}`, `rec-b${i}`]);
    }
    const accepted = new Map<string, Set<string>>();
    let sending = true;
    let sent = 0;
    const traffic = ends.map(async ([a, , from, to], i) => {
      const conv = dm(from, to);
      accepted.set(conv, new Set());
      for (let n = 0; sending; n++) {
        const acc = await sendReliably(a, { id: `r${i}-${n}`, to, body: `${Date.now()}` }, { retryMs: 50, deadlineMs: 120_000 });
        accepted.get(conv)!.add(String(acc.msgId));
        sent++;
        await new Promise((r) => setTimeout(r, 100));
      }
    });
    const startup: number[] = [];
    const streamBack: number[] = [];
    const firstPush: number[] = [];
    for (let r = 0; r < rounds; r++) {
      await new Promise((res) => setTimeout(res, 3000));
      o.progress(`recovery: round ${r + 1}/${rounds}, ${sent} accepted so far; SIGKILL Message`);
      message.proc.kill('SIGKILL');
      await message.proc.exited;
      await eventually('stream lost', async () => (await metricValue(connect.admin, 'switchboard_connect_streams_active')) === 0, 10_000, 20);
      const restartAt = Date.now();
      message = await startMessageProcess({ ...settings, MESSAGE_GRPC_PORT: String(grpcPort) }, procs);
      const servingAt = Date.now();
      startup.push(servingAt - restartAt);
      await eventually('stream back', async () => (await metricValue(connect.admin, 'switchboard_connect_streams_active')) === 1, 60_000, 20);
      streamBack.push(Date.now() - servingAt);
      for (const [, b] of ends) b.take('message');
      await eventually(
        'a push after the restart',
        () => ends.some(([, b]) => b.frames.some((f: Frame) => f.type === 'message' && Number(f.body) > restartAt)),
        60_000,
        10,
      );
      firstPush.push(Date.now() - servingAt);
      o.progress(`recovery: round ${r + 1}: stream back ${streamBack.at(-1)} ms, first push ${firstPush.at(-1)} ms after Message served again`);
    }
    sending = false;
    await Promise.all(traffic);
    // An accepted message is durable in the log and stored by the consumer shortly after: the last
    // ones accepted may still be on their way to the store when the traffic stops. So the count is
    // taken until nothing is missing or 30 s have passed (a message missing then is lost).
    const stoppedAt = Date.now();
    let missing = 0;
    let total = 0;
    for (;;) {
      missing = 0;
      total = 0;
      for (const [, b, from, to] of ends) {
        const conv = dm(from, to);
        const stored = new Set((await syncAll(b, conv)).map((m) => String(m.msgId)));
        for (const id of accepted.get(conv)!) {
          total++;
          if (!stored.has(id)) missing++;
        }
      }
      if (missing === 0 || Date.now() - stoppedAt > 30_000) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    const allStoredAfter = Date.now() - stoppedAt;
    const avg = (xs: number[]) => Math.round(xs.reduce((a, b) => a + b, 0) / xs.length);
    return {
      name: 'Recovery',
      description:
        'Real backends; clients keep sending (resending with the same id on UNAVAILABLE). The Message process is SIGKILLed and started again at once, several times. Times are measured from the moment the new Message process serves (its backends connected); its own start-up time is reported apart.',
      settings: { pairs, rounds, backoffInitial: '1s' },
      figures: {
        'stream back after Message serves, mean (ms)': avg(streamBack),
        'stream back, worst (ms)': Math.max(...streamBack),
        'first push after Message serves, mean (ms)': avg(firstPush),
        'first push, worst (ms)': Math.max(...firstPush),
        'Message process start-up until serving (spawn, Kafka group join), mean (ms)': avg(startup),
        'messages accepted during the run': total,
        'accepted messages missing afterwards (30 s after the traffic stopped)': missing,
        ...(missing === 0 ? { 'all accepted messages stored, after the traffic stopped (ms)': allStoredAfter } : {}),
      },
      ratios: {},
      notes: [`Goal: ≤ 2 s after Message is back; 0 missing. Rounds: stream back ${streamBack.join(', ')} ms; first push ${firstPush.join(', ')} ms.`],
    };
  } finally {
    for (const c of clients) c.close();
    await killAll(procs);
  }
}
