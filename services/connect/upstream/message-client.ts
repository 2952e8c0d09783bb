import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { SwitchboardError, UnavailableError } from '../../shared/errors.js';
import { ERROR_CODE_KEY, errorCodeOfReply } from '../../shared/grpc-status.js';
import type { ChatMessage, MessageServiceClient, SendRequest } from '../../shared/proto.js';
import type { EndpointStream } from './endpoint-stream.js';
import type { MessageApi } from '../domain/session.js';
import type { MessageFrameBody } from '../domain/frames.js';

/** An error answered by a Message pod, with the protocol code derived from its gRPC status. */
export class UpstreamError extends SwitchboardError {}

/** The streams the API can use: an up one, round robin. */
export interface UpstreamPicker {
  pick(): Pick<EndpointStream, 'upClient' | 'send'> | undefined;
}

/**
 * The Message API over gRPC: each call goes to a Message pod whose stream is up; with none up the
 * caller gets UNAVAILABLE at once. Sends ride on that stream when the pod offers it (no HTTP/2
 * stream per send); history calls are unary.
 */
export function createMessageApi(opts: { streams: UpstreamPicker; instanceId: string; timeoutMs: number; internalAuthToken?: string }): MessageApi {
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
      const req: SendRequest = {
        fromUser: cmd.from,
        clientId: cmd.clientId,
        toUser: cmd.to,
        body: cmd.body,
        originInstance: opts.instanceId,
        originConnection: cmd.originConnection,
        conversation: cmd.conversation ?? '',
        kind: cmd.kind ?? '',
        members: cmd.members ?? [],
      };
      const sent = stream.send(req, opts.timeoutMs);
      if (!sent) throw noneUp();
      const res = await sent;
      return { msgId: res.msgId, conversation: res.conversation, ts: res.ts };
    },
    async sync(user, conversation, after, limit) {
      const res = await unary<Parameters<MessageServiceClient['sync']>[0], { messages: ChatMessage[]; hasMore: boolean }>(
        (c, req, o, cb) => c.sync(req, md, o, cb),
        { user, conversation, afterSeq: after, limit },
      );
      return { messages: res.messages.map(toMessageFrameBody), hasMore: res.hasMore };
    },
    async members(user, conversation) {
      const res = await unary<Parameters<MessageServiceClient['members']>[0], { members: string[] }>((c, req, o, cb) => c.members(req, md, o, cb), {
        user,
        conversation,
      });
      return res.members;
    },
    async conversations(user) {
      const res = await unary<Parameters<MessageServiceClient['conversations']>[0], { items: Array<{ conversation: string; lastSeq: number }> }>(
        (c, req, o, cb) => c.conversations(req, md, o, cb),
        { user },
      );
      return res.items.map((i) => ({ conversation: i.conversation, lastSeq: i.lastSeq }));
    },
  };
}

/** A wire message as the body of a `message` frame. */
export function toMessageFrameBody(m: ChatMessage): MessageFrameBody {
  const frame: MessageFrameBody = {
    msgId: m.msgId,
    conversation: m.conversation,
    seq: m.seq,
    from: m.fromUser,
    to: m.toUser,
    body: m.body,
    ts: m.ts,
    id: m.clientId,
  };
  if (m.kind !== '') {
    frame.kind = m.kind;
    frame.members = m.members;
  }
  return frame;
}

/** Call metadata carrying the shared secret Message checks when INTERNAL_AUTH_TOKEN is set. */
export function internalMetadata(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}
