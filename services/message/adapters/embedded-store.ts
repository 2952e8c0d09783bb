import { EmbeddedRunning } from './embedded-running.js';
import { SeqConflictError, summaryOf, type ConversationSummary, type MessageStore } from './store.js';
import { isGroupChange, type Message } from '../../shared/message.js';

interface ConversationRow {
  /** messages[i] has seq i + 1 */
  messages: Message[];
  lastActive: number;
  /** A group's listed members the seq their roster is as of, its title then. */
  listed?: { members: Set<string>; seq: number; title: string };
}

/**
 * In-process twin of the MongoDB store, with the same uniqueness rules ((conversation, seq),
 * msgId). Not durable.
 */
export function createEmbeddedStore(): MessageStore {
  const conversations = new Map<string, ConversationRow>();
  const byMsgId = new Map<string, Message>();
  const userIndex = new Map<string, Set<string>>();
  /** Read markers by user, then conversation. */
  const markers = new Map<string, Map<string, number>>();
  const advance = (user: string, conversation: string, seq: number): number => {
    let mine = markers.get(user);
    if (!mine) markers.set(user, (mine = new Map<string, number>()));
    const after = Math.max(mine.get(conversation) ?? 0, seq);
    mine.set(conversation, after);
    return after;
  };
  const state = new EmbeddedRunning('store');

  return {
    start: () => state.start(),
    stop: () => state.stop(),
    health: () => state.health(),
    async lastSeq(conversation) {
      state.check();
      return conversations.get(conversation)?.messages.length ?? 0;
    },
    async lastSeqs(list) {
      state.check();
      return new Map(list.map((c) => [c, conversations.get(c)?.messages.length ?? 0]));
    },
    async storedAlready(msgIds) {
      state.check();
      const found = new Map<string, Message>();
      for (const id of msgIds) {
        const m = byMsgId.get(id);
        if (m) found.set(id, structuredClone(m));
      }
      return found;
    },
    async insertMessage(message, members) {
      state.check();
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
      state.check();
      const row = conversations.get(conversation);
      if (!row) return [];
      return row.messages.slice(Math.max(0, afterSeq), Math.max(0, afterSeq) + limit).map((m) => structuredClone(m));
    },
    async membershipChanges(list) {
      state.check();
      return list.flatMap((c) => (conversations.get(c)?.messages ?? []).filter(isGroupChange).map((m) => structuredClone(m)));
    },
    async setMembers(conversation, members, seq, title = '') {
      state.check();
      const row = conversations.get(conversation);
      if (!row || (row.listed && row.listed.seq >= seq)) return;
      for (const u of row.listed?.members ?? []) if (!members.includes(u)) userIndex.get(u)?.delete(conversation);
      for (const u of members) {
        let set = userIndex.get(u);
        if (!set) userIndex.set(u, (set = new Set()));
        set.add(conversation);
      }
      row.listed = { members: new Set(members), seq, title };
    },
    async hasMessages() {
      state.check();
      return byMsgId.size > 0;
    },
    async groupCounts(users) {
      state.check();
      return new Map(users.map((u) => [u, [...(userIndex.get(u) ?? [])].filter((c) => conversations.get(c)?.listed !== undefined).length]));
    },
    async markRead(user, conversation, seq) {
      state.check();
      return advance(user, conversation, seq);
    },
    async readMarkers(user, list) {
      state.check();
      return new Map(list.map((c) => [c, markers.get(user)?.get(c) ?? 0]));
    },
    async advanceMarkers(list) {
      state.check();
      for (const m of list) advance(m.user, m.conversation, m.seq);
    },
    async listConversations(user, limit) {
      state.check();
      const ids = [...(userIndex.get(user) ?? [])];
      const rows: Array<ConversationSummary & { lastActive: number }> = ids.map((c) => {
        const row = conversations.get(c)!;
        return { conversation: c, lastSeq: row.messages.length, lastActive: row.lastActive };
      });
      rows.sort((a, b) => b.lastActive - a.lastActive || (a.conversation < b.conversation ? -1 : 1));
      return rows.slice(0, limit).map(({ conversation, lastSeq }) => summaryOf(conversation, lastSeq, conversations.get(conversation)!.listed?.title));
    },
  };
}
