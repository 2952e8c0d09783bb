import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { isolatedBackendSettings, sharedRealBackends } from '../../test/support/real-backends.js';
import { TestClient, type Frame } from '../../test/support/ws-client.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, nowMs, spread, summarize } from '../lib/stats.js';

export interface EditsOptions {
  /** Senders, each talking to a recipient of its own, all at once. */
  pairs: number;
  /** Texts each sender sends (and edits, or deletes) per repetition. */
  rounds: number;
  reps: number;
  progress: (line: string) => void;
}

/** A connection whose answers (by request id) and pushes (by msgId) are awaited as they arrive, timed without polling. */
class Peer {
  private readonly answers = new Map<string, (f: Frame) => void>();
  private readonly pushes = new Map<string, (f: Frame) => void>();
  private readonly early = new Map<string, Frame>();

  constructor(readonly client: TestClient) {
    client.ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      if ((f.type === 'accepted' || f.type === 'error') && typeof f.id === 'string') this.answers.get(f.id)?.(f);
      else if (f.type === 'message' && typeof f.msgId === 'string') {
        const waiting = this.pushes.get(f.msgId);
        if (waiting) waiting(f);
        else this.early.set(f.msgId, f);
      }
    });
  }

  /** Sends a request; its answer and when it came (ms). */
  request(frame: Frame & { id: string }): Promise<{ answer: Frame; at: number }> {
    return new Promise((resolve) => {
      this.answers.set(frame.id, (answer) => {
        this.answers.delete(frame.id);
        resolve({ answer, at: nowMs() });
      });
      this.client.send(frame);
    });
  }

  /** The push of `msgId` and when it came (ms). */
  pushed(msgId: string): Promise<{ frame: Frame; at: number }> {
    const early = this.early.get(msgId);
    if (early) {
      this.early.delete(msgId);
      return Promise.resolve({ frame: early, at: nowMs() });
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no push of ${msgId} within 30 s`)), 30_000);
      this.pushes.set(msgId, (frame) => {
        clearTimeout(timer);
        this.pushes.delete(msgId);
        resolve({ frame, at: nowMs() });
      });
    });
  }
}

/**
 * What an edit or a deletion costs against a send, on real backends (one gateway, one Message pod):
 * `pairs` senders at once each send a text and then edit it (every other one: delete it), closed
 * loop, `rounds` times per repetition, so that both kinds run side by side under the same load. An
 * edit is a send that first reads the message it changes (from the hot store, or the store): the
 * figures are `accepted` latency and accept → pushed latency of each kind, medians of the
 * repetitions with their range.
 */
export async function editsScenario(o: EditsOptions): Promise<ScenarioResult> {
  const env = await sharedRealBackends();
  const procs: ServiceProcess[] = [];
  const perRep: Array<{ send: number[]; change: number[]; sendPush: number[]; changePush: number[] }> = [];
  const peers: Peer[] = [];
  try {
    const message = await startMessageProcess(isolatedBackendSettings(env), procs);
    const gateway = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, {}, procs);
    await eventually('Connect ready', async () => (await getJson(`${gateway.admin}/readyz`)).status === 200, 30_000);
    const tag = `edits-${Date.now().toString(36)}`;
    const pairs = await Promise.all(
      Array.from({ length: o.pairs }, async (_, i) => ({
        sender: new Peer(await TestClient.connect(gateway.url, { user: `${tag}-s${i}` })),
        recipient: new Peer(await TestClient.connect(gateway.url, { user: `${tag}-r${i}` })),
        to: `${tag}-r${i}`,
        conversation: `dm:${[`${tag}-s${i}`, `${tag}-r${i}`].sort().join(':')}`,
      })),
    );
    for (const p of pairs) peers.push(p.sender, p.recipient);
    let n = 0;
    for (let rep = 1; rep <= o.reps; rep++) {
      const r = { send: [] as number[], change: [] as number[], sendPush: [] as number[], changePush: [] as number[] };
      let done = 0;
      await Promise.all(
        pairs.map(async (p) => {
          for (let round = 0; round < o.rounds; round++) {
            const id = `t${++n}`;
            const t0 = nowMs();
            const sent = await p.sender.request({ type: 'send', id, to: p.to, body: `text ${round}` });
            if (sent.answer.type !== 'accepted') throw new Error(`send refused: ${JSON.stringify(sent.answer)}`);
            r.send.push(sent.at - t0);
            const text = await p.recipient.pushed(String(sent.answer.msgId));
            r.sendPush.push(text.at - sent.at);
            const change: Frame & { id: string } =
              round % 2 === 0
                ? { type: 'edit', id: `e${++n}`, conversation: p.conversation, seq: Number(text.frame.seq), body: `text ${round}, edited` }
                : { type: 'delete', id: `d${++n}`, conversation: p.conversation, seq: Number(text.frame.seq) };
            const t1 = nowMs();
            const changed = await p.sender.request(change);
            if (changed.answer.type !== 'accepted') throw new Error(`${change.type} refused: ${JSON.stringify(changed.answer)}`);
            r.change.push(changed.at - t1);
            r.changePush.push((await p.recipient.pushed(String(changed.answer.msgId))).at - changed.at);
            done++;
          }
        }),
      );
      o.progress(`edits: repetition ${rep}/${o.reps}: ${done} texts sent and changed`);
      perRep.push(r);
    }
  } finally {
    for (const p of peers) p.client.close();
    await killAll(procs);
  }
  const figure = (pick: (r: (typeof perRep)[number]) => number[], q: 'p50' | 'p99'): string => formatSpread(spread(perRep.map((r) => summarize(pick(r))[q])), 1);
  const ratio = (q: 'p50' | 'p99'): number => spread(perRep.map((r) => summarize(r.change)[q] / summarize(r.send)[q])).median;
  return {
    name: 'Edits and deletions beside sends',
    description:
      'Real backends, one gateway: senders at once each send a text and then edit or delete it (alternately), closed loop. `accepted` and accept → pushed latency of sends and of changes, medians of the repetitions [range].',
    settings: { pairs: o.pairs, roundsPerRep: o.rounds, reps: o.reps },
    figures: {
      'send accepted p50 (ms)': figure((r) => r.send, 'p50'),
      'edit/delete accepted p50 (ms)': figure((r) => r.change, 'p50'),
      'send accepted p99 (ms)': figure((r) => r.send, 'p99'),
      'edit/delete accepted p99 (ms)': figure((r) => r.change, 'p99'),
      'send accepted → pushed p99 (ms)': figure((r) => r.sendPush, 'p99'),
      'edit/delete accepted → pushed p99 (ms)': figure((r) => r.changePush, 'p99'),
    },
    ratios: { 'edit/delete accepted p50 / send accepted p50': ratio('p50'), 'edit/delete accepted p99 / send accepted p99': ratio('p99') },
    notes: ['An edit or a deletion reads the message it changes (the hot store holds it when it is recent) before its append; a send does not.'],
  };
}
