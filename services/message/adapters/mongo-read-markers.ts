import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import type { ReadMarker } from '../../shared/message.js';
import { isDuplicateKey, onlyDuplicateKeys } from './mongo-common.js';

/** One user's read marker of one conversation. */
interface MarkerDoc {
  _id: string;
  user: string;
  conversation: string;
  seq: number;
}

/**
 * Most statements per update command (FerretDB 1.x takes a backend connection for each statement
 * of an update command at once; see UPDATE_SLICE of the memberships).
 */
const UPDATE_SLICE = 16;

/** A marker's _id: user and conversation ids hold no newline. */
const markerId = (user: string, conversation: string): string => `${user}\n${conversation}`;

/**
 * The read markers (`read_markers`): one document per user and conversation, holding the highest
 * seq read. Every write is a `$max`, so a marker never moves back whatever order writes arrive in.
 */
export class ReadMarkers {
  private readonly markers: Collection<MarkerDoc>;

  constructor(db: Db) {
    this.markers = db.collection<MarkerDoc>('read_markers');
  }

  async mark(user: string, conversation: string, seq: number): Promise<number> {
    const _id = markerId(user, conversation);
    const update = { $max: { seq }, $setOnInsert: { user, conversation } };
    for (let attempt = 0; ; attempt++) {
      try {
        const doc = await this.markers.findOneAndUpdate({ _id }, update, { upsert: true, returnDocument: 'after' });
        return doc?.seq ?? seq;
      } catch (err: unknown) {
        // Two first marks at once: one inserts, the other's upsert hits its _id and finds it the second time.
        if (!isDuplicateKey(err) || attempt > 0) throw err;
      }
    }
  }

  /** The index reads go by (called at start-up). */
  async open(): Promise<void> {
    await this.markers.createIndex({ user: 1 }, { name: 'user' }, undefined);
  }

  async of(user: string, conversations: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>(conversations.map((c) => [c, 0]));
    if (conversations.length === 0) return out;
    // By user (an equality FerretDB hands to its backend; an `$in` of ids it would filter itself
    // after reading the whole collection): a user has a marker per conversation they read.
    const docs =
      conversations.length === 1 ? await this.markers.find({ _id: markerId(user, conversations[0]!) }).toArray() : await this.markers.find({ user }).toArray();
    for (const d of docs) if (out.has(d.conversation)) out.set(d.conversation, d.seq);
    return out;
  }

  async advance(list: readonly ReadMarker[]): Promise<void> {
    for (let i = 0; i < list.length; i += UPDATE_SLICE) {
      const ops: AnyBulkWriteOperation<MarkerDoc>[] = list.slice(i, i + UPDATE_SLICE).map((m) => ({
        updateOne: {
          filter: { _id: markerId(m.user, m.conversation) },
          update: { $max: { seq: m.seq }, $setOnInsert: { user: m.user, conversation: m.conversation } },
          upsert: true,
        },
      }));
      try {
        await this.markers.bulkWrite(ops, { ordered: false });
      } catch (err: unknown) {
        // An upsert raced another first write of the same marker: the other one is there now.
        if (!onlyDuplicateKeys(err)) throw err;
        await this.markers.bulkWrite(ops, { ordered: false });
      }
    }
  }
}
