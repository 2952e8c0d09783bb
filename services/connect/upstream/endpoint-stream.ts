import { credentials, type ClientDuplexStream, type ServiceError } from '@grpc/grpc-js';
import type { Logger } from '../../shared/logger.js';
import { ReconnectPolicy, type BackoffOptions } from '../../shared/backoff.js';
import { loadSwitchboardProto, type MessageServiceClient, type MessageStreamRequest, type MessageStreamResponse__Output } from '../../shared/proto.js';
import type { IncomingPush } from '../domain/delivery.js';
import { internalMetadata, toMessageFrameBody } from './message-client.js';

export type StreamState = 'connecting' | 'up' | 'backoff' | 'closed';

export interface EndpointStreamOptions {
  endpoint: string;
  instanceId: string;
  /** Users this gateway holds right now (sent with every Subscribe). */
  onlineUsers: () => string[];
  backoff: BackoffOptions;
  /** A stream must stay up this long before the backoff starts again from its initial delay. */
  resetAfterMs: number;
  /** Longest wait for `subscribed` after opening a stream. */
  connectTimeoutMs: number;
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
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
  onPush(push: IncomingPush): void;
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
  private timer: NodeJS.Timeout | undefined;
  private everUp = false;
  private readonly policy: ReconnectPolicy;
  private readonly log: Logger;

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

  start(): void {
    if (this.current === 'backoff' && !this.timer) this.connect();
  }

  /** Announces presence changes on the stream (also while it is still subscribing). */
  sendPresence(online: string[], offline: string[]): void {
    if (this.call && (this.current === 'up' || this.current === 'connecting')) this.call.write({ presence: { online, offline } });
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
      'grpc.enable_retries': 0,
    });
    const call = client.messageStream(internalMetadata(this.opts.internalAuthToken));
    this.client = client;
    this.call = call;
    this.timer = setTimeout(() => this.lost(call, new Error(`no subscribed answer within ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);

    call.on('data', (resp: MessageStreamResponse__Output) => {
      if (this.call !== call) return;
      if (resp.response === 'push' && resp.push?.message) {
        const { message, recipients, excludeConnection } = resp.push;
        this.opts.events.onPush({ message: toMessageFrameBody(message), recipients, excludeConnection });
      }
      else if (resp.response === 'subscribed' && this.current === 'connecting') this.up(resp.subscribed?.messageServiceId ?? '');
    });
    call.on('error', (err: ServiceError) => this.lost(call, err));
    call.on('end', () => this.lost(call, new Error('stream ended by the Message pod')));
    call.write({ subscribe: { connectServiceId: this.opts.instanceId, onlineUsers: this.opts.onlineUsers() } });
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
    this.log[wasUp ? 'warn' : 'debug']({ reason: err.message, retryInMs: delay }, wasUp ? 'message stream lost' : 'message stream attempt failed');
    this.opts.events.onDown(this, wasUp);
    this.opts.events.onBackoff(delay);
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private teardown(): void {
    const call = this.call;
    const client = this.client;
    this.call = undefined;
    this.client = undefined;
    if (call) {
      // lost() ignores the CANCELLED error this raises: the call is no longer the current one.
      call.cancel();
    }
    client?.close();
  }
}
