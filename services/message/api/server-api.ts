import type { Server, Socket } from 'node:net';
import { createServer } from '@httptoolkit/httpolyglot';
import { Code, ConnectError, type Interceptor, type ServiceImpl } from '@connectrpc/connect';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { ServerApiService, file_switchboard_v1_server_api } from '../../shared/gen-es/switchboard/v1/server_api_pb.js';
import { SwitchboardError } from '../../shared/errors.js';
import { ERROR_CODE_KEY, grpcStatusOf } from '../../shared/grpc-status.js';
import { listen } from '../../shared/listen.js';
import { toChatMessage } from '../../shared/message-proto.js';
import { CLOSE_DISCONNECTED, CLOSE_DISCONNECTED_FINAL } from '../../shared/ws-protocol.js';
import { isUserId } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import type { Message, SendCommand } from '../../shared/message.js';
import type { SendAcceptor } from '../domain/send-acceptor.js';
import type { History } from '../domain/history.js';
import type { SubscriberRegistry } from '../domain/subscribers.js';
import type { ApiKeys, Scope } from './api-keys.js';
import { addReflection } from './reflection.js';

export const SERVER_API_NAME = ServerApiService.typeName;
/** The methods' names, and the outcomes a call usually ends with: exported at 0 from the start (docs/PROTOCOL.md §6). */
export const SERVER_API_METHODS: readonly string[] = Object.values(ServerApiService.method).map((m) => m.name);
export const SERVER_API_OUTCOMES: readonly string[] = ['OK', 'Unauthenticated', 'PermissionDenied', 'InvalidArgument', 'NotFound', 'Unavailable', 'Internal'];

/** The scope each method needs (docs/PROTOCOL.md §9). */
const SCOPE_OF: Record<keyof typeof ServerApiService.method, Scope> = {
  publish: 'publish',
  history: 'history',
  listConversations: 'history',
  getPresence: 'presence',
  disconnect: 'disconnect',
  createGroup: 'groups',
  addMembers: 'groups',
  removeMembers: 'groups',
  setGroupTitle: 'groups',
  listMembers: 'groups',
};

/** Most users one presence call asks about. */
const MAX_PRESENCE_USERS = 1000;
/** Most UTF-8 bytes of a disconnect's reason (a close frame's reason holds 123). */
const MAX_REASON_BYTES = 100;

export interface ServerApiDeps {
  acceptor: SendAcceptor;
  history: History;
  subscribers: SubscriberRegistry;
  keys: ApiKeys;
  /** This pod's instance id: the origin of what the API publishes (no connection of a gateway to spare). */
  instance: string;
  /** The system account (SYSTEM_USER): the sender when a call names none. */
  systemUser: string;
  maxSyncLimit: number;
  /** Why calls must be refused right now (draining, backends not connected), if they must. */
  unavailable: () => string | undefined;
  logger: Logger;
  /** Every call's method, key name and outcome (the gRPC code's name): metrics. */
  onCall?: (method: string, code: string) => void;
}

/**
 * The public server API for application backends (switchboard.v1.ServerApiService): the same
 * domain objects as the internal service, behind API keys. Served as gRPC, gRPC-Web and HTTP/JSON
 * (the Connect protocol) from one definition, on one port for HTTP/1.1 and HTTP/2 alike.
 */
export function createServerApi(deps: ServerApiDeps): {
  server: Server;
  listen(host: string, port: number): Promise<number>;
  close(graceMs?: number): Promise<void>;
} {
  const origin = { instance: deps.instance, connection: '' };
  const actor = (fromUser: string): string => fromUser || deps.systemUser;
  const send = async (cmd: Omit<SendCommand, 'origin'>) => deps.acceptor.accept({ ...cmd, origin });
  /** Members added to or removed from a group, by a member or by the system account. */
  const membership = async (
    kind: 'added' | 'removed',
    req: { clientId: string; fromUser: string; conversation: string; members: string[] },
  ): Promise<{ msgId: string }> => {
    const a = await send({ from: actor(req.fromUser), clientId: req.clientId, to: '', body: '', conversation: req.conversation, kind, members: req.members });
    return { msgId: a.msgId };
  };

  const impl: ServiceImpl<typeof ServerApiService> = {
    async publish(req) {
      if (req.toUser && req.conversation) throw new ConnectError('give to_user or conversation, not both', Code.InvalidArgument);
      const a = await send({
        from: actor(req.fromUser),
        clientId: req.clientId,
        to: req.toUser,
        body: req.body,
        ...(req.conversation ? { conversation: req.conversation } : {}),
      });
      return { msgId: a.msgId, conversation: a.conversation, ts: BigInt(a.ts) };
    },
    async history(req) {
      const { messages, hasMore } = await deps.history.read(req.conversation, safeNumber(req.afterSeq, 'after_seq'), req.limit || deps.maxSyncLimit);
      return { messages: messages.map(chatMessage), hasMore };
    },
    async listConversations(req) {
      const items = await deps.history.conversations(req.user);
      return {
        items: items.map((i) => ({
          conversation: i.conversation,
          lastSeq: BigInt(i.lastSeq),
          readSeq: BigInt(i.readSeq),
          unread: BigInt(i.unread),
          title: i.title ?? '',
        })),
      };
    },
    async getPresence(req) {
      if (req.users.length === 0 || req.users.length > MAX_PRESENCE_USERS)
        throw new ConnectError(`users must name 1-${MAX_PRESENCE_USERS} users`, Code.InvalidArgument);
      const bad = req.users.find((u) => !isUserId(u));
      if (bad !== undefined) throw new ConnectError(`users holds an invalid user id: ${JSON.stringify(bad).slice(0, 80)}`, Code.InvalidArgument);
      const counts = await deps.subscribers.sessions(req.users);
      return { users: req.users.map((user) => ({ user, online: (counts.get(user) ?? 0) > 0, connections: counts.get(user) ?? 0 })) };
    },
    async disconnect(req) {
      if (!isUserId(req.user)) throw new ConnectError('user must be a user id', Code.InvalidArgument);
      if (Buffer.byteLength(req.reason) > MAX_REASON_BYTES)
        throw new ConnectError(`reason must be at most ${MAX_REASON_BYTES} UTF-8 bytes`, Code.InvalidArgument);
      const code = req.reconnect ? CLOSE_DISCONNECTED : CLOSE_DISCONNECTED_FINAL;
      const counts = await deps.subscribers.sessions([req.user], { code, reason: req.reason || 'disconnected by the application' });
      return { connections: counts.get(req.user) ?? 0 };
    },
    async createGroup(req) {
      const a = await send({ from: actor(req.fromUser), clientId: req.clientId, to: '', body: req.title, kind: 'created', members: req.members });
      return { conversation: a.conversation, msgId: a.msgId };
    },
    addMembers: (req) => membership('added', req),
    removeMembers: (req) => membership('removed', req),
    async setGroupTitle(req) {
      const a = await send({ from: actor(req.fromUser), clientId: req.clientId, to: '', body: req.title, conversation: req.conversation, kind: 'titled' });
      return { msgId: a.msgId };
    },
    async listMembers(req) {
      const members = await deps.history.groupMembers(req.conversation);
      if (!members) throw new ConnectError(`no group ${req.conversation}`, Code.NotFound);
      return { members };
    },
  };

  /** Every call: its key checked and its scope, refused while the pod cannot serve, errors as statuses, one log line. */
  const guard: Interceptor = (next) => async (req) => {
    const method = req.method.name;
    const started = Date.now();
    let key: string | undefined;
    try {
      if (req.service.typeName === SERVER_API_NAME) {
        const m = /^Bearer\s+(\S+)$/i.exec(req.header.get('authorization') ?? '');
        const found = m ? deps.keys.match(m[1]!) : undefined;
        if (!found) throw new ConnectError('missing or unknown API key: send "authorization: Bearer <key>"', Code.Unauthenticated);
        key = found.name;
        const scope = SCOPE_OF[req.method.localName as keyof typeof SCOPE_OF];
        if (!found.scopes.has(scope)) throw new ConnectError(`the key ${found.name} lacks the scope ${scope}`, Code.PermissionDenied);
        const reason = deps.unavailable();
        if (reason) throw new ConnectError(reason, Code.Unavailable);
      }
      const res = await next(req);
      deps.onCall?.(method, 'OK');
      deps.logger.info({ method, key, code: 'OK', ms: Date.now() - started }, 'server API call');
      return res;
    } catch (err: unknown) {
      const e = asConnectError(err);
      const code = Code[e.code];
      deps.onCall?.(method, code);
      const fields = { method, key, code, reason: e.rawMessage, ms: Date.now() - started };
      if (e.code === Code.Internal || e.code === Code.Unknown) deps.logger.error({ ...fields, err }, 'server API call failed');
      else deps.logger.info(fields, 'server API call refused');
      throw e;
    }
  };

  const handler = connectNodeAdapter({
    interceptors: [guard],
    routes: (router) => {
      router.service(ServerApiService, impl);
      addReflection(router, [file_switchboard_v1_server_api], [SERVER_API_NAME]);
    },
  });
  const server = createServer(handler);
  // Open connections, so that a stop does not wait for clients' idle keep-alive connections.
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    server,
    listen: (host, port) => listen(server, port, host),
    /** Stops accepting; calls in flight get `graceMs` to finish, then every connection is closed. */
    close: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, graceMs).unref();
      }),
  };
}

/** Connect's codes are gRPC's status numbers: each one by its number. */
const CONNECT_CODES = new Map<number, Code>(Object.values(Code).flatMap((c) => (typeof c === 'number' ? [[c, c] as const] : [])));

/** A domain error as the status the internal API gives it (shared/grpc-status.ts), its contract code in `switchboard-error-code`; anything else INTERNAL. */
function asConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof SwitchboardError)
    return new ConnectError(err.message, CONNECT_CODES.get(grpcStatusOf(err)) ?? Code.Internal, { [ERROR_CODE_KEY]: err.code }, undefined, err);
  return new ConnectError('internal error', Code.Internal, undefined, undefined, err);
}

function safeNumber(n: bigint, name: string): number {
  if (n < 0n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw new ConnectError(`${name} must be between 0 and 2^53-1`, Code.InvalidArgument);
  return Number(n);
}

/** A stored message as the API's ChatMessage: the internal API's codec, with 64-bit integers as bigints. */
function chatMessage(m: Message) {
  return { ...toChatMessage(m), seq: BigInt(m.seq), ts: BigInt(m.ts), ref: BigInt(m.ref ?? 0) };
}
