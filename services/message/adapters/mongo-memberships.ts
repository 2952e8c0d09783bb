import type { AnyBulkWriteOperation, Collection, Db } from 'mongodb';
import { INSERT_SLICE, isDuplicateKey, onlyDuplicateKeys } from './mongo-common.js';

/** A group's roster claim: the seq its listed members (memberships) are as of, and its title then. */
interface RosterDoc {
  _id: string;
  seq: number;
  title?: string;
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

/**
 * Most statements per update command: FerretDB 1.x takes a connection of its backend pool for every
 * statement of an update command that matches an existing document, and never answers when its
 * pool runs dry (on SQLite at 100 statements in flight; on PostgreSQL at pool_max_conns). MongoDB
 * takes any size, and a few more round trips cost it little.
 */
const UPDATE_SLICE = 16;

/** Who each group is listed for (`memberships`), and the roster each group's rows are as of (`group_rosters`). */
export class GroupListings {
  private readonly memberships: Collection<MembershipDoc>;
  private readonly rosters: Collection<RosterDoc>;

  constructor(db: Db) {
    this.memberships = db.collection<MembershipDoc>('memberships');
    this.rosters = db.collection<RosterDoc>('group_rosters');
  }

  async open(): Promise<void> {
    await this.memberships.createIndex({ user: 1, member: 1 }, { name: 'user_member' }, undefined);
    await this.memberships.createIndex({ conversation: 1 }, { name: 'conversation' }, undefined);
  }

  /** The groups a user is listed for now. */
  async groupsOf(user: string): Promise<string[]> {
    return (await this.memberships.find({ user, member: true }, { projection: { conversation: 1 } }).toArray()).map((g) => g.conversation);
  }

  /**
   * True when `seq` is newer than the roster the group is listed as of (and now it is that). Its
   * own document: nothing but claims updates it (see SeqMark). Only the consumer that
   * owns the group's partition claims, one batch after another.
   */
  private async claimRoster(conversation: string, seq: number, title: string): Promise<boolean> {
    const claimOlder = async () => (await this.rosters.updateOne({ _id: conversation, seq: { $lt: seq } }, { $set: { seq, title } })).matchedCount > 0;
    if (await claimOlder()) return true;
    try {
      await this.rosters.insertOne({ _id: conversation, seq, title });
      return true;
    } catch (err: unknown) {
      if (!isDuplicateKey(err)) throw err;
      // Claimed meanwhile (a consumer before a rebalance): claim it as it is now.
      return claimOlder();
    }
  }

  /** The titles of these groups as listed (groups without one are left out). */
  async titles(conversations: readonly string[]): Promise<Map<string, string>> {
    if (conversations.length === 0) return new Map();
    const docs = await this.rosters.find({ _id: { $in: [...conversations] } }).toArray();
    return new Map(docs.filter((d) => (d.title ?? '') !== '').map((d) => [d._id, d.title!]));
  }

  /**
   * Lists a group for its members as of `seq`, with its title then: only a roster newer than the
   * one listed goes on (a late, older one is ignored).
   */
  async setMembers(conversation: string, members: readonly string[], seq: number, title = ''): Promise<void> {
    // Only a roster newer than the one listed goes on: a late, older one is ignored.
    if (!(await this.claimRoster(conversation, seq, title))) return;
    // Write only who changed. A user never listed before gets a row of their own (one insert for
    // all of them); a row that exists keeps the newest roster that wrote it: an update as of an
    // older seq matches nothing, and its upsert's duplicate key is that newer row.
    const want = new Set(members);
    const rows = new Map((await this.memberships.find({ conversation }, { projection: { user: 1, member: 1 } }).toArray()).map((r) => [r.user, r.member]));
    const fresh = [...want].filter((u) => !rows.has(u));
    const changed: Array<[string, boolean]> = [];
    for (const u of want) if (rows.get(u) === false) changed.push([u, true]);
    for (const [u, member] of rows) if (member && !want.has(u)) changed.push([u, false]);
    const row = (user: string, member: boolean): MembershipDoc => ({ _id: `${conversation}|${user}`, conversation, user, member, seq });
    for (let i = 0; i < fresh.length; i += INSERT_SLICE) {
      const slice = fresh.slice(i, i + INSERT_SLICE);
      try {
        await this.memberships.insertMany(
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
        await this.memberships.bulkWrite(ops, { ordered: false });
      } catch (err: unknown) {
        if (!onlyDuplicateKeys(err)) throw err;
      }
    }
  }

  /** How many groups each of these users is listed for (absent users: 0). */
  async groupCounts(users: readonly string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>(users.map((u) => [u, 0]));
    if (users.length === 0) return out;
    const rows = await this.memberships
      .aggregate<{ _id: string; n: number }>([{ $match: { user: { $in: [...users] }, member: true } }, { $group: { _id: '$user', n: { $sum: 1 } } }])
      .toArray();
    for (const r of rows) out.set(r._id, r.n);
    return out;
  }
}
