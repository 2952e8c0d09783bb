/** Ids of users and conversations (PROTOCOL.md §2). */

const ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,64}$/;
/** A client-chosen request or send id: 1-64 printable ASCII characters. */
const CLIENT_ID_PATTERN = /^[\x21-\x7e]{1,64}$/;
// dm:<a>:<b> of two 64-character user ids is 132 characters long.
const CONVERSATION_PATTERN = /^[A-Za-z0-9_.:@-]{1,132}$/;

export const DM_PREFIX = 'dm:';

/** True when `id` is a valid user id. */
export function isUserId(id: unknown): id is string {
  return typeof id === 'string' && ID_PATTERN.test(id);
}

/** True when `id` is a valid client-chosen id (send id, request id). */
export function isClientId(id: unknown): id is string {
  return typeof id === 'string' && CLIENT_ID_PATTERN.test(id);
}

/** True when `id` is syntactically a conversation id. */
export function isConversationId(id: unknown): id is string {
  return typeof id === 'string' && CONVERSATION_PATTERN.test(id);
}

/** The direct conversation of two users: dm:<min>:<max> in string order. */
export function directConversation(a: string, b: string): string {
  return a <= b ? `${DM_PREFIX}${a}:${b}` : `${DM_PREFIX}${b}:${a}`;
}

/**
 * The other member of a direct conversation that `user` belongs to, or undefined when the user is
 * not a member. User ids may contain ':', so membership is decided by rebuilding the id.
 */
export function directPeer(conversation: string, user: string): string | undefined {
  if (!conversation.startsWith(DM_PREFIX)) return undefined;
  const rest = conversation.slice(DM_PREFIX.length);
  if (rest.startsWith(`${user}:`)) {
    const peer = rest.slice(user.length + 1);
    if (isUserId(peer) && directConversation(user, peer) === conversation) return peer;
  }
  if (rest.endsWith(`:${user}`)) {
    const peer = rest.slice(0, rest.length - user.length - 1);
    if (isUserId(peer) && directConversation(user, peer) === conversation) return peer;
  }
  return undefined;
}
