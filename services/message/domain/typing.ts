import { BadRequestError, ForbiddenError } from '../../shared/errors.js';
import { directPeer, isConversationId, isGroupConversation, isUserId } from '../../shared/ids.js';
import type { Typing } from '../../shared/message.js';
import type { Roster } from './roster.js';
import { backend } from './send-acceptor.js';

export interface TypingRelayOptions {
  /** A group's roster (cached: typing must not read the store for every keystroke burst). */
  roster(conversation: string): Promise<Roster | undefined>;
  /** How long an indicator lasts unless renewed (TYPING_TTL). */
  ttlMs: number;
  /** Pushes it to the gateways holding `users`. */
  route(typing: Typing, users: ReadonlySet<string>): void;
}

/**
 * Typing indicators: relayed at once to the conversation's other members who are online, through
 * the pod's own routing; never in the log, never stored. A member only (FORBIDDEN otherwise).
 */
export class TypingRelay {
  constructor(private readonly opts: TypingRelayOptions) {}

  async typing(user: string, conversation: string): Promise<void> {
    if (!isUserId(user)) throw new BadRequestError('user must be a user id');
    if (!isConversationId(conversation)) throw new BadRequestError('conversation must be a conversation id');
    let others: Set<string>;
    if (isGroupConversation(conversation)) {
      const roster = await backend('store', () => this.opts.roster(conversation));
      if (!roster?.members.has(user)) throw new ForbiddenError(`user ${user} is not a member of ${conversation}`);
      others = new Set(roster.members);
      others.delete(user);
    } else {
      const peer = directPeer(conversation, user);
      if (peer === undefined) throw new ForbiddenError(`user ${user} is not a member of ${conversation}`);
      others = new Set(peer === user ? [] : [peer]);
    }
    if (others.size > 0) this.opts.route({ conversation, user, ttlMs: this.opts.ttlMs }, others);
  }
}
