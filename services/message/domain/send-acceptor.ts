import { randomUUID } from 'node:crypto';
import { BadRequestError, SwitchboardError, TooLargeError, UnavailableError } from '../../shared/errors.js';
import { directConversation, isClientId, isUnambiguousDirect, isUserId } from '../../shared/ids.js';
import type { MessageLog, SendEntry } from '../adapters/log.js';
import type { MessageStore } from '../adapters/store.js';

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
  duplicate: boolean;
}

export interface SendAcceptorOptions {
  log: MessageLog;
  store: MessageStore;
  maxBodyBytes: number;
  idempotencyWindowMs: number;
  now?: () => number;
  newId?: () => string;
  /** Called with the outcome of every send (metrics). */
  onResult?: (result: 'accepted' | 'duplicate' | 'rejected' | 'unavailable') => void;
}

/**
 * The send path: validate, claim (from, clientId) for idempotency, append to the log. Resolves
 * only once the entry is durable in the log, so an `accepted` never precedes durability.
 */
export class SendAcceptor {
  private readonly now: () => number;
  private readonly newId: () => string;

  constructor(private readonly opts: SendAcceptorOptions) {
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? randomUUID;
  }

  /** Accepts a send or throws a SwitchboardError (BAD_REQUEST, TOO_LARGE, UNAVAILABLE). */
  async accept(cmd: SendCommand): Promise<Acceptance> {
    try {
      const a = await this.acceptOnce(cmd);
      this.opts.onResult?.(a.duplicate ? 'duplicate' : 'accepted');
      return a;
    } catch (err: unknown) {
      this.opts.onResult?.(err instanceof UnavailableError ? 'unavailable' : 'rejected');
      throw err;
    }
  }

  private async acceptOnce(cmd: SendCommand): Promise<Acceptance> {
    validateSend(cmd, this.opts.maxBodyBytes);
    const ts = this.now();
    const entry: SendEntry = {
      msgId: this.newId(),
      conversation: directConversation(cmd.from, cmd.to),
      from: cmd.from,
      to: cmd.to,
      body: cmd.body,
      ts,
      clientId: cmd.clientId,
      originInstance: cmd.originInstance,
      originConnection: cmd.originConnection,
    };
    const { claim, created } = await backend('store', () =>
      this.opts.store.claimSend({ entry, expiresAt: ts + this.opts.idempotencyWindowMs }),
    );
    const held = claim.entry;
    // A repeated send whose first attempt may not have reached the log is appended again with the
    // original content; the consumer drops the second copy by msgId.
    if (created || !(await backend('store', () => this.opts.store.hasMessage(held.msgId)))) {
      await backend('log', () => this.opts.log.append(held));
    }
    return { msgId: held.msgId, conversation: held.conversation, ts: held.ts, duplicate: !created };
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
