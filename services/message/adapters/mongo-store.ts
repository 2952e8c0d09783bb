import { MongoBulkWriteError, MongoClient, MongoServerError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import { IndexUpdateError, MEMBERSHIP_KINDS, SeqConflictError, type ConversationSummary, type MessageStore, type StoredMessage } from './store.js';

export interface MongoStoreOptions {
  uri: string;
  /** Database name when the URI names none. */
  database: string;
  logger: Logger;
  /** How often to check the server (readiness). */
  checkIntervalMs?: number;
}

/** A stored message as a document: its msgId is the _id. */
type MessageDoc = Omit<StoredMessage, 'msgId'> & { _id: string };
/** A membership message's kind and members (a text message has neither). */
const membershipOf = ({ kind, members }: Pick<StoredMessage, 'kind' | 'members'>) => (kind !== undefined ? { kind, members: members ?? [] } : {});
const toDoc = (m: StoredMessage): MessageDoc => ({ _id: m.msgId, conversation: m.conversation, seq: m.seq, from: m.from, to: m.to, body: m.body, ts: m.ts, clientId: m.clientId, ...membershipOf(m) });
const fromDoc = (d: MessageDoc): StoredMessage => ({ msgId: d._id, conversation: d.conversation, seq: d.seq, from: d.from, to: d.to, body: d.body, ts: d.ts, clientId: d.clientId, ...membershipOf(d) });

interface ConversationDoc {
  _id: string;
  members: string[];
  lastSeq: number;
  lastActive: number;
  /** A group's: the seq its listed members (memberships) are as of. */
  membersSeq?: number;
}

/**
 * Who a group is listed for: one document per (group, user) that ever was a member, so that a
 * group of any size is indexed per user (an array of 10,000 members in the conversation document
 * is one index row on FerretDB, which refuses it past about 150). `seq`: the roster it is as of.
 */
interface MembershipDoc {
  _id: string;
  conversation: string;
  user: string;
  member: boolean;
  seq: number;
}

const DUPLICATE_KEY = 11000;
/** Most statements per update command (see touchConversations). */
const UPDATE_SLICE = 16;
/** Most documents per insert of membership rows. */
const INSERT_SLICE = 1000;
const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;
/** A bulk write whose every failed statement hit an existing _id. */
const onlyDuplicateKeys = (err: unknown): err is MongoBulkWriteError => err instanceof MongoBulkWriteError && [err.writeErrors].flat().every((e) => e.code === DUPLICATE_KEY);

/**
 * The store on MongoDB (official driver), write concern majority. messages: _id = msgId, unique
 * (conversation, seq); conversations: lastSeq for the consumer's seqs, and the two users of a
 * direct conversation for listing; memberships: who each group is listed for.
 */
export function createMongoStore(opts: MongoStoreOptions): MessageStore {
  const client = new MongoClient(opts.uri, {
    writeConcern: { w: 'majority' },
    readConcern: { level: 'majority' },
    serverSelectionTimeoutMS: 5000,
    connectTimeoutMS: 5000,
    appName: 'switchboard-message',
  });
  let db: Db | undefined;
  let messages!: Collection<MessageDoc>;
  let conversations!: Collection<ConversationDoc>;
  let memberships!: Collection<MembershipDoc>;
  let healthy: CheckResult = { ok: false, detail: 'not connected' };
  let timer: NodeJS.Timeout | undefined;
  let checking = false;

  async function check(): Promise<void> {
    if (checking || !db) return;
    checking = true;
    try {
      await db.command({ ping: 1 }, { timeoutMS: 3000 });
      healthy = { ok: true, detail: `connected to ${db.databaseName}` };
    } catch (err: unknown) {
      healthy = { ok: false, detail: `unreachable: ${err instanceof Error ? err.message : String(err)}` };
    } finally {
      checking = false;
    }
  }

  /** Advances the conversation index for stored messages: one upsert per conversation, in one round trip. */
  async function touchConversations(stored: readonly StoredMessage[], members: ReadonlyMap<string, readonly string[]>): Promise<void> {
    const latest = new Map<string, StoredMessage>();
    for (const m of stored) {
      const prev = latest.get(m.conversation);
      if (!prev || m.seq > prev.seq) latest.set(m.conversation, m);
    }
    const toUpdate = (m: StoredMessage): AnyBulkWriteOperation<ConversationDoc> => ({
      updateOne: {
        filter: { _id: m.conversation },
        update: { $max: { lastSeq: m.seq, lastActive: m.ts }, $setOnInsert: { members: [...(members.get(m.conversation) ?? [])] } },
        upsert: true,
      },
    });
    // In slices: FerretDB 1.x takes a connection of its backend pool for every statement of an
    // update command that matches an existing document, and never answers when its pool runs dry
    // (on SQLite at 100 statements in flight; on PostgreSQL at pool_max_conns). MongoDB takes any
    // size, and a few more round trips cost it little.
    const all = [...latest.values()];
    const slices: StoredMessage[][] = [];
    for (let i = 0; i < all.length; i += UPDATE_SLICE) slices.push(all.slice(i, i + UPDATE_SLICE));
    const write = async (slice: StoredMessage[]): Promise<void> => {
      try {
        await conversations.bulkWrite(slice.map(toUpdate), { ordered: false });
      } catch (err: unknown) {
        // Concurrent first upserts of a conversation: redo them one by one (each tolerates the race).
        if (!(err instanceof MongoBulkWriteError) && !isDuplicateKey(err)) throw err;
        for (const m of slice) await touchConversation(m, members.get(m.conversation) ?? []);
      }
    };
    // One slice after another: a caller running a few store writes side by side (the consumer's
    // grouped writes) then has at most that many × UPDATE_SLICE statements in flight.
    for (const slice of slices) await write(slice);
  }

  async function touchConversation(m: StoredMessage, members: readonly string[]): Promise<void> {
    const update = { $max: { lastSeq: m.seq, lastActive: m.ts }, $setOnInsert: { members: [...members] } };
    try {
      await conversations.updateOne({ _id: m.conversation }, update, { upsert: true });
    } catch (err: unknown) {
      // Two first messages of one conversation upserting at once: the loser updates the winner's document.
      if (!isDuplicateKey(err)) throw err;
      await conversations.updateOne({ _id: m.conversation }, { $max: update.$max });
    }
  }

  return {
    async start() {
      await client.connect();
      db = client.db(new URL(opts.uri.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.slice(1) || opts.database);
      messages = db.collection<MessageDoc>('messages');
      conversations = db.collection<ConversationDoc>('conversations');
      memberships = db.collection<MembershipDoc>('memberships');
      await messages.createIndex({ conversation: 1, seq: 1 }, { unique: true, name: 'conversation_seq' });
      await conversations.createIndex({ members: 1, lastActive: -1 }, { name: 'members_lastActive' });
      await memberships.createIndex({ user: 1, member: 1 }, { name: 'user_member' });
      await memberships.createIndex({ conversation: 1 }, { name: 'conversation' });
      healthy = { ok: true, detail: `connected to ${db.databaseName}` };
      timer = setInterval(() => void check(), opts.checkIntervalMs ?? 5000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      healthy = { ok: false, detail: 'stopped' };
      await client.close();
    },
    health: () => healthy,

    async lastSeq(conversation, exact = false) {
      if (!exact) {
        const c = await conversations.findOne({ _id: conversation }, { projection: { lastSeq: 1 } });
        return c?.lastSeq ?? 0;
      }
      const top = await messages.find({ conversation }, { projection: { seq: 1 } }).sort({ seq: -1 }).limit(1).next();
      return top?.seq ?? 0;
    },
    async lastSeqs(list) {
      const out = new Map<string, number>(list.map((c) => [c, 0]));
      if (list.length === 0) return out;
      for (const d of await conversations.find({ _id: { $in: [...list] } }, { projection: { lastSeq: 1 } }).toArray()) out.set(d._id, d.lastSeq);
      return out;
    },
    async insertMessage(m, members) {
      try {
        await messages.insertOne(toDoc(m));
      } catch (err: unknown) {
        if (!isDuplicateKey(err)) throw err;
        // Servers differ in saying which index was violated; ask whether the msgId is stored.
        const stored = await messages.findOne({ _id: m.msgId });
        if (!stored) throw new SeqConflictError(m.conversation, m.seq);
        // A redelivery after a crash between the two writes: finish the conversation index.
        await touchConversation({ ...m, seq: stored.seq, ts: stored.ts }, members);
        return 'duplicate';
      }
      await touchConversation(m, members);
      return 'inserted';
    },
    async storedAlready(msgIds, members) {
      if (msgIds.length === 0) return new Set<string>();
      const stored = (await messages.find({ _id: { $in: [...msgIds] } }).toArray()).map(fromDoc);
      if (stored.length > 0) await touchConversations(stored, members);
      return new Set(stored.map((m) => m.msgId));
    },
    async insertMessages(list, members) {
      if (list.length === 0) return 0;
      let inserted = list.length;
      try {
        await messages.insertMany(list.map(toDoc), { ordered: true });
      } catch (err: unknown) {
        // A bulk write error carries the code of its first failed write.
        if (!isDuplicateKey(err)) throw err;
        // Ordered: everything before the first failed write is stored.
        inserted = err instanceof MongoBulkWriteError ? err.insertedCount : 0;
      }
      try {
        await touchConversations(list.slice(0, inserted), members);
      } catch (err: unknown) {
        throw new IndexUpdateError(inserted, { cause: err });
      }
      return inserted;
    },
    async readMessages(conversation, afterSeq, limit) {
      const docs = await messages.find({ conversation, seq: { $gt: afterSeq } }).sort({ seq: 1 }).limit(limit).toArray();
      return docs.map(fromDoc);
    },
    async membershipChanges(list) {
      if (list.length === 0) return [];
      const docs = await messages
        .find({ conversation: { $in: [...list] }, kind: { $in: [...MEMBERSHIP_KINDS] } })
        .sort({ conversation: 1, seq: 1 })
        .toArray();
      return docs.map(fromDoc);
    },
    async setMembers(conversation, members, seq) {
      // Only a roster newer than the one listed goes on: a late, older one is ignored.
      const claimed = await conversations.updateOne(
        { _id: conversation, $or: [{ membersSeq: { $lt: seq } }, { membersSeq: { $exists: false } }] },
        { $set: { membersSeq: seq } },
      );
      if (claimed.matchedCount === 0) return;
      // Write only who changed. A user never listed before gets a row of their own (one insert for
      // all of them); a row that exists keeps the newest roster that wrote it: an update as of an
      // older seq matches nothing, and its upsert's duplicate key is that newer row.
      const want = new Set(members);
      const rows = new Map((await memberships.find({ conversation }, { projection: { user: 1, member: 1 } }).toArray()).map((r) => [r.user, r.member]));
      const fresh = [...want].filter((u) => !rows.has(u));
      const changed: Array<[string, boolean]> = [];
      for (const u of want) if (rows.get(u) === false) changed.push([u, true]);
      for (const [u, member] of rows) if (member && !want.has(u)) changed.push([u, false]);
      const row = (user: string, member: boolean): MembershipDoc => ({ _id: `${conversation}|${user}`, conversation, user, member, seq });
      for (let i = 0; i < fresh.length; i += INSERT_SLICE) {
        const slice = fresh.slice(i, i + INSERT_SLICE);
        try {
          await memberships.insertMany(slice.map((u) => row(u, true)), { ordered: false });
        } catch (err: unknown) {
          if (!onlyDuplicateKeys(err)) throw err;
          // Listed meanwhile by another writer: those go the conditional way.
          for (const e of [err.writeErrors].flat()) changed.push([slice[e.index]!, true]);
        }
      }
      for (let i = 0; i < changed.length; i += UPDATE_SLICE) {
        const ops: AnyBulkWriteOperation<MembershipDoc>[] = changed.slice(i, i + UPDATE_SLICE).map(([user, member]) => ({
          updateOne: { filter: { _id: `${conversation}|${user}`, seq: { $lt: seq } }, update: { $set: { member, seq }, $setOnInsert: { conversation, user } }, upsert: true },
        }));
        try {
          await memberships.bulkWrite(ops, { ordered: false });
        } catch (err: unknown) {
          if (!onlyDuplicateKeys(err)) throw err;
        }
      }
    },
    async groupCounts(users) {
      const out = new Map<string, number>(users.map((u) => [u, 0]));
      if (users.length === 0) return out;
      const rows = await memberships
        .aggregate<{ _id: string; n: number }>([{ $match: { user: { $in: [...users] }, member: true } }, { $group: { _id: '$user', n: { $sum: 1 } } }])
        .toArray();
      for (const r of rows) out.set(r._id, r.n);
      return out;
    },
    async listConversations(user, limit): Promise<ConversationSummary[]> {
      const byActivity = { lastActive: -1, _id: 1 } as const;
      const projection = { lastSeq: 1, lastActive: 1 };
      const [direct, groups] = await Promise.all([
        conversations.find({ members: user }, { projection }).sort(byActivity).limit(limit).toArray(),
        memberships.find({ user, member: true }, { projection: { conversation: 1 } }).toArray(),
      ]);
      const listedGroups = groups.length === 0 ? [] : await conversations.find({ _id: { $in: groups.map((g) => g.conversation) } }, { projection }).toArray();
      const all = new Map([...direct, ...listedGroups].map((d) => [d._id, d]));
      return [...all.values()]
        .sort((a, b) => b.lastActive - a.lastActive || (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))
        .slice(0, limit)
        .map((d) => ({ conversation: d._id, lastSeq: d.lastSeq }));
    },
  };
}
