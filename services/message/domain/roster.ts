import type { MessageStore, StoredMessage } from '../adapters/store.js';

/** A group's membership as of a seq: its members, and its former members with the seq that ended theirs. */
export interface Roster {
  members: Set<string>;
  former: Map<string, number>;
  /** The seq of the last membership message applied (0: no such group). */
  seq: number;
}

export function emptyRoster(): Roster {
  return { members: new Set(), former: new Map(), seq: 0 };
}

/** Applies one membership message (a message without a kind changes nothing). */
export function applyChange(r: Roster, m: StoredMessage): void {
  if (m.kind === undefined) return;
  const users = m.members ?? [];
  if (m.kind === 'created' || m.kind === 'added') {
    for (const u of users) {
      r.members.add(u);
      r.former.delete(u);
    }
  } else {
    for (const u of users) {
      if (r.members.delete(u)) r.former.set(u, m.seq);
    }
  }
  r.seq = m.seq;
}

/** The rosters of groups from their membership messages (in seq order per conversation). */
export function foldRosters(changes: readonly StoredMessage[]): Map<string, Roster> {
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
