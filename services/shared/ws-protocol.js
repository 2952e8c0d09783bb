// @ts-check
/**
 * Constants of the public WebSocket protocol (docs/PROTOCOL.md §2–§3) that the gateway, the terminal
 * client and the browser page share. Plain ES module so the page can load it without a build.
 */

/** The WebSocket sub-protocol a client must offer. */
export const SUBPROTOCOL = 'switchboard.v1';

/** Conversation id prefixes (docs/PROTOCOL.md §2). */
export const DM_PREFIX = 'dm:';
export const GROUP_PREFIX = 'grp:';

/**
 * The direct conversation of two users: dm:<min>:<max> in string order.
 * @param {string} a @param {string} b @returns {string}
 */
export function directConversation(a, b) {
  return a <= b ? `${DM_PREFIX}${a}:${b}` : `${DM_PREFIX}${b}:${a}`;
}
