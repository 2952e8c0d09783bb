import { isGroupConversation } from '../../shared/ids.js';
import type { SendEntry } from '../adapters/log.js';
import { IndexUpdateError, SeqConflictError, type MessageStore, type StoredMessage } from '../adapters/store.js';

/** A message stored now, with the gateway and connection its send came from (they get `accepted`, not a push). */
export interface Sequenced {
  message: StoredMessage;
  originInstance: string;
  originConnection: string;
  /** Who gets it pushed, when not the direct message's two users (a group's members at its seq). */
  audience?: ReadonlySet<string>;
  /**
   * Stored before, by an earlier delivery of the same log record (a redelivery): whoever stored it
   * may have failed before pushing it (a lost store reply, a crash), so it is pushed again unless
   * this process pushed it.
   */
  redelivered?: true;
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

  constructor(
    private readonly messages: MessageStore,
    private readonly opts: { cacheSize?: number; maxConflicts?: number } = {},
  ) {}

  /**
   * Stores a partition batch in log order with one ordered insert; when it stops at an entry stored
   * before (redelivery), drops those in one query and inserts the rest; falls back to one-by-one
   * when something else took a seq meanwhile.
   * Returns, in log order, the messages stored now with where their sends came from, and the
   * entries found stored by an earlier delivery of the same record (`redelivered`); repeats of a
   * send (a later record with the same msgId) and repeats inside the batch are left out.
   */
  async storeBatch(entries: readonly SendEntry[], partition = 0): Promise<Sequenced[]> {
    // Repeats inside the batch are dropped here; entries stored before (redelivery) make the
    // ordered insert stop, and are then found in one query.
    const fresh: SendEntry[] = [];
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.msgId)) continue;
      seen.add(e.msgId);
      fresh.push(e);
    }
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
  private async insertInOrder(entries: readonly SendEntry[], partition: number, before: readonly Sequenced[]): Promise<Sequenced[]> {
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
  async store(entry: SendEntry, partition = 0): Promise<StoredMessage | undefined> {
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
   * partitions it owned in the previous assignment as well.
   */
  assigned(partitions: readonly number[]): void {
    const kept = new Set(partitions.filter((p) => this.owned.has(p)));
    for (const [conversation, { partition }] of this.lastSeq) if (!kept.has(partition)) this.lastSeq.delete(conversation);
    this.owned = new Set(partitions);
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

function sequenced(e: SendEntry, message: StoredMessage): Sequenced {
  return { message, originInstance: e.originInstance, originConnection: e.originConnection };
}

function toStored(e: SendEntry, seq: number): StoredMessage {
  const m: StoredMessage = { msgId: e.msgId, conversation: e.conversation, seq, from: e.from, to: e.to, body: e.body, ts: e.ts, clientId: e.clientId };
  if (e.kind !== undefined) {
    m.kind = e.kind;
    m.members = e.members ?? [];
  }
  return m;
}

/** Who a conversation is listed for when it is first stored (a group's members follow its roster). */
function membersOf(e: SendEntry): string[] {
  if (isGroupConversation(e.conversation)) return [];
  return e.from === e.to ? [e.from] : [e.from, e.to];
}
