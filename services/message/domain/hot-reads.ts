import type { Logger } from '../../shared/logger.js';
import { isGroupConversation } from '../../shared/ids.js';
import type { HotStore } from '../adapters/hot-store.js';
import { summaryOf, type ConversationSummary, type MessageStore } from '../adapters/store.js';
import { isGroupChange, type Message } from '../../shared/message.js';

/**
 * The store as readers must see it: with the messages that are pushed and not yet persisted
 * (the hot store) merged in, so that a `sync` after a reconnect, `conversations` and a group's
 * roster miss nothing the clients were pushed. The hot store is read first: a message is
 * persisted before the hot store forgets it, so one of the two reads has it. When the hot store
 * cannot answer, the store alone answers (what is still on its way there shows once it is).
 */
export function withHotReads(store: MessageStore, hot: HotStore, logger: Logger): MessageStore {
  const orEmpty = async <T>(read: Promise<T>, empty: T): Promise<T> => {
    try {
      return await read;
    } catch (err: unknown) {
      logger.debug({ err }, 'hot store unreadable; reading the store alone');
      return empty;
    }
  };
  const merged = (a: readonly Message[], b: readonly Message[]): Message[] => {
    const bySeq = new Map<string, Message>();
    for (const m of [...a, ...b]) bySeq.set(`${m.conversation}\u0000${m.seq}`, m);
    return [...bySeq.values()].sort((x, y) => (x.conversation === y.conversation ? x.seq - y.seq : x.conversation < y.conversation ? -1 : 1));
  };
  return new Proxy(store, {
    get(target, prop, receiver) {
      switch (prop) {
        case 'readMessages':
          return async (conversation: string, afterSeq: number, limit: number): Promise<Message[]> => {
            const { messages: recent, coveredSince: since } = await orEmpty(hot.read(conversation, afterSeq, limit), { messages: [], coveredSince: undefined });
            // What is not stored yet answers a client that asks from where it begins (a reconnect
            // after a short absence) on its own, in one unbroken run: the newest messages are those
            // not stored yet, as long as every one since the hot store's coverage began went
            // through it (the store took none behind its back).
            if (recent[0]?.seq === afterSeq + 1 && recent.every((m, i) => m.seq === afterSeq + 1 + i)) {
              if (since !== undefined && recent.every((m) => m.ts >= since)) return recent;
            }
            const stored = await target.readMessages(conversation, afterSeq, limit);
            return merged(stored, recent).slice(0, limit);
          };
        case 'listConversations':
          return async (user: string, limit: number): Promise<ConversationSummary[]> => {
            // The hot store first, then the store (not both at once): what the hot store forgets in
            // between is stored by then, so nothing falls between the two reads.
            const recent = await orEmpty(hot.listing(user), []);
            const stored = await target.listConversations(user, limit);
            const last = await orEmpty(hot.lastSeqs(stored.map((c) => c.conversation)), new Map<string, { seq: number; at: number }>());
            // Conversations with news not yet persisted first, then the store's order.
            const out = new Map<string, number>();
            for (const c of [...recent].sort((a, b) => b.lastSeq - a.lastSeq)) out.set(c.conversation, c.lastSeq);
            for (const c of stored) out.set(c.conversation, Math.max(out.get(c.conversation) ?? 0, c.lastSeq, last.get(c.conversation)?.seq ?? 0));
            // A group's title as the store lists it.
            const titles = new Map(stored.map((c) => [c.conversation, c.title]));
            return [...out].slice(0, limit).map(([conversation, lastSeq]) => summaryOf(conversation, lastSeq, titles.get(conversation)));
          };
        case 'lastSeq':
          // The newest seq pushed, stored or not (a read marker may name a message not stored yet).
          return async (conversation: string, exact?: boolean): Promise<number> => {
            const recent = await orEmpty(hot.lastSeqs([conversation]), new Map<string, { seq: number; at: number }>());
            return Math.max(recent.get(conversation)?.seq ?? 0, await target.lastSeq(conversation, exact));
          };
        case 'membershipChanges':
          return async (conversations: readonly string[]): Promise<Message[]> => {
            const recent = (
              await Promise.all(
                conversations.map(async (c) => (await orEmpty(hot.read(c, 0, Number.MAX_SAFE_INTEGER), { messages: [], coveredSince: undefined })).messages),
              )
            )
              .flat()
              .filter(isGroupChange);
            const stored = await target.membershipChanges(conversations);
            return merged(stored, recent);
          };
        case 'groupCounts':
          // A group a user lists (conversations) counts against their limit from the same moment.
          return async (users: readonly string[]): Promise<Map<string, number>> => {
            const counts = await target.groupCounts(users);
            await Promise.all(
              users.map(async (u) => {
                const recent = (await orEmpty(hot.listing(u), [])).filter((c) => isGroupConversation(c.conversation));
                if (recent.length === 0) return;
                const stored = (await target.listConversations(u, Number.MAX_SAFE_INTEGER)).filter((c) => isGroupConversation(c.conversation));
                counts.set(u, new Set([...stored, ...recent].map((c) => c.conversation)).size);
              }),
            );
            return counts;
          };
        default:
          return Reflect.get(target, prop, receiver) as unknown;
      }
    },
  });
}
