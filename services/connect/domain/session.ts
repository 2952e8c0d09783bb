import type { Logger } from '../../shared/logger.js';
import { SwitchboardError, type ErrorCode } from '../../shared/errors.js';
import { directConversation } from '../../shared/ids.js';
import {
  FrameError,
  parseClientFrame,
  requestIdOf,
  toMessageFrame,
  type ClientFrame,
  type ConversationItem,
  type FrameLimits,
  type ServerFrame,
} from './frames.js';
import type { Acceptance, Message, Origin, SendCommand } from '../../shared/message.js';
import { TokenBucket } from './token-bucket.js';
import { CLOSE_DISCONNECTED, CLOSE_DISCONNECTED_FINAL } from '../../shared/ws-protocol.js';

/** WebSocket close codes used by the gateway (docs/PROTOCOL.md §4). */
export const CloseCode = {
  GOING_AWAY: 1001,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  TRY_LATER: 1013,
  /** The application disconnected the user (server API); the client reconnects with backoff. */
  DISCONNECTED: CLOSE_DISCONNECTED,
  /** The application disconnected the user for good (server API, a ban); the client does not reconnect by itself. */
  DISCONNECTED_FINAL: CLOSE_DISCONNECTED_FINAL,
} as const;

/** Conversations a session remembers typing in (its relay interval); past it they are forgotten at once. */
const MAX_TYPING_CONVERSATIONS = 100;

/** The part of a WebSocket a session needs. */
export interface ClientSocket {
  send(text: string): void;
  readonly bufferedAmount: number;
  close(code: number, reason: string): void;
}

/** The Message tier as sessions see it (calls go to any Message pod with an up stream). */
export interface MessageApi {
  /**
   * A text to a user (`to`) or a group (`conversation`), or a group membership change (`kind`,
   * naming `members`; created: a new group).
   */
  send(cmd: SendCommand): Promise<Acceptance>;
  members(user: string, conversation: string): Promise<string[]>;
  sync(user: string, conversation: string, after: number, limit: number): Promise<{ messages: Message[]; hasMore: boolean }>;
  conversations(user: string): Promise<ConversationItem[]>;
  /** Tells the conversation's other members online that the user is typing. */
  typing(user: string, conversation: string, origin: Origin): Promise<void>;
  /** Whether each of `users` is online; FORBIDDEN unless the user shares a conversation with each. */
  presence(user: string, users: readonly string[]): Promise<boolean[]>;
  /** Moves the user's read marker of a conversation up to `seq`; the marker after. */
  markRead(user: string, conversation: string, seq: number, origin: Origin): Promise<number>;
}

export interface SessionLimits extends FrameLimits {
  ratePerSecond: number;
  rateBurst: number;
  /** A conversation's `typing` frames are relayed at most once per this interval. */
  typingIntervalMs: number;
  maxBufferedBytes: number;
  maxViolations: number;
}

export interface SessionDeps {
  api: MessageApi;
  /** This gateway's instance id (a send's origin, with the connection). */
  instance: string;
  limits: SessionLimits;
  logger: Logger;
  now?: () => number;
  /** A send was accepted; `seconds` from its call to Message to the answer. */
  onAccepted?: (seconds: number) => void;
  onRejected?: (code: ErrorCode) => void;
  onSlowConsumer?: () => void;
  onPolicyClose?: () => void;
  /** The session follows `users` from now on (and no one else), whose state now is `online`. */
  onFollow?: (session: Session, users: readonly string[], online: readonly boolean[]) => void;
  /** The client's socket closed (the session is gone). */
  onClosed?: (session: Session) => void;
}

/**
 * One client connection: validates its frames, enforces its limits, serializes its sends per
 * conversation (so their order survives), and writes frames to it with back-pressure.
 */
export class Session {
  // Both buckets are made full at first use: the same as full since the connection opened (a bucket
  // refills to its burst), and an idle connection holds neither.
  private bucket: TokenBucket | undefined;
  // Invalid or excess frames drain this bucket; when it is empty the client is closed with 1008.
  private violations: TokenBucket | undefined;
  /** When each conversation's `typing` was last relayed (made at the first: most sessions never type). */
  private typed: Map<string, number> | undefined;
  /** The last send of each conversation with one in flight (made at the first send: most sessions idle). */
  private sendChains: Map<string, Promise<void>> | undefined;
  private closed = false;

  constructor(
    readonly id: string,
    readonly user: string,
    private readonly socket: ClientSocket,
    private readonly deps: SessionDeps,
  ) {}

  /** True once the session was closed by the server or the client. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Handles one incoming WebSocket message. */
  handleFrame(data: string, isBinary: boolean): void {
    if (this.closed) return;
    if (!(this.bucket ??= new TokenBucket(this.deps.limits.ratePerSecond, this.deps.limits.rateBurst, this.deps.now)).take()) {
      // Named by its id (when it has one): the client resends that request after a pause.
      const id = isBinary ? undefined : requestIdOf(data);
      this.violation('RATE_LIMITED', `rate limit of ${this.deps.limits.ratePerSecond} frames/s (burst ${this.deps.limits.rateBurst}) exceeded`, id);
      return;
    }
    if (isBinary) {
      this.violation('BAD_REQUEST', 'binary frames are not supported; send JSON text frames');
      return;
    }
    let frame: ClientFrame;
    try {
      frame = parseClientFrame(data, this.deps.limits);
    } catch (err: unknown) {
      if (!(err instanceof FrameError)) {
        this.internalFailure(err);
        return;
      }
      this.violation(err.error.code, err.message, err.id);
      return;
    }
    try {
      this.dispatch(frame);
    } catch (err: unknown) {
      this.internalFailure(err);
    }
  }

  /** A bug on our side while handling a frame: logged, and the client is closed with 1011. */
  private internalFailure(err: unknown): void {
    this.deps.logger.error({ err, connection: this.id }, 'frame handling failed');
    this.close(CloseCode.INTERNAL, 'internal error');
  }

  /** Writes a frame; a client whose unsent buffer passed the limit is closed with 1013 instead. */
  deliver(frame: ServerFrame): boolean {
    return this.deliverSerialized(JSON.stringify(frame));
  }

  /** Writes an already serialized frame (a push fanned out to many sessions is serialized once). */
  deliverSerialized(text: string): boolean {
    if (this.closed) return false;
    if (this.socket.bufferedAmount > this.deps.limits.maxBufferedBytes) {
      this.deps.onSlowConsumer?.();
      this.close(CloseCode.TRY_LATER, 'slow consumer: send buffer limit exceeded');
      return false;
    }
    this.socket.send(text);
    return true;
  }

  /** Closes the connection with a code and marks the session closed. */
  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(code, reason);
  }

  /** Marks the session closed after the client went away (its socket closed, whoever closed it). */
  markClosed(): void {
    this.closed = true;
    this.deps.onClosed?.(this);
  }

  private dispatch(frame: ClientFrame): void {
    switch (frame.type) {
      case 'ping':
        this.deliver(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
        return;
      case 'send': {
        const to = 'to' in frame ? { to: frame.to } : { to: '', conversation: frame.conversation };
        const conversation = to.conversation ?? directConversation(this.user, to.to);
        // The message ends the typist's indicator at the others: typing after it is news again.
        this.typed?.delete(conversation);
        this.inOrder(conversation, () => this.send(frame.id, { ...to, body: frame.body }));
        return;
      }
      case 'group': {
        const { change } = frame;
        const cmd = {
          to: '',
          // A group's title travels as its change message's body.
          body: 'title' in change ? change.title : '',
          kind: change.kind,
          members: frame.members,
          ...(change.kind === 'created' ? {} : { conversation: change.conversation }),
        };
        // A new group has no order to keep yet; changes of one group keep their order like its texts.
        this.inOrder(change.kind === 'created' ? `new group ${frame.id}` : change.conversation, () => this.send(frame.id, cmd));
        return;
      }
      case 'change':
        // After the conversation's sends of this connection, so an edit follows the text it changes.
        this.inOrder(frame.conversation, () =>
          this.send(frame.id, { to: '', body: frame.body, conversation: frame.conversation, kind: frame.kind, ref: frame.seq }),
        );
        return;
      case 'group.members':
        this.reply(frame.id, async () => ({
          type: 'members',
          id: frame.id,
          conversation: frame.conversation,
          members: await this.deps.api.members(this.user, frame.conversation),
        }));
        return;
      case 'sync':
        this.reply(frame.id, async () => {
          const r = await this.deps.api.sync(this.user, frame.conversation, frame.after, frame.limit);
          return { type: 'messages', id: frame.id, conversation: frame.conversation, messages: r.messages.map(toMessageFrame), hasMore: r.hasMore };
        });
        return;
      case 'conversations':
        this.reply(frame.id, async () => ({ type: 'conversations', id: frame.id, items: await this.deps.api.conversations(this.user) }));
        return;
      case 'typing': {
        // At most one relay per conversation and interval: the indicator stays on in between.
        const now = (this.deps.now ?? Date.now)();
        const typed = (this.typed ??= new Map<string, number>());
        const last = typed.get(frame.conversation);
        if (last !== undefined && now - last < this.deps.limits.typingIntervalMs) return;
        if (typed.size >= MAX_TYPING_CONVERSATIONS) typed.clear();
        typed.set(frame.conversation, now);
        const { id } = frame;
        this.deps.api.typing(this.user, frame.conversation, { instance: this.deps.instance, connection: this.id }).catch((err: unknown) => {
          // A refusal the client can act on (not a member, Message away) is answered; the next frame may relay again.
          typed.delete(frame.conversation);
          this.fail(id, err);
        });
        return;
      }
      case 'presence':
        this.reply(frame.id, async () => {
          const online = frame.users.length === 0 ? [] : await this.deps.api.presence(this.user, frame.users);
          if (!this.closed) this.deps.onFollow?.(this, frame.users, online);
          return { type: 'presence', id: frame.id, users: frame.users.map((user, i) => ({ user, online: online[i] ?? false })) };
        });
        return;
      case 'read':
        this.reply(frame.id, async () => ({
          type: 'read',
          id: frame.id,
          conversation: frame.conversation,
          user: this.user,
          seq: await this.deps.api.markRead(this.user, frame.conversation, frame.seq, { instance: this.deps.instance, connection: this.id }),
        }));
        return;
    }
  }

  /** Runs `task` after the earlier ones of the same conversation (sends keep their order). */
  private inOrder(conversation: string, task: () => Promise<void>): void {
    const chains = (this.sendChains ??= new Map<string, Promise<void>>());
    const next = (chains.get(conversation) ?? Promise.resolve()).then(task);
    chains.set(conversation, next);
    void next.finally(() => {
      if (chains.get(conversation) === next) chains.delete(conversation);
    });
  }

  private async send(id: string, what: Omit<SendCommand, 'from' | 'clientId' | 'origin'>): Promise<void> {
    if (this.closed) return;
    try {
      const t0 = performance.now();
      const a = await this.deps.api.send({ ...what, from: this.user, clientId: id, origin: { instance: this.deps.instance, connection: this.id } });
      const seconds = (performance.now() - t0) / 1000;
      if (this.deliver({ type: 'accepted', id, msgId: a.msgId, conversation: a.conversation, ts: a.ts })) this.deps.onAccepted?.(seconds);
    } catch (err: unknown) {
      this.fail(id, err);
    }
  }

  private reply(id: string, call: () => Promise<ServerFrame>): void {
    call().then(
      (frame) => this.deliver(frame),
      (err: unknown) => this.fail(id, err),
    );
  }

  /** Answers a failed request with an `error` frame (with the request's id when it had one). */
  private fail(id: string | undefined, err: unknown): void {
    const code: ErrorCode = err instanceof SwitchboardError ? err.code : 'INTERNAL';
    if (code === 'INTERNAL') this.deps.logger.error({ err, connection: this.id }, 'request failed');
    this.deps.onRejected?.(code);
    const message = code === 'INTERNAL' ? 'internal error' : (err as Error).message;
    this.deliver(id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message });
  }

  private violation(code: ErrorCode, message: string, id?: string): void {
    this.deps.onRejected?.(code);
    this.deliver(id === undefined ? { type: 'error', code, message } : { type: 'error', id, code, message });
    if (!(this.violations ??= new TokenBucket(1, this.deps.limits.maxViolations, this.deps.now)).take()) {
      this.deps.onPolicyClose?.();
      this.close(CloseCode.POLICY, 'too many invalid or excess frames');
    }
  }
}
