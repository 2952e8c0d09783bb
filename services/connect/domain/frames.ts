import { BadRequestError, TooLargeError, type ErrorCode } from '../../shared/errors.js';
import { isClientId, isConversationId, isGroupConversation, isUserId } from '../../shared/ids.js';
import { MAX_MEMBERS_PER_CHANGE, MAX_FOLLOWED_USERS, MAX_TITLE_LENGTH } from '../../shared/limits.js';
import { kindFields, type EditKind, type Message, type MembershipKind } from '../../shared/message.js';

/** A group change a client asks for (its message carries the same `kind`): membership, or a new title. */
export type GroupChange =
  | { kind: 'created'; title: string }
  | { kind: Exclude<MembershipKind, 'created'>; conversation: string }
  | { kind: 'titled'; conversation: string; title: string };

/** Frames a client may send (docs/PROTOCOL.md §3). Unknown extra fields are ignored. */
export type ClientFrame =
  | { type: 'send'; id: string; to: string; body: string }
  | { type: 'send'; id: string; conversation: string; body: string }
  | { type: 'sync'; id: string; conversation: string; after: number; limit: number }
  | { type: 'conversations'; id: string }
  | { type: 'ping'; id?: string }
  | { type: 'group'; id: string; change: GroupChange; members: string[] }
  /** An edit (`edited`: `body` is the new text) or a deletion of the sender's message at `seq`. */
  | { type: 'change'; id: string; kind: EditKind; conversation: string; seq: number; body: string }
  | { type: 'group.members'; id: string; conversation: string }
  | { type: 'read'; id: string; conversation: string; seq: number }
  | { type: 'typing'; id?: string; conversation: string }
  | { type: 'presence'; id: string; users: string[] };

/** One conversation in a `conversations` answer: its last seq, the user's read marker, the messages after it, a group's title. */
export interface ConversationItem {
  conversation: string;
  lastSeq: number;
  readSeq: number;
  unread: number;
  title?: string;
}

/** A message as pushed to clients (a `message` frame) and returned by sync: the sender's id for the send is its `id`. */
export type MessageFrame = Omit<Message, 'clientId'> & { id: string };

/** The codec of a message to the wire (the one place `clientId` becomes the frame's `id`). */
export function toMessageFrame(m: Message): MessageFrame {
  return { msgId: m.msgId, conversation: m.conversation, seq: m.seq, from: m.from, to: m.to, body: m.body, ts: m.ts, id: m.clientId, ...kindFields(m) };
}

/** Frames the server sends. */
export type ServerFrame =
  | { type: 'welcome'; user: string; connection: string; instance: string; heartbeatMs: number }
  | { type: 'accepted'; id: string; msgId: string; conversation: string; ts: number }
  | ({ type: 'message' } & MessageFrame)
  | { type: 'messages'; id: string; conversation: string; messages: MessageFrame[]; hasMore: boolean }
  | { type: 'conversations'; id: string; items: ConversationItem[] }
  /** The answer to `presence` (with its id: each user's state), or a followed user's change (pushed). */
  | { type: 'presence'; id: string; users: Array<{ user: string; online: boolean }> }
  | { type: 'presence'; user: string; online: boolean }
  /** Someone else typing in a conversation, shown for `ttlMs` unless renewed or ended by their message. */
  | { type: 'typing'; conversation: string; user: string; ttlMs: number }
  /** The answer to `read` (with its id), or a marker pushed: the user's other connection read, or a direct peer's receipt. */
  | { type: 'read'; id?: string; conversation: string; user: string; seq: number }
  | { type: 'members'; id: string; conversation: string; members: string[] }
  | { type: 'resync' }
  | { type: 'error'; id?: string; code: ErrorCode; message: string }
  | { type: 'pong'; id?: string };

export interface FrameLimits {
  maxBodyBytes: number;
  syncDefaultLimit: number;
  syncMaxLimit: number;
}

/** A frame that could not be accepted, with the request id when one could be read. */
export class FrameError extends Error {
  constructor(
    readonly error: BadRequestError | TooLargeError,
    readonly id: string | undefined,
  ) {
    super(error.message);
    this.name = 'FrameError';
  }
}

const GROUP_RULE = '"conversation" must be a group id (grp:<1-64 characters of A-Z a-z 0-9 _ ->)';

// Helpers of parseClientFrame at module level, not closures made for every frame a client sends.

/** Refuses the frame (BAD_REQUEST), naming its id when it has a valid one. */
function bad(message: string, id: string | undefined): never {
  throw new FrameError(new BadRequestError(message), id);
}

function requireId(id: string | undefined): string {
  return id !== undefined ? id : bad('"id" must be 1-64 printable ASCII characters', id);
}

function memberList(v: unknown, optional: boolean, id: string | undefined): string[] {
  if (v === undefined && optional) return [];
  if (!Array.isArray(v) || (v.length === 0 && !optional)) bad('"members" must be a non-empty array of user ids', id);
  const list = v as unknown[];
  if (list.length > MAX_MEMBERS_PER_CHANGE) bad(`"members" names ${list.length} users; at most ${MAX_MEMBERS_PER_CHANGE} per frame`, id);
  if (!list.every(isUserId)) bad('"members" must hold user ids (1-64 characters of A-Z a-z 0-9 _ . : @ -)', id);
  return list;
}

type FrameParser = (f: Record<string, unknown>, id: string | undefined, limits: FrameLimits) => ClientFrame;

/** A group's title: a string of at most MAX_TITLE_LENGTH characters once trimmed (the Message pod trims it and refuses control characters). */
function title(v: unknown, optional: boolean, id: string | undefined): string {
  if (v === undefined && optional) return '';
  if (typeof v !== 'string' || (!optional && v.trim().length === 0)) bad(`"title" must be a non-empty string`, id);
  const length = v.trim().length;
  if (length > MAX_TITLE_LENGTH) bad(`"title" is ${length} characters; the limit is ${MAX_TITLE_LENGTH}`, id);
  return v;
}

/** Refuses a message body over the byte limit (TOO_LARGE, naming the request). */
function withinBodyLimit(body: string, id: string, limits: FrameLimits): string {
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > limits.maxBodyBytes) throw new FrameError(new TooLargeError(`"body" is ${bytes} bytes; the limit is ${limits.maxBodyBytes}`), id);
  return body;
}

/** An edit or a deletion of a message of the conversation, named by its seq. */
const messageChange =
  (kind: EditKind): FrameParser =>
  (f, id, limits) => {
    const changeId = requireId(id);
    if (!isConversationId(f.conversation)) bad('"conversation" must be a conversation id', id);
    if (typeof f.seq !== 'number' || !Number.isSafeInteger(f.seq) || f.seq < 1) bad('"seq" must be an integer ≥ 1: the message to change', id);
    let body = '';
    if (kind === 'edited') {
      if (typeof f.body !== 'string' || f.body.length === 0) bad('"body" must be a non-empty string: the new text', id);
      body = withinBodyLimit(f.body, changeId, limits);
    }
    return { type: 'change', id: changeId, kind, conversation: f.conversation, seq: f.seq, body };
  };

/** A group change frame: add, remove or leave one group. */
const groupChange =
  (kind: Exclude<MembershipKind, 'created'>): FrameParser =>
  (f, id) => {
    const groupId = requireId(id);
    if (!isGroupConversation(f.conversation)) bad(GROUP_RULE, id);
    return { type: 'group', id: groupId, change: { kind, conversation: f.conversation }, members: kind === 'left' ? [] : memberList(f.members, false, id) };
  };

/**
 * Every frame type a client may send (its wire `type`) and how it is read: the only way a type is
 * accepted, so its keys are the list the AsyncAPI document must cover (a test checks it).
 */
const CLIENT_FRAMES = {
  send: (f, id, limits) => {
    const sendId = requireId(id);
    const toGroup = f.to === undefined && f.conversation !== undefined;
    if (toGroup && !isGroupConversation(f.conversation)) bad(GROUP_RULE, id);
    if (!toGroup && !isUserId(f.to)) bad('"to" must be a user id (1-64 characters of A-Z a-z 0-9 _ . : @ -), or "conversation" a group id instead', id);
    if (typeof f.body !== 'string') bad('"body" must be a string', id);
    if (f.body.length === 0) bad('"body" must not be empty', id);
    const body = withinBodyLimit(f.body, sendId, limits);
    return toGroup ? { type: 'send', id: sendId, conversation: f.conversation as string, body } : { type: 'send', id: sendId, to: f.to as string, body };
  },
  'group.create': (f, id) => ({
    type: 'group',
    id: requireId(id),
    change: { kind: 'created', title: title(f.title, true, id) },
    members: memberList(f.members, true, id),
  }),
  'group.add': groupChange('added'),
  'group.remove': groupChange('removed'),
  'group.leave': groupChange('left'),
  'group.title': (f, id) => {
    const titleId = requireId(id);
    if (!isGroupConversation(f.conversation)) bad(GROUP_RULE, id);
    return { type: 'group', id: titleId, change: { kind: 'titled', conversation: f.conversation, title: title(f.title, false, id) }, members: [] };
  },
  edit: messageChange('edited'),
  delete: messageChange('deleted'),
  'group.members': (f, id) => {
    const membersId = requireId(id);
    if (!isGroupConversation(f.conversation)) bad(GROUP_RULE, id);
    return { type: 'group.members', id: membersId, conversation: f.conversation };
  },
  sync: (f, id, limits) => {
    const syncId = requireId(id);
    if (!isConversationId(f.conversation)) bad('"conversation" must be a conversation id', id);
    const after = f.after ?? 0;
    if (typeof after !== 'number' || !Number.isSafeInteger(after) || after < 0) bad('"after" must be an integer ≥ 0', id);
    const limit = f.limit ?? limits.syncDefaultLimit;
    if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > limits.syncMaxLimit) {
      bad(`"limit" must be an integer 1-${limits.syncMaxLimit}`, id);
    }
    return { type: 'sync', id: syncId, conversation: f.conversation, after: after, limit: limit };
  },
  conversations: (_f, id) => ({ type: 'conversations', id: requireId(id) }),
  read: (f, id) => {
    const readId = requireId(id);
    if (!isConversationId(f.conversation)) bad('"conversation" must be a conversation id', id);
    if (typeof f.seq !== 'number' || !Number.isSafeInteger(f.seq) || f.seq < 1) bad('"seq" must be an integer ≥ 1', id);
    return { type: 'read', id: readId, conversation: f.conversation, seq: f.seq };
  },
  typing: (f, id) => {
    if (f.id !== undefined && id === undefined) bad('"id" must be 1-64 printable ASCII characters', id);
    if (!isConversationId(f.conversation)) bad('"conversation" must be a conversation id', id);
    return id === undefined ? { type: 'typing', conversation: f.conversation } : { type: 'typing', id, conversation: f.conversation };
  },
  presence: (f, id) => {
    const presenceId = requireId(id);
    if (!Array.isArray(f.users) || f.users.length > MAX_FOLLOWED_USERS || !f.users.every(isUserId))
      bad(`"users" must be an array of at most ${MAX_FOLLOWED_USERS} user ids (empty: follow no one)`, id);
    return { type: 'presence', id: presenceId, users: [...new Set(f.users)] };
  },
  ping: (f, id) => {
    if (f.id !== undefined && id === undefined) bad('"id" must be 1-64 printable ASCII characters', id);
    return id === undefined ? { type: 'ping' } : { type: 'ping', id };
  },
} satisfies Record<string, FrameParser>;

export type ClientFrameType = keyof typeof CLIENT_FRAMES;

/** The wire types of every frame a client may send. */
export const CLIENT_FRAME_TYPES: readonly ClientFrameType[] = Object.freeze(Object.keys(CLIENT_FRAMES) as ClientFrameType[]);

/**
 * The request id of a text frame that is not handled (refused by the frame rate), so that its
 * refusal names it and the client resends that request; undefined when it has no readable one.
 */
export function requestIdOf(text: string): string | undefined {
  try {
    const f: unknown = JSON.parse(text);
    const id = typeof f === 'object' && f !== null ? (f as Record<string, unknown>).id : undefined;
    return isClientId(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

/** Parses and validates one text frame; throws FrameError with a precise message. */
export function parseClientFrame(text: string, limits: FrameLimits): ClientFrame {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new FrameError(new BadRequestError('frame is not valid JSON'), undefined);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new FrameError(new BadRequestError('frame must be a JSON object'), undefined);
  }
  const f = raw as Record<string, unknown>;
  const id = isClientId(f.id) ? f.id : undefined;
  if (typeof f.type !== 'string') bad('frame needs a string "type"', id);

  const parse = Object.hasOwn(CLIENT_FRAMES, f.type) ? CLIENT_FRAMES[f.type as ClientFrameType] : undefined;
  if (!parse) return bad(`unknown frame type "${f.type.slice(0, 40)}"`, id);
  return parse(f, id, limits);
}
