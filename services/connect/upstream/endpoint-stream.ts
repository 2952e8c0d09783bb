import { credentials, status, type ChannelCredentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { InternalTls } from '../../shared/config.js';
import { tlsFailure } from './tls-probe.js';
import { UnavailableError } from '../../shared/errors.js';
import { errorCodeOfGrpcStatus, errorCodeOfReply } from '../../shared/grpc-status.js';
import type { Logger } from '../../shared/logger.js';
import { ReconnectPolicy, type BackoffOptions } from '../../shared/backoff.js';
import {
  loadSwitchboardProto,
  type MessageServiceClient,
  type MessageStreamRequest,
  type MessageStreamResponse__Output,
  type SendRequest,
  type SendResponse__Output,
  type SendResult__Output,
} from '../../shared/proto.js';
import type { PresenceChange, Push, ReadPush, SessionsClose, TypingPush } from '../../shared/message.js';
import { fromPush, fromReadPush, fromTypingPush } from '../../shared/message-proto.js';
import { UpstreamError, internalMetadata } from './message-client.js';
import { FrameBatcher, batchBudget } from '../../shared/frame-batcher.js';

interface PendingSend {
  resolve(res: SendResponse__Output): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export type StreamState = 'idle' | 'connecting' | 'up' | 'backoff' | 'closed';

type Call = ClientDuplexStream<MessageStreamRequest, MessageStreamResponse__Output>;

/** One attempt's channel, call and writer (a fresh channel per attempt). */
interface Attempt {
  client: MessageServiceClient;
  call: Call;
  /** Writes to `call`, gathered into batches once the pod reads them. */
  out: FrameBatcher<MessageStreamRequest>;
}

/** The state with what it holds: an attempt while connecting or up, a timer while connecting (its deadline) or in backoff (its retry). */
type State =
  | { name: 'idle' }
  | { name: 'connecting'; attempt: Attempt; deadline: NodeJS.Timeout }
  | { name: 'up'; attempt: Attempt }
  | { name: 'backoff'; retry: NodeJS.Timeout }
  | { name: 'closed' };

export interface EndpointStreamOptions {
  endpoint: string;
  instance: string;
  /** Users this gateway holds right now (sent with every Subscribe). */
  onlineUsers: () => string[];
  /** Users whose online state this gateway's clients follow (sent once the stream is up). */
  watched?: () => string[];
  backoff: BackoffOptions;
  /** A stream must stay up this long before the backoff starts again from its initial delay. */
  resetAfterMs: number;
  /** Longest wait for `subscribed` after opening a stream. */
  connectTimeoutMs: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  /** Largest gRPC message this gateway reads or sends on the stream (a batch stays under it). */
  maxMessageBytes: number;
  /** Shared secret for Message's INTERNAL_AUTH_TOKEN check, if set. */
  internalAuthToken?: string;
  /**
   * Mutual TLS to the Message pods (INTERNAL_TLS_*): the credentials, and the name their
   * certificate must carry (a pod is reached at its address; its certificate names the Service).
   */
  tls?: { credentials: ChannelCredentials; serverName?: string; files: InternalTls };
  /** Told of an attempt that failed in its TLS handshake (the peers do not trust each other's certificates). */
  onTlsFailure?: () => void;
  logger: Logger;
  random?: () => number;
  now?: () => number;
  events: EndpointStreamEvents;
}

export interface EndpointStreamEvents {
  onAttempt(result: 'success' | 'failure'): void;
  /** The stream is up; `reconnect` when it had been up before. */
  onUp(stream: EndpointStream, reconnect: boolean): void;
  /** The stream was lost or failed to come up. */
  onDown(stream: EndpointStream, wasUp: boolean): void;
  onBackoff(delayMs: number): void;
  onPush(push: Push): void;
  /** A read marker that moved, for users held here. */
  onRead(push: ReadPush): void;
  /** Someone typing, for users held here. */
  onTyping(push: TypingPush): void;
  /** A followed user came online or went offline. */
  onPresenceChange(change: PresenceChange): void;
  /**
   * The pod asks (for the server API) how many connections each user holds here; with `close`,
   * they are closed too. Answers the counts before closing, in the users' order.
   */
  onSessions(users: readonly string[], close?: SessionsClose): number[];
}

/**
 * The subscription stream to one Message pod, a state machine:
 *
 *     idle ─start→ connecting ─subscribed→ up
 *                  connecting ─failed or timed out→ backoff ─retry→ connecting
 *                  up ─lost→ backoff
 *     any ─close→ closed (final)
 *
 * Each state holds what it owns (State): leaving a state releases it in `transition`, the one
 * place the state changes, so an attempt's call and channel never outlive it and no timer of an
 * earlier state fires later. Each attempt uses a fresh channel, so that grpc-js's own reconnect
 * backoff never adds to ours.
 */
export class EndpointStream {
  private current: State = { name: 'idle' };
  private everUp = false;
  private readonly policy: ReconnectPolicy;
  private readonly log: Logger;
  /** Presence updates awaiting their PresenceApplied, by ack id (on an up stream). */
  private readonly presenceWaits = new Map<number, () => void>();
  /** Sends on this stream awaiting their SendResult, by request id (on an up stream). */
  private readonly inFlight = new Map<number, PendingSend>();
  private nextRequestId = 0;

  constructor(private readonly opts: EndpointStreamOptions) {
    this.policy = new ReconnectPolicy(opts.backoff, opts.resetAfterMs, opts.now ?? Date.now, opts.random ?? Math.random);
    this.log = opts.logger.child({ endpoint: opts.endpoint });
  }

  get endpoint(): string {
    return this.opts.endpoint;
  }

  get state(): StreamState {
    return this.current.name;
  }

  /** The client of an up stream, for unary calls to the same pod. */
  get upClient(): MessageServiceClient | undefined {
    return this.current.name === 'up' ? this.current.attempt.client : undefined;
  }

  /**
   * Sends over this stream; undefined when the stream is not up. The answer is the pod's
   * SendResponse, or an UpstreamError with the pod's error code; a stream lost before the answer
   * gives UNAVAILABLE (the send may or may not have been accepted: the client resends the same id).
   */
  send(req: SendRequest, timeoutMs: number): Promise<SendResponse__Output> | undefined {
    if (this.current.name !== 'up') return undefined;
    const { out } = this.current.attempt;
    const requestId = (this.nextRequestId = (this.nextRequestId + 1) >>> 0);
    return new Promise<SendResponse__Output>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.inFlight.delete(requestId);
        reject(
          new UpstreamError(errorCodeOfGrpcStatus(status.DEADLINE_EXCEEDED), `no answer from the Message pod within ${timeoutMs} ms; retry with the same id`),
        );
      }, timeoutMs);
      this.inFlight.set(requestId, { resolve, reject, timer });
      out.write({ send: { requestId, send: req } });
    });
  }

  /** Opens the first attempt (a stream already started is left as it is). */
  start(): void {
    if (this.current.name === 'idle') this.connect();
  }

  /**
   * Announces presence changes on the stream (also while it is still subscribing). On an up
   * stream, resolves once the pod routes these users here (or the stream is gone, which resyncs
   * everyone); while subscribing, at once (the subscription's answer covers them).
   */
  sendPresence(online: string[], offline: string[]): Promise<void> {
    if (this.current.name === 'connecting') {
      this.current.attempt.out.write({ presence: { online, offline } });
      return Promise.resolve();
    }
    if (this.current.name !== 'up') return Promise.resolve();
    const { out } = this.current.attempt;
    const ackId = (this.nextRequestId = (this.nextRequestId + 1) >>> 0) || (this.nextRequestId = 1);
    return new Promise<void>((resolve) => {
      this.presenceWaits.set(ackId, resolve);
      out.write({ presence: { online, offline, ackId } });
    });
  }

  /** Changes the users this gateway follows on an up stream (a stream coming up sends them all). */
  sendWatch(add: readonly string[], remove: readonly string[]): void {
    if (this.current.name === 'up') this.current.attempt.out.write({ watch: { add: [...add], remove: [...remove] } });
  }

  /** Ends the stream for good (endpoint gone, or shutdown). */
  close(): void {
    if (this.current.name === 'closed') return;
    const wasUp = this.current.name === 'up';
    this.transition(['idle', 'connecting', 'up', 'backoff'], { name: 'closed' });
    if (wasUp) this.opts.events.onDown(this, true);
  }

  /**
   * The one place the state changes: `to` must follow one of `from` (anything else is a bug, and
   * throws). What the state left owned is released: its timer cleared, its attempt ended unless
   * the new state carries the same attempt on (connecting → up).
   */
  private transition(from: ReadonlyArray<State['name']>, to: State): void {
    const left = this.current;
    if (!from.includes(left.name)) throw new Error(`endpoint stream ${this.opts.endpoint}: no transition from ${left.name} to ${to.name}`);
    this.current = to;
    if (left.name === 'connecting') clearTimeout(left.deadline);
    if (left.name === 'backoff') clearTimeout(left.retry);
    const kept = to.name === 'connecting' || to.name === 'up' ? to.attempt : undefined;
    if ((left.name === 'connecting' || left.name === 'up') && left.attempt !== kept) this.end(left.attempt);
  }

  /** idle or backoff → connecting: a fresh channel, the call, and the subscription as its first frame. */
  private connect(): void {
    const { grpc } = loadSwitchboardProto();
    const tls = this.opts.tls;
    const client = new grpc.switchboard.v1.MessageService(this.opts.endpoint, tls?.credentials ?? credentials.createInsecure(), {
      ...(tls?.serverName ? { 'grpc.ssl_target_name_override': tls.serverName, 'grpc.default_authority': tls.serverName } : {}),
      'grpc.keepalive_time_ms': this.opts.keepaliveMs,
      'grpc.keepalive_timeout_ms': this.opts.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': this.opts.maxMessageBytes,
      'grpc.max_send_message_length': this.opts.maxMessageBytes,
      'grpc.enable_retries': 0,
    });
    const call = client.messageStream(internalMetadata(this.opts.internalAuthToken));
    const attempt: Attempt = {
      client,
      call,
      out: new FrameBatcher<MessageStreamRequest>(call, (requests) => ({ batch: { requests } }), this.opts.maxMessageBytes),
    };
    const deadline = setTimeout(
      () => this.lost(attempt, new Error(`no subscribed answer within ${this.opts.connectTimeoutMs} ms`)),
      this.opts.connectTimeoutMs,
    );
    this.transition(['idle', 'backoff'], { name: 'connecting', attempt, deadline });

    // Events of an attempt that is no longer the current one (ended, replaced) are ignored.
    const current = (): boolean => (this.current.name === 'connecting' || this.current.name === 'up') && this.current.attempt === attempt;
    call.on('data', (resp: MessageStreamResponse__Output) => {
      if (!current()) return;
      if (resp.response !== 'batch') {
        this.received(resp, attempt);
        return;
      }
      for (const r of resp.batch?.responses ?? []) {
        if (!current()) return;
        if (r.response === 'batch') {
          this.lost(attempt, new Error('the Message pod nested a batch in a batch'));
          return;
        }
        this.received(r, attempt);
      }
    });
    call.on('error', (err: ServiceError) => this.lost(attempt, err));
    call.on('end', () => this.lost(attempt, new Error('stream ended by the Message pod')));
    attempt.out.write({
      subscribe: {
        connectServiceId: this.opts.instance,
        onlineUsers: this.opts.onlineUsers(),
        batchMaxBytes: batchBudget(this.opts.maxMessageBytes),
        sessions: true,
      },
    });
  }

  /** One frame from the pod (alone, or out of a batch). */
  private received(resp: MessageStreamResponse__Output, attempt: Attempt): void {
    if (resp.response === 'push') {
      const push = resp.push ? fromPush(resp.push) : undefined;
      if (push) this.opts.events.onPush(push);
    } else if (resp.response === 'read' && resp.read) this.opts.events.onRead(fromReadPush(resp.read));
    else if (resp.response === 'typing' && resp.typing) this.opts.events.onTyping(fromTypingPush(resp.typing));
    else if (resp.response === 'presenceChange' && resp.presenceChange) this.opts.events.onPresenceChange(resp.presenceChange);
    else if (resp.response === 'sendResult' && resp.sendResult) this.answered(resp.sendResult);
    else if (resp.response === 'presenceApplied' && resp.presenceApplied) this.presenceApplied(resp.presenceApplied.ackId);
    else if (resp.response === 'sessions' && resp.sessions) {
      const { queryId, users, closeCode, closeReason } = resp.sessions;
      const connections = this.opts.events.onSessions(users, closeCode ? { code: closeCode, reason: closeReason } : undefined);
      attempt.out.write({ sessions: { queryId, connections } });
    } else if (resp.response === 'subscribed' && this.current.name === 'connecting') {
      // Every Message pod since the first release (0.1.0) takes sends on the stream and confirms
      // presence; an older one is refused rather than half served (docs/OPERATIONS.md, upgrades).
      if (!resp.subscribed?.streamSend || !resp.subscribed.presenceAck) {
        this.log.error(
          { messageServiceId: resp.subscribed?.messageServiceId },
          'the Message pod is older than 0.1.0 (no sends on the stream or no presence confirmations): upgrade Message first',
        );
        this.lost(attempt, new Error('the Message pod is older than 0.1.0'));
        return;
      }
      attempt.out.enable(resp.subscribed.batchMaxBytes);
      this.up(attempt, resp.subscribed.messageServiceId);
    }
  }

  /** connecting → up: the pod answered the subscription. */
  private up(attempt: Attempt, messageServiceId: string): void {
    this.transition(['connecting'], { name: 'up', attempt });
    this.policy.up();
    // A new stream follows no one: the followed users again, before anything else.
    const watched = this.opts.watched?.() ?? [];
    if (watched.length > 0) attempt.out.write({ watch: { add: watched, remove: [] } });
    const reconnect = this.everUp;
    this.everUp = true;
    this.log.info({ messageServiceId, reconnect }, 'message stream up');
    this.opts.events.onAttempt('success');
    this.opts.events.onUp(this, reconnect);
  }

  /** connecting or up → backoff: the attempt failed, timed out or was lost; the next one is scheduled. */
  private lost(attempt: Attempt, err: Error): void {
    if ((this.current.name !== 'connecting' && this.current.name !== 'up') || this.current.attempt !== attempt) return;
    const wasUp = this.current.name === 'up';
    const delay = this.policy.nextDelay();
    this.transition(['connecting', 'up'], { name: 'backoff', retry: setTimeout(() => this.connect(), delay) });
    if (!wasUp) this.opts.events.onAttempt('failure');
    if ((err as Partial<ServiceError>).code === status.UNAUTHENTICATED)
      // Not a passing fault: the two services do not share INTERNAL_AUTH_TOKEN, and no retry will help.
      this.log.error(
        { reason: err.message, retryInMs: delay },
        'the Message pod refused this gateway (UNAUTHENTICATED): set the same INTERNAL_AUTH_TOKEN on Connect and Message',
      );
    else if (!wasUp && this.opts.tls && (err as Partial<ServiceError>).code === status.UNAVAILABLE) {
      // grpc-js says only that it failed to connect: a handshake of our own says whether TLS is why.
      const tls = this.opts.tls;
      void tlsFailure(this.opts.endpoint, tls.files, tls.serverName).then((reason) => {
        if (reason === undefined) {
          this.log.debug({ reason: err.message, retryInMs: delay }, 'message stream attempt failed');
          return;
        }
        // Not a passing fault either: a certificate one side does not trust, or TLS on one side only.
        this.opts.onTlsFailure?.();
        this.log.error(
          { reason, retryInMs: delay },
          "the TLS handshake with the Message pod failed: each side needs a certificate the other's INTERNAL_TLS_CA_FILE signed (Message's for the name INTERNAL_TLS_SERVER_NAME), or neither uses INTERNAL_TLS_*",
        );
      });
    } else this.log[wasUp ? 'warn' : 'debug']({ reason: err.message, retryInMs: delay }, wasUp ? 'message stream lost' : 'message stream attempt failed');
    this.opts.events.onDown(this, wasUp);
    this.opts.events.onBackoff(delay);
  }

  private answered(result: SendResult__Output): void {
    const pending = this.inFlight.get(result.requestId);
    if (!pending) return; // timed out already
    this.inFlight.delete(result.requestId);
    clearTimeout(pending.timer);
    if (result.result === 'accepted' && result.accepted) pending.resolve(result.accepted);
    else
      pending.reject(new UpstreamError(errorCodeOfReply(result.error?.code ?? status.UNKNOWN, result.error?.reason), result.error?.message || 'send failed'));
  }

  private presenceApplied(ackId: number): void {
    const resolve = this.presenceWaits.get(ackId);
    this.presenceWaits.delete(ackId);
    resolve?.();
  }

  /**
   * Ends an attempt: its writer, call and channel, and what waited for its answers (sends fail
   * with UNAVAILABLE; presence waits resolve, since the sessions are resynced when a stream comes back).
   */
  private end(attempt: Attempt): void {
    attempt.out.discard();
    for (const resolve of this.presenceWaits.values()) resolve();
    this.presenceWaits.clear();
    for (const p of this.inFlight.values()) {
      clearTimeout(p.timer);
      p.reject(new UnavailableError('the Message stream was lost before the send was answered; retry with the same id'));
    }
    this.inFlight.clear();
    // The CANCELLED error this raises is ignored: the attempt is no longer the current one.
    attempt.call.cancel();
    attempt.client.close();
  }
}
