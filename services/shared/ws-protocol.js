// @ts-check
/**
 * Constants of the public WebSocket protocol (docs/PROTOCOL.md §2–§3) that the gateway, the terminal
 * client and the browser page share. Plain ES module so the page can load it without a build.
 */

/** The WebSocket sub-protocol a client must offer. */
export const SUBPROTOCOL = 'switchboard.v1';

/** Close code: the application disconnected the user (the server API's Disconnect); the client reconnects with backoff (docs/PROTOCOL.md §4). */
export const CLOSE_DISCONNECTED = 4000;
/** Close code: the application disconnected the user for good (a ban); the client does not reconnect by itself. */
export const CLOSE_DISCONNECTED_FINAL = 4403;

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
