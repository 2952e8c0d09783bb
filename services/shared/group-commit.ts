/** One item's outcome in a group write. */
export type ItemResult<R> = { ok: true; value: R } | { ok: false; error: unknown };

interface Waiting<T, R> {
  item: T;
  resolve: (value: R) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: items submitted while a write is in flight go out together in the next write, so
 * a backend sees one request per round trip instead of one per item, and submission order is kept.
 * One write at a time, at most `maxItems` items each. `write` answers per item; if it throws, every
 * item of that write fails with its error.
 */
export class GroupCommit<T, R> {
  private readonly waiting: Waiting<T, R>[] = [];
  private draining: Promise<void> | undefined;

  constructor(
    private readonly write: (items: T[]) => Promise<ItemResult<R>[]>,
    private readonly maxItems = 500,
  ) {}

  submit(item: T): Promise<R> {
    const result = new Promise<R>((resolve, reject) => this.waiting.push({ item, resolve, reject }));
    this.draining ??= this.drain();
    return result;
  }

  /** Resolves once nothing waits and no write is in flight. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining;
  }

  private async drain(): Promise<void> {
    while (this.waiting.length > 0) {
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
    // Synchronous with the emptiness check above: a later submit starts a new drain.
    this.draining = undefined;
  }
}
