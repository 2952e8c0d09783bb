import { BadRequestError, ForbiddenError } from '../../shared/errors.js';
import { directPeer, isConversationId, isGroupConversation, isUserId } from '../../shared/ids.js';
import type { ConversationSummary, MessageStore } from '../adapters/store.js';
import { backend } from './send-acceptor.js';
import { readRosters } from './roster.js';
import type { Message } from '../../shared/message.js';

/** Reads of stored messages, with the membership check done here (Connect is not trusted). */
export class History {
  constructor(
    private readonly store: MessageStore,
    private readonly opts: { maxSyncLimit: number; maxConversations: number },
  ) {}

  /** Messages of `conversation` after `afterSeq`; FORBIDDEN unless `user` is a member. */
  async sync(user: string, conversation: string, afterSeq: number, limit: number): Promise<{ messages: Message[]; hasMore: boolean }> {
    if (!isUserId(user)) throw new BadRequestError('user must be a user id');
    this.checkRead(conversation, afterSeq, limit);
    // A group's former member reads up to the message that removed them, and nothing after it.
    let upTo = Number.POSITIVE_INFINITY;
    if (isGroupConversation(conversation)) {
      const roster = (await backend('store', () => readRosters(this.store, [conversation]))).get(conversation);
      const member = roster?.members.has(user) ?? false;
      const removedAt = roster?.former.get(user);
      if (!member && removedAt === undefined) throw new ForbiddenError(`user ${user} is not a member of ${conversation}`);
      if (!member) upTo = removedAt!;
    } else if (directPeer(conversation, user) === undefined) {
      throw new ForbiddenError(`user ${user} is not a member of ${conversation}`);
    }
    return this.rows(conversation, afterSeq, limit, upTo);
  }

  /** Messages of any conversation after `afterSeq`, for the server API (no member to check). */
  async read(conversation: string, afterSeq: number, limit: number): Promise<{ messages: Message[]; hasMore: boolean }> {
    this.checkRead(conversation, afterSeq, limit);
    return this.rows(conversation, afterSeq, limit, Number.POSITIVE_INFINITY);
  }

  /** A group's members, sorted; FORBIDDEN unless `user` is one of them. */
  async members(user: string, conversation: string): Promise<string[]> {
    if (!isUserId(user)) throw new BadRequestError('user must be a user id');
    const members = await this.groupMembers(conversation);
    if (!members?.includes(user)) throw new ForbiddenError(`user ${user} is not a member of ${conversation}`);
    return members;
  }

  /** A group's members, sorted, for the server API; undefined when there is no such group. */
  async groupMembers(conversation: string): Promise<string[] | undefined> {
    if (!isGroupConversation(conversation)) throw new BadRequestError('conversation must be a group id (grp:<1-64 characters of A-Z a-z 0-9 _ ->)');
    const roster = (await backend('store', () => readRosters(this.store, [conversation]))).get(conversation);
    return roster ? [...roster.members].sort() : undefined;
  }

  private checkRead(conversation: string, afterSeq: number, limit: number): void {
    if (!isConversationId(conversation)) throw new BadRequestError('conversation must be a conversation id');
    if (!Number.isSafeInteger(afterSeq) || afterSeq < 0) throw new BadRequestError('after must be an integer ≥ 0');
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > this.opts.maxSyncLimit) {
      throw new BadRequestError(`limit must be an integer 1-${this.opts.maxSyncLimit}`);
    }
  }

  private async rows(conversation: string, afterSeq: number, limit: number, upTo: number): Promise<{ messages: Message[]; hasMore: boolean }> {
    const rows = (await backend('store', () => this.store.readMessages(conversation, afterSeq, limit + 1))).filter((m) => m.seq <= upTo);
    return { messages: rows.slice(0, limit), hasMore: rows.length > limit };
  }

  /** The user's conversations with their last seq. */
  async conversations(user: string): Promise<ConversationSummary[]> {
    if (!isUserId(user)) throw new BadRequestError('user must be a user id');
    return backend('store', () => this.store.listConversations(user, this.opts.maxConversations));
  }
}
