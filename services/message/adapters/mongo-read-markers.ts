import { MongoServerError, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import type { ReadMarker } from '../../shared/message.js';

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

/** Tries of an upsert that collided with another first write of the same marker. */
const UPSERT_ATTEMPTS = 3;

/** A marker's _id: user and conversation ids hold no newline. */
const markerId = (user: string, conversation: string): string => `${user}\n${conversation}`;

/**
 * The read markers (`read_markers`): one document per user and conversation, holding the highest
 * seq read. Every write is a `$max`, so a marker never moves back whatever order writes arrive in.
 *
 * MongoDB applies a `$max` atomically. FerretDB 1.x applies an update as read, compute, write, so
 * two at once can keep the lower value; this pod's writes of one marker therefore go one at a time
 * (writes of different markers go at once: one queue for all of them made every reader wait for
 * everyone's writes), and a mark reads its marker back and writes again if another pod's write
 * kept a lower one.
 */
export class ReadMarkers {
  private readonly markers: Collection<MarkerDoc>;
  /** The last write in flight on this pod of each marker (by _id), which the next write of it waits for. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(db: Db) {
    this.markers = db.collection<MarkerDoc>('read_markers');
  }

  mark(user: string, conversation: string, seq: number): Promise<number> {
    const _id = markerId(user, conversation);
    return this.serially([_id], async () => {
      const update = { $max: { seq }, $setOnInsert: { user, conversation } };
      for (let attempt = 1; ; attempt++) {
        try {
          await this.markers.updateOne({ _id }, update, { upsert: true });
          // What the marker holds now: another pod's write at the same moment may have kept a lower one.
          const now = (await this.markers.findOne({ _id }))?.seq ?? 0;
          if (now >= seq || attempt >= UPSERT_ATTEMPTS) return now;
        } catch (err: unknown) {
          // First marks of one marker at once: one inserts, the others' upserts collide with it (a
          // duplicate key, or on some servers a write conflict) and find it when tried again. A `$max`
          // tried again changes nothing that the first try did.
          if (!(err instanceof MongoServerError) || attempt >= UPSERT_ATTEMPTS) throw err;
        }
      }
    });
  }

  /** Runs `write` of the markers `ids` once this pod's earlier writes of any of them are done (see the class). */
  private serially<T>(ids: readonly string[], write: () => Promise<T>): Promise<T> {
    const before = ids.flatMap((id) => this.tails.get(id) ?? []);
    const next = before.length === 0 ? write() : Promise.all(before).then(write);
    const tail = next.catch(() => undefined);
    for (const id of ids) this.tails.set(id, tail);
    void tail.then(() => {
      for (const id of ids) if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return next;
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

  advance(list: readonly ReadMarker[]): Promise<void> {
    return this.serially([...new Set(list.map((m) => markerId(m.user, m.conversation)))], () => this.advanceNow(list));
  }

  private async advanceNow(list: readonly ReadMarker[]): Promise<void> {
    for (let i = 0; i < list.length; i += UPDATE_SLICE) {
      const ops: AnyBulkWriteOperation<MarkerDoc>[] = list.slice(i, i + UPDATE_SLICE).map((m) => ({
        updateOne: {
          filter: { _id: markerId(m.user, m.conversation) },
          update: { $max: { seq: m.seq }, $setOnInsert: { user: m.user, conversation: m.conversation } },
          upsert: true,
        },
      }));
      for (let attempt = 1; ; attempt++) {
        try {
          await this.markers.bulkWrite(ops, { ordered: false });
          break;
        } catch (err: unknown) {
          // An upsert raced another first write of the same marker (see mark): the whole slice again.
          if (!(err instanceof MongoServerError) || attempt >= UPSERT_ATTEMPTS) throw err;
        }
      }
    }
  }
}
