import { createHash } from 'node:crypto';
import { BadRequestError, ForbiddenError, SwitchboardError, TooLargeError, UnavailableError } from '../../shared/errors.js';
import {
  GROUP_PREFIX,
  directConversation,
  directPeer,
  firstInvalid,
  isClientId,
  isConversationId,
  isGroupConversation,
  isUnambiguousDirect,
  isUserId,
} from '../../shared/ids.js';
import type { MessageLog } from '../adapters/log.js';
import type { Roster } from './roster.js';
import { MAX_MEMBERS_PER_CHANGE, MAX_TITLE_LENGTH } from '../../shared/limits.js';
import { isEdit, type Acceptance, type AcceptedSend, type Message, type SendCommand } from '../../shared/message.js';

export interface SendAcceptorOptions {
  log: MessageLog;
  maxBodyBytes: number;
  /** Most members a group may have. */
  maxGroupMembers: number;
  /** Most groups a user may be in (checked against the groups they are listed for). */
  maxGroupsPerUser: number;
  /** How many groups each user is listed for now. */
  groupCounts: (users: readonly string[]) => Promise<Map<string, number>>;
  /** A group's roster as stored now (undefined: no such group). */
  roster: (conversation: string) => Promise<Roster | undefined>;
  /** The message at `seq` of a conversation, pushed or stored (undefined: none yet). */
  message: (conversation: string, seq: number) => Promise<Message | undefined>;
  /** How long after its send a message may still be edited or deleted, ms (EDIT_WINDOW). */
  editWindowMs: number;
  /**
   * The system account (SYSTEM_USER): the server API's sender when it names none. It posts into a
   * group and changes its members without being one (a group it creates does not list it), and
   * takes no messages.
   */
  systemUser?: string;
  now?: () => number;
  /** Called with the outcome of every send (metrics). */
  onResult?: (result: 'accepted' | 'rejected' | 'unavailable') => void;
}

/**
 * The msgId of a send, derived from (user, client id): every repeat of a send — on any Message
 * pod, at any time — names the same message, and the consumer stores it once (msgId is unique
 * in the store, and a repeat is dropped before it gets a seq). So idempotency (docs/PROTOCOL.md §5.3)
 * costs the send path no database round trip.
 */
export function msgIdOf(from: string, clientId: string): string {
  // Length-prefixed, so no (user, id) pair can spell another pair's input.
  return createHash('sha256').update(`${from.length}:${from}`).update(clientId).digest('base64url').slice(0, 24);
}

/**
 * The send path: validate, append to the log with the send's derived msgId. Resolves only once
 * the entry is durable in the log, so an `accepted` never precedes durability.
 */
export class SendAcceptor {
  private readonly now: () => number;

  constructor(private readonly opts: SendAcceptorOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Refuses users who are in as many groups as a user may be. */
  private async checkGroupsPerUser(joining: readonly string[]): Promise<void> {
    if (joining.length === 0) return;
    const counts = await backend('store', () => this.opts.groupCounts(joining));
    const full = joining.find((u) => (counts.get(u) ?? 0) >= this.opts.maxGroupsPerUser);
    if (full !== undefined) throw new BadRequestError(`${full} is in ${counts.get(full)} groups; the limit is ${this.opts.maxGroupsPerUser}`);
  }

  /**
   * A group send or membership change, checked against the group's roster as stored now: only
   * members send, add, remove or leave; a group never grows past maxGroupMembers. A change takes
   * effect when its message is stored (the members then get it pushed).
   */
  private async groupTarget(cmd: SendCommand, msgId: string): Promise<Target> {
    validateSender(cmd);
    const max = this.opts.maxGroupMembers;
    const system = cmd.from === this.opts.systemUser;
    if (cmd.kind === 'created') {
      const named = validMembers(cmd.members, true).filter((u) => u !== cmd.from);
      if (system && named.length === 0)
        throw new BadRequestError('members must name at least one user: the system account is not a member of the groups it creates');
      const members = system ? named : [cmd.from, ...named];
      if (members.length > max) throw new BadRequestError(`a group of ${members.length} members is over the limit of ${max}`);
      await this.checkGroupsPerUser(members);
      // The group's id derives from the creating send's msgId: a repeated create names the same group.
      const conversation = `${GROUP_PREFIX}${msgId}`;
      return { conversation, to: conversation, body: validTitle(cmd.body, true), kind: 'created', members };
    }
    const conversation = cmd.conversation ?? '';
    if (!isGroupConversation(conversation)) throw new BadRequestError('conversation must be a group id (grp:<1-64 characters of A-Z a-z 0-9 _ ->)');
    const roster = await backend('store', () => this.opts.roster(conversation));
    if (!roster || (!system && !roster.members.has(cmd.from))) throw new ForbiddenError(`${cmd.from} is not a member of ${conversation}`);
    if (system && cmd.kind === 'left') throw new BadRequestError('the system account is not a member: it cannot leave');
    switch (cmd.kind) {
      case undefined:
        validateBody(cmd.body, this.opts.maxBodyBytes);
        return { conversation, to: conversation, body: cmd.body };
      case 'added': {
        const members = validMembers(cmd.members, false);
        const size = new Set([...roster.members, ...members]).size;
        if (size > max) throw new BadRequestError(`the group would have ${size} members; the limit is ${max}`);
        await this.checkGroupsPerUser(members.filter((u) => !roster.members.has(u)));
        return { conversation, to: conversation, body: '', kind: 'added', members };
      }
      case 'removed':
        return { conversation, to: conversation, body: '', kind: 'removed', members: validMembers(cmd.members, false) };
      case 'left':
        return { conversation, to: conversation, body: '', kind: 'left', members: [cmd.from] };
      case 'titled':
        return { conversation, to: conversation, body: validTitle(cmd.body, false), kind: 'titled', members: [] };
      default:
        throw new BadRequestError(`unknown membership change ${JSON.stringify(cmd.kind)}`);
    }
  }

  /**
   * An edit or a deletion of the sender's own text at seq `ref` of a conversation they are in,
   * within editWindowMs of its send. It is a message of the conversation after the one it changes
   * (so `sync` returns both in order, and everyone it reaches is told in seq order).
   */
  private async editTarget(cmd: SendCommand): Promise<Target> {
    validateSender(cmd);
    const conversation = cmd.conversation ?? '';
    if (!isConversationId(conversation)) throw new BadRequestError('conversation must be a conversation id (dm:… or grp:…)');
    const ref = cmd.ref;
    if (ref === undefined || !Number.isSafeInteger(ref) || ref < 1) throw new BadRequestError('seq must be an integer ≥ 1: the message to change');
    let to: string;
    if (isGroupConversation(conversation)) {
      const roster = await backend('store', () => this.opts.roster(conversation));
      if (!roster?.members.has(cmd.from)) throw new ForbiddenError(`${cmd.from} is not a member of ${conversation}`);
      to = conversation;
    } else {
      const peer = directPeer(conversation, cmd.from);
      if (peer === undefined) throw new ForbiddenError(`${cmd.from} is not a member of ${conversation}`);
      to = peer;
    }
    const target = await backend('store', () => this.opts.message(conversation, ref));
    if (!target) throw new BadRequestError(`${conversation} has no message at seq ${ref}`);
    if (target.kind !== undefined) throw new BadRequestError(`the message at seq ${ref} is not a text (kind ${target.kind}): only a text is edited or deleted`);
    if (target.from !== cmd.from) throw new ForbiddenError(`the message at seq ${ref} is ${target.from}'s: only its sender edits or deletes it`);
    const age = this.now() - target.ts;
    if (age > this.opts.editWindowMs)
      throw new BadRequestError(
        `the message at seq ${ref} was sent ${Math.round(age / 1000)} s ago; it may be changed for ${Math.round(this.opts.editWindowMs / 1000)} s (EDIT_WINDOW)`,
      );
    if (cmd.kind === 'edited') validateBody(cmd.body, this.opts.maxBodyBytes);
    return { conversation, to, body: cmd.kind === 'edited' ? cmd.body : '', kind: cmd.kind, members: [], ref };
  }

  /** Accepts a send or throws a SwitchboardError (BAD_REQUEST, TOO_LARGE, UNAVAILABLE). */
  async accept(cmd: SendCommand): Promise<Acceptance> {
    try {
      const msgId = msgIdOf(cmd.from, cmd.clientId);
      const target = isEdit(cmd)
        ? await this.editTarget(cmd)
        : cmd.kind !== undefined || cmd.conversation
          ? await this.groupTarget(cmd, msgId)
          : directTarget(cmd, this.opts.maxBodyBytes);
      if (target.to === this.opts.systemUser && cmd.from !== this.opts.systemUser)
        throw new ForbiddenError(`${target.to} is the system account (SYSTEM_USER): it takes no messages`);
      const entry: AcceptedSend = {
        msgId,
        ...target,
        from: cmd.from,
        ts: this.now(),
        clientId: cmd.clientId,
        origin: cmd.origin,
      };
      await backend('log', () => this.opts.log.append(entry));
      this.opts.onResult?.('accepted');
      return { msgId: entry.msgId, conversation: entry.conversation, ts: entry.ts };
    } catch (err: unknown) {
      this.opts.onResult?.(err instanceof UnavailableError ? 'unavailable' : 'rejected');
      throw err;
    }
  }
}

/** Where an entry goes and what it carries. */
type Target = Pick<AcceptedSend, 'conversation' | 'to' | 'body' | 'kind' | 'members' | 'ref'>;

const USER_ID_RULE = '1-64 characters of A-Z a-z 0-9 _ . : @ -';

/** A direct message: validated, in the conversation of its two users. */
function directTarget(cmd: SendCommand, maxBodyBytes: number): Target {
  validateSend(cmd, maxBodyBytes);
  return { conversation: directConversation(cmd.from, cmd.to), to: cmd.to, body: cmd.body };
}

/** Checks a send command; throws BadRequestError / TooLargeError with a precise message. */
export function validateSend(cmd: SendCommand, maxBodyBytes: number): void {
  validateSender(cmd);
  if (!isUserId(cmd.to)) throw new BadRequestError(`to must be a user id (${USER_ID_RULE})`);
  if (!isUnambiguousDirect(cmd.from, cmd.to)) {
    throw new BadRequestError(`the conversation id of ${cmd.from} and ${cmd.to} would be ambiguous (':' in user ids); this pair cannot message`);
  }
  validateBody(cmd.body, maxBodyBytes);
}

function validateSender(cmd: SendCommand): void {
  if (!isUserId(cmd.from)) throw new BadRequestError(`from must be a user id (${USER_ID_RULE})`);
  if (!isClientId(cmd.clientId)) throw new BadRequestError('id must be 1-64 printable ASCII characters');
}

function validateBody(body: unknown, maxBodyBytes: number): void {
  if (typeof body !== 'string' || body.length === 0) throw new BadRequestError('body must be a non-empty string');
  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > maxBodyBytes) throw new TooLargeError(`body is ${bytes} bytes; the limit is ${maxBodyBytes}`);
}

/** A group's title: at most MAX_TITLE_LENGTH characters, no control character; empty only where `optional` (no title). */
function validTitle(title: unknown, optional: boolean): string {
  if (typeof title !== 'string') throw new BadRequestError('title must be a string');
  const t = title.trim();
  if (t.length === 0 && !optional) throw new BadRequestError('title must not be empty');
  if (t.length > MAX_TITLE_LENGTH) throw new BadRequestError(`title is ${t.length} characters; the limit is ${MAX_TITLE_LENGTH}`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(t)) throw new BadRequestError('title must not hold control characters (line breaks included)');
  return t;
}

/** The users a membership change names: 1 to MAX_MEMBERS_PER_CHANGE valid, distinct user ids. */
function validMembers(members: readonly string[] | undefined, allowEmpty: boolean): string[] {
  const list = [...new Set(members ?? [])];
  if (list.length === 0 && !allowEmpty) throw new BadRequestError('members must name at least one user');
  if (list.length > MAX_MEMBERS_PER_CHANGE) throw new BadRequestError(`members names ${list.length} users; at most ${MAX_MEMBERS_PER_CHANGE} per change`);
  const bad = firstInvalid(list, isUserId);
  if (bad !== undefined) throw new BadRequestError(`members holds an invalid user id (${USER_ID_RULE}): ${JSON.stringify(bad).slice(0, 80)}`);
  return list;
}

/** Runs a backend call; anything but a SwitchboardError becomes UNAVAILABLE naming the backend. */
export async function backend<T>(name: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err: unknown) {
    if (err instanceof SwitchboardError) throw err;
    throw new UnavailableError(`${name} unavailable: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
