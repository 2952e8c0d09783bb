import { credentials, status, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
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
import type { Push } from '../../shared/message.js';
import { fromPush } from '../../shared/message-proto.js';
import { UpstreamError, internalMetadata } from './message-client.js';
import { FrameBatcher, batchBudget } from '../../shared/frame-batcher.js';

interface PendingSend {
  resolve(res: SendResponse__Output): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

export type StreamState = 'connecting' | 'up' | 'backoff' | 'closed';

export interface EndpointStreamOptions {
  endpoint: string;
  instance: string;
  /** Users this gateway holds right now (sent with every Subscribe). */
  onlineUsers: () => string[];
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
}

/**
 * The subscription stream to one Message pod and its state machine:
 * connecting → up → (lost) → backoff → connecting … until closed. Each attempt uses a fresh
 * channel so that grpc-js's own reconnect backoff never adds to ours.
 */
export class EndpointStream {
  private current: 'connecting' | 'up' | 'backoff' | 'closed' = 'backoff';
  private client: MessageServiceClient | undefined;
  private call: ClientDuplexStream<MessageStreamRequest, MessageStreamResponse__Output> | undefined;
  /** Writes to `call`, gathered into batches once the pod reads them. */
  private out: FrameBatcher<MessageStreamRequest> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private everUp = false;
  private readonly policy: ReconnectPolicy;
  private readonly log: Logger;
  /** Presence updates awaiting their PresenceApplied, by ack id. */
  private readonly presenceWaits = new Map<number, () => void>();
  /** Sends on this stream awaiting their SendResult, by request id. */
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
    return this.current;
  }

  /** The client of an up stream, for unary calls to the same pod. */
  get upClient(): MessageServiceClient | undefined {
    return this.current === 'up' ? this.client : undefined;
  }

  /**
   * Sends over this stream; undefined when the stream is not up. The answer is the pod's
   * SendResponse, or an UpstreamError with the pod's error code; a stream lost before the answer
   * gives UNAVAILABLE (the send may or may not have been accepted: the client resends the same id).
   */
  send(req: SendRequest, timeoutMs: number): Promise<SendResponse__Output> | undefined {
    const out = this.out;
    if (this.current !== 'up' || !out) return undefined;
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

  start(): void {
    if (this.current === 'backoff' && !this.timer) this.connect();
  }

  /**
   * Announces presence changes on the stream (also while it is still subscribing). On an up
   * stream, resolves once the pod routes these users here (or the stream is gone, which resyncs
   * everyone); while subscribing, at once (the subscription's answer covers them).
   */
  sendPresence(online: string[], offline: string[]): Promise<void> {
    const out = this.out;
    if (!out || (this.current !== 'up' && this.current !== 'connecting')) return Promise.resolve();
    if (this.current !== 'up') {
      out.write({ presence: { online, offline } });
      return Promise.resolve();
    }
    const ackId = (this.nextRequestId = (this.nextRequestId + 1) >>> 0) || (this.nextRequestId = 1);
    return new Promise<void>((resolve) => {
      this.presenceWaits.set(ackId, resolve);
      out.write({ presence: { online, offline, ackId } });
    });
  }

  /** Ends the stream for good (endpoint gone, or shutdown). */
  close(): void {
    if (this.current === 'closed') return;
    const wasUp = this.current === 'up';
    this.current = 'closed';
    clearTimeout(this.timer);
    this.teardown();
    if (wasUp) this.opts.events.onDown(this, true);
  }

  private connect(): void {
    this.timer = undefined;
    if (this.current === 'closed') return;
    this.current = 'connecting';
    const { grpc } = loadSwitchboardProto();
    const client = new grpc.switchboard.v1.MessageService(this.opts.endpoint, credentials.createInsecure(), {
      'grpc.keepalive_time_ms': this.opts.keepaliveMs,
      'grpc.keepalive_timeout_ms': this.opts.keepaliveTimeoutMs,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.use_local_subchannel_pool': 1,
      'grpc.max_receive_message_length': this.opts.maxMessageBytes,
      'grpc.max_send_message_length': this.opts.maxMessageBytes,
      'grpc.enable_retries': 0,
    });
    const call = client.messageStream(internalMetadata(this.opts.internalAuthToken));
    const out = new FrameBatcher<MessageStreamRequest>(call, (requests) => ({ batch: { requests } }), this.opts.maxMessageBytes);
    this.client = client;
    this.call = call;
    this.out = out;
    this.timer = setTimeout(() => this.lost(call, new Error(`no subscribed answer within ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);

    call.on('data', (resp: MessageStreamResponse__Output) => {
      if (this.call !== call) return;
      if (resp.response !== 'batch') {
        this.received(resp, out);
        return;
      }
      for (const r of resp.batch?.responses ?? []) {
        if (this.call !== call) return;
        if (r.response === 'batch') {
          this.lost(call, new Error('the Message pod nested a batch in a batch'));
          return;
        }
        this.received(r, out);
      }
    });
    call.on('error', (err: ServiceError) => this.lost(call, err));
    call.on('end', () => this.lost(call, new Error('stream ended by the Message pod')));
    out.write({
      subscribe: { connectServiceId: this.opts.instance, onlineUsers: this.opts.onlineUsers(), batchMaxBytes: batchBudget(this.opts.maxMessageBytes) },
    });
  }

  /** One frame from the pod (alone, or out of a batch). */
  private received(resp: MessageStreamResponse__Output, out: FrameBatcher<MessageStreamRequest>): void {
    if (resp.response === 'push') {
      const push = resp.push ? fromPush(resp.push) : undefined;
      if (push) this.opts.events.onPush(push);
    } else if (resp.response === 'sendResult' && resp.sendResult) this.answered(resp.sendResult);
    else if (resp.response === 'presenceApplied' && resp.presenceApplied) this.presenceApplied(resp.presenceApplied.ackId);
    else if (resp.response === 'subscribed' && this.current === 'connecting') {
      // Every Message pod since the first release (0.1.0) takes sends on the stream and confirms
      // presence; an older one is refused rather than half served (docs/OPERATIONS.md, upgrades).
      if (!resp.subscribed?.streamSend || !resp.subscribed.presenceAck) {
        this.log.error(
          { messageServiceId: resp.subscribed?.messageServiceId },
          'the Message pod is older than 0.1.0 (no sends on the stream or no presence confirmations): upgrade Message first',
        );
        if (this.call) this.lost(this.call, new Error('the Message pod is older than 0.1.0'));
        return;
      }
      out.enable(resp.subscribed.batchMaxBytes);
      this.up(resp.subscribed.messageServiceId);
    }
  }

  private up(messageServiceId: string): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.current = 'up';
    this.policy.up();
    const reconnect = this.everUp;
    this.everUp = true;
    this.log.info({ messageServiceId, reconnect }, 'message stream up');
    this.opts.events.onAttempt('success');
    this.opts.events.onUp(this, reconnect);
  }

  private lost(call: ClientDuplexStream<MessageStreamRequest, MessageStreamResponse__Output>, err: Error): void {
    if (this.call !== call || this.current === 'closed') return;
    const wasUp = this.current === 'up';
    clearTimeout(this.timer);
    this.teardown();
    if (!wasUp) this.opts.events.onAttempt('failure');
    const delay = this.policy.nextDelay();
    this.current = 'backoff';
    if ((err as Partial<ServiceError>).code === status.UNAUTHENTICATED)
      // Not a passing fault: the two services do not share INTERNAL_AUTH_TOKEN, and no retry will help.
      this.log.error(
        { reason: err.message, retryInMs: delay },
        'the Message pod refused this gateway (UNAUTHENTICATED): set the same INTERNAL_AUTH_TOKEN on Connect and Message',
      );
    else this.log[wasUp ? 'warn' : 'debug']({ reason: err.message, retryInMs: delay }, wasUp ? 'message stream lost' : 'message stream attempt failed');
    this.opts.events.onDown(this, wasUp);
    this.opts.events.onBackoff(delay);
    this.timer = setTimeout(() => this.connect(), delay);
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

  private teardown(): void {
    const call = this.call;
    const client = this.client;
    this.out?.discard();
    this.call = undefined;
    this.client = undefined;
    this.out = undefined;
    // The stream is gone: the sessions are resynced when one comes back, so nobody waits for it.
    for (const resolve of this.presenceWaits.values()) resolve();
    this.presenceWaits.clear();
    for (const p of this.inFlight.values()) {
      clearTimeout(p.timer);
      p.reject(new UnavailableError('the Message stream was lost before the send was answered; retry with the same id'));
    }
    this.inFlight.clear();
    if (call) {
      // lost() ignores the CANCELLED error this raises: the call is no longer the current one.
      call.cancel();
    }
    client?.close();
  }
}
