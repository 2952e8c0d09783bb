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
  /** How often the conversation activity is folded into the conversation index (default 1 s). */
  foldIntervalMs?: number;
}

/** A stored message as a document: its msgId is the _id. */
type MessageDoc = Omit<StoredMessage, 'msgId'> & { _id: string };
/** A membership message's kind and members (a text message has neither). */
const membershipOf = ({ kind, members }: Pick<StoredMessage, 'kind' | 'members'>) => (kind !== undefined ? { kind, members: members ?? [] } : {});
const toDoc = (m: StoredMessage): MessageDoc => ({ _id: m.msgId, conversation: m.conversation, seq: m.seq, from: m.from, to: m.to, body: m.body, ts: m.ts, clientId: m.clientId, ...membershipOf(m) });
const fromDoc = (d: MessageDoc): StoredMessage => ({ msgId: d._id, conversation: d.conversation, seq: d.seq, from: d.from, to: d.to, body: d.body, ts: d.ts, clientId: d.clientId, ...membershipOf(d) });

/**
 * The conversation index. Only folds write it: a server that does not apply two updates of one
 * document atomically (FerretDB 1.x reads, changes and writes the document back) would otherwise
 * keep one of them, and a fold's seq lost that way leaves the listing behind its messages.
 */
interface ConversationDoc {
  _id: string;
  /** A direct conversation's two users (set when the document is created by a fold). */
  members?: string[];
  lastSeq?: number;
  lastActive?: number;
}

/** A group's roster claim: the seq its listed members (memberships) are as of. */
interface RosterDoc {
  _id: string;
  seq: number;
}

/**
 * A write's news for the conversation index, not folded in yet: one document per conversation a
 * write stored messages in, with its highest seq. Appended with the write (one insert for all its
 * conversations), folded into `conversations` every second or so, then deleted; reads take the
 * index and what is not folded yet together.
 */
interface ActivityDoc {
  /** conversation|seq: a redelivered write appends nothing new. */
  _id: string;
  conversation: string;
  seq: number;
  lastActive: number;
  members: string[];
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
/** Most statements per update command (see fold). */
const UPDATE_SLICE = 16;
/** Most activity documents one fold takes. */
const FOLD_LIMIT = 5000;
/** Most documents per ordered insert of messages (see insertPrefix). */
const ORDERED_SLICE = 100;
/** Most documents per insert of membership rows. */
const INSERT_SLICE = 1000;
const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;
/** A bulk write whose every failed statement hit an existing _id. */
const onlyDuplicateKeys = (err: unknown): err is MongoBulkWriteError => err instanceof MongoBulkWriteError && [err.writeErrors].flat().every((e) => e.code === DUPLICATE_KEY);

/** What activity documents say of each conversation they name: its highest seq and latest activity. */
type Latest = { seq: number; lastActive: number; members: string[] };
function latestByConversation(docs: readonly ActivityDoc[]): Map<string, Latest> {
  const out = new Map<string, Latest>();
  for (const d of docs) {
    const prev = out.get(d.conversation);
    out.set(d.conversation, { seq: Math.max(d.seq, prev?.seq ?? 0), lastActive: Math.max(d.lastActive, prev?.lastActive ?? 0), members: d.members });
  }
  return out;
}
/** The index update a conversation's latest activity makes (never moving it back). */
const advanceBy = ({ seq, lastActive }: Latest) => ({ $max: { lastSeq: seq, lastActive } });

export interface MongoMessageStore extends MessageStore {
  /** Folds the activity written so far into the conversation index now (as the timer does); how many documents it folded. */
  foldActivity(): Promise<number>;
}

/**
 * The store on MongoDB (official driver), write concern majority. messages: _id = msgId, unique
 * (conversation, seq); conversations: lastSeq for the consumer's seqs, and the two users of a
 * direct conversation for listing; conversation_activity: what writes added to that index and is
 * not folded into it yet (reads take both); memberships: who each group is listed for;
 * group_rosters: the seq those rows are as of.
 */
export function createMongoStore(opts: MongoStoreOptions): MongoMessageStore {
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
  let rosters!: Collection<RosterDoc>;
  let activity!: Collection<ActivityDoc>;
  let foldTimer: NodeJS.Timeout | undefined;
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

  /**
   * Records stored messages for the conversation index: one activity document per conversation,
   * with its highest seq, all in one insert (FerretDB takes it about ten times faster than one
   * upsert per conversation). One already there (a redelivery) is left as it is.
   */
  async function touchConversations(stored: readonly StoredMessage[], members: ReadonlyMap<string, readonly string[]>): Promise<void> {
    const latest = new Map<string, StoredMessage>();
    for (const m of stored) {
      const prev = latest.get(m.conversation);
      if (!prev || m.seq > prev.seq) latest.set(m.conversation, m);
    }
    if (latest.size === 0) return;
    const docs = [...latest.values()].map((m): ActivityDoc => ({ _id: `${m.conversation}|${m.seq}`, conversation: m.conversation, seq: m.seq, lastActive: m.ts, members: [...(members.get(m.conversation) ?? [])] }));
    try {
      await activity.insertMany(docs, { ordered: false });
    } catch (err: unknown) {
      if (!onlyDuplicateKeys(err)) throw err;
    }
  }

  /**
   * Folds activity into the conversation index: one `$max` upsert per conversation it names, then
   * deletes what it folded (a fold that dies halfway leaves it to the next; two at once upsert the
   * same maxima). Returns how many activity documents it folded.
   */
  async function fold(): Promise<number> {
    const docs = await activity.find({}).limit(FOLD_LIMIT).toArray();
    if (docs.length === 0) return 0;
    const toUpdate = ([conversation, l]: [string, Latest]): AnyBulkWriteOperation<ConversationDoc> => ({
      updateOne: { filter: { _id: conversation }, update: { ...advanceBy(l), $setOnInsert: { members: l.members } }, upsert: true },
    });
    // In slices: FerretDB 1.x takes a connection of its backend pool for every statement of an
    // update command that matches an existing document, and never answers when its pool runs dry
    // (on SQLite at 100 statements in flight; on PostgreSQL at pool_max_conns). MongoDB takes any
    // size, and a few more round trips cost it little.
    const all = [...latestByConversation(docs)];
    for (let i = 0; i < all.length; i += UPDATE_SLICE) {
      const slice = all.slice(i, i + UPDATE_SLICE);
      try {
        await conversations.bulkWrite(slice.map(toUpdate), { ordered: false });
      } catch (err: unknown) {
        // Concurrent first upserts of a conversation (another pod folding): redo them one by one.
        if (!(err instanceof MongoBulkWriteError) && !isDuplicateKey(err)) throw err;
        for (const [conversation, l] of slice) await advance(conversation, l);
      }
    }
    await activity.deleteMany({ _id: { $in: docs.map((d) => d._id) } });
    return docs.length;
  }

  async function advance(conversation: string, l: Latest): Promise<void> {
    try {
      await conversations.updateOne({ _id: conversation }, { ...advanceBy(l), $setOnInsert: { members: l.members } }, { upsert: true });
    } catch (err: unknown) {
      // Two first upserts of one conversation at once: the loser updates the winner's document.
      if (!isDuplicateKey(err)) throw err;
      await conversations.updateOne({ _id: conversation }, advanceBy(l));
    }
  }

  /**
   * True when `seq` is newer than the roster the group is listed as of (and now it is that). Its
   * own document, beside the index that folds write (see ConversationDoc). Only the consumer that
   * owns the group's partition claims, one batch after another.
   */
  async function claimRoster(conversation: string, seq: number): Promise<boolean> {
    const claimOlder = async () => (await rosters.updateOne({ _id: conversation, seq: { $lt: seq } }, { $set: { seq } })).matchedCount > 0;
    if (await claimOlder()) return true;
    try {
      await rosters.insertOne({ _id: conversation, seq });
      return true;
    } catch (err: unknown) {
      if (!isDuplicateKey(err)) throw err;
      // Claimed meanwhile (a consumer before a rebalance): claim it as it is now.
      return claimOlder();
    }
  }

  /**
   * Inserts the messages in order, stopping at the first whose msgId or seq is taken. Returns how
   * many are stored (the prefix before it) and, when a command failed otherwise, why: the slices
   * before it are stored all the same. In commands of at most ORDERED_SLICE documents: FerretDB 1.x
   * runs a larger ordered insert in slices of 100 and, after a failure in one, goes on with the next
   * (storing documents after the failure and counting them as inserted), which would make the stored
   * prefix a lie. A server that breaks the order anyway is refused rather than believed.
   */
  async function insertPrefix(list: readonly StoredMessage[]): Promise<{ stored: number; failure?: unknown }> {
    for (let from = 0; from < list.length; from += ORDERED_SLICE) {
      const slice = list.slice(from, from + ORDERED_SLICE);
      try {
        await messages.insertMany(slice.map(toDoc), { ordered: true });
      } catch (err: unknown) {
        // A bulk write error carries the code of its first failed write.
        if (!isDuplicateKey(err)) return { stored: from, failure: err };
        if (!(err instanceof MongoBulkWriteError)) return { stored: from };
        // Ordered: everything before the first failed write is stored, and nothing after it.
        const firstFailed = Math.min(...[err.writeErrors].flat().map((e) => e.index));
        if (err.insertedCount !== firstFailed) {
          return { stored: from, failure: new Error(`the server broke an ordered insert: ${err.insertedCount} stored, first failure at ${firstFailed}`, { cause: err }) };
        }
        return { stored: from + err.insertedCount };
      }
    }
    return { stored: list.length };
  }

  let folding: Promise<unknown> | undefined;
  /** One fold at a time; a failed one is logged and the next interval tries again. */
  const foldNow = (): Promise<unknown> =>
    (folding ??= fold()
      .catch((err: unknown) => opts.logger.warn({ err }, 'folding the conversation activity failed; retrying at the next interval'))
      .finally(() => (folding = undefined)));

  /**
   * The highest seq and activity of the conversations `filter` names that are not folded yet. A read
   * that merges them with the index looks here first and at the index after: a fold deletes activity
   * only once the index has it, so whatever this look misses, the later one finds. (Both at once, a
   * fold could land between them and hide its activity from both.)
   */
  const unfolded = async (filter: object): Promise<Map<string, Latest>> => latestByConversation(await activity.find(filter).toArray());

  return {
    async start() {
      await client.connect();
      db = client.db(new URL(opts.uri.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.slice(1) || opts.database);
      messages = db.collection<MessageDoc>('messages');
      conversations = db.collection<ConversationDoc>('conversations');
      memberships = db.collection<MembershipDoc>('memberships');
      rosters = db.collection<RosterDoc>('group_rosters');
      activity = db.collection<ActivityDoc>('conversation_activity');
      await messages.createIndex({ conversation: 1, seq: 1 }, { unique: true, name: 'conversation_seq' });
      await conversations.createIndex({ members: 1, lastActive: -1 }, { name: 'members_lastActive' });
      await memberships.createIndex({ user: 1, member: 1 }, { name: 'user_member' });
      await memberships.createIndex({ conversation: 1 }, { name: 'conversation' });
      await activity.createIndex({ conversation: 1 }, { name: 'conversation' });
      await activity.createIndex({ members: 1 }, { name: 'members' });
      healthy = { ok: true, detail: `connected to ${db.databaseName}` };
      timer = setInterval(() => void check(), opts.checkIntervalMs ?? 5000);
      timer.unref();
      foldTimer = setInterval(() => void foldNow(), opts.foldIntervalMs ?? 1000);
      foldTimer.unref();
    },
    async stop() {
      clearInterval(timer);
      clearInterval(foldTimer);
      await folding;
      healthy = { ok: false, detail: 'stopped' };
      await client.close();
    },
    health: () => healthy,
    foldActivity: async () => {
      await folding;
      return fold();
    },

    async lastSeq(conversation, exact = false) {
      if (!exact) {
        const news = await unfolded({ conversation });
        const c = await conversations.findOne({ _id: conversation }, { projection: { lastSeq: 1 } });
        return Math.max(c?.lastSeq ?? 0, news.get(conversation)?.seq ?? 0);
      }
      const top = await messages.find({ conversation }, { projection: { seq: 1 } }).sort({ seq: -1 }).limit(1).next();
      return top?.seq ?? 0;
    },
    async lastSeqs(list) {
      const out = new Map<string, number>(list.map((c) => [c, 0]));
      if (list.length === 0) return out;
      const news = await unfolded({ conversation: { $in: [...list] } });
      const docs = await conversations.find({ _id: { $in: [...list] } }, { projection: { lastSeq: 1 } }).toArray();
      for (const d of docs) out.set(d._id, d.lastSeq ?? 0);
      for (const [c, n] of news) out.set(c, Math.max(out.get(c) ?? 0, n.seq));
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
        await touchConversations([{ ...m, seq: stored.seq, ts: stored.ts }], new Map([[m.conversation, members]]));
        return 'duplicate';
      }
      await touchConversations([m], new Map([[m.conversation, members]]));
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
      const { stored: inserted, failure } = await insertPrefix(list);
      // Nothing stored: the call failed as a whole, and the batch comes again.
      if (failure !== undefined && inserted === 0) throw failure;
      try {
        await touchConversations(list.slice(0, inserted), members);
      } catch (err: unknown) {
        throw new IndexUpdateError(inserted, { cause: err });
      }
      // Stored in part, then a command failed: the stored part is indexed, reported and pushed.
      if (failure !== undefined) throw new IndexUpdateError(inserted, { cause: failure });
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
      if (!(await claimRoster(conversation, seq))) return;
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
      const groupIds = (await memberships.find({ user, member: true }, { projection: { conversation: 1 } }).toArray()).map((g) => g.conversation);
      // What is not folded first, the index after it (see `unfolded`).
      const [directNews, groupNews] = await Promise.all([unfolded({ members: user }), groupIds.length === 0 ? new Map<string, Latest>() : unfolded({ conversation: { $in: groupIds } })]);
      const [direct, listedGroups] = await Promise.all([
        conversations.find({ members: user }, { projection }).sort(byActivity).limit(limit).toArray(),
        groupIds.length === 0 ? [] : conversations.find({ _id: { $in: groupIds } }, { projection }).toArray(),
      ]);
      const all = new Map<string, { lastSeq: number; lastActive: number }>();
      for (const d of [...direct, ...listedGroups]) all.set(d._id, { lastSeq: d.lastSeq ?? 0, lastActive: d.lastActive ?? 0 });
      for (const [c, n] of [...directNews, ...groupNews]) {
        const d = all.get(c);
        all.set(c, { lastSeq: Math.max(n.seq, d?.lastSeq ?? 0), lastActive: Math.max(n.lastActive, d?.lastActive ?? 0) });
      }
      return [...all]
        .filter(([, d]) => d.lastSeq > 0)
        .sort(([ca, a], [cb, b]) => b.lastActive - a.lastActive || (ca < cb ? -1 : ca > cb ? 1 : 0))
        .slice(0, limit)
        .map(([conversation, d]) => ({ conversation, lastSeq: d.lastSeq }));
    },
  };
}
