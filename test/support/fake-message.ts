import { Server, ServerCredentials, status, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import {
  loadSwitchboardProto,
  type MessageServiceHandlers,
  type MessageStreamRequest__Output,
  type MessageStreamResponse,
  type SendRequest__Output,
} from '../../services/shared/proto.js';

type Call = ServerDuplexStream<MessageStreamRequest__Output, MessageStreamResponse>;

/** A Message pod stand-in: records what gateways announce on their streams and pushes on demand. */
export interface FakeMessage {
  port: number;
  /** Every frame received on any stream, in order (the frames of a batch one by one). */
  frames: MessageStreamRequest__Output[];
  /** Every batch received: its frames and its encoded size in bytes. */
  batches: Array<{ frames: number; bytes: number }>;
  /** The batch size each stream's gateway announced in its subscribe (0: it reads no batches). */
  gatewayBatchBytes: number[];
  /** Users currently announced as online. */
  online(): number;
  /** Pushes `count` messages for `recipients` on every stream; `batched`: all in one batch frame. */
  push(recipients: string[], count?: number, opts?: { body?: string; excludeConnection?: string; batched?: boolean }): void;
  /** Ends every stream as a draining pod does. */
  drop(): void;
  /** Sends received, and the way each came (on a stream, or as a unary Send). */
  sends: Array<{ via: 'stream' | 'unary'; clientId: string }>;
  stop(): Promise<void>;
}

export interface FakeMessageOptions {
  /** Offer sends on the stream and presence confirmations (as every pod since 0.1.0 does); false: a pod older than that. */
  streamSend?: boolean;
  /** Answer sends with `accepted` (the default), or never (a pod that dies before answering). */
  answerSends?: 'accept' | 'never';
  /** Offer to read batches up to this many bytes (as current pods do); absent: an older pod. */
  batchMaxBytes?: number;
}

export async function startFakeMessage(opts: FakeMessageOptions = {}): Promise<FakeMessage> {
  const frames: MessageStreamRequest__Output[] = [];
  const batches: FakeMessage['batches'] = [];
  const gatewayBatchBytes: number[] = [];
  const streamMethod = loadSwitchboardProto().grpc.switchboard.v1.MessageService.service.MessageStream;
  const calls = new Set<Call>();
  const users = new Set<string>();
  const sends: FakeMessage['sends'] = [];
  const server = new Server();
  const unimplemented = (_: unknown, cb: (e: ServiceError) => void) => cb({ code: status.UNIMPLEMENTED, details: 'stand-in' } as ServiceError);
  const accepted = (r: SendRequest__Output) => ({
    msgId: `fake-${r.fromUser}-${r.clientId}`,
    conversation: `dm:${[r.fromUser, r.toUser].sort().join(':')}`,
    ts: Date.now(),
  });
  const handlers: MessageServiceHandlers = {
    Send(call, cb) {
      sends.push({ via: 'unary', clientId: call.request.clientId });
      if (opts.answerSends !== 'never') cb(null, accepted(call.request));
    },
    Sync: unimplemented,
    Conversations: unimplemented,
    Members: unimplemented,
    MarkRead: unimplemented,
    Typing: unimplemented,
    Presence: unimplemented,
    MessageStream(call) {
      calls.add(call);
      const onFrame = (f: MessageStreamRequest__Output): void => {
        if (f.request === 'batch') {
          batches.push({ frames: f.batch!.requests.length, bytes: streamMethod.requestSerialize(f).length });
          for (const r of f.batch!.requests) onFrame(r);
          return;
        }
        frames.push(f);
        if (f.request === 'subscribe') {
          for (const u of f.subscribe!.onlineUsers) users.add(u);
          gatewayBatchBytes.push(f.subscribe!.batchMaxBytes);
          call.write({
            subscribed: {
              messageServiceId: 'stand-in',
              streamSend: opts.streamSend ?? true,
              presenceAck: opts.streamSend ?? true,
              batchMaxBytes: opts.batchMaxBytes ?? 0,
            },
          });
        } else if (f.request === 'send' && f.send?.send) {
          sends.push({ via: 'stream', clientId: f.send.send.clientId });
          if (opts.answerSends !== 'never') call.write({ sendResult: { requestId: f.send.requestId, accepted: accepted(f.send.send) } });
        } else if (f.request === 'presence') {
          for (const u of f.presence!.online) users.add(u);
          for (const u of f.presence!.offline) users.delete(u);
          if (f.presence!.ackId) call.write({ presenceApplied: { ackId: f.presence!.ackId } });
        }
      };
      call.on('data', onFrame);
      call.on('end', () => call.end());
      call.on('error', () => calls.delete(call));
      call.on('cancelled', () => calls.delete(call));
    },
  };
  server.addService(loadSwitchboardProto().grpc.switchboard.v1.MessageService.service, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    port,
    frames,
    batches,
    gatewayBatchBytes,
    sends,
    online: () => users.size,
    push(recipients, count = 1, opts = {}) {
      const pushes: MessageStreamResponse[] = Array.from({ length: count }, (_, i) => {
        const body = opts.body ?? `push number ${i} of the gateway push benchmark`;
        return {
          push: {
            message: { msgId: `m-${body}-${i}`, conversation: 'dm:u1:u2', seq: i + 1, fromUser: 'u1', toUser: 'u2', body, ts: Date.now(), clientId: `c${i}` },
            recipients,
            excludeConnection: opts.excludeConnection ?? '',
          },
        };
      });
      for (const c of calls) {
        if (opts.batched) c.write({ batch: { responses: pushes } });
        else for (const p of pushes) c.write(p);
      }
    },
    drop() {
      for (const c of [...calls]) c.emit('error', { code: status.UNAVAILABLE, details: 'draining' });
      calls.clear();
    },
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}
