import {
  MongoBulkWriteError,
  MongoClient,
  MongoServerError,
  type AnyBulkWriteOperation,
  type Collection,
  type Db,
  type Filter,
  type FindCursor,
} from 'mongodb';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import { withTimeout } from '../../shared/lifecycle.js';
import { IndexUpdateError, SeqConflictError, type ConversationSummary, type MessageStore } from './store.js';
import { MEMBERSHIP_KINDS, type Message } from '../../shared/message.js';

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
type MessageDoc = Omit<Message, 'msgId'> & { _id: string };
/** A membership message's kind and members (a text message has neither). */
const membershipOf = ({ kind, members }: Pick<Message, 'kind' | 'members'>) => (kind !== undefined ? { kind, members: members ?? [] } : {});
const toDoc = (m: Message): MessageDoc => ({
  _id: m.msgId,
  conversation: m.conversation,
  seq: m.seq,
  from: m.from,
  to: m.to,
  body: m.body,
  ts: m.ts,
  clientId: m.clientId,
  ...membershipOf(m),
});
const fromDoc = (d: MessageDoc): Message => ({
  msgId: d._id,
  conversation: d.conversation,
  seq: d.seq,
  from: d.from,
  to: d.to,
  body: d.body,
  ts: d.ts,
  clientId: d.clientId,
  ...membershipOf(d),
});

/**
 * The conversation index as builds before `conversation_heads` kept it (`conversations`): one
 * document per conversation, `$max`-upserted by folds. Nothing writes it now; it is copied into
 * the heads once (copyLegacyIndex), and never read after that.
 */
interface LegacyConversationDoc {
  _id: string;
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
 * A conversation at a seq: its highest seq in one write (`conversation_activity`) or in the
 * conversation index (`conversation_heads`). `_id` = conversation|seq, so that a redelivered write or
 * a fold done twice inserts nothing new, and so that neither collection is ever updated: FerretDB 1.x
 * applies an update by reading the document, changing it and writing it back, so two at once keep
 * one (a `$max` of a higher seq among them), while an insert or a delete is whole.
 *
 * A write appends one per conversation it stored messages in (one insert for all of them); a timer
 * in each Message pod folds them into the index every second or so and deletes them. The index
 * holds one per conversation: a fold inserts a conversation's newer head and only then deletes its
 * older ones, so there are two for a while (until the last of the folds running at once is done),
 * never none. Reads take the activity and the index together.
 */
interface SeqMark {
  _id: string;
  conversation: string;
  seq: number;
  lastActive: number;
  /** Who a direct conversation is listed for (its two users; a group's members are `memberships`). */
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
/**
 * Most statements per update command: FerretDB 1.x takes a connection of its backend pool for every
 * statement of an update command that matches an existing document, and never answers when its
 * pool runs dry (on SQLite at 100 statements in flight; on PostgreSQL at pool_max_conns). MongoDB
 * takes any size, and a few more round trips cost it little.
 */
const UPDATE_SLICE = 16;
/** Most activity documents one fold takes. */
const FOLD_LIMIT = 5000;
/** Most ids or names in one `$in` (a fold's lookups and deletes). */
const IN_SLICE = 1000;
/** Most documents per ordered insert of messages (see insertPrefix). */
const ORDERED_SLICE = 100;
/** Most documents per insert of membership rows. */
const INSERT_SLICE = 1000;
const isDuplicateKey = (err: unknown): boolean => err instanceof MongoServerError && err.code === DUPLICATE_KEY;
/** A bulk write whose every failed statement hit an existing _id. */
const onlyDuplicateKeys = (err: unknown): err is MongoBulkWriteError =>
  err instanceof MongoBulkWriteError && [err.writeErrors].flat().every((e) => e.code === DUPLICATE_KEY);

/** What marks say of each conversation they name: its highest seq and latest activity. */
type Latest = { seq: number; lastActive: number; members: string[] };
function latestByConversation(
  docs: readonly Pick<SeqMark, 'conversation' | 'seq' | 'lastActive' | 'members'>[],
  into = new Map<string, Latest>(),
): Map<string, Latest> {
  for (const d of docs) {
    const prev = into.get(d.conversation);
    into.set(d.conversation, { seq: Math.max(d.seq, prev?.seq ?? 0), lastActive: Math.max(d.lastActive, prev?.lastActive ?? 0), members: d.members });
  }
  return into;
}
/** A filter value matching any of `list`: a plain value for one (FerretDB 1.x hands an equality to its backend and filters an `$in` itself, after reading the whole collection). */
const oneOf = <T>(list: readonly T[]): T | { $in: T[] } => (list.length === 1 ? list[0]! : { $in: [...list] });

/**
 * The heads a cursor sorted by activity gives until it has given `limit` conversations (one has two
 * heads for a moment while a fold replaces one).
 */
async function upToConversations(cursor: FindCursor<SeqMark>, limit: number): Promise<SeqMark[]> {
  const seen = new Set<string>();
  const out: SeqMark[] = [];
  try {
    for await (const h of cursor) {
      if (!seen.has(h.conversation) && seen.size >= limit) break;
      seen.add(h.conversation);
      out.push(h);
    }
  } finally {
    await cursor.close();
  }
  return out;
}

/** The mark of a conversation at a seq (its `_id` is what makes a repeated insert a duplicate). */
const markOf = (conversation: string, { seq, lastActive, members }: Latest): SeqMark => ({
  _id: `${conversation}|${seq}`,
  conversation,
  seq,
  lastActive,
  members,
});

/** The marker of the one-time copy of the `conversations` index into the heads (`migrations` collection). */
const LEGACY_INDEX_COPIED = 'conversations-into-conversation_heads';

/**
 * Copies the index of builds before `conversation_heads` (`conversations`) into the heads, once per
 * database: each conversation's head at its seq, as a fold would insert it (a conversation folded
 * since then has a newer head beside it, and reads take the higher). A marker in `migrations` says
 * it is done; pods starting at once both copy (an insert of an existing head is a no-op) and one
 * marker stays. Returns how many conversations were copied (0 once the marker is there).
 */
async function copyLegacyIndex(db: Db, heads: Collection<SeqMark>): Promise<number> {
  const migrations = db.collection<{ _id: string; at: number; copied: number }>('migrations');
  if (await migrations.findOne({ _id: LEGACY_INDEX_COPIED })) return 0;
  let copied = 0;
  const cursor = db.collection<LegacyConversationDoc>('conversations').find({});
  let batch: SeqMark[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    try {
      await heads.insertMany(batch, { ordered: false });
    } catch (err: unknown) {
      if (!onlyDuplicateKeys(err)) throw err;
    }
    copied += batch.length;
    batch = [];
  };
  for await (const d of cursor) {
    batch.push(markOf(d._id, { seq: d.lastSeq ?? 0, lastActive: d.lastActive ?? 0, members: d.members ?? [] }));
    if (batch.length >= INSERT_SLICE) await flush();
  }
  await flush();
  try {
    await migrations.insertOne({ _id: LEGACY_INDEX_COPIED, at: Date.now(), copied });
  } catch (err: unknown) {
    if (!isDuplicateKey(err)) throw err;
  }
  return copied;
}

/** `list` in slices of IN_SLICE. */
function* slices<T>(list: readonly T[]): Generator<T[]> {
  for (let i = 0; i < list.length; i += IN_SLICE) yield list.slice(i, i + IN_SLICE);
}

export interface MongoMessageStore extends MessageStore {
  /** Folds the activity written so far into the conversation index now (as the timer does); how many documents it folded. */
  foldActivity(): Promise<number>;
}

/**
 * The store on MongoDB (official driver), write concern majority. messages: _id = msgId, unique
 * (conversation, seq); conversation_heads: each conversation's last seq (for the consumer's seqs
 * and for listing) and the two users of a direct conversation; conversation_activity: what writes
 * added to that index and is not folded into it yet (reads take both, see SeqMark); memberships:
 * who each group is listed for; group_rosters: the seq those rows are as of; migrations: the
 * one-time steps done on this database (the index of earlier builds, `conversations`, copied).
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
  let heads!: Collection<SeqMark>;
  let memberships!: Collection<MembershipDoc>;
  let rosters!: Collection<RosterDoc>;
  let activity!: Collection<SeqMark>;
  let foldTimer: NodeJS.Timeout | undefined;
  let healthy: CheckResult = { ok: false, detail: 'not connected' };
  let timer: NodeJS.Timeout | undefined;
  let checking = false;

  async function check(): Promise<void> {
    if (checking || !db) return;
    checking = true;
    try {
      // The driver's own per-command timeout (timeoutMS) has no effect on this call; this one does.
      await withTimeout(db.command({ ping: 1 }), 3000, 'no answer to ping within 3 s');
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
  async function touchConversations(stored: readonly Message[], members: ReadonlyMap<string, readonly string[]>): Promise<void> {
    if (stored.length === 0) return;
    const latest = latestByConversation(stored.map((m) => ({ conversation: m.conversation, seq: m.seq, lastActive: m.ts, members: [] })));
    const docs = [...latest].map(([conversation, l]) => markOf(conversation, { ...l, members: [...(members.get(conversation) ?? [])] }));
    try {
      await activity.insertMany(docs, { ordered: false });
    } catch (err: unknown) {
      if (!onlyDuplicateKeys(err)) throw err;
    }
  }

  /**
   * Folds activity into the conversation index: inserts each conversation's head at its newest
   * activity, then reads the heads of those conversations and deletes all but the newest of each,
   * then deletes the activity it folded. A handful of commands whatever the number of conversations,
   * and no update (see SeqMark). A head is deleted only by a fold that has read a newer one of its
   * conversation, so the newest is never deleted; and of folds that run at once, the one that reads
   * last reads every head the others inserted, so when they are done each conversation has one
   * head. A fold that dies halfway leaves the rest to the next. Returns how many activity documents
   * it folded.
   */
  async function fold(): Promise<number> {
    const docs = await activity.find({}).limit(FOLD_LIMIT).toArray();
    if (docs.length === 0) return 0;
    const news = [...latestByConversation(docs)].map(([conversation, l]) => markOf(conversation, l));
    for (const part of slices(news)) {
      try {
        await heads.insertMany(part, { ordered: false });
      } catch (err: unknown) {
        // There already: folded by another pod, or by this one before it died.
        if (!onlyDuplicateKeys(err)) throw err;
      }
    }
    const current: SeqMark[] = [];
    for (const names of slices(news.map((h) => h.conversation))) current.push(...(await heads.find({ conversation: oneOf(names) }).toArray()));
    const newest = latestByConversation(current);
    const replaced = current.filter((h) => h.seq < newest.get(h.conversation)!.seq).map((h) => h._id);
    for (const ids of slices(replaced)) await heads.deleteMany({ _id: oneOf(ids) });
    for (const ids of slices(docs.map((d) => d._id))) await activity.deleteMany({ _id: oneOf(ids) });
    return docs.length;
  }

  /**
   * True when `seq` is newer than the roster the group is listed as of (and now it is that). Its
   * own document: nothing but claims updates it (see SeqMark). Only the consumer that
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
  async function insertPrefix(list: readonly Message[]): Promise<{ stored: number; failure?: Error }> {
    for (let from = 0; from < list.length; from += ORDERED_SLICE) {
      const slice = list.slice(from, from + ORDERED_SLICE);
      try {
        await messages.insertMany(slice.map(toDoc), { ordered: true });
      } catch (err: unknown) {
        // A bulk write error carries the code of its first failed write.
        if (!isDuplicateKey(err)) return { stored: from, failure: err instanceof Error ? err : new Error(String(err)) };
        if (!(err instanceof MongoBulkWriteError)) return { stored: from };
        // Ordered: everything before the first failed write is stored, and nothing after it.
        const firstFailed = Math.min(...[err.writeErrors].flat().map((e) => e.index));
        if (err.insertedCount !== firstFailed) {
          return {
            stored: from,
            failure: new Error(`the server broke an ordered insert: ${err.insertedCount} stored, first failure at ${firstFailed}`, { cause: err }),
          };
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
   * The highest seq and latest activity of `list`'s conversations: the activity not folded yet
   * first, the index after it. A fold deletes activity only once the index has
   * it, so whatever the first look misses, the second finds (both at once, a fold could land between
   * them and hide its activity from both).
   */
  function latest(list: readonly string[]): Promise<Map<string, Latest>> {
    return lookUp({ conversation: oneOf(list) });
  }

  /**
   * What `latest` does, for the conversations the filter picks: the activity first, then the
   * index. With `limit`, the index gives its `limit` most recently active conversations (the
   * activity is all of it: it is one second's worth).
   */
  async function lookUp(filter: Filter<SeqMark>, limit?: number): Promise<Map<string, Latest>> {
    const out = latestByConversation(await activity.find(filter).toArray());
    const indexed =
      limit === undefined ? await heads.find(filter).toArray() : await upToConversations(heads.find(filter).sort({ lastActive: -1, _id: 1 }), limit);
    return latestByConversation(indexed, out);
  }

  return {
    async start() {
      await client.connect();
      db = client.db(new URL(opts.uri.replace(/^mongodb(\+srv)?:/, 'http:')).pathname.slice(1) || opts.database);
      messages = db.collection<MessageDoc>('messages');
      heads = db.collection<SeqMark>('conversation_heads');
      memberships = db.collection<MembershipDoc>('memberships');
      rosters = db.collection<RosterDoc>('group_rosters');
      activity = db.collection<SeqMark>('conversation_activity');
      await messages.createIndex({ conversation: 1, seq: 1 }, { unique: true, name: 'conversation_seq' }, undefined);
      await heads.createIndex({ conversation: 1 }, { name: 'conversation' }, undefined);
      await heads.createIndex({ members: 1, lastActive: -1 }, { name: 'members_lastActive' }, undefined);
      await memberships.createIndex({ user: 1, member: 1 }, { name: 'user_member' }, undefined);
      await memberships.createIndex({ conversation: 1 }, { name: 'conversation' }, undefined);
      await activity.createIndex({ conversation: 1 }, { name: 'conversation' }, undefined);
      await activity.createIndex({ members: 1 }, { name: 'members' }, undefined);
      const copied = await copyLegacyIndex(db, heads);
      if (copied > 0) opts.logger.info({ copied }, 'copied the conversation index of an earlier build (conversations) into conversation_heads');
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
      if (!exact) return (await latest([conversation])).get(conversation)?.seq ?? 0;
      const top = await messages
        .find({ conversation }, { projection: { seq: 1 } })
        .sort({ seq: -1 })
        .limit(1)
        .next();
      return top?.seq ?? 0;
    },
    async lastSeqs(list) {
      const out = new Map<string, number>(list.map((c) => [c, 0]));
      if (list.length === 0) return out;
      for (const [c, l] of await latest(list)) out.set(c, l.seq);
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
      if (msgIds.length === 0) return new Map<string, Message>();
      const stored = (await messages.find({ _id: { $in: [...msgIds] } }).toArray()).map(fromDoc);
      if (stored.length > 0) await touchConversations(stored, members);
      return new Map(stored.map((m) => [m.msgId, m]));
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
      const docs = await messages
        .find({ conversation, seq: { $gt: afterSeq } })
        .sort({ seq: 1 })
        .limit(limit)
        .toArray();
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
          await memberships.insertMany(
            slice.map((u) => row(u, true)),
            { ordered: false },
          );
        } catch (err: unknown) {
          if (!onlyDuplicateKeys(err)) throw err;
          // Listed meanwhile by another writer: those go the conditional way.
          for (const e of [err.writeErrors].flat()) changed.push([slice[e.index]!, true]);
        }
      }
      for (let i = 0; i < changed.length; i += UPDATE_SLICE) {
        const ops: AnyBulkWriteOperation<MembershipDoc>[] = changed.slice(i, i + UPDATE_SLICE).map(([user, member]) => ({
          updateOne: {
            filter: { _id: `${conversation}|${user}`, seq: { $lt: seq } },
            update: { $set: { member, seq }, $setOnInsert: { conversation, user } },
            upsert: true,
          },
        }));
        try {
          await memberships.bulkWrite(ops, { ordered: false });
        } catch (err: unknown) {
          if (!onlyDuplicateKeys(err)) throw err;
        }
      }
    },
    async hasMessages() {
      return (await messages.findOne({}, { projection: { _id: 1 } })) !== null;
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
      const groupIds = (await memberships.find({ user, member: true }, { projection: { conversation: 1 } }).toArray()).map((g) => g.conversation);
      // Direct conversations by their users, groups by their ids.
      const [all, groups] = await Promise.all([lookUp({ members: user }, limit), groupIds.length === 0 ? new Map<string, Latest>() : latest(groupIds)]);
      for (const [c, l] of groups) all.set(c, l);
      return [...all]
        .filter(([, d]) => d.seq > 0)
        .sort(([ca, a], [cb, b]) => b.lastActive - a.lastActive || (ca < cb ? -1 : ca > cb ? 1 : 0))
        .slice(0, limit)
        .map(([conversation, d]) => ({ conversation, lastSeq: d.seq }));
    },
  };
}
