/** One item's outcome in a group write. */
export type ItemResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Waiting<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

export interface GroupCommitOptions {
  /** Most items in one write (default 500). */
  maxItems?: number;
  /** Writes at once (default one: writes then also complete in order). */
  maxInFlight?: number;
  /**
   * A writer that starts waits for the current turn of the event loop to end first, so that items
   * submitted by callbacks of the same I/O event (the partitions of one fetch) share its first write.
   */
  gather?: boolean;
  /**
   * A write starts no sooner than this long after the one before it started (default 0): what is
   * submitted meanwhile goes out together. For writes whose latency nobody waits for (offset
   * commits), to bound how many a backend serves per second.
   */
  minIntervalMs?: number;
}

/**
 * Group commit: items submitted while a write is in flight go out together in the next write, so
 * a backend sees one request per round trip instead of one per item, and submission order is kept.
 * `write` answers per item; if it throws, every item of that write fails with its error.
 */
export class GroupCommit<T, R> {
  private readonly waiting: Waiting<T, R>[] = [];
  /** Writers running now (each drains the queue, one write at a time). */
  private running = 0;
  private readonly drains = new Set<Promise<void>>();
  private readonly maxItems: number;
  private readonly maxInFlight: number;
  private readonly gather: boolean;
  private readonly minIntervalMs: number;
  /** When the last write started (performance.now()). */
  private lastWriteAt = -Infinity;

  constructor(
    private readonly write: (items: T[]) => Promise<ItemResult<R>[]>,
    opts: GroupCommitOptions = {},
  ) {
    this.maxItems = opts.maxItems ?? 500;
    this.maxInFlight = opts.maxInFlight ?? 1;
    this.gather = opts.gather ?? false;
    this.minIntervalMs = opts.minIntervalMs ?? 0;
  }

  submit(item: T): Promise<R> {
    const result = new Promise<R>((resolve, reject) => this.waiting.push({ item, resolve, reject }));
    if (this.running < this.maxInFlight) {
      this.running++;
      const d: Promise<void> = this.drain().finally(() => this.drains.delete(d));
      this.drains.add(d);
    }
    return result;
  }

  /** Resolves once nothing waits and no write is in flight. */
  async idle(): Promise<void> {
    while (this.drains.size > 0) await Promise.all(this.drains);
  }

  private async drain(): Promise<void> {
    if (this.gather) await new Promise((r) => setImmediate(r));
    while (this.waiting.length > 0) {
      const wait = this.lastWriteAt + this.minIntervalMs - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      this.lastWriteAt = performance.now();
      const group = this.waiting.splice(0, this.maxItems);
      let results: ItemResult<R>[];
      try {
        results = await this.write(group.map((w) => w.item));
      } catch (err: unknown) {
        results = group.map(() => ({ ok: false, error: err }));
      }
      group.forEach((w, i) => {
        const r = results[i] ?? { ok: false, error: new Error('the group write gave no result for this item') };
        if (r.ok) w.resolve(r.value);
        else w.reject(r.error);
      });
    }
    // Synchronous with the emptiness check above: a later submit starts a new writer.
    this.running--;
  }
}
