import { createHash } from 'node:crypto';
import { BadRequestError, SwitchboardError, TooLargeError, UnavailableError } from '../../shared/errors.js';
import { directConversation, isClientId, isUnambiguousDirect, isUserId } from '../../shared/ids.js';
import type { MessageLog, SendEntry } from '../adapters/log.js';

export interface SendCommand {
  from: string;
  clientId: string;
  to: string;
  body: string;
  originInstance: string;
  originConnection: string;
}

export interface Acceptance {
  msgId: string;
  conversation: string;
  ts: number;
}

export interface SendAcceptorOptions {
  log: MessageLog;
  maxBodyBytes: number;
  now?: () => number;
  /** Called with the outcome of every send (metrics). */
  onResult?: (result: 'accepted' | 'rejected' | 'unavailable') => void;
}

/**
 * The msgId of a send, derived from (user, client id): every repeat of a send — on any Message
 * pod, at any time — names the same message, and the consumer stores it once (msgId is unique
 * in the store, and a repeat is dropped before it gets a seq). So idempotency (PROTOCOL.md §3.3)
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

  /** Accepts a send or throws a SwitchboardError (BAD_REQUEST, TOO_LARGE, UNAVAILABLE). */
  async accept(cmd: SendCommand): Promise<Acceptance> {
    try {
      validateSend(cmd, this.opts.maxBodyBytes);
      const entry: SendEntry = {
        msgId: msgIdOf(cmd.from, cmd.clientId),
        conversation: directConversation(cmd.from, cmd.to),
        from: cmd.from,
        to: cmd.to,
        body: cmd.body,
        ts: this.now(),
        clientId: cmd.clientId,
        originInstance: cmd.originInstance,
        originConnection: cmd.originConnection,
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

/** Checks a send command; throws BadRequestError / TooLargeError with a precise message. */
export function validateSend(cmd: SendCommand, maxBodyBytes: number): void {
  if (!isUserId(cmd.from)) throw new BadRequestError('from must be a user id (1-64 characters of A-Z a-z 0-9 _ . : @ -)');
  if (!isUserId(cmd.to)) throw new BadRequestError('to must be a user id (1-64 characters of A-Z a-z 0-9 _ . : @ -)');
  if (!isUnambiguousDirect(cmd.from, cmd.to)) {
    throw new BadRequestError(`the conversation id of ${cmd.from} and ${cmd.to} would be ambiguous (':' in user ids); this pair cannot message`);
  }
  if (!isClientId(cmd.clientId)) throw new BadRequestError('id must be 1-64 printable ASCII characters');
  if (typeof cmd.body !== 'string' || cmd.body.length === 0) throw new BadRequestError('body must be a non-empty string');
  const bytes = Buffer.byteLength(cmd.body, 'utf8');
  if (bytes > maxBodyBytes) throw new TooLargeError(`body is ${bytes} bytes; the limit is ${maxBodyBytes}`);
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
