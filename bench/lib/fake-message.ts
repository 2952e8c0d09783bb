import { Server, ServerCredentials, status, type ServerDuplexStream, type ServiceError } from '@grpc/grpc-js';
import { loadSwitchboardProto, type MessageServiceHandlers, type MessageStreamRequest__Output, type MessageStreamResponse } from '../../services/shared/proto.js';

type Call = ServerDuplexStream<MessageStreamRequest__Output, MessageStreamResponse>;

/** A Message pod stand-in that pushes on demand to the gateways subscribed to it (push scenario). */
export async function startFakeMessage(): Promise<{ port: number; push(recipients: string[], count: number): void; online(): number; stop(): Promise<void> }> {
  const calls = new Set<Call>();
  const users = new Set<string>();
  const server = new Server();
  const unimplemented = (_: unknown, cb: (e: ServiceError) => void) => cb({ code: status.UNIMPLEMENTED, details: 'bench stand-in' } as ServiceError);
  const handlers: MessageServiceHandlers = {
    Send: unimplemented,
    Sync: unimplemented,
    Conversations: unimplemented,
    MessageStream(call) {
      calls.add(call);
      call.on('data', (f: MessageStreamRequest__Output) => {
        if (f.request === 'subscribe') {
          for (const u of f.subscribe!.onlineUsers) users.add(u);
          call.write({ subscribed: { messageServiceId: 'bench' } });
        } else if (f.request === 'presence') {
          for (const u of f.presence!.online) users.add(u);
          for (const u of f.presence!.offline) users.delete(u);
        }
      });
      call.on('error', () => calls.delete(call));
      call.on('end', () => calls.delete(call));
    },
  };
  server.addService(loadSwitchboardProto().grpc.switchboard.v1.MessageService.service, handlers);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  return {
    port,
    online: () => users.size,
    push(recipients, count) {
      for (const c of calls) {
        for (let i = 0; i < count; i++) {
          c.write({
            push: {
              message: { msgId: `bench-${i}`, conversation: 'dm:bench:all', seq: i + 1, fromUser: 'bench', toUser: 'all', body: `push number ${i} of the gateway push benchmark`, ts: Date.now(), clientId: `c${i}` },
              recipients,
              excludeConnection: '',
            },
          });
        }
      }
    },
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())),
  };
}
