import type { MessageStore } from '../adapters/store.js';
import { isGroupChange, type Message } from '../../shared/message.js';

/**
 * A group's membership as of a seq: its members, and its former members with the seq that ended
 * theirs. A change replaces `members` with a new set, so a set once handed out never changes.
 */
export interface Roster {
  members: ReadonlySet<string>;
  former: Map<string, number>;
  /** The seq at which each member, current or former, last joined. */
  joined: Map<string, number>;
  /** The seq of the last group change applied (0: no such group). */
  seq: number;
  /** The group's title (its created or latest titled message's body; empty: none). */
  title: string;
}

export function emptyRoster(): Roster {
  return { members: new Set(), former: new Map(), joined: new Map(), seq: 0, title: '' };
}

/**
 * Who was a member at `seq` (≤ the roster's seq), as far as the roster still knows: the members
 * who joined by then and the former ones removed after it. A user's earlier spells of membership
 * (removed and added again later) are forgotten, so they are left out: never someone who was not
 * a member.
 */
export function membersAt(r: Roster, seq: number): Set<string> {
  const out = new Set<string>();
  for (const u of r.members) if ((r.joined.get(u) ?? 0) <= seq) out.add(u);
  for (const [u, removedAt] of r.former) if (removedAt > seq && (r.joined.get(u) ?? 0) <= seq) out.add(u);
  return out;
}

/** Applies one group change (a text, an edit or a deletion changes nothing). */
export function applyChange(r: Roster, m: Message): void {
  if (!isGroupChange(m)) return;
  if (m.kind === 'created' || m.kind === 'titled') r.title = m.body;
  if (m.kind === 'titled') {
    r.seq = m.seq;
    return;
  }
  const users = m.members ?? [];
  const members = new Set(r.members);
  if (m.kind === 'created' || m.kind === 'added') {
    for (const u of users) {
      if (!members.has(u)) r.joined.set(u, m.seq);
      members.add(u);
      r.former.delete(u);
    }
  } else {
    for (const u of users) {
      if (members.delete(u)) r.former.set(u, m.seq);
    }
  }
  r.members = members;
  r.seq = m.seq;
}

/** The rosters of groups from their membership messages (in seq order per conversation). */
export function foldRosters(changes: readonly Message[]): Map<string, Roster> {
  const out = new Map<string, Roster>();
  for (const m of changes) {
    let r = out.get(m.conversation);
    if (!r) out.set(m.conversation, (r = emptyRoster()));
    applyChange(r, m);
  }
  return out;
}

/** Reads the current rosters of groups from the store (one query); absent groups are left out. */
export async function readRosters(store: Pick<MessageStore, 'membershipChanges'>, conversations: readonly string[]): Promise<Map<string, Roster>> {
  return conversations.length === 0 ? new Map() : foldRosters(await store.membershipChanges(conversations));
}

/**
 * The rosters the send path checks, read from the store at most once per `maxAgeMs` per group
 * (so a membership change is in force for sends within that long after it is stored). When the
 * store cannot answer, or does not answer within `staleAfterMs`, the last roster read is used,
 * however old: a store outage stops no group's sends, as it stops no direct message (the consumer
 * stores them when it returns), and a send never waits out the driver's server selection for a
 * group it has seen. One read per group is in flight at a time; the sends that need it share it.
 */
export class RosterCache {
  private readonly entries = new Map<string, { roster: Roster | undefined; at: number }>();
  /** The read in flight per group, and when it started (one that never answers is replaced after `abandonAfterMs`). */
  private readonly reading = new Map<string, { read: Promise<Roster | undefined>; at: number }>();

  constructor(
    private readonly store: Pick<MessageStore, 'membershipChanges'>,
    private readonly opts: { maxAgeMs: number; staleAfterMs?: number; abandonAfterMs?: number; maxEntries?: number; now?: () => number },
  ) {}

  /** Forgets a group's roster (its membership changed): the next send reads it again, and a read in flight is not kept. */
  forget(conversation: string): void {
    this.entries.delete(conversation);
    this.reading.delete(conversation);
  }

  async get(conversation: string): Promise<Roster | undefined> {
    const cached = this.entries.get(conversation);
    if (cached && this.now() - cached.at < this.opts.maxAgeMs) return cached.roster;
    const inFlight = this.reading.get(conversation);
    const read = inFlight && this.now() - inFlight.at < (this.opts.abandonAfterMs ?? 30_000) ? inFlight.read : this.read(conversation);
    if (!cached) return read;
    const stale = cached.roster;
    return new Promise<Roster | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(stale), this.opts.staleAfterMs ?? 250);
      read.then(
        (roster) => {
          clearTimeout(timer);
          resolve(roster);
        },
        () => {
          clearTimeout(timer);
          resolve(stale);
        },
      );
    });
  }

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  /** Starts the group's read; its result is kept unless the group was forgotten meanwhile. */
  private read(conversation: string): Promise<Roster | undefined> {
    const at = this.now();
    const read: Promise<Roster | undefined> = readRosters(this.store, [conversation])
      .then((rosters) => rosters.get(conversation))
      .then((roster) => {
        if (this.reading.get(conversation)?.read !== read) return roster;
        this.entries.delete(conversation);
        this.entries.set(conversation, { roster, at });
        if (this.entries.size > (this.opts.maxEntries ?? 10_000)) this.entries.delete(this.entries.keys().next().value!);
        return roster;
      })
      .finally(() => {
        if (this.reading.get(conversation)?.read === read) this.reading.delete(conversation);
      });
    this.reading.set(conversation, { read, at });
    return read;
  }
}

/**
 * The rosters the consumer routes by, kept per partition like the sequencer's seqs: read from the
 * store once (for the groups of a batch it has not seen) and then kept, with the batches' changes
 * applied, for as long as this consumer owns the partition without a break. A partition that was
 * away (a rebalance, a consumer restart) may have been written by another member meanwhile: its
 * groups' rosters are kept aside and used again only when the hot store's last seq of the group is
 * the last one this consumer handled (nobody wrote the group since), else read again — so a store
 * that is down holds up no group this consumer knew.
 */
export class ConsumerRosters {
  private readonly cached = new Map<string, { roster: Roster; partition: number; lastSeq: number; stale: boolean }>();
  private owned = new Set<number>();

  constructor(
    private readonly read: (conversations: readonly string[]) => Promise<Map<string, Roster>>,
    /** The last seq recorded of each group by anyone (the hot store), to tell a kept roster still current. */
    private readonly lastRecorded?: (conversations: readonly string[]) => Promise<Map<string, number>>,
  ) {}

  /** The live rosters of these groups (absent groups get an empty one, which their created message fills). */
  async get(conversations: readonly string[], partition: number): Promise<Map<string, Roster>> {
    const stale = conversations.filter((c) => this.cached.get(c)?.stale);
    if (stale.length > 0) {
      const recorded = this.lastRecorded ? await this.lastRecorded(stale).catch(() => new Map<string, number>()) : new Map<string, number>();
      for (const c of stale) {
        const entry = this.cached.get(c)!;
        if (entry.lastSeq > 0 && recorded.get(c) === entry.lastSeq) {
          entry.stale = false;
          entry.partition = partition;
        } else this.cached.delete(c);
      }
    }
    const misses = conversations.filter((c) => !this.cached.has(c));
    const fetched = misses.length > 0 ? await this.read(misses) : new Map<string, Roster>();
    const out = new Map<string, Roster>();
    for (const c of conversations) {
      let entry = this.cached.get(c);
      if (!entry) this.cached.set(c, (entry = { roster: fetched.get(c) ?? emptyRoster(), partition, lastSeq: 0, stale: false }));
      out.set(c, entry.roster);
    }
    return out;
  }

  /** A message of the group at `seq` was handled here (its roster is current as of it). */
  seen(conversation: string, seq: number): void {
    const entry = this.cached.get(conversation);
    if (entry && seq > entry.lastSeq) entry.lastSeq = seq;
  }

  /** Keeps the groups of partitions owned before and now; those of the others are kept aside (see get). */
  assigned(partitions: readonly number[]): void {
    const kept = new Set(partitions.filter((p) => this.owned.has(p)));
    for (const [c, entry] of this.cached) {
      if (kept.has(entry.partition)) continue;
      if (this.lastRecorded) entry.stale = true;
      else this.cached.delete(c);
    }
    this.owned = new Set(partitions);
  }
}
