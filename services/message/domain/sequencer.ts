import { isGroupConversation } from '../../shared/ids.js';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { withTimeout } from '../../shared/lifecycle.js';
import { retryUntil } from '../../shared/retry.js';
import { IndexUpdateError, SeqConflictError, type MessageStore } from '../adapters/store.js';
import { FencedError, type HotStore, type Listing, type SequencedRecord } from '../adapters/hot-store.js';
import { kindFields, type AcceptedSend, type Message, type Origin } from '../../shared/message.js';

/** How far the clocks of two Message pods may differ (an accept time is the accepting pod's; a claim time this pod's). */
const CLOCK_SKEW_MS = 1000;
/** What sequencing through the hot store needs (see Sequencer.sequenceHot). */
export interface HotSequencing {
  hot: HotStore;
  /** This process's instance id: claims are made in its name. */
  instance: string;
  /** How long a repeated send is recognised by its record (DEDUPE_WINDOW). */
  dedupeWindowMs: number;
  /** MsgIds this process remembers having sequenced (beyond them the hot store answers). */
  recentMax?: number;
  /** How long a last seq is waited for from the store before the hot store's is used (where it may be). */
  storeAnswerMs?: number;
  /**
   * How long a consumer that took a partition over waits before it first asks the store about
   * msgIds the hot store cannot vouch for (it lost its records): time for the last owner to store
   * what it had pushed.
   */
  handoverGraceMs?: number;
  now?: () => number;
  /** Claims of assigned partitions failed (the hot store away): tried again in `retryInMs`. */
  onClaimFailed?: (partitions: readonly number[], err: unknown, retryInMs: number) => void;
}

/** A message stored now, with the gateway and connection its send came from (they get `accepted`, not a push). */
export interface Sequenced {
  message: Message;
  origin: Origin;
  /** Who gets it pushed, when not the direct message's two users (a group's members at its seq). */
  audience?: ReadonlySet<string>;
  /**
   * Stored before, by an earlier delivery of the same log record (a redelivery): whoever stored it
   * may have failed before pushing it (a lost store reply, a crash), so it is pushed again unless
   * this process pushed it.
   */
  redelivered?: true;
}

/** This consumer's claim on a partition: its token, when it was made, and whether it was taken from another process. */
interface Claim {
  token: string;
  at: number;
  fromOther: boolean;
}

/** Claims of assigned partitions the hot store did not take (it is away). */
class ClaimsPendingError extends Error {
  constructor(
    readonly partitions: readonly number[],
    cause: unknown,
  ) {
    super(`${partitions.length} assigned partitions not claimed yet`, { cause });
  }
}

/** A batch failed after some of its messages were stored: `stored` must still be pushed. */
export class StoredThenFailedError extends Error {
  constructor(
    readonly stored: readonly Sequenced[],
    cause: unknown,
  ) {
    super(`${stored.length} messages stored before the batch failed`, { cause });
    this.name = 'StoredThenFailedError';
  }
}

/**
 * Gives each consumed entry the next seq of its conversation and stores it. The seq is derived
 * from what is stored (never from a counter that could run ahead), so seqs have no gap even when
 * a process dies between steps; (conversation, seq) uniqueness in the store settles the rare race
 * of two consumers during a partition hand-over; msgId uniqueness makes redelivery harmless.
 *
 * The last seq of each conversation is cached with the partition it came from: read from the
 * store once (one query per batch for the conversations it has not seen) and then kept for as long
 * as this consumer owns that partition without a break. A partition that leaves and comes back
 * may have been written by another member meanwhile, so its conversations are read again.
 */
export class Sequencer {
  private readonly lastSeq = new Map<string, { seq: number; partition: number }>();
  private owned = new Set<number>();
  /** This consumer's claim on each partition it sequences through the hot store. */
  private readonly claims = new Map<number, Claim>();
  /** Tells this process's claims from those of an earlier run with the same instance id (a restarted container). */
  private readonly incarnation = randomBytes(4).toString('hex');
  /** Claims being made (one at a time per partition). */
  private readonly claiming = new Map<number, Promise<string>>();
  private claimCount = 0;
  /** Counts assignments: a claim made for an earlier one is not kept. */
  private generation = 0;
  /** MsgIds this process sequenced lately, with their records (most recent last). */
  private readonly recent = new Map<string, SequencedRecord>();
  /** Partitions whose messages the store took without the hot store recording them: their dedupe coverage starts anew. */
  private readonly coverageBroken = new Set<number>();

  constructor(
    private readonly messages: MessageStore,
    private readonly opts: { cacheSize?: number; maxConflicts?: number; hot?: HotSequencing } = {},
  ) {}

  /**
   * Gives a partition batch its seqs without the store, so that it can be pushed at once and
   * stored behind (the Persister): each seq is made durable first, with the msgId's record, in the
   * hot store, in one atomic write fenced by this consumer's claim on the partition (a consumer
   * that lost the partition can no longer record, so it never pushes a seq the new owner gives to
   * another message).
   *
   * A msgId this process or the hot store has a record of is a redelivery when its accept time is
   * the record's (the same log record: it keeps its seq, and comes back for its push) and a
   * repeat of the send otherwise (dropped). A msgId neither knows is new when the hot store
   * records every msgId since before the dedupe window (or since a new deployment); otherwise the
   * store is asked. A conversation's last seq is cached while the partition is owned; else it is
   * the larger of the store's and the hot store's.
   */
  async sequenceHot(entries: readonly AcceptedSend[], partition = 0, signal?: AbortSignal): Promise<Sequenced[]> {
    const h = this.opts.hot;
    if (!h) throw new Error('sequenceHot needs the hot store (opts.hot)');
    const now = (h.now ?? Date.now)();
    if (this.coverageBroken.has(partition)) {
      await h.hot.resetCoverage(partition);
      this.coverageBroken.delete(partition);
    }
    const fresh = uniqueByMsgId(entries);
    // Claimed before anything is decided: the last owner can record (and push) no more from here on.
    await this.claim(h, partition);
    const unknown = fresh.filter((e) => !this.recent.has(e.msgId)).map((e) => e.msgId);
    const records = new Map<string, SequencedRecord>();
    let since: number | undefined;
    if (unknown.length > 0) {
      const answer = await h.hot.sequenced(partition, unknown);
      for (const [id, r] of answer.records) records.set(id, r);
      since = answer.coveredSince ?? (await h.hot.dedupeSince(partition, async () => !(await this.messages.hasMessages())));
      const vouched = since === 0 || now - since >= h.dedupeWindowMs;
      const unresolved = unknown.filter((id) => !records.has(id));
      if (!vouched && unresolved.length > 0) {
        // Taken over just now, and the hot store lost the last owner's records: what it pushed
        // reaches the store within moments; asking before that would take its messages for new.
        // Only sends accepted before the claim can be the last owner's: once claimed, it can
        // record (and push) nothing more.
        const claimedAt = this.claims.get(partition)?.at ?? 0;
        const ts = new Map(fresh.map((e) => [e.msgId, e.ts] as const));
        const lastOwners = unresolved.some((id) => (ts.get(id) ?? 0) <= claimedAt + CLOCK_SKEW_MS);
        const wait = claimedAt + (h.handoverGraceMs ?? 5000) - now;
        if (lastOwners && wait > 0) await delay(wait, undefined, { signal });
        const inStore = await this.messages.storedAlready(unresolved, new Map(fresh.map((e) => [e.conversation, membersOf(e)] as const)));
        for (const [id, m] of inStore) records.set(id, { conversation: m.conversation, seq: m.seq, ts: m.ts });
      }
    }
    const known = (id: string): SequencedRecord | undefined => this.recent.get(id) ?? records.get(id);
    const misses = [...new Set(fresh.filter((e) => !known(e.msgId) && !this.lastSeq.has(e.conversation)).map((e) => e.conversation))];
    const { stored, recorded } =
      misses.length > 0
        ? await this.lastSeqsOf(h, partition, misses, since)
        : { stored: new Map<string, number>(), recorded: new Map<string, { seq: number; at: number }>() };
    const next = new Map<string, number>();
    const lastOf = (c: string): number => next.get(c) ?? this.lastSeq.get(c)?.seq ?? Math.max(stored.get(c) ?? 0, recorded.get(c)?.seq ?? 0);
    const out: Sequenced[] = [];
    const toRecord: Message[] = [];
    const listed = new Map<string, Listing>();
    for (const e of fresh) {
      const k = known(e.msgId);
      if (k) {
        // The same record (its accept time): its seq again, and its push. A later repeat is dropped.
        if (k.ts !== e.ts) continue;
        out.push({ ...sequenced(e, toStored(e, k.seq)), redelivered: true });
        if (k.seq > (this.lastSeq.get(e.conversation)?.seq ?? 0)) next.set(e.conversation, Math.max(next.get(e.conversation) ?? 0, k.seq));
        continue;
      }
      const m = toStored(e, lastOf(e.conversation) + 1);
      next.set(e.conversation, m.seq);
      toRecord.push(m);
      out.push(sequenced(e, m));
      listed.set(e.msgId, listingOf(e));
    }
    await this.record(h, partition, toRecord, listed);
    for (const [c, seq] of next) this.remember(c, seq, partition);
    for (const m of toRecord) this.recall(m);
    return out;
  }

  /**
   * Whether a batch of the partition may be stored before its push while the hot store cannot
   * record. Only where this consumer holds the partition's claim, and only for entries it knows
   * the last owner cannot have pushed: those it sequenced itself, those accepted after its claim
   * (the last owner could record, and so push, nothing more), and those the store holds already.
   * Any other may have been pushed by the last owner with a seq only the hot store knows: the
   * batch waits for it.
   */
  async mayStoreFirst(entries: readonly AcceptedSend[], partition: number): Promise<boolean> {
    if (!this.opts.hot) return true;
    const claim = this.claims.get(partition);
    if (!claim) return false;
    // Held last by this process (whatever it pushed is in `recent`) or by nobody since the hot
    // store began (nobody pushed through it): nothing here can carry a seq only the hot store knows.
    if (!claim.fromOther) return true;
    const since = claim.at + CLOCK_SKEW_MS;
    const doubtful = entries.filter((e) => e.ts <= since && !this.recent.has(e.msgId));
    if (doubtful.length === 0) return true;
    const inStore = await this.messages.storedAlready(
      doubtful.map((e) => e.msgId),
      new Map(doubtful.map((e) => [e.conversation, membersOf(e)] as const)),
    );
    return doubtful.every((e) => inStore.has(e.msgId));
  }

  /**
   * The last seqs of conversations this consumer has not cached: the larger of the store's and the
   * hot store's. When the store cannot answer, the hot store's is enough for a conversation whose
   * every seq since its coverage began went through it (recorded after that); any other waits for
   * the store: only the store knows where it is.
   */
  private async lastSeqsOf(
    h: HotSequencing,
    partition: number,
    misses: readonly string[],
    coveredSince: number | undefined,
  ): Promise<{ stored: Map<string, number>; recorded: Map<string, { seq: number; at: number }> }> {
    const recorded = await h.hot.lastSeqs(misses);
    try {
      // A store that is away may take its driver's whole server selection to say so: not waited for.
      return { stored: await withTimeout(this.messages.lastSeqs(misses), h.storeAnswerMs ?? 1000, 'the store did not answer in time'), recorded };
    } catch (err: unknown) {
      const since = coveredSince ?? (await h.hot.sequenced(partition, [])).coveredSince;
      const trusted = since !== undefined && misses.every((c) => (recorded.get(c)?.at ?? -1) >= since);
      if (!trusted) throw err;
      return { stored: new Map(), recorded };
    }
  }

  /** Claims the partition in the hot store, once per assignment. */
  private async claim(h: HotSequencing, partition: number): Promise<string> {
    const held = this.claims.get(partition);
    if (held) return held.token;
    let pending = this.claiming.get(partition);
    if (!pending) {
      const generation = this.generation;
      const ours = `${h.instance}/${this.incarnation}/`;
      const mine = `${ours}${++this.claimCount}`;
      pending = h.hot
        .claim(partition, mine)
        .then((before) => {
          // Still this assignment's: a partition that left meanwhile is claimed anew when it returns.
          if (generation === this.generation)
            this.claims.set(partition, { token: mine, at: (h.now ?? Date.now)(), fromOther: before !== null && !before.startsWith(ours) });
          return mine;
        })
        .finally(() => this.claiming.delete(partition));
      this.claiming.set(partition, pending);
    }
    return pending;
  }

  private async record(h: HotSequencing, partition: number, messages: readonly Message[], listed: ReadonlyMap<string, Listing>): Promise<void> {
    if (messages.length === 0) return;
    const token = await this.claim(h, partition);
    try {
      await h.hot.record(partition, token, messages, listed, h.dedupeWindowMs);
    } catch (err: unknown) {
      // Taken by another consumer: this one stops recording (and pushing) that partition. Gone
      // altogether (the hot store lost its data): claimed again.
      if (!(err instanceof FencedError) || (await h.hot.claimedBy(partition)) !== null) throw err;
      await h.hot.claim(partition, token);
      await h.hot.record(partition, token, messages, listed, h.dedupeWindowMs);
    }
  }

  private recall(m: Message): void {
    this.recent.set(m.msgId, { conversation: m.conversation, seq: m.seq, ts: m.ts });
    if (this.recent.size > (this.opts.hot?.recentMax ?? 200_000)) this.recent.delete(this.recent.keys().next().value!);
  }

  /**
   * Stores a partition batch in log order with one ordered insert; when it stops at an entry stored
   * before (redelivery), drops those in one query and inserts the rest; falls back to one-by-one
   * when something else took a seq meanwhile.
   * Returns, in log order, the messages stored now with where their sends came from, and the
   * entries found stored by an earlier delivery of the same record (`redelivered`); repeats of a
   * send (a later record with the same msgId) and repeats inside the batch are left out.
   */
  async storeBatch(entries: readonly AcceptedSend[], partition = 0): Promise<Sequenced[]> {
    // The hot store does not hear of these: its msgId records of the partition no longer cover every msgId.
    if (this.opts.hot) this.coverageBroken.add(partition);
    // Repeats inside the batch are dropped here; entries stored before (redelivery) make the
    // ordered insert stop, and are then found in one query.
    const fresh = uniqueByMsgId(entries);
    const stored = await this.insertInOrder(fresh, partition, []);
    if (stored.length === fresh.length) return stored;
    // The insert stopped, most often at a redelivery (entries stored before a crash or a partition
    // hand-over, whose offsets were not committed yet): those are found in one round trip and
    // dropped, and the rest goes in one more ordered insert, so a redelivered batch costs a few
    // store calls, not two per entry.
    const rest = fresh.slice(stored.length);
    const known = await this.messages.storedAlready(
      rest.map((e) => e.msgId),
      new Map(rest.map((e) => [e.conversation, membersOf(e)] as const)),
    );
    const remaining = rest.filter((e) => !known.has(e.msgId));
    const more = remaining.length > 0 ? await this.insertInOrder(remaining, partition, stored) : [];
    const now = new Map([...stored, ...more].map((s) => [s.message.msgId, s] as const));
    // Stopped again (another writer took a seq meanwhile): one by one, each re-reading its seq.
    for (const e of remaining.slice(more.length)) {
      const m = await this.store(e, partition);
      if (m) now.set(e.msgId, sequenced(e, m));
    }
    // In log order, so that each conversation's pushes keep their seq order.
    const out: Sequenced[] = [];
    for (const e of fresh) {
      const s = now.get(e.msgId);
      if (s) out.push(s);
      else {
        const m = known.get(e.msgId);
        // The same record (its accept time) stored before; a later repeat of the send is dropped.
        if (m && m.ts === e.ts) out.push({ ...sequenced(e, m), redelivered: true });
      }
    }
    return out;
  }

  /**
   * Gives the entries the next seqs of their conversations (cached, else read in one round trip)
   * and stores them in one ordered insert. Returns the stored prefix; the conversations of the
   * rest are forgotten, so their seqs are read again. `before`: what this batch stored already,
   * carried by a StoredThenFailedError.
   */
  private async insertInOrder(entries: readonly AcceptedSend[], partition: number, before: readonly Sequenced[]): Promise<Sequenced[]> {
    const misses = [...new Set(entries.map((e) => e.conversation).filter((c) => !this.lastSeq.has(c)))];
    const fetched = misses.length > 0 ? await this.messages.lastSeqs(misses) : new Map<string, number>();
    const next = new Map<string, number>();
    const batch: Sequenced[] = [];
    for (const e of entries) {
      const last = next.get(e.conversation) ?? this.lastSeq.get(e.conversation)?.seq ?? fetched.get(e.conversation) ?? 0;
      batch.push(sequenced(e, toStored(e, last + 1)));
      next.set(e.conversation, last + 1);
    }
    const members = new Map(entries.map((e) => [e.conversation, membersOf(e)] as const));
    let n: number;
    try {
      n = await this.messages.insertMessages(
        batch.map((b) => b.message),
        members,
      );
    } catch (err: unknown) {
      if (!(err instanceof IndexUpdateError)) throw err;
      // Stored, though the batch will come again: the caller still pushes these (their redelivery
      // finds them stored and would not).
      for (const { message: m } of batch.slice(0, err.inserted)) this.remember(m.conversation, m.seq, partition);
      throw new StoredThenFailedError([...before, ...batch.slice(0, err.inserted)], err);
    }
    for (const { message: m } of batch.slice(0, n)) this.remember(m.conversation, m.seq, partition);
    for (const { message: m } of batch.slice(n)) this.lastSeq.delete(m.conversation);
    return batch.slice(0, n);
  }

  /** Stores the entry with its seq; undefined when its msgId was stored already (redelivery). */
  async store(entry: AcceptedSend, partition = 0): Promise<Message | undefined> {
    const maxConflicts = this.opts.maxConflicts ?? 16;
    for (let attempt = 0; ; attempt++) {
      const last = this.lastSeq.get(entry.conversation)?.seq ?? (await this.messages.lastSeq(entry.conversation, attempt > 0));
      const message = toStored(entry, last + 1);
      try {
        const result = await this.messages.insertMessage(message, membersOf(entry));
        if (result === 'duplicate') return undefined;
        this.remember(entry.conversation, message.seq, partition);
        return message;
      } catch (err: unknown) {
        // Another writer took this seq (partition hand-over): forget the cached value and re-read.
        this.lastSeq.delete(entry.conversation);
        if (!(err instanceof SeqConflictError) || attempt >= maxConflicts) throw err;
      }
    }
  }

  /**
   * The partitions this consumer owns now (see AssignmentListener): cached seqs are kept only for
   * partitions it owned in the previous assignment as well. With the hot store, every partition
   * new to this consumer is claimed at once (not at its first batch): the last owner is fenced off
   * from then on, and should the hot store go away later, the partition's next sends can be stored
   * and pushed without it (see mayStoreFirst). Resolves when every partition is claimed, or the
   * assignment changed; claims that fail are tried again, with backoff, meanwhile.
   */
  async assigned(partitions: readonly number[]): Promise<void> {
    const kept = new Set(partitions.filter((p) => this.owned.has(p)));
    for (const [conversation, { partition }] of this.lastSeq) if (!kept.has(partition)) this.lastSeq.delete(conversation);
    // A partition that was away is claimed anew (another consumer may have held it meanwhile).
    for (const p of [...this.claims.keys()]) if (!kept.has(p)) this.claims.delete(p);
    this.owned = new Set(partitions);
    this.generation++;
    const h = this.opts.hot;
    if (!h) return;
    const generation = this.generation;
    // Every owned partition without a claim (new ones, and kept ones whose claim was still being
    // made), again and again while the hot store cannot take them: a partition idle until the hot
    // store goes away must hold its claim by then.
    await retryUntil(
      async () => {
        const unclaimed = partitions.filter((p) => !this.claims.has(p));
        const results = await Promise.allSettled(unclaimed.map((p) => this.claim(h, p)));
        const failed = unclaimed.filter((_, i) => results[i]!.status === 'rejected');
        const first = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (first) throw new ClaimsPendingError(failed, first.reason);
      },
      {
        backoff: { initialMs: 200, multiplier: 2, jitter: 0.2, maxMs: 5000 },
        stopped: () => generation !== this.generation,
        onRetry: (err, retryInMs) => {
          if (err instanceof ClaimsPendingError) h.onClaimFailed?.(err.partitions, err.cause, retryInMs);
        },
        sleep: (ms) => delay(ms, undefined, { ref: false }),
      },
    );
  }

  private remember(conversation: string, seq: number, partition: number): void {
    this.lastSeq.delete(conversation);
    this.lastSeq.set(conversation, { seq, partition });
    if (this.lastSeq.size > (this.opts.cacheSize ?? 100_000)) {
      const oldest = this.lastSeq.keys().next().value;
      if (oldest !== undefined) this.lastSeq.delete(oldest);
    }
  }
}

/** The entries without repeats inside the batch (the first of each msgId). */
function uniqueByMsgId(entries: readonly AcceptedSend[]): AcceptedSend[] {
  const seen = new Set<string>();
  return entries.filter((e) => !seen.has(e.msgId) && seen.add(e.msgId));
}

/**
 * How a message changes who lists its conversation among their recent ones: a direct message's
 * two users list it; a group's creation or addition lists it for the sender and whom it names, a
 * removal or a departure takes it from whom it names (a group's texts change no listing: its
 * members list it since they joined).
 */
function listingOf(e: AcceptedSend): Listing {
  if (!isGroupConversation(e.conversation)) return { list: membersOf(e), unlist: [] };
  if (e.kind === 'created' || e.kind === 'added') return { list: [e.from, ...(e.members ?? [])], unlist: [] };
  if (e.kind === 'removed' || e.kind === 'left') return { list: [], unlist: e.members ?? [] };
  return { list: [], unlist: [] };
}

function sequenced(e: AcceptedSend, message: Message): Sequenced {
  return { message, origin: e.origin };
}

function toStored(e: AcceptedSend, seq: number): Message {
  return { msgId: e.msgId, conversation: e.conversation, seq, from: e.from, to: e.to, body: e.body, ts: e.ts, clientId: e.clientId, ...kindFields(e) };
}

/** Who a conversation is listed for when it is first stored (a group's members follow its roster). */
export function membersOf(e: AcceptedSend): string[] {
  if (isGroupConversation(e.conversation)) return [];
  return e.from === e.to ? [e.from] : [e.from, e.to];
}
