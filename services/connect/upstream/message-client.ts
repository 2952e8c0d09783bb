import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { SwitchboardError, UnavailableError } from '../../shared/errors.js';
import { ERROR_CODE_KEY, errorCodeOfReply } from '../../shared/grpc-status.js';
import type {
  ChatMessage,
  ConversationsResponse__Output,
  MarkReadResponse__Output,
  MessageServiceClient,
  SendRequest,
  SendResponse__Output,
} from '../../shared/proto.js';
import { fromChatMessage, toSendRequest } from '../../shared/message-proto.js';
import type { MessageApi } from '../domain/session.js';

/** An error answered by a Message pod, with the protocol code derived from its gRPC status. */
export class UpstreamError extends SwitchboardError {}

/** What the API uses of a stream to a Message pod (an EndpointStream). */
export interface UpstreamStream {
  /** The pod's client while its stream is up. */
  readonly upClient: MessageServiceClient | undefined;
  /** A send on the stream; undefined when it is not up. */
  send(req: SendRequest, timeoutMs: number): Promise<SendResponse__Output> | undefined;
}

/** The streams the API can use: an up one, round robin. */
export interface UpstreamPicker {
  pick(): UpstreamStream | undefined;
}

/**
 * The Message API over gRPC: each call goes to a Message pod whose stream is up; with none up the
 * caller gets UNAVAILABLE at once. Sends ride on that stream when the pod offers it (no HTTP/2
 * stream per send); history calls are unary.
 */
export function createMessageApi(opts: { streams: UpstreamPicker; timeoutMs: number; internalAuthToken?: string }): MessageApi {
  const noneUp = (): UnavailableError => new UnavailableError('no Message service reachable; retry later');
  const unary = <Req, Res>(
    invoke: (client: MessageServiceClient, req: Req, deadline: { deadline: number }, cb: (err: ServiceError | null, res?: Res) => void) => void,
    req: Req,
    client = opts.streams.pick()?.upClient,
  ): Promise<Res> =>
    new Promise<Res>((resolve, reject) => {
      if (!client) {
        reject(noneUp());
        return;
      }
      invoke(client, req, { deadline: Date.now() + opts.timeoutMs }, (err, res) => {
        if (err)
          reject(new UpstreamError(errorCodeOfReply(err.code, String(err.metadata.get(ERROR_CODE_KEY)[0] ?? '')), err.details || err.message, { cause: err }));
        else resolve(res as Res);
      });
    });
  const md = internalMetadata(opts.internalAuthToken);

  return {
    async send(cmd) {
      const stream = opts.streams.pick();
      if (!stream) throw noneUp();
      const sent = stream.send(toSendRequest(cmd), opts.timeoutMs);
      if (!sent) throw noneUp();
      const res = await sent;
      return { msgId: res.msgId, conversation: res.conversation, ts: res.ts };
    },
    async sync(user, conversation, after, limit) {
      const res = await unary<Parameters<MessageServiceClient['sync']>[0], { messages: ChatMessage[]; hasMore: boolean }>(
        (c, req, o, cb) => c.sync(req, md, o, cb),
        { user, conversation, afterSeq: after, limit },
      );
      return { messages: res.messages.map(fromChatMessage), hasMore: res.hasMore };
    },
    async members(user, conversation) {
      const res = await unary<Parameters<MessageServiceClient['members']>[0], { members: string[] }>((c, req, o, cb) => c.members(req, md, o, cb), {
        user,
        conversation,
      });
      return res.members;
    },
    async conversations(user) {
      const res = await unary<Parameters<MessageServiceClient['conversations']>[0], ConversationsResponse__Output>(
        (c, req, o, cb) => c.conversations(req, md, o, cb),
        { user },
      );
      return res.items.map((i) => {
        const item = { conversation: i.conversation, lastSeq: i.lastSeq, readSeq: i.readSeq, unread: i.unread };
        return i.title === '' ? item : { ...item, title: i.title };
      });
    },
    async presence(user, users) {
      const res = await unary<Parameters<MessageServiceClient['presence']>[0], { online: boolean[] }>((c, req, o, cb) => c.presence(req, md, o, cb), {
        user,
        users: [...users],
      });
      return res.online;
    },
    async typing(user, conversation, origin) {
      await unary<Parameters<MessageServiceClient['typing']>[0], object>((c, req, o, cb) => c.typing(req, md, o, cb), {
        user,
        conversation,
        originInstance: origin.instance,
        originConnection: origin.connection,
      });
    },
    async markRead(user, conversation, seq, origin) {
      const res = await unary<Parameters<MessageServiceClient['markRead']>[0], MarkReadResponse__Output>((c, req, o, cb) => c.markRead(req, md, o, cb), {
        user,
        conversation,
        seq,
        originInstance: origin.instance,
        originConnection: origin.connection,
      });
      return res.seq;
    },
  };
}

/** Call metadata carrying the shared secret Message checks when INTERNAL_AUTH_TOKEN is set. */
export function internalMetadata(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}
