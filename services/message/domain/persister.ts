import type { Logger } from '../../shared/logger.js';
import { ReconnectPolicy } from '../../shared/backoff.js';
import type { HotStore } from '../adapters/hot-store.js';
import { SeqConflictError, type MessageStore } from '../adapters/store.js';
import type { Message } from '../../shared/message.js';

/** A group's listing to write once its change is persisted: its members as of `seq`. */
export interface GroupListing {
  conversation: string;
  members: readonly string[];
  seq: number;
  /** The group's title as of `seq` (empty: none). */
  title: string;
}

export interface PersisterOptions {
  store: MessageStore;
  hot: HotStore;
  /** Most messages in one write (the writes of a busy log carry this many). */
  maxBatch: number;
  /** How long the first message waiting waits for others to share its write. */
  maxDelayMs: number;
  /** Messages waiting to be written before `room()` makes the consumer wait. */
  backlogMax: number;
  /**
   * Most writes in flight at once (default 1). More than one only once messages have waited
   * `LAGGING_MS` (a slow store), each for its share of the partitions.
   */
  maxInFlight?: number;
  logger: Logger;
  now?: () => number;
  random?: () => number;
  /** Each write, with the messages it stored. */
  onWritten?: (messages: readonly Message[]) => void;
  /** A message whose seq another message holds in the store: must never happen (counted and logged). */
  onConflict?: () => void;
}

interface Item {
  partition: number;
  messages: readonly Message[];
  members: ReadonlyMap<string, readonly string[]>;
  listings: readonly GroupListing[];
  queuedAt: number;
  resolve: () => void;
  done: Promise<void>;
}

/** How long a message waits, while a write is in flight, before a further write takes it (a slow store). */
export const LAGGING_MS = 500;
/** Most queued items one look for a write goes through (a long backlog is not scanned whole on every submit). */
const SCAN_MAX = 5000;

/**
 * Writes sequenced messages to the store behind their push, in large batches: what arrives while
 * a write is in flight goes into the next one (up to `maxBatch` messages; the first waits at most
 * `maxDelayMs` for company), so the writes per message fall as the rate rises. A store slow to
 * answer gets further writes in flight (up to `maxInFlight`) once messages have waited
 * `LAGGING_MS`: a partition is in one write at a time and its items are taken in the order of
 * submission, so each partition's messages are stored in log order and its `persisted` promises
 * resolve in that order (the log commits offsets on them). A write that fails is tried again,
 * with backoff, until it succeeds: while the store is down, messages wait here (the log's offsets
 * are not committed) and pushes go on.
 */
export class Persister {
  private queue: Item[] = [];
  private waiting = 0;
  private timer: NodeJS.Timeout | undefined;
  /**
   * The writes in flight: their items, and the partition share (partition modulo maxInFlight) a
   * write of a lagging store holds. The partitions they hold follow from their items.
   */
  private readonly writing = new Set<{ items: readonly Item[]; slot: number | undefined }>();
  private stopped = false;
  private readonly tails = new Map<number, Promise<void>>();
  private roomWaiters: Array<() => void> = [];
  private readonly now: () => number;
  private readonly policy: ReconnectPolicy;

  constructor(private readonly opts: PersisterOptions) {
    this.now = opts.now ?? Date.now;
    this.policy = new ReconnectPolicy({ initialMs: 200, multiplier: 2, jitter: 0.2, maxMs: 5000 }, 0, this.now, opts.random ?? Math.random);
  }

  /** Messages waiting to be written (the persist lag, in messages). */
  get backlog(): number {
    return this.waiting;
  }

  /** The accept time of the oldest message waiting (undefined: none waits). */
  get oldestWaiting(): number | undefined {
    let oldest: number | undefined;
    for (const item of [...this.inFlightItems(), ...this.queue]) for (const m of item.messages) if (oldest === undefined || m.ts < oldest) oldest = m.ts;
    return oldest;
  }

  /** Resolves once the backlog is under its bound (the consumer waits here, not in memory). */
  async room(): Promise<void> {
    while (this.waiting >= this.opts.backlogMax && !this.stopped) await new Promise<void>((r) => this.roomWaiters.push(r));
  }

  /**
   * Queues a partition batch's sequenced messages (new and redelivered alike: a message stored
   * already is recognised) and the group listings its changes call for. Resolves once they are
   * in the store.
   */
  submit(
    partition: number,
    messages: readonly Message[],
    members: ReadonlyMap<string, readonly string[]>,
    listings: readonly GroupListing[] = [],
  ): Promise<void> {
    if (messages.length === 0 && listings.length === 0) return this.tails.get(partition) ?? Promise.resolve();
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    this.queue.push({ partition, messages, members, listings, queuedAt: this.now(), resolve, done });
    this.waiting += messages.length;
    this.tails.set(partition, done);
    void done.then(() => {
      if (this.tails.get(partition) === done) this.tails.delete(partition);
    });
    this.schedule();
    return done;
  }

  /** Resolves once what was submitted before the call (of `partition`, or of every partition) is in the store. */
  async flushed(partition?: number): Promise<void> {
    if (partition !== undefined) return this.tails.get(partition);
    await Promise.all([...this.tails.values()]);
  }

  /**
   * Writes what waits, for up to `deadlineMs`, then no more: what is still waiting (the count
   * returned) is redelivered to the partitions' next owners, whose offsets wait for it.
   */
  async stop(deadlineMs: number): Promise<number> {
    this.schedule(true);
    const all = Promise.all([...this.inFlightItems(), ...this.queue].map((i) => i.done));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, deadlineMs)))]);
    clearTimeout(timer);
    this.stopped = true;
    clearTimeout(this.timer);
    for (const w of this.roomWaiters.splice(0)) w();
    return this.waiting;
  }

  /**
   * Starts the writes that are due. While the store keeps up, one write at a time: the first of
   * what waits is written once it fills a write or has waited `maxDelayMs`. Once a message has
   * waited `LAGGING_MS` (a store slow to answer), up to `maxInFlight` writes, each for its share
   * of the partitions (partition modulo `maxInFlight`): a write that took every partition would
   * leave nothing for the others. `now`: whatever waits goes (stopping).
   */
  private schedule(now = false): void {
    if (this.stopped || this.queue.length === 0) return;
    const max = this.opts.maxInFlight ?? 1;
    const age = this.now() - this.queue[0]!.queuedAt;
    const wait = (ms: number): void => {
      this.timer ??= setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, ms);
    };
    if (max > 1 && (now || age >= LAGGING_MS)) {
      clearTimeout(this.timer);
      this.timer = undefined;
      for (let slot = 0; slot < max && this.writing.size < max; slot++) {
        if ([...this.writing].some((w) => w.slot === slot)) continue;
        const { items, count } = this.takeable((p) => p % max === slot);
        if (items.length > 0) this.start(items, count, slot);
      }
      return;
    }
    if (this.writing.size > 0) {
      if (max > 1) wait(LAGGING_MS - age);
      return;
    }
    const { items, count } = this.takeable(() => true);
    if (items.length === 0) return;
    if (!now && count < this.opts.maxBatch && age < this.opts.maxDelayMs) return wait(this.opts.maxDelayMs - age);
    clearTimeout(this.timer);
    this.timer = undefined;
    this.start(items, count, undefined);
  }

  /**
   * What a write may take, in order of submission: whole items of the partitions `mine` names
   * that no write in flight holds, up to maxBatch messages (at least one item). An item that does
   * not fit holds its partition's later items back too, so that they are never stored before it.
   */
  private takeable(mine: (partition: number) => boolean): { items: Item[]; count: number } {
    const blocked = new Set(this.inFlightItems().map((i) => i.partition));
    const items: Item[] = [];
    let count = 0;
    for (let i = 0; i < this.queue.length && i < SCAN_MAX && count < this.opts.maxBatch; i++) {
      const item = this.queue[i]!;
      if (blocked.has(item.partition) || !mine(item.partition)) continue;
      if (items.length > 0 && count + item.messages.length > this.opts.maxBatch) {
        blocked.add(item.partition);
        continue;
      }
      items.push(item);
      count += item.messages.length;
    }
    return { items, count };
  }

  private start(items: Item[], count: number, slot: number | undefined): void {
    const taken = new Set(items);
    this.queue = this.queue.filter((i) => !taken.has(i));
    const write = { items, slot };
    this.writing.add(write);
    void this.writeUntilDone(items, count).finally(() => {
      this.writing.delete(write);
      this.schedule();
    });
  }

  /** The items of the writes in flight. */
  private inFlightItems(): Item[] {
    return [...this.writing].flatMap((w) => w.items);
  }

  /** Writes the items until it succeeds (or the persister stops), then answers them. */
  private async writeUntilDone(items: readonly Item[], count: number): Promise<void> {
    for (;;) {
      try {
        await this.write(items);
        this.policy.up();
        break;
      } catch (err: unknown) {
        const delay = this.policy.nextDelay();
        this.opts.logger.warn({ err, messages: count, retryInMs: delay }, 'persisting failed; trying again (pushes go on)');
        await new Promise((r) => setTimeout(r, delay));
        if (this.stopped) return;
      }
    }
    this.waiting -= count;
    if (this.waiting < this.opts.backlogMax) for (const w of this.roomWaiters.splice(0)) w();
    for (const item of items) item.resolve();
  }

  private async write(items: readonly Item[]): Promise<void> {
    const messages = items.flatMap((i) => i.messages);
    const members = new Map(items.flatMap((i) => [...i.members]));
    let pending = messages;
    while (pending.length > 0) {
      const inserted = await this.opts.store.insertMessages(pending, members);
      if (inserted === pending.length) break;
      // Stopped at a taken msgId or seq. After a rebalance a whole redelivered run is stored
      // already: one look-up for the rest of the batch, not a round trip per message.
      const rest = pending.slice(inserted);
      const found = await this.opts.store.storedAlready(
        rest.map((m) => m.msgId),
        members,
      );
      await this.resolveStop(rest[0]!, found.get(rest[0]!.msgId), members);
      pending = rest.slice(1).filter((m) => !sameMessage(found.get(m.msgId), m));
    }
    if (messages.length > 0) this.opts.onWritten?.(messages);
    // In the store now: the hot store forgets them (it keeps them a while longer if this fails).
    const upTo = new Map<string, number>();
    for (const m of messages) upTo.set(m.conversation, Math.max(upTo.get(m.conversation) ?? 0, m.seq));
    await this.opts.hot
      .persisted(upTo)
      .catch((err: unknown) => this.opts.logger.warn({ err }, 'forgetting persisted messages in the hot store failed; they expire by themselves'));
    // Listings are an index beside the messages: a refusal is logged and left to the group's next change.
    for (const l of items.flatMap((i) => i.listings)) {
      await this.opts.store
        .setMembers(l.conversation, l.members, l.seq, l.title)
        .catch((err: unknown) =>
          this.opts.logger.warn(
            { err, conversation: l.conversation },
            'listing the group for its members failed; `conversations` lists it from its next change',
          ),
        );
    }
  }

  /**
   * The ordered insert stopped at `m`: stored already (a redelivery: its write is done), its msgId
   * stored with another seq (a repeat of a send from beyond the dedupe window: kept as a message of
   * its own, under a derived msgId), or its seq taken by another message (never by design: logged,
   * counted, and left out so that the rest is stored).
   */
  private async resolveStop(m: Message, found: Message | undefined, members: ReadonlyMap<string, readonly string[]>): Promise<void> {
    if (sameMessage(found, m)) return;
    const copy = found ? { ...m, msgId: `${m.msgId}.${m.seq}` } : m;
    try {
      await this.opts.store.insertMessage(copy, members.get(m.conversation) ?? []);
    } catch (err: unknown) {
      if (!(err instanceof SeqConflictError)) throw err;
      this.opts.onConflict?.();
      this.opts.logger.error(
        { conversation: m.conversation, seq: m.seq, msgId: m.msgId },
        "a pushed message's seq is held by another message in the store; it is not stored",
      );
    }
  }
}

/** `found` is `m` stored already: its msgId with the same conversation and seq. */
function sameMessage(found: Message | undefined, m: Message): boolean {
  return found !== undefined && found.conversation === m.conversation && found.seq === m.seq;
}
