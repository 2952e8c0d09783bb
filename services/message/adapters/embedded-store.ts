import type { CheckResult } from '../../shared/health.js';
import { UnavailableError } from '../../shared/errors.js';
import { SeqConflictError, type ConversationSummary, type MessageStore, type SendClaim, type StoredMessage } from './store.js';

interface ConversationRow {
  /** messages[i] has seq i + 1 */
  messages: StoredMessage[];
  lastActive: number;
}

/**
 * In-process twin of the MongoDB store, with the same uniqueness rules ((conversation, seq),
 * msgId) and claim expiry. Not durable. `now` is injected for the idempotency window.
 */
export function createEmbeddedStore(opts: { now?: () => number } = {}): MessageStore {
  const now = opts.now ?? Date.now;
  const conversations = new Map<string, ConversationRow>();
  const byMsgId = new Map<string, StoredMessage>();
  const userIndex = new Map<string, Set<string>>();
  const claims = new Map<string, SendClaim>();
  let running = false;
  let sweepTimer: NodeJS.Timeout | undefined;

  const claimKey = (user: string, clientId: string): string => `${user}\u0000${clientId}`;
  const ensureRunning = (): void => {
    if (!running) throw new UnavailableError('store is not running');
  };
  const sweep = (): void => {
    const t = now();
    for (const [k, c] of claims) if (c.expiresAt <= t) claims.delete(k);
  };

  return {
    async start() {
      running = true;
      sweepTimer = setInterval(sweep, 60_000);
      sweepTimer.unref();
    },
    async stop() {
      running = false;
      clearInterval(sweepTimer);
    },
    health(): CheckResult {
      return running ? { ok: true, detail: 'embedded' } : { ok: false, detail: 'stopped' };
    },
    async claimSend(claim) {
      ensureRunning();
      const key = claimKey(claim.entry.from, claim.entry.clientId);
      const existing = claims.get(key);
      if (existing && existing.expiresAt > now()) return { claim: structuredClone(existing), created: false };
      claims.set(key, structuredClone(claim));
      return { claim, created: true };
    },
    async hasMessage(msgId) {
      ensureRunning();
      return byMsgId.has(msgId);
    },
    async lastSeq(conversation) {
      ensureRunning();
      return conversations.get(conversation)?.messages.length ?? 0;
    },
    async insertMessage(message, members) {
      ensureRunning();
      if (byMsgId.has(message.msgId)) return 'duplicate';
      let row = conversations.get(message.conversation);
      if (!row) {
        row = { messages: [], lastActive: 0 };
        conversations.set(message.conversation, row);
      }
      if (message.seq !== row.messages.length + 1) {
        // MongoDB would accept a seq beyond the end; the sequencer never asks for one.
        if (message.seq <= row.messages.length) throw new SeqConflictError(message.conversation, message.seq);
        throw new Error(`seq ${message.seq} of ${message.conversation} would leave a gap after ${row.messages.length}`);
      }
      const copy = structuredClone(message);
      row.messages.push(copy);
      row.lastActive = Math.max(row.lastActive, message.ts);
      byMsgId.set(copy.msgId, copy);
      for (const m of members) {
        let set = userIndex.get(m);
        if (!set) userIndex.set(m, (set = new Set()));
        set.add(message.conversation);
      }
      return 'inserted';
    },
    async insertMessages(messages, members) {
      let n = 0;
      for (const m of messages) {
        try {
          if ((await this.insertMessage(m, members.get(m.conversation) ?? [])) !== 'inserted') break;
        } catch (err: unknown) {
          if (err instanceof SeqConflictError) break;
          throw err;
        }
        n++;
      }
      return n;
    },
    async readMessages(conversation, afterSeq, limit) {
      ensureRunning();
      const row = conversations.get(conversation);
      if (!row) return [];
      return row.messages.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit).map((m) => structuredClone(m));
    },
    async listConversations(user, limit) {
      ensureRunning();
      const ids = [...(userIndex.get(user) ?? [])];
      const rows: Array<ConversationSummary & { lastActive: number }> = ids.map((c) => {
        const row = conversations.get(c)!;
        return { conversation: c, lastSeq: row.messages.length, lastActive: row.lastActive };
      });
      rows.sort((a, b) => b.lastActive - a.lastActive || (a.conversation < b.conversation ? -1 : 1));
      return rows.slice(0, limit).map(({ conversation, lastSeq }) => ({ conversation, lastSeq }));
    },
  };
}
