/**
 * The Switchboard client SDK (`switchboard/client`): a chat connection to a gateway that stays
 * open, catches up after every reconnect and reports each message once, in seq order. ESM, for
 * browsers and Node; the terminal client and the chat page are built on it.
 * @module
 */
export { connect, standardSocket, randomId, type ConnectOptions, type WebSocketConstructor, type WebSocketLike } from './connect.js';
export { ChatClient, CLIENT_RECONNECT, type ChatClientOptions, type ClientSocket, type ReconnectPolicyLike, type SocketHandlers } from './chat-client.js';
export {
  DISCONNECTED_FINAL,
  DM_PREFIX,
  GROUP_PREFIX,
  SUBPROTOCOL,
  describeMembership,
  directConversation,
  type ChatEvent,
  type ChatMessage,
  type ConversationItem,
  type Frame,
  type GroupAction,
  type MembershipKind,
  type MessageKind,
} from './protocol.js';
export type { BackoffOptions } from '../../shared/backoff.js';
