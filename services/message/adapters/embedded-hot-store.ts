import { EmbeddedRunning } from './embedded-running.js';
import { FencedError, type HotStore, type SequencedRecord } from './hot-store.js';
import type { ConversationSummary } from './store.js';
import type { Message } from '../../shared/message.js';

/** In-process twin of the Redis hot store: the same claims, records, expiries and reads. */
export function createEmbeddedHotStore(opts: { now?: () => number; hotTtlMs?: number } = {}): HotStore {
  const now = opts.now ?? Date.now;
  const ttl = opts.hotTtlMs ?? 3_600_000;
  const state = new EmbeddedRunning('hot store');
  const claims = new Map<number, string>();
  const records = new Map<string, SequencedRecord & { until: number }>();
  /** Per conversation: its messages not yet persisted, and the partition they were recorded under. */
  const hot = new Map<string, { messages: Map<number, Message>; partition: number; until: number }>();
  const last = new Map<string, { seq: number; at: number; until: number }>();
  const listings = new Map<string, { items: Map<string, number>; until: number }>();
  /** Per partition: since when every msgId is recorded; and the deployment's start (a partition first asked for takes it). */
  const since = new Map<number, number>();
  let start: number | undefined;
  const live = <T extends { until: number }>(m: Map<string, T>, k: string): T | undefined => {
    const v = m.get(k);
    if (v && v.until <= now()) {
      m.delete(k);
      return undefined;
    }
    return v;
  };

  return {
    start: () => state.start(),
    stop: () => state.stop(),
    health: () => state.health(),
    async claim(partition, owner) {
      state.check();
      const before = claims.get(partition) ?? null;
      claims.set(partition, owner);
      return before;
    },
    async record(partition, owner, messages, listed, dedupeWindowMs) {
      state.check();
      if (claims.get(partition) !== owner) throw new FencedError(partition);
      const t = now();
      for (const m of messages) {
        records.set(m.msgId, { conversation: m.conversation, seq: m.seq, ts: m.ts, until: t + dedupeWindowMs });
        let h = live(hot, m.conversation);
        if (!h) hot.set(m.conversation, (h = { messages: new Map(), partition, until: 0 }));
        h.messages.set(m.seq, structuredClone(m));
        h.until = t + ttl;
        const prev = live(last, m.conversation);
        last.set(m.conversation, prev && prev.seq >= m.seq ? { ...prev, until: t + ttl } : { seq: m.seq, at: t, until: t + ttl });
        const l = listed.get(m.msgId);
        for (const u of l?.list ?? []) {
          let entry = live(listings, u);
          if (!entry) listings.set(u, (entry = { items: new Map(), until: 0 }));
          entry.items.set(m.conversation, m.seq);
          entry.until = t + ttl;
        }
        for (const u of l?.unlist ?? []) live(listings, u)?.items.delete(m.conversation);
      }
    },
    async sequenced(partition, msgIds) {
      state.check();
      const out = new Map<string, SequencedRecord>();
      for (const id of msgIds) {
        const r = live(records, id);
        if (r) out.set(id, { conversation: r.conversation, seq: r.seq, ts: r.ts });
      }
      return { records: out, coveredSince: since.get(partition) };
    },
    async read(conversation, afterSeq, limit) {
      state.check();
      const h = live(hot, conversation);
      if (!h) return { messages: [], coveredSince: undefined };
      const coveredSince = since.get(h.partition);
      const messages = [...h.messages.values()]
        .filter((m) => m.seq > afterSeq)
        .sort((a, b) => a.seq - b.seq)
        .slice(0, limit)
        .map((m) => structuredClone(m));
      return { messages, coveredSince };
    },
    async lastSeqs(conversations) {
      state.check();
      const out = new Map<string, { seq: number; at: number }>();
      for (const c of conversations) {
        const l = live(last, c);
        if (l) out.set(c, { seq: l.seq, at: l.at });
      }
      return out;
    },
    async listing(user): Promise<ConversationSummary[]> {
      state.check();
      const entry = live(listings, user);
      return entry ? [...entry.items].map(([conversation, lastSeq]) => ({ conversation, lastSeq })) : [];
    },
    async persisted(upTo) {
      state.check();
      for (const [conversation, seq] of upTo) {
        const h = hot.get(conversation);
        if (!h) continue;
        for (const s of [...h.messages.keys()]) if (s <= seq) h.messages.delete(s);
        if (h.messages.size === 0) hot.delete(conversation);
      }
    },
    async resetCoverage(partition) {
      state.check();
      since.set(partition, now());
    },
    async claimedBy(partition) {
      state.check();
      return claims.get(partition) ?? null;
    },
    async dedupeSince(partition, storeIsEmpty) {
      state.check();
      if (!since.has(partition)) {
        if (start === undefined) {
          const from = (await storeIsEmpty()) ? 0 : now();
          // Set once: the first of two that asked at once wins, as SET NX does on Redis.
          start ??= from;
        }
        if (!since.has(partition)) since.set(partition, start);
      }
      return since.get(partition)!;
    },
  };
}
