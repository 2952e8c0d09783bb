/** Ids of users and conversations (docs/PROTOCOL.md §2). */
import { DM_PREFIX, directConversation } from './ws-protocol.js';

// Shared with the browser page and the terminal client (plain JS there).
export { DM_PREFIX, GROUP_PREFIX, directConversation } from './ws-protocol.js';

const ID_PATTERN = /^[A-Za-z0-9_.:@-]{1,64}$/;
/** A client-chosen request or send id: 1-64 printable ASCII characters. */
const CLIENT_ID_PATTERN = /^[\x21-\x7e]{1,64}$/;
// dm:<a>:<b> of two 64-character user ids is 132 characters long.
const CONVERSATION_PATTERN = /^[A-Za-z0-9_.:@-]{1,132}$/;

const GROUP_PATTERN = /^grp:[A-Za-z0-9_-]{1,64}$/;

/** True when `id` names a group conversation: grp:<1-64 characters of A-Z a-z 0-9 _ ->. (A string stays a string either way.) */
export function isGroupConversation(id: string): boolean;
export function isGroupConversation(id: unknown): id is string;
export function isGroupConversation(id: unknown): boolean {
  return typeof id === 'string' && GROUP_PATTERN.test(id);
}

/** True when `id` is a valid user id. (A string stays a string either way.) */
export function isUserId(id: string): boolean;
export function isUserId(id: unknown): id is string;
export function isUserId(id: unknown): boolean {
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

/**
 * Every (a, b) pair, a ≤ b, whose direct conversation id is `conversation`. User ids may contain
 * ':', so one id can stand for two pairs (dm:a:b:c is both (a, b:c) and (a:b, c)); such ids are
 * ambiguous and never used.
 */
export function directMembers(conversation: string): Array<[string, string]> {
  if (!conversation.startsWith(DM_PREFIX)) return [];
  const rest = conversation.slice(DM_PREFIX.length);
  const pairs: Array<[string, string]> = [];
  for (let i = rest.indexOf(':'); i !== -1; i = rest.indexOf(':', i + 1)) {
    const a = rest.slice(0, i);
    const b = rest.slice(i + 1);
    if (isUserId(a) && isUserId(b) && a <= b) pairs.push([a, b]);
  }
  return pairs;
}

/** True when the direct conversation of `a` and `b` names exactly that pair. */
export function isUnambiguousDirect(a: string, b: string): boolean {
  return directMembers(directConversation(a, b)).length === 1;
}

/** The other member of a direct conversation that `user` belongs to; undefined if not a member or ambiguous. */
export function directPeer(conversation: string, user: string): string | undefined {
  const pairs = directMembers(conversation);
  if (pairs.length !== 1) return undefined;
  const [a, b] = pairs[0]!;
  return user === a ? b : user === b ? a : undefined;
}

/** The first item of `list` that `valid` refuses (undefined when all pass). */
export function firstInvalid(list: readonly unknown[], valid: (item: unknown) => boolean): unknown {
  return list.find((item) => !valid(item));
}
