import { BadRequestError, ForbiddenError } from '../../shared/errors.js';
import { directPeer, isConversationId, isGroupConversation, isUserId } from '../../shared/ids.js';
import type { ConversationListing, MessageStore } from '../adapters/store.js';
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
    return this.rows(conversation, afterSeq, limit, await this.readableUpTo(user, conversation));
  }

  /**
   * The last seq of `conversation` that `user` may read: every one for a member (infinity), up to
   * the message that removed them for a group's former member; FORBIDDEN for anyone else.
   */
  async readableUpTo(user: string, conversation: string): Promise<number> {
    if (isGroupConversation(conversation)) {
      const roster = (await backend('store', () => readRosters(this.store, [conversation]))).get(conversation);
      if (roster?.members.has(user)) return Number.POSITIVE_INFINITY;
      const removedAt = roster?.former.get(user);
      if (removedAt === undefined) throw new ForbiddenError(`user ${user} is not a member of ${conversation}`);
      return removedAt;
    }
    if (directPeer(conversation, user) === undefined) throw new ForbiddenError(`user ${user} is not a member of ${conversation}`);
    return Number.POSITIVE_INFINITY;
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

  /** The user's conversations with their last seq, their read marker and how many messages follow it. */
  async conversations(user: string): Promise<ConversationListing[]> {
    if (!isUserId(user)) throw new BadRequestError('user must be a user id');
    return backend('store', async () => {
      const items = await this.store.listConversations(user, this.opts.maxConversations);
      const read = await this.store.readMarkers(
        user,
        items.map((c) => c.conversation),
      );
      return items.map((c) => {
        const readSeq = Math.min(read.get(c.conversation) ?? 0, c.lastSeq);
        return { ...c, readSeq, unread: c.lastSeq - readSeq };
      });
    });
  }
}
