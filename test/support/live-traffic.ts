import { TestClient, type Frame } from './ws-client.js';
import { dm, resendable } from './traffic.js';
import { eventually } from './services.js';
import { metricValue, startConnectProcess, startMessageProcess, type MessageProcess, type ServiceProcess } from './processes.js';

/** One accepted send, and what became of it at its recipient. */
export interface Delivery {
  msgId: string;
  from: string;
  to: string;
  sentAt: number;
  acceptedAt: number;
  /** When the recipient's socket got it pushed (undefined: not pushed). */
  pushedAt?: number;
  /** The seq it was pushed with. */
  seq?: number;
}

export interface Verdict {
  total: number;
  /** Pushed to the recipient. */
  pushed: number;
  /** Not pushed, but the recipient was told `resync` after the send was accepted. */
  coveredByResync: number;
  /** Neither pushed nor covered: what a user would miss until they happen to sync. */
  missing: Delivery[];
  /** pushed / total. */
  liveShare: number;
}

/**
 * Steady chat traffic between `users` users spread over the gateways: each sends to the next one
 * around a ring at `perUserPerSecond`, as a well-behaved client does (resending the same id after
 * UNAVAILABLE or no answer). Every push and every `resync` each recipient receives is timed, so
 * a test can say of any time window which accepted messages reached their recipient live, which
 * were covered by a resync, and which were missed.
 */
export class LiveTraffic {
  readonly deliveries = new Map<string, Delivery>();
  /** Per user, when a `resync` arrived. */
  readonly resyncs = new Map<string, number[]>();
  /** Pushes that arrived before their send's `accepted` reached the sender (matched later). */
  private readonly early = new Map<string, { at: number; seq: number }>();
  /** Every (conversation, seq) pushed, with the msgId it carried: two msgIds for one seq is the fault users must never see. */
  readonly seqs = new Map<string, string>();
  readonly collisions: string[] = [];
  private clients: TestClient[] = [];
  private running = false;
  private loops: Array<Promise<void>> = [];
  refusals = 0;

  private constructor(
    readonly users: string[],
    private readonly perUserPerSecond: number,
  ) {}

  /** Connects `users` clients, user i to gateway i mod the number of gateways. */
  static async open(urls: readonly string[], users: number, perUserPerSecond: number, prefix = 'live'): Promise<LiveTraffic> {
    const names = Array.from({ length: users }, (_, i) => `${prefix}-${i}`);
    const t = new LiveTraffic(names, perUserPerSecond);
    t.clients = await Promise.all(names.map((u, i) => TestClient.connect(urls[i % urls.length]!, { user: u })));
    t.clients.forEach((c, i) => t.watch(c, names[i]!));
    return t;
  }

  private watch(client: TestClient, user: string): void {
    client.ws.on('message', (data) => {
      const f = JSON.parse(data.toString()) as Frame;
      const now = Date.now();
      if (f.type === 'resync') {
        let list = this.resyncs.get(user);
        if (!list) this.resyncs.set(user, (list = []));
        list.push(now);
      } else if (f.type === 'message' && f.to === user) {
        const msgId = String(f.msgId);
        const key = `${String(f.conversation)}#${Number(f.seq)}`;
        const before = this.seqs.get(key);
        if (before !== undefined && before !== msgId) this.collisions.push(`${key}: ${before} and ${msgId}`);
        this.seqs.set(key, msgId);
        const d = this.deliveries.get(msgId);
        if (d) {
          d.pushedAt ??= now;
          d.seq ??= Number(f.seq);
        } else if (!this.early.has(msgId)) this.early.set(msgId, { at: now, seq: Number(f.seq) });
      }
    });
  }

  /** Starts every user's send loop. */
  start(): void {
    this.running = true;
    this.loops = this.users.map((u, i) => this.sendLoop(this.clients[i]!, u, this.users[(i + 1) % this.users.length]!));
  }

  /** Stops sending and waits for the sends in flight. */
  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  close(): void {
    this.running = false;
    for (const c of this.clients) c.close();
  }

  private async sendLoop(client: TestClient, from: string, to: string): Promise<void> {
    const every = 1000 / this.perUserPerSecond;
    // Spread the users' sends over the interval rather than all at once.
    await new Promise((r) => setTimeout(r, Math.random() * every));
    for (let n = 0; this.running; n++) {
      // Recorded by watch(); dropped from the client's queue so that its lookups stay short.
      client.take('message');
      client.take('resync');
      const id = `${from}-${n}`;
      const sentAt = Date.now();
      for (;;) {
        const reply = await client.exchange({ type: 'send', id, to, body: id }, 'accepted', 10_000).catch(() => undefined);
        if (reply?.type === 'accepted') {
          const msgId = String(reply.msgId);
          const d: Delivery = { msgId, from, to, sentAt, acceptedAt: Date.now() };
          const early = this.early.get(msgId);
          d.pushedAt = early?.at;
          d.seq = early?.seq;
          this.early.delete(msgId);
          this.deliveries.set(msgId, d);
          break;
        }
        this.refusals++;
        if (reply && !resendable(reply.code)) throw new Error(`send ${id} refused: ${JSON.stringify(reply)}`);
        if (!this.running) return; // never accepted: nothing is owed
        await new Promise((r) => setTimeout(r, 200));
      }
      const wait = every - (Date.now() - sentAt);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  /** Sends accepted in [from, to) (ms since the epoch). */
  acceptedBetween(from: number, to = Number.POSITIVE_INFINITY): Delivery[] {
    return [...this.deliveries.values()].filter((d) => d.acceptedAt >= from && d.acceptedAt < to);
  }

  /**
   * What became of the sends accepted in [from, to): pushed, covered by a resync their recipient
   * got after the send was accepted (the client then syncs and finds it), or missed.
   */
  verdict(from: number, to = Number.POSITIVE_INFINITY): Verdict {
    const list = this.acceptedBetween(from, to);
    let pushed = 0;
    let coveredByResync = 0;
    const missing: Delivery[] = [];
    for (const d of list) {
      if (d.pushedAt !== undefined) pushed++;
      else if ((this.resyncs.get(d.to) ?? []).some((t) => t >= d.sentAt)) coveredByResync++;
      else missing.push(d);
    }
    return { total: list.length, pushed, coveredByResync, missing, liveShare: list.length === 0 ? 0 : pushed / list.length };
  }

  /** Waits until every send accepted before now was pushed or covered, or `timeoutMs` passed; returns the verdict of all. */
  async settle(timeoutMs = 10_000): Promise<Verdict> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = this.verdict(0);
      if (v.missing.length === 0 || Date.now() > deadline) return v;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The conversations of the ring, a member of each, and their accepted msgIds (to check storage). */
  conversations(): Map<string, { member: string; msgIds: Set<string> }> {
    const out = new Map<string, { member: string; msgIds: Set<string> }>();
    for (const d of this.deliveries.values()) {
      const c = dm(d.from, d.to);
      let entry = out.get(c);
      if (!entry) out.set(c, (entry = { member: d.from, msgIds: new Set() }));
      entry.msgIds.add(d.msgId);
    }
    return out;
  }

  /** The client of a user of the ring (to sync their conversations with). */
  clientOf(user: string): TestClient {
    return this.clients[this.users.indexOf(user)]!;
  }
}

/** A verdict for an assertion message. */
export function describeVerdict(v: Verdict): string {
  const sample = v.missing
    .slice(0, 5)
    .map((d) => `${d.msgId} ${d.from}→${d.to} accepted ${new Date(d.acceptedAt).toISOString()}`)
    .join(', ');
  return `${v.total} accepted: ${v.pushed} pushed (share ${v.liveShare.toFixed(3)}), ${v.coveredByResync} covered by resync, ${v.missing.length} missed${sample ? ` (${sample})` : ''}`;
}

/**
 * Two Message and two Connect processes on `settings` (each gateway with a stream to both pods),
 * and 20 users over the two gateways sending 3 messages a second each, started.
 */
export async function twoByTwoUnderTraffic(
  settings: Record<string, string>,
  procs: ServiceProcess[],
  tag: string,
): Promise<{ messages: [MessageProcess, MessageProcess]; traffic: LiveTraffic }> {
  const messages = await Promise.all([startMessageProcess(settings, procs), startMessageProcess(settings, procs)]);
  const discovery = messages.map((m) => `127.0.0.1:${m.grpcPort}`).join(',');
  const gateways = await Promise.all([startConnectProcess(discovery, {}, procs), startConnectProcess(discovery, {}, procs)]);
  for (const g of gateways)
    await eventually('both streams of the gateway up', async () => (await metricValue(g.admin, 'switchboard_connect_streams_active')) === 2, 30_000, 100);
  const traffic = await LiveTraffic.open(
    gateways.map((g) => g.url),
    20,
    3,
    tag,
  );
  traffic.start();
  return { messages, traffic };
}
