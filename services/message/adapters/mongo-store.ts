import { MongoBulkWriteError, MongoClient, type Collection, type Db, type MongoClientOptions } from 'mongodb';
import { ConnectionString } from 'mongodb-connection-string-url';
import type { Logger } from '../../shared/logger.js';
import type { CheckResult } from '../../shared/health.js';
import { withTimeout } from '../../shared/lifecycle.js';
import { IndexUpdateError, SeqConflictError, summaryOf, type ConversationSummary, type MessageStore } from './store.js';
import { GROUP_CHANGE_KINDS, kindFields, type Message } from '../../shared/message.js';
import { isDuplicateKey } from './mongo-common.js';
import { ConversationIndex, type Latest } from './mongo-conversation-index.js';
import { GroupListings } from './mongo-memberships.js';
import { ReadMarkers } from './mongo-read-markers.js';
import { MonitorWatchdog } from './mongo-monitor-watchdog.js';

export interface MongoStoreOptions {
  uri: string;
  /** Database name when the URI names none. */
  database: string;
  logger: Logger;
  /** How often to check the server (readiness) and the driver's monitoring of it (MonitorWatchdog). */
  checkIntervalMs?: number;
  /** How often the conversation activity is folded into the conversation index (default 1 s). */
  foldIntervalMs?: number;
}

/** A stored message as a document: its msgId is the _id. */
type MessageDoc = Omit<Message, 'msgId'> & { _id: string };
const toDoc = (m: Message): MessageDoc => ({
  _id: m.msgId,
  conversation: m.conversation,
  seq: m.seq,
  from: m.from,
  to: m.to,
  body: m.body,
  ts: m.ts,
  clientId: m.clientId,
  ...kindFields(m),
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
  ...kindFields(d),
});

/**
 * The driver's options for a store URI. Durability and reads are the URI's to say, as for any
 * MongoDB client (`w`, `wtimeoutMS`, `journal`, `readConcernLevel`, `readPreference`,
 * `retryWrites`, `replicaSet`): the driver lets options given here override the URI, so a default
 * is given only for what the URI leaves out: write concern `majority` (a write acknowledged by a
 * primary alone can be rolled back by a failover; the consumer commits Kafka offsets only for what
 * is stored), read concern `majority`, and short server selection and connect timeouts (a store
 * that is away is reported within seconds: the pipeline retries and pushes meanwhile).
 */
export function mongoClientOptions(uri: string): MongoClientOptions {
  const given = new Set([...new ConnectionString(uri).searchParams.keys()].map((k) => k.toLowerCase()));
  return {
    ...(given.has('w') ? {} : { writeConcern: { w: 'majority' } }),
    ...(given.has('readconcernlevel') ? {} : { readConcern: { level: 'majority' } }),
    ...(given.has('serverselectiontimeoutms') ? {} : { serverSelectionTimeoutMS: 5000 }),
    ...(given.has('connecttimeoutms') ? {} : { connectTimeoutMS: 5000 }),
    ...(given.has('appname') ? {} : { appName: 'switchboard-message' }),
  };
}

/** Most documents per ordered insert of messages (see insertPrefix). */
const ORDERED_SLICE = 100;

export interface MongoMessageStore extends MessageStore {
  /** Folds the activity written so far into the conversation index now (as the timer does); how many documents it folded. */
  foldActivity(): Promise<number>;
}

/**
 * The store on MongoDB (official driver), write concern majority, in three parts: the messages
 * (here: `messages`, _id = msgId, unique (conversation, seq)); the conversation index
 * (ConversationIndex: `conversation_heads` and `conversation_activity`); who each group is listed
 * for (GroupListings: `memberships`, `group_rosters`); the users' read markers (ReadMarkers:
 * `read_markers`). `migrations` records the one-time steps done
 * on the database.
 */
export function createMongoStore(opts: MongoStoreOptions): MongoMessageStore {
  const client = new MongoClient(opts.uri, mongoClientOptions(opts.uri));
  const watchdog = new MonitorWatchdog(client, opts.logger);
  // The database the URI names, else `database`; nothing is sent before start() connects.
  const db: Db = client.db(new ConnectionString(opts.uri).pathname.slice(1) || opts.database);
  const messages: Collection<MessageDoc> = db.collection<MessageDoc>('messages');
  const index = new ConversationIndex(db, opts.logger);
  const groups = new GroupListings(db);
  const markers = new ReadMarkers(db);
  let started = false;
  let healthy: CheckResult = { ok: false, detail: 'not connected' };
  let timer: NodeJS.Timeout | undefined;
  let checking = false;

  async function check(): Promise<void> {
    if (checking || !started) return;
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

  return {
    async start() {
      await client.connect();
      await messages.createIndex({ conversation: 1, seq: 1 }, { unique: true, name: 'conversation_seq' }, undefined);
      await groups.open();
      await markers.open();
      await index.open(opts.foldIntervalMs ?? 1000);
      started = true;
      healthy = { ok: true, detail: `connected to ${db.databaseName}` };
      timer = setInterval(() => {
        void check();
        void watchdog.check();
      }, opts.checkIntervalMs ?? 5000);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      watchdog.stop();
      await index.close();
      healthy = { ok: false, detail: 'stopped' };
      await client.close();
    },
    health: () => healthy,
    foldActivity: () => index.foldActivity(),

    async lastSeq(conversation, exact = false) {
      if (!exact) return (await index.latest([conversation])).get(conversation)?.seq ?? 0;
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
      for (const [c, l] of await index.latest(list)) out.set(c, l.seq);
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
        await index.touch([{ ...m, seq: stored.seq, ts: stored.ts }], new Map([[m.conversation, members]]));
        return 'duplicate';
      }
      await index.touch([m], new Map([[m.conversation, members]]));
      return 'inserted';
    },
    async storedAlready(msgIds, members) {
      if (msgIds.length === 0) return new Map<string, Message>();
      const stored = (await messages.find({ _id: { $in: [...msgIds] } }).toArray()).map(fromDoc);
      if (stored.length > 0) await index.touch(stored, members);
      return new Map(stored.map((m) => [m.msgId, m]));
    },
    async insertMessages(list, members) {
      if (list.length === 0) return 0;
      const { stored: inserted, failure } = await insertPrefix(list);
      // Nothing stored: the call failed as a whole, and the batch comes again.
      if (failure !== undefined && inserted === 0) throw failure;
      try {
        await index.touch(list.slice(0, inserted), members);
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
        .find({ conversation: { $in: [...list] }, kind: { $in: [...GROUP_CHANGE_KINDS] } })
        .sort({ conversation: 1, seq: 1 })
        .toArray();
      return docs.map(fromDoc);
    },
    setMembers: (conversation, members, seq, title) => groups.setMembers(conversation, members, seq, title),
    async hasMessages() {
      return (await messages.findOne({}, { projection: { _id: 1 } })) !== null;
    },
    groupCounts: (users) => groups.groupCounts(users),
    markRead: (user, conversation, seq) => markers.mark(user, conversation, seq),
    readMarkers: (user, conversations) => markers.of(user, conversations),
    advanceMarkers: (list) => markers.advance(list),
    async listConversations(user, limit): Promise<ConversationSummary[]> {
      const groupIds = await groups.groupsOf(user);
      // Direct conversations by their users, groups by their ids.
      const [all, ofGroups, titles] = await Promise.all([
        index.lookUp({ members: user }, limit),
        groupIds.length === 0 ? new Map<string, Latest>() : index.latest(groupIds),
        groups.titles(groupIds),
      ]);
      for (const [c, l] of ofGroups) all.set(c, l);
      return [...all]
        .filter(([, d]) => d.seq > 0)
        .sort(([ca, a], [cb, b]) => b.lastActive - a.lastActive || (ca < cb ? -1 : ca > cb ? 1 : 0))
        .slice(0, limit)
        .map(([conversation, d]) => summaryOf(conversation, d.seq, titles.get(conversation)));
    },
  };
}
