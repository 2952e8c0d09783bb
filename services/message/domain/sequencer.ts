import type { SendEntry } from '../adapters/log.js';
import { SeqConflictError, type MessageStore, type StoredMessage } from '../adapters/store.js';

/**
 * Gives each consumed entry the next seq of its conversation and stores it. The seq is derived
 * from what is stored (never from a counter that could run ahead), so seqs have no gap even when
 * a process dies between steps; (conversation, seq) uniqueness in the store settles the rare race
 * of two consumers during a partition hand-over; msgId uniqueness makes redelivery harmless.
 */
export class Sequencer {
  private readonly lastSeq = new Map<string, number>();

  constructor(
    private readonly messages: MessageStore,
    private readonly opts: { cacheSize?: number; maxConflicts?: number } = {},
  ) {}

  /** Stores the entry with its seq; undefined when its msgId was stored already (redelivery). */
  async store(entry: SendEntry): Promise<StoredMessage | undefined> {
    const maxConflicts = this.opts.maxConflicts ?? 16;
    for (let attempt = 0; ; attempt++) {
      const last = this.lastSeq.get(entry.conversation) ?? (await this.messages.lastSeq(entry.conversation));
      const message: StoredMessage = {
        msgId: entry.msgId,
        conversation: entry.conversation,
        seq: last + 1,
        from: entry.from,
        to: entry.to,
        body: entry.body,
        ts: entry.ts,
        clientId: entry.clientId,
      };
      try {
        const result = await this.messages.insertMessage(message, entry.from === entry.to ? [entry.from] : [entry.from, entry.to]);
        if (result === 'duplicate') return undefined;
        this.remember(entry.conversation, message.seq);
        return message;
      } catch (err: unknown) {
        // Another writer took this seq (partition hand-over): forget the cached value and re-read.
        this.lastSeq.delete(entry.conversation);
        if (!(err instanceof SeqConflictError) || attempt >= maxConflicts) throw err;
      }
    }
  }

  /** Forgets cached seqs (e.g. after losing partitions, whose conversations another pod now owns). */
  forget(): void {
    this.lastSeq.clear();
  }

  private remember(conversation: string, seq: number): void {
    this.lastSeq.delete(conversation);
    this.lastSeq.set(conversation, seq);
    if (this.lastSeq.size > (this.opts.cacheSize ?? 100_000)) {
      const oldest = this.lastSeq.keys().next().value;
      if (oldest !== undefined) this.lastSeq.delete(oldest);
    }
  }
}
