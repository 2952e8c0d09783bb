import { TestClient, type Frame } from './ws-client.js';
import { eventually, getJson, startConnect, startMessage, type RunningConnect, type RunningMessage } from './services.js';

/** What a well-behaved client does: resend with the same id until accepted (idempotent). */
export async function sendReliably(
  client: TestClient,
  frame: { id: string; to: string; body: string },
  opts: { deadlineMs?: number; retryMs?: number; onUnavailable?: () => void } = {},
): Promise<Frame> {
  const deadline = Date.now() + (opts.deadlineMs ?? 60_000);
  for (;;) {
    const reply = await client
      .exchange({ type: 'send', ...frame }, 'accepted', 15_000)
      .catch((err: unknown) => ({ type: 'error', code: 'TIMEOUT', message: String(err) }));
    if (reply.type === 'accepted') return reply;
    if (!resendable(reply.code) && reply.code !== 'TIMEOUT') throw new Error(`send ${frame.id} failed: ${JSON.stringify(reply)}`);
    opts.onUnavailable?.();
    if (Date.now() > deadline) throw new Error(`send ${frame.id} not accepted before the deadline; last reply ${JSON.stringify(reply)}`);
    await new Promise((r) => setTimeout(r, opts.retryMs ?? 200));
  }
}

/**
 * Refusals a client resends the same id after (docs/PROTOCOL.md §4): UNAVAILABLE, and RATE_LIMITED
 * (slow down; an unpaced loop of fast accepts passes the frame rate).
 */
export function resendable(code: unknown): boolean {
  return code === 'UNAVAILABLE' || code === 'RATE_LIMITED';
}

/** One send's outcome in a SendLoop: when it was sent, and whether it was accepted or refused as unavailable. */
export interface SendEvent {
  t: number;
  kind: 'accepted' | 'unavailable';
  /** The accepted message's id. */
  msgId?: string;
}

/**
 * What a client does through an outage, as a background loop: one send at a time, ~20/s, each
 * resent with the same id until accepted (UNAVAILABLE or no answer only: any other refusal fails
 * the loop). A stop lets the send in progress be accepted first (a send that timed out may have
 * landed; given up, it would be stored and never acknowledged), so that what is stored is exactly
 * what was accepted.
 */
type Target = { to: string } | { conversation: string };

export class SendLoop {
  /** The msgIds accepted, in the order they were. */
  readonly accepted = new Set<string>();
  /** The conversation of each accepted msgId. */
  readonly conversationOf = new Map<string, string>();
  readonly events: SendEvent[] = [];
  private running = true;
  private stoppedAt = Number.POSITIVE_INFINITY;
  private readonly done: Promise<void>;

  /** `target`: where every send goes, or where send `i` goes. */
  constructor(
    private readonly client: TestClient,
    prefix: string,
    target: Target | ((i: number) => Target),
  ) {
    this.done = this.loop(prefix, typeof target === 'function' ? target : () => target);
  }

  private async loop(prefix: string, targetOf: (i: number) => Target): Promise<void> {
    for (let i = 0; this.running; i++) {
      const id = `${prefix}${i}`;
      const target = targetOf(i);
      for (;;) {
        if (!this.running && Date.now() > this.stoppedAt + 120_000) throw new Error(`send ${id} not accepted within 120 s of the stop`);
        const sentAt = Date.now();
        const reply = await this.client.exchange({ type: 'send', id, ...target, body: id }, 'accepted', 20_000).catch(() => undefined);
        if (reply?.type === 'accepted') {
          this.events.push({ t: sentAt, kind: 'accepted', msgId: String(reply.msgId) });
          this.accepted.add(String(reply.msgId));
          this.conversationOf.set(String(reply.msgId), String(reply.conversation));
          break;
        }
        if (reply && !resendable(reply.code)) throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
        if (reply?.code !== 'RATE_LIMITED') this.events.push({ t: sentAt, kind: 'unavailable' });
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Sends issued at `since` or later that were accepted / refused. */
  count(kind: SendEvent['kind'], since: number, until = Number.POSITIVE_INFINITY): number {
    return this.events.filter((e) => e.kind === kind && e.t >= since && e.t < until).length;
  }

  /** Waits until `count` sends issued at `since` or later were accepted. */
  waitForAccepts(count: number, since: number, timeoutMs = 120_000): Promise<void> {
    return eventually(`${count} accepted sends`, () => this.count('accepted', since) >= count, timeoutMs, 100);
  }

  /** Stops sending once the send in progress is accepted; rejects when the loop failed (a refusal other than UNAVAILABLE). */
  async stop(): Promise<void> {
    if (this.running) this.stoppedAt = Date.now();
    this.running = false;
    await this.done;
  }
}

/** Every stored message of a conversation, by paging `sync` from seq 0. */
export async function syncAll(client: TestClient, conversation: string): Promise<Frame[]> {
  const out: Frame[] = [];
  for (let page = 0; page < 1000; page++) {
    const after = out.length === 0 ? 0 : Number(out[out.length - 1]!.seq);
    const res = await client.request({ type: 'sync', id: `sync-${conversation}-${page}-${Date.now()}`, conversation, after, limit: 500 }, 'messages', 15_000);
    out.push(...(res.messages as Frame[]));
    if (!res.hasMore) return out;
  }
  throw new Error('sync did not end');
}

/** Asserts seqs 1..n without gap or duplicate; returns the msgIds in seq order. */
export function gapFree(messages: Frame[], what: string): string[] {
  messages.forEach((m, i) => {
    if (m.seq !== i + 1) throw new Error(`${what}: seq ${String(m.seq)} at position ${i + 1} (gap or duplicate)`);
  });
  const ids = messages.map((m) => String(m.msgId));
  if (new Set(ids).size !== ids.length) throw new Error(`${what}: a msgId is stored twice`);
  return ids;
}

export const dm = (a: string, b: string): string => (a <= b ? `dm:${a}:${b}` : `dm:${b}:${a}`);

/**
 * Waits until every accepted msgId of `conversation` is returned by sync, then checks that the
 * stored messages are exactly the accepted ones with seqs 1..n (no gap, no duplicate, no extra).
 */
export async function expectAllAcceptedStored(client: TestClient, conversation: string, accepted: Iterable<string>, timeoutMs = 60_000): Promise<void> {
  const want = new Set(accepted);
  let stored: Frame[] = [];
  const missing = (): string[] => {
    const have = new Set(stored.map((m) => String(m.msgId)));
    return [...want].filter((id) => !have.has(id));
  };
  try {
    await eventually(
      `all ${want.size} accepted messages of ${conversation} stored`,
      async () => {
        stored = await syncAll(client, conversation);
        return missing().length === 0;
      },
      timeoutMs,
      500,
    );
  } catch (err: unknown) {
    // What a failure needs to be told apart: a message lost, or one still on its way.
    const gone = missing();
    const seqs = stored.map((m) => Number(m.seq));
    throw new Error(
      `${conversation}: ${gone.length} of ${want.size} accepted messages not stored (${gone.slice(0, 10).join(', ')}${gone.length > 10 ? ', …' : ''}); ` +
        `${stored.length} stored, seqs ${seqs.length > 0 ? `${seqs[0]}..${seqs[seqs.length - 1]}` : 'none'}`,
      { cause: err },
    );
  }
  const ids = gapFree(stored, conversation);
  if (ids.length !== want.size) throw new Error(`${conversation}: ${ids.length} stored, ${want.size} accepted`);
}

let sentinels = 0;
/**
 * What else reached `recipient` in its conversation with `sender`: `sender` sends a sentinel to
 * `recipientUser` and, once the recipient has it, every earlier push of that conversation has
 * arrived too (a conversation's pushes come in seq order). Returns the other `message` frames the
 * recipient holds, so a test asserts that nothing arrived without waiting an arbitrary time.
 */
export async function messagesBeforeSentinel(sender: TestClient, recipient: TestClient, recipientUser: string): Promise<Frame[]> {
  const id = `sentinel-${++sentinels}`;
  await sender.request({ type: 'send', id, to: recipientUser, body: 'sentinel' }, 'accepted');
  await recipient.next('message', 10_000, (f) => f.id === id);
  return recipient.take('message');
}

/** One Message and one Connect serving, a sender and a recipient, and the sender's SendLoop. */
export interface OneToOne {
  message: RunningMessage;
  connect: RunningConnect;
  sender: TestClient;
  recipient: TestClient;
  loop: SendLoop;
  /** Stops the loop, the clients and both services. */
  stop(): Promise<void>;
}

/**
 * A Message and a Connect in this process on `settings`, both Ready, and `from` sending to `to`
 * without pause (a SendLoop with `prefix`): resolves once 20 sends were accepted.
 */
export async function oneToOneUnderTraffic(settings: Record<string, string>, users: { from: string; to: string; prefix: string }): Promise<OneToOne> {
  const message = await startMessage(settings);
  await eventually('Message ready', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 90_000);
  const connect = await startConnect(message.target, { RPC_TIMEOUT: '5s' });
  await eventually('Connect ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
  const sender = await TestClient.connect(connect.url, { user: users.from });
  const recipient = await TestClient.connect(connect.url, { user: users.to });
  const loop = new SendLoop(sender, users.prefix, { to: users.to });
  await loop.waitForAccepts(20, 0);
  return {
    message,
    connect,
    sender,
    recipient,
    loop,
    async stop() {
      await loop.stop().catch(() => undefined);
      sender.close();
      recipient.close();
      await connect.stop();
      await message.stop();
    },
  };
}
