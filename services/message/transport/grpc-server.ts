import { createHash, timingSafeEqual } from 'node:crypto';
import { Server, ServerCredentials, status, Metadata, type ServerDuplexStream, type sendUnaryData } from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '../../shared/logger.js';
import { SwitchboardError } from '../../shared/errors.js';
import { ERROR_CODE_KEY, describeError, errorCodeOf, grpcStatusOf } from '../../shared/grpc-status.js';
import { isUserId } from '../../shared/ids.js';
import { MAX_GRPC_MESSAGE_BYTES } from '../../shared/limits.js';
import { FrameBatcher, batchBudget } from '../../shared/frame-batcher.js';
import {
  loadSwitchboardProto,
  type MessageServiceHandlers,
  type MessageStreamRequest__Output,
  type MessageStreamResponse,
  type SendError,
  type SendRequest__Output,
  type SendResponse,
} from '../../shared/proto.js';
import { addReflection } from './reflection.js';
import type { SendAcceptor } from '../domain/send-acceptor.js';
import type { History } from '../domain/history.js';
import type { ReadMarking } from '../domain/read-markers.js';
import type { TypingRelay } from '../domain/typing.js';
import type { PresenceQuery } from '../domain/presence-query.js';
import type { StreamEndReason, SubscriberLink, SubscriberRegistry } from '../domain/subscribers.js';
import { fromSendRequest, toChatMessage } from '../../shared/message-proto.js';
import type { ChatMessage } from '../../shared/gen/switchboard/v1/ChatMessage.js';
import type { ConversationsRequest__Output } from '../../shared/gen/switchboard/v1/ConversationsRequest.js';
import type { MarkReadRequest__Output } from '../../shared/gen/switchboard/v1/MarkReadRequest.js';
import type { MembersRequest__Output } from '../../shared/gen/switchboard/v1/MembersRequest.js';
import type { PresenceRequest__Output } from '../../shared/gen/switchboard/v1/PresenceRequest.js';
import type { SyncRequest__Output } from '../../shared/gen/switchboard/v1/SyncRequest.js';
import type { TypingRequest__Output } from '../../shared/gen/switchboard/v1/TypingRequest.js';

export const SERVICE_NAME = 'switchboard.v1.MessageService';

export interface GrpcTransportDeps {
  acceptor: SendAcceptor;
  history: History;
  reads: ReadMarking;
  typing: TypingRelay;
  presence: PresenceQuery;
  subscribers: SubscriberRegistry;
  instance: string;
  logger: Logger;
  /** Largest gRPC message accepted, bytes. */
  maxMessageBytes: number;
  /** Server → client keepalive pings (detect dead gateways). */
  keepaliveMs: number;
  keepaliveTimeoutMs: number;
  /**
   * Most pushes queued on one gateway's stream (written, not yet taken by HTTP/2 flow control).
   * A gateway that reads slower than its users' traffic gets its stream ended with
   * RESOURCE_EXHAUSTED instead of growing this pod's memory; it reconnects and its clients resync.
   */
  pushBufferMax: number;
  /** Why new requests and streams must be refused right now (draining, not connected), if they must. */
  unavailable: () => string | undefined;
  /**
   * Resolves when new subscription streams may be served, or with the reason to refuse them
   * (draining). A pod that is still connecting its backends parks streams until then, so gateways
   * are up the moment it serves instead of one backoff interval later.
   */
  streamsServed: () => Promise<string | undefined>;
  /** Shared secret callers must present as `authorization: Bearer …`; undefined = not checked. */
  internalAuthToken?: string;
  /** What the server serves with (INTERNAL_TLS_*: mutual TLS); default plaintext. */
  credentials?: ServerCredentials;
  /** Told why each gateway stream ended (metrics). */
  onStreamEnd?: (reason: StreamEndReason) => void;
}

/** The gRPC edge of the Message service: MessageService, grpc.health.v1 and reflection. */
export interface GrpcTransport {
  server: Server;
  health: HealthImplementation;
  bind(host: string, port: number): Promise<number>;
}

/** Builds the gRPC server with thin handlers over the domain objects. */
export function createGrpcTransport(deps: GrpcTransportDeps): GrpcTransport {
  const { definition, grpc } = loadSwitchboardProto();
  const server = new Server({
    'grpc.max_receive_message_length': deps.maxMessageBytes,
    'grpc.max_send_message_length': MAX_GRPC_MESSAGE_BYTES,
    'grpc.keepalive_time_ms': deps.keepaliveMs,
    'grpc.keepalive_timeout_ms': deps.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
  });
  const log = deps.logger;

  const fail = (callback: sendUnaryData<never>, err: unknown, method: string): void => {
    logFailure(log, err, method);
    const metadata = new Metadata();
    metadata.set(ERROR_CODE_KEY, errorCodeOf(err));
    callback({ code: grpcStatusOf(err), details: describeError(err), metadata }, null);
  };

  const authorized = internalAuthCheck(deps.internalAuthToken);
  const refuse = (callback: sendUnaryData<never>, metadata: Metadata): boolean => {
    if (!authorized(metadata)) {
      callback({ code: status.UNAUTHENTICATED, details: 'missing or wrong internal auth token' }, null);
      return true;
    }
    const reason = deps.unavailable();
    if (reason) callback({ code: status.UNAVAILABLE, details: reason }, null);
    return reason !== undefined;
  };

  /** A unary method: refused (auth, draining) or run, its result or failure answered. */
  const unary =
    <Req, Res>(method: string, run: (req: Req) => Promise<Res>) =>
    (call: { request: Req; metadata: Metadata }, callback: sendUnaryData<Res>): void => {
      if (refuse(callback, call.metadata)) return;
      run(call.request).then(
        (res) => callback(null, res),
        (err: unknown) => fail(callback, err, method),
      );
    };

  const handlers: MessageServiceHandlers = {
    Send: unary('Send', (r: SendRequest__Output) => accept(deps.acceptor, r, r.originInstance)),
    Sync: unary('Sync', async (r: SyncRequest__Output) => {
      const res = await deps.history.sync(r.user, r.conversation, r.afterSeq, r.limit);
      return withinReplyBudget(res.messages.map(toChatMessage), res.hasMore);
    }),
    Conversations: unary('Conversations', async (r: ConversationsRequest__Output) => ({ items: await deps.history.conversations(r.user) })),
    Members: unary('Members', async (r: MembersRequest__Output) => ({ members: await deps.history.members(r.user, r.conversation) })),
    MarkRead: unary('MarkRead', async (r: MarkReadRequest__Output) => ({
      seq: await deps.reads.mark(r.user, r.conversation, r.seq, { instance: r.originInstance, connection: r.originConnection }),
    })),
    Typing: unary('Typing', async (r: TypingRequest__Output) => {
      await deps.typing.typing(r.user, r.conversation);
      return {};
    }),
    Presence: unary('Presence', async (r: PresenceRequest__Output) => ({ online: await deps.presence.online(r.user, r.users) })),
    MessageStream(call) {
      if (!authorized(call.metadata)) {
        call.emit('error', { code: status.UNAUTHENTICATED, details: 'missing or wrong internal auth token' });
        return;
      }
      handleStream(call, deps);
    },
  };

  server.addService(grpc.switchboard.v1.MessageService.service, handlers);
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE_NAME]: 'NOT_SERVING' });
  health.addToServer(server);
  addReflection(server, definition);

  return {
    server,
    health,
    bind: (host, port) =>
      new Promise<number>((resolve, reject) => {
        const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
        server.bindAsync(target, deps.credentials ?? ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound)));
      }),
  };
}

/** Frames a parked stream may send before the pod serves (a subscribe and presence changes). */
const MAX_HELD_FRAMES = 1000;

/** One Connect instance's subscription: Subscribe first, then presence updates and sends (alone or in batches). */
function handleStream(call: ServerDuplexStream<MessageStreamRequest__Output, MessageStreamResponse>, deps: GrpcTransportDeps): void {
  let instance: string | undefined;
  let ended = false;
  const log = deps.logger.child({ peer: call.getPeer() });
  const out = new FrameBatcher<MessageStreamResponse>(call, (responses) => ({ batch: { responses } }), MAX_GRPC_MESSAGE_BYTES);
  /**
   * The one way a stream ends, whoever ends it: stop writing, forget the gateway, one log line
   * and one count with the reason, and the status to the gateway when this side ends it.
   */
  const finish = (reason: StreamEndReason, details: string, code?: status): void => {
    if (ended) return;
    ended = true;
    out.discard();
    for (const settle of [...queries.values()]) settle(undefined);
    if (instance) deps.subscribers.detach(instance, link);
    deps.onStreamEnd?.(reason);
    const fields = { instance, reason, details };
    if (reason === 'push_buffer_full' || reason === 'error') log.warn(fields, 'gateway stream ended');
    else if (instance) log.info(fields, 'gateway stream ended');
    else log.debug(fields, 'gateway stream refused');
    if (code !== undefined) call.emit('error', { code, details });
  };
  /** The gateway answers session queries (Subscribe.sessions), and the queries awaiting its answer. */
  let answersSessions = false;
  let nextQuery = 0;
  const queries = new Map<number, (connections: number[] | undefined) => void>();
  const link: SubscriberLink = {
    push(push) {
      if (ended) return false;
      if (out.queued >= deps.pushBufferMax) {
        // The gateway reads slower than its users' pushes arrive: it reconnects and its clients resync.
        finish('push_buffer_full', `${out.queued} pushes queued on this stream (MESSAGE_PUSH_BUFFER_MAX); reconnect and resync`, status.RESOURCE_EXHAUSTED);
        return false;
      }
      out.write({ push: { message: toChatMessage(push.message), recipients: push.recipients, excludeConnection: push.excludeConnection } });
      return true;
    },
    pushRead({ marker, recipients, excludeConnection }) {
      // A marker is small and superseded by the next one: it never ends a stream on its own.
      if (ended) return false;
      out.write({ read: { ...marker, recipients, excludeConnection } });
      return true;
    },
    pushPresence(change) {
      if (ended) return false;
      out.write({ presenceChange: change });
      return true;
    },
    pushTyping({ typing, recipients }) {
      // Ephemeral: a gateway already behind on its pushes gets none (it would show them late).
      if (ended || out.queued >= deps.pushBufferMax / 2) return false;
      out.write({ typing: { ...typing, recipients } });
      return true;
    },
    end(reason, details) {
      finish(reason, details, status.UNAVAILABLE);
    },
    sessions(users, close, timeoutMs) {
      if (ended || !answersSessions) return Promise.resolve(undefined);
      const queryId = (nextQuery = (nextQuery + 1) >>> 0) || (nextQuery = 1);
      return new Promise((resolve) => {
        const timer = setTimeout(() => settle(undefined), timeoutMs);
        const settle = (connections: number[] | undefined): void => {
          clearTimeout(timer);
          queries.delete(queryId);
          resolve(connections);
        };
        queries.set(queryId, settle);
        out.write({ sessions: { queryId, users: [...users], closeCode: close?.code ?? 0, closeReason: close?.reason ?? '' } });
      });
    },
  };
  const reject = (code: status, details: string): void => finish('refused', details, code);
  /** Runs a registry step; a failure refuses the stream (the gateway retries) and the pod stays up. */
  const settled = (step: () => unknown, what: string): boolean => {
    try {
      step();
    } catch (err: unknown) {
      log.error({ err, instance }, `${what} failed; stream refused`);
      reject(status.UNAVAILABLE, `${what} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    return !ended;
  };

  // Frames are held until the pod serves; the gateway's connect deadline bounds the wait.
  let held: MessageStreamRequest__Output[] | undefined = [];
  deps.streamsServed().then(
    (refusal) => {
      if (refusal) return reject(status.UNAVAILABLE, refusal);
      const pending = held ?? [];
      held = undefined;
      for (const req of pending) onFrame(req);
    },
    (err: unknown) => reject(status.UNAVAILABLE, `serving the stream failed: ${err instanceof Error ? err.message : String(err)}`),
  );
  const onFrame = (req: MessageStreamRequest__Output): void => {
    if (ended) return;
    if (!instance) {
      const sub = req.subscribe;
      if (req.request !== 'subscribe' || !sub) return reject(status.INVALID_ARGUMENT, 'the first frame must be subscribe');
      if (!/^[\x21-\x7e]{1,128}$/.test(sub.connectServiceId))
        return reject(status.INVALID_ARGUMENT, 'connect_service_id must be 1-128 printable ASCII characters');
      const bad = sub.onlineUsers.find((u) => !isUserId(u));
      if (bad !== undefined) return reject(status.INVALID_ARGUMENT, `online_users holds an invalid user id: ${JSON.stringify(bad).slice(0, 80)}`);
      instance = sub.connectServiceId;
      answersSessions = sub.sessions;
      // Routed here from now on: pushes to these users take this stream.
      if (!settled(() => deps.subscribers.attach(sub.connectServiceId, link, sub.onlineUsers), 'registering the gateway')) return;
      out.write({ subscribed: { messageServiceId: deps.instance, streamSend: true, presenceAck: true, batchMaxBytes: batchBudget(deps.maxMessageBytes) } });
      out.enable(sub.batchMaxBytes);
      log.info({ instance, users: sub.onlineUsers.length }, 'gateway subscribed');
      return;
    }
    if (req.request === 'presence' && req.presence) {
      const { online, offline, ackId } = req.presence;
      const bad = [...online, ...offline].find((u) => !isUserId(u));
      if (bad !== undefined) return reject(status.INVALID_ARGUMENT, `presence holds an invalid user id: ${JSON.stringify(bad).slice(0, 80)}`);
      // Applied to routing at once; the acknowledgement tells the gateway these users are routed here.
      const id = instance;
      if (settled(() => deps.subscribers.update(id, link, online, offline), 'updating presence') && ackId) out.write({ presenceApplied: { ackId } });
    } else if (req.request === 'send' && req.send) {
      const { requestId, send } = req.send;
      const answer = (result: SendResult): void => {
        if (!ended) out.write({ sendResult: { requestId, ...result } });
      };
      const reason = deps.unavailable();
      if (reason) return answer({ error: { code: status.UNAVAILABLE, message: reason, reason: 'UNAVAILABLE' } });
      if (!send) return answer({ error: { code: status.INVALID_ARGUMENT, message: 'send is required', reason: 'BAD_REQUEST' } });
      accept(deps.acceptor, send, instance).then(
        (accepted) => answer({ accepted }),
        (err: unknown) => {
          logFailure(log, err, 'StreamSend');
          answer({ error: { code: grpcStatusOf(err), message: describeError(err), reason: errorCodeOf(err) } });
        },
      );
    } else if (req.request === 'watch' && req.watch) {
      const { add, remove } = req.watch;
      const bad = [...add, ...remove].find((u) => !isUserId(u));
      if (bad !== undefined) return reject(status.INVALID_ARGUMENT, `watch holds an invalid user id: ${JSON.stringify(bad).slice(0, 80)}`);
      deps.subscribers.watch(instance, link, add, remove);
    } else if (req.request === 'sessions' && req.sessions) {
      queries.get(req.sessions.queryId)?.(req.sessions.connections);
    } else if (req.request === 'batch' && req.batch) {
      const { requests } = req.batch;
      if (requests.some((r) => r.request === 'batch' || r.request === 'subscribe'))
        return reject(status.INVALID_ARGUMENT, 'a batch may not hold subscribe or another batch');
      for (const r of requests) onFrame(r);
    } else if (req.request === 'subscribe') {
      reject(status.INVALID_ARGUMENT, 'subscribe may only be the first frame');
    }
  };
  call.on('data', (req: MessageStreamRequest__Output) => {
    if (!held) onFrame(req);
    else if (held.length < MAX_HELD_FRAMES) held.push(req);
    else reject(status.RESOURCE_EXHAUSTED, `more than ${MAX_HELD_FRAMES} frames before the pod serves`);
  });
  call.on('end', () => {
    out.flush();
    finish('gateway_closed', 'stream ended by gateway');
    call.end();
  });
  // A status this side emitted comes back here once `finish` has run, and is not counted again.
  call.on('error', (err: Error & { details?: string }) => finish('error', err.details ?? err.message));
  call.on('cancelled', () => finish('gateway_closed', 'cancelled by gateway'));
}

/** The wire outcome of a send carried on a stream. */
type SendResult = { accepted: SendResponse } | { error: SendError };

/** A send, unary or on a stream, handed to the acceptor; `instance` is the gateway it came from. */
async function accept(acceptor: SendAcceptor, r: SendRequest__Output, instance: string): Promise<SendResponse> {
  const a = await acceptor.accept(fromSendRequest(r, instance));
  return { msgId: a.msgId, conversation: a.conversation, ts: a.ts };
}

/** Expected refusals (bad input, rate, ownership) are the caller's business; the rest is logged. */
function logFailure(log: Logger, err: unknown, method: string): void {
  if (!(err instanceof SwitchboardError) || err.code === 'INTERNAL' || err.code === 'UNAVAILABLE') log.warn({ err, method }, 'request failed');
}

/** Checks the shared secret in constant time (hashes of equal length are compared). */
function internalAuthCheck(token: string | undefined): (metadata: Metadata) => boolean {
  if (!token) return () => true;
  const want = createHash('sha256').update(`Bearer ${token}`).digest();
  return (metadata) => {
    const got = metadata.get('authorization')[0];
    return typeof got === 'string' && timingSafeEqual(createHash('sha256').update(got).digest(), want);
  };
}

/** What a sync reply may hold: the gateway's receive limit, less room for the envelope. */
const SYNC_REPLY_BUDGET = MAX_GRPC_MESSAGE_BYTES - 64 * 1024;

/**
 * A sync reply cut to what one gRPC message can carry: however large MAX_BODY_BYTES and the limit
 * asked for, a sync gets the messages that fit (at least one) and `hasMore`, and the client asks
 * again from the last seq it got.
 */
export function withinReplyBudget<M extends ChatMessage>(messages: M[], hasMore: boolean, budget = SYNC_REPLY_BUDGET): { messages: M[]; hasMore: boolean } {
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    bytes += encodedSize(messages[i]!);
    if (bytes > budget && i > 0) return { messages: messages.slice(0, i), hasMore: true };
  }
  return { messages, hasMore };
}

/** An upper bound of a message's protobuf size: its strings' UTF-8 bytes plus room for tags, lengths and numbers. */
function encodedSize(m: ChatMessage): number {
  let n = 64;
  for (const v of Object.values(m)) {
    if (typeof v === 'string') n += Buffer.byteLength(v) + 8;
    else if (Array.isArray(v)) for (const x of v as unknown[]) n += Buffer.byteLength(String(x)) + 8;
  }
  return n;
}
