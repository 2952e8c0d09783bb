import { BadRequestError, ForbiddenError } from '../../shared/errors.js';
import { directPeer, firstInvalid, isGroupConversation, isUserId } from '../../shared/ids.js';
import type { MessageStore } from '../adapters/store.js';
import type { Roster } from './roster.js';
import { backend } from './send-acceptor.js';
import { MAX_FOLLOWED_USERS } from '../../shared/limits.js';

export interface PresenceQueryOptions {
  /** The store as readers see it. */
  store: MessageStore;
  /** A group's roster (cached). */
  roster(conversation: string): Promise<Roster | undefined>;
  /** Whether a user is online now (the pod's routing: every gateway announces its users on every pod). */
  online(user: string): boolean;
  /** Most conversations of a user looked through (CONVERSATIONS_MAX). */
  maxConversations: number;
}

/**
 * Who is online, for a user who shares a conversation with each user asked about (a direct
 * conversation with messages, or a group both are members of); anyone else's presence is not theirs
 * to know (FORBIDDEN). The answer comes from the routing the pod keeps anyway, not from Redis.
 */
export class PresenceQuery {
  constructor(private readonly opts: PresenceQueryOptions) {}

  async online(user: string, users: readonly string[]): Promise<boolean[]> {
    if (!isUserId(user)) throw new BadRequestError('user must be a user id');
    if (users.length > MAX_FOLLOWED_USERS) throw new BadRequestError(`users names ${users.length} users; at most ${MAX_FOLLOWED_USERS}`);
    const bad = firstInvalid(users, isUserId);
    if (bad !== undefined) throw new BadRequestError(`users holds an invalid user id: ${JSON.stringify(bad).slice(0, 80)}`);
    const unknown = new Set(users.filter((u) => u !== user));
    if (unknown.size > 0) {
      const listed = await backend('store', () => this.opts.store.listConversations(user, this.opts.maxConversations));
      for (const c of listed) {
        const peer = directPeer(c.conversation, user);
        if (peer !== undefined) unknown.delete(peer);
      }
      const groups = unknown.size === 0 ? [] : listed.filter((c) => isGroupConversation(c.conversation));
      // The rosters at once (each from the cache, or one read), not one round trip after another.
      const rosters = await backend('store', () => Promise.all(groups.map((c) => this.opts.roster(c.conversation))));
      for (const roster of rosters) for (const u of unknown) if (roster?.members.has(u)) unknown.delete(u);
    }
    if (unknown.size > 0)
      throw new ForbiddenError(`${user} shares no conversation with ${[...unknown].slice(0, 5).join(', ')}${unknown.size > 5 ? ', …' : ''}`);
    return users.map((u) => this.opts.online(u));
  }
}
