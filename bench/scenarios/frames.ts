import { getJson, eventually } from '../../test/support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { isolatedBackendSettings, sharedRealBackends } from '../../test/support/real-backends.js';
import { TestClient, type Frame } from '../../test/support/ws-client.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, nowMs, spread, summarize } from '../lib/stats.js';

export interface FramesOptions {
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
      // An answer carries its request's id (a pushed read marker or presence change has none).
      if (f.type !== 'message' && typeof f.id === 'string') this.answers.get(f.id)?.(f);
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
 * What the chat frames cost beside the sends they come with, on real backends (one gateway, one
 * Message pod): `pairs` senders at once each send a text; its recipient, once pushed it, marks it
 * read (`read`: a store write) and now and then asks whether the sender is online (`presence`);
 * then the sender edits the text (every other one: deletes it; an edit is a send that first reads
 * the message it changes). Closed loop, `rounds` times per repetition, so that every kind runs
 * side by side under the same load: the answer latency of each, and accept → pushed of sends and
 * changes, medians of the repetitions with their range, and each kind's ratio to the send.
 */
export async function framesScenario(o: FramesOptions): Promise<ScenarioResult> {
  const env = await sharedRealBackends();
  const procs: ServiceProcess[] = [];
  const kinds = ['send', 'change', 'read', 'presence', 'sendPush', 'changePush'] as const;
  type Samples = Record<(typeof kinds)[number], number[]>;
  const perRep: Samples[] = [];
  const peers: Peer[] = [];
  /** Sends a request and records how long its answer (of `type`) took. */
  const timed = async (peer: Peer, frame: Frame & { id: string }, type: string, into: number[]): Promise<{ answer: Frame; at: number }> => {
    const t0 = nowMs();
    const res = await peer.request(frame);
    if (res.answer.type !== type) throw new Error(`${frame.type} answered ${JSON.stringify(res.answer)}`);
    into.push(res.at - t0);
    return res;
  };
  try {
    const message = await startMessageProcess(isolatedBackendSettings(env), procs);
    const gateway = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, {}, procs);
    await eventually('Connect ready', async () => (await getJson(`${gateway.admin}/readyz`)).status === 200, 30_000);
    const tag = `frames-${Date.now().toString(36)}`;
    const pairs = await Promise.all(
      Array.from({ length: o.pairs }, async (_, i) => ({
        sender: new Peer(await TestClient.connect(gateway.url, { user: `${tag}-s${i}` })),
        recipient: new Peer(await TestClient.connect(gateway.url, { user: `${tag}-r${i}` })),
        from: `${tag}-s${i}`,
        to: `${tag}-r${i}`,
        conversation: `dm:${[`${tag}-s${i}`, `${tag}-r${i}`].sort().join(':')}`,
      })),
    );
    for (const p of pairs) peers.push(p.sender, p.recipient);
    let n = 0;
    for (let rep = 1; rep <= o.reps; rep++) {
      const r = Object.fromEntries(kinds.map((k) => [k, [] as number[]])) as unknown as Samples;
      let done = 0;
      await Promise.all(
        pairs.map(async (p) => {
          for (let round = 0; round < o.rounds; round++) {
            const sent = await timed(p.sender, { type: 'send', id: `t${++n}`, to: p.to, body: `text ${round}` }, 'accepted', r.send);
            const text = await p.recipient.pushed(String(sent.answer.msgId));
            r.sendPush.push(text.at - sent.at);
            const seq = Number(text.frame.seq);
            await timed(p.recipient, { type: 'read', id: `r${++n}`, conversation: p.conversation, seq }, 'read', r.read);
            if (round % 10 === 5) await timed(p.recipient, { type: 'presence', id: `p${++n}`, users: [p.from] }, 'presence', r.presence);
            const change: Frame & { id: string } =
              round % 2 === 0
                ? { type: 'edit', id: `e${++n}`, conversation: p.conversation, seq, body: `text ${round}, edited` }
                : { type: 'delete', id: `d${++n}`, conversation: p.conversation, seq };
            const changed = await timed(p.sender, change, 'accepted', r.change);
            r.changePush.push((await p.recipient.pushed(String(changed.answer.msgId))).at - changed.at);
            done++;
          }
        }),
      );
      o.progress(`frames: repetition ${rep}/${o.reps}: ${done} texts sent, read and changed`);
      perRep.push(r);
    }
  } finally {
    for (const p of peers) p.client.close();
    await killAll(procs);
  }
  const figure = (kind: (typeof kinds)[number], q: 'p50' | 'p99'): string => formatSpread(spread(perRep.map((r) => summarize(r[kind])[q])), 1);
  const ratio = (kind: (typeof kinds)[number], q: 'p50' | 'p99'): number => spread(perRep.map((r) => summarize(r[kind])[q] / summarize(r.send)[q])).median;
  return {
    name: 'Chat frames beside sends',
    description:
      'Real backends, one gateway: senders at once each send a text, its recipient marks it read (and now and then asks presence), then the sender edits or deletes it; closed loop. Answer latency of each frame, and accept → pushed of sends and changes, medians of the repetitions [range].',
    settings: { pairs: o.pairs, roundsPerRep: o.rounds, reps: o.reps },
    figures: {
      'send accepted p50 / p99 (ms)': `${figure('send', 'p50')} / ${figure('send', 'p99')}`,
      'edit/delete accepted p50 / p99 (ms)': `${figure('change', 'p50')} / ${figure('change', 'p99')}`,
      'read answered p50 / p99 (ms)': `${figure('read', 'p50')} / ${figure('read', 'p99')}`,
      'presence answered p50 / p99 (ms)': `${figure('presence', 'p50')} / ${figure('presence', 'p99')}`,
      'send accepted → pushed p99 (ms)': figure('sendPush', 'p99'),
      'edit/delete accepted → pushed p99 (ms)': figure('changePush', 'p99'),
    },
    ratios: {
      'edit/delete accepted p50 / send accepted p50': ratio('change', 'p50'),
      'edit/delete accepted p99 / send accepted p99': ratio('change', 'p99'),
      'read answered p50 / send accepted p50': ratio('read', 'p50'),
      'presence answered p50 / send accepted p50': ratio('presence', 'p50'),
    },
    notes: [
      'An edit or a deletion reads the message it changes (the hot store holds it when it is recent) before its append; a read writes the marker to the store; presence asks the store whether the two share a conversation, then the presence directory.',
      'Typing is measured apart (npm run bench -- typing): its frames never reach the store.',
    ],
  };
}
