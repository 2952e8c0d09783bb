import type { Collection, Db, Filter, FindCursor } from 'mongodb';
import type { Logger } from '../../shared/logger.js';
import type { Message } from '../../shared/message.js';
import { INSERT_SLICE, isDuplicateKey, onlyDuplicateKeys, oneOf, slices } from './mongo-common.js';

/** Most activity documents one fold takes. */
const FOLD_LIMIT = 5000;

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

/** What marks say of each conversation they name: its highest seq and latest activity. */
export type Latest = { seq: number; lastActive: number; members: string[] };
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

/**
 * The conversation index: each conversation's last seq and activity, for the consumer's seqs and
 * for `conversations`. Writes append activity (`touch`); a timer in each Message pod folds it into
 * the heads every second or so (`fold`); reads take both (`latest`, `lookUp`). See SeqMark.
 */
export class ConversationIndex {
  private readonly heads: Collection<SeqMark>;
  private readonly activity: Collection<SeqMark>;
  private folding: Promise<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
  ) {
    this.heads = db.collection<SeqMark>('conversation_heads');
    this.activity = db.collection<SeqMark>('conversation_activity');
  }

  /** Creates the indexes, copies the index of earlier builds once, and starts folding every `foldIntervalMs`. */
  async open(foldIntervalMs: number): Promise<void> {
    await this.heads.createIndex({ conversation: 1 }, { name: 'conversation' }, undefined);
    await this.heads.createIndex({ members: 1, lastActive: -1 }, { name: 'members_lastActive' }, undefined);
    await this.activity.createIndex({ conversation: 1 }, { name: 'conversation' }, undefined);
    await this.activity.createIndex({ members: 1 }, { name: 'members' }, undefined);
    const copied = await copyLegacyIndex(this.db, this.heads);
    if (copied > 0) this.logger.info({ copied }, 'copied the conversation index of an earlier build (conversations) into conversation_heads');
    this.timer = setInterval(() => void this.foldNow(), foldIntervalMs);
    this.timer.unref();
  }

  /** Stops folding (a fold in progress finishes). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.folding;
  }

  /** Folds the activity written so far now (after a fold in progress); how many documents it folded. */
  async foldActivity(): Promise<number> {
    await this.folding;
    return this.fold();
  }

  /** One fold at a time; a failed one is logged and the next interval tries again. */
  private foldNow(): Promise<unknown> {
    return (this.folding ??= this.fold()
      .catch((err: unknown) => this.logger.warn({ err }, 'folding the conversation activity failed; retrying at the next interval'))
      .finally(() => (this.folding = undefined)));
  }

  /**
   * Records stored messages for the conversation index: one activity document per conversation,
   * with its highest seq, all in one insert (FerretDB takes it about ten times faster than one
   * upsert per conversation). One already there (a redelivery) is left as it is.
   */
  async touch(stored: readonly Message[], members: ReadonlyMap<string, readonly string[]>): Promise<void> {
    if (stored.length === 0) return;
    const latest = latestByConversation(stored.map((m) => ({ conversation: m.conversation, seq: m.seq, lastActive: m.ts, members: [] })));
    const docs = [...latest].map(([conversation, l]) => markOf(conversation, { ...l, members: [...(members.get(conversation) ?? [])] }));
    try {
      await this.activity.insertMany(docs, { ordered: false });
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
  private async fold(): Promise<number> {
    const docs = await this.activity.find({}).limit(FOLD_LIMIT).toArray();
    if (docs.length === 0) return 0;
    const news = [...latestByConversation(docs)].map(([conversation, l]) => markOf(conversation, l));
    for (const part of slices(news)) {
      try {
        await this.heads.insertMany(part, { ordered: false });
      } catch (err: unknown) {
        // There already: folded by another pod, or by this one before it died.
        if (!onlyDuplicateKeys(err)) throw err;
      }
    }
    const current: SeqMark[] = [];
    for (const names of slices(news.map((h) => h.conversation))) current.push(...(await this.heads.find({ conversation: oneOf(names) }).toArray()));
    const newest = latestByConversation(current);
    const replaced = current.filter((h) => h.seq < newest.get(h.conversation)!.seq).map((h) => h._id);
    for (const ids of slices(replaced)) await this.heads.deleteMany({ _id: oneOf(ids) });
    for (const ids of slices(docs.map((d) => d._id))) await this.activity.deleteMany({ _id: oneOf(ids) });
    return docs.length;
  }

  /**
   * The highest seq and latest activity of `list`'s conversations: the activity not folded yet
   * first, the index after it. A fold deletes activity only once the index has
   * it, so whatever the first look misses, the second finds (both at once, a fold could land between
   * them and hide its activity from both).
   */
  latest(list: readonly string[]): Promise<Map<string, Latest>> {
    return this.lookUp({ conversation: oneOf(list) });
  }

  /**
   * What `latest` does, for the conversations the filter picks: the activity first, then the
   * index. With `limit`, the index gives its `limit` most recently active conversations (the
   * activity is all of it: it is one second's worth).
   */
  async lookUp(filter: Filter<SeqMark>, limit?: number): Promise<Map<string, Latest>> {
    const out = latestByConversation(await this.activity.find(filter).toArray());
    const indexed =
      limit === undefined ? await this.heads.find(filter).toArray() : await upToConversations(this.heads.find(filter).sort({ lastActive: -1, _id: 1 }), limit);
    return latestByConversation(indexed, out);
  }
}
