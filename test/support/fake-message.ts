import { Server, ServerCredentials, status, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { loadSwitchboardProto, type MessageServiceHandlers, type MessageStreamRequest__Output, type MessageStreamResponse } from '../../services/shared/proto.js';

type Call = ServerDuplexStream<MessageStreamRequest__Output, MessageStreamResponse>;

/** A Message pod stand-in: records what gateways announce on their streams and pushes on demand. */
export interface FakeMessage {
  port: number;
  /** Every frame received on any stream, in order. */
  frames: MessageStreamRequest__Output[];
  /** Users currently announced as online. */
  online(): number;
  /** Pushes `count` messages for `recipients` on every stream. */
  push(recipients: string[], count?: number, opts?: { body?: string; excludeConnection?: string }): void;
  /** Ends every stream as a draining pod does. */
  drop(): void;
  stop(): Promise<void>;
}

export async function startFakeMessage(): Promise<FakeMessage> {
  const frames: MessageStreamRequest__Output[] = [];
  const calls = new Set<Call>();
  const users = new Set<string>();
  const server = new Server();
  const unimplemented = (_: unknown, cb: (e: ServiceError) => void) => cb({ code: status.UNIMPLEMENTED, details: 'stand-in' } as ServiceError);
  const handlers: MessageServiceHandlers = {
    Send: unimplemented,
    Sync: unimplemented,
    Conversations: unimplemented,
    MessageStream(call) {
      calls.add(call);
      call.on('data', (f: MessageStreamRequest__Output) => {
        frames.push(f);
        if (f.request === 'subscribe') {
          for (const u of f.subscribe!.onlineUsers) users.add(u);
          call.write({ subscribed: { messageServiceId: 'stand-in' } });
        } else if (f.request === 'presence') {
          for (const u of f.presence!.online) users.add(u);
          for (const u of f.presence!.offline) users.delete(u);
        }
      });
      call.on('end', () => call.end());
      call.on('error', () => calls.delete(call));
      call.on('cancelled', () => calls.delete(call));
    },
  };
  server.addService(loadSwitchboardProto().grpc.switchboard.v1.MessageService.service, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    frames,
    online: () => users.size,
    push(recipients, count = 1, opts = {}) {
      for (const c of calls) {
        for (let i = 0; i < count; i++) {
          const body = opts.body ?? `push number ${i} of the gateway push benchmark`;
          c.write({
            push: {
              message: { msgId: `m-${body}-${i}`, conversation: 'dm:u1:u2', seq: i + 1, fromUser: 'u1', toUser: 'u2', body, ts: Date.now(), clientId: `c${i}` },
              recipients,
              excludeConnection: opts.excludeConnection ?? '',
            },
          });
        }
      }
    },
    drop() {
      for (const c of [...calls]) c.emit('error', { code: status.UNAVAILABLE, details: 'draining' });
      calls.clear();
    },
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}
