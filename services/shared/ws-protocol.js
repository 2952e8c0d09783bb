// @ts-check
/**
 * Constants of the public WebSocket protocol (PROTOCOL.md §2) that the gateway, the terminal
 * client and the browser page share. Plain ES module so the page can load it without a build.
 */

/** The WebSocket sub-protocol a client must offer. */
export const SUBPROTOCOL = 'switchboard.v1';
