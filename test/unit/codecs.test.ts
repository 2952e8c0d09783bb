import assert from 'node:assert/strict';
import { decodeLogRecord, encodeLogRecord } from '../../services/message/adapters/log-record.js';
import { fromChatMessage, fromPush, fromSendRequest, toChatMessage, toSendRequest } from '../../services/shared/message-proto.js';
import { toMessageFrame } from '../../services/connect/domain/frames.js';
import type { AcceptedSend, Message, SendCommand } from '../../services/shared/message.js';
import type { ChatMessage__Output } from '../../services/shared/gen/switchboard/v1/ChatMessage.js';
import type { SendRequest__Output } from '../../services/shared/gen/switchboard/v1/SendRequest.js';

/** The message has one shape inside; each boundary has one codec, and these are their wire layouts. */
describe('message codecs (one per boundary)', () => {
  const text: Message = { msgId: 'm1', conversation: 'dm:a:b', seq: 7, from: 'a', to: 'b', body: 'hi', ts: 1_000, clientId: 'c-1' };
  const created: Message = { ...text, conversation: 'grp:g', to: 'grp:g', body: '', kind: 'created', members: ['a', 'b'] };
  const edited: Message = { ...text, seq: 9, body: 'hi!', kind: 'edited', members: [], ref: 7 };
  const titled: Message = { ...created, seq: 3, body: 'Trip', kind: 'titled', members: [] };

  describe('log record', () => {
    const send: AcceptedSend = {
      msgId: 'm1',
      conversation: 'dm:a:b',
      from: 'a',
      to: 'b',
      body: 'hi',
      ts: 1_000,
      clientId: 'c-1',
      origin: { instance: 'gw', connection: 'c9' },
    };

    it('writes the flat layout of the first release, and reads it back', () => {
      const value = encodeLogRecord(send);
      assert.deepEqual(JSON.parse(value), {
        msgId: 'm1',
        conversation: 'dm:a:b',
        from: 'a',
        to: 'b',
        body: 'hi',
        ts: 1_000,
        clientId: 'c-1',
        originInstance: 'gw',
        originConnection: 'c9',
      });
      assert.deepEqual(decodeLogRecord(Buffer.from(value)), send);
      const change: AcceptedSend = { ...send, conversation: 'grp:g', to: 'grp:g', body: '', kind: 'added', members: ['c'] };
      assert.deepEqual(decodeLogRecord(Buffer.from(encodeLogRecord(change))), change);
      const deletion: AcceptedSend = { ...send, body: '', kind: 'deleted', members: [], ref: 4 };
      assert.equal((JSON.parse(encodeLogRecord(deletion)) as { ref?: number }).ref, 4);
      assert.deepEqual(decodeLogRecord(Buffer.from(encodeLogRecord(deletion))), deletion);
      const title: AcceptedSend = { ...change, body: 'Trip', kind: 'titled', members: [] };
      assert.deepEqual(decodeLogRecord(Buffer.from(encodeLogRecord(title))), title);
    });

    it('reads a record a release before this one wrote (still in the log after an upgrade)', () => {
      const old =
        '{"msgId":"x","conversation":"grp:g","from":"a","to":"grp:g","body":"","ts":5,"clientId":"i","originInstance":"gw","originConnection":"c","kind":"left","members":["a"]}';
      assert.deepEqual(decodeLogRecord(Buffer.from(old)), {
        msgId: 'x',
        conversation: 'grp:g',
        from: 'a',
        to: 'grp:g',
        body: '',
        ts: 5,
        clientId: 'i',
        origin: { instance: 'gw', connection: 'c' },
        kind: 'left',
        members: ['a'],
      });
    });

    it('refuses what is not a send: not JSON, a field missing or mistyped, an unknown kind, members not strings', () => {
      const good = JSON.parse(encodeLogRecord(send)) as Record<string, unknown>;
      for (const bad of [
        'not json',
        'null',
        '42',
        JSON.stringify({ ...good, msgId: undefined }),
        JSON.stringify({ ...good, ts: '1000' }),
        JSON.stringify({ ...good, originConnection: 3 }),
        JSON.stringify({ ...good, kind: 'promoted', members: [] }),
        JSON.stringify({ ...good, kind: 'added' }),
        JSON.stringify({ ...good, kind: 'added', members: [1] }),
        JSON.stringify({ ...good, kind: 'edited', members: [] }),
        JSON.stringify({ ...good, kind: 'deleted', members: [], ref: 0 }),
        JSON.stringify({ ...good, kind: 'deleted', members: [], ref: '3' }),
      ]) {
        assert.equal(decodeLogRecord(Buffer.from(bad)), undefined, bad);
      }
      assert.equal(decodeLogRecord(null), undefined);
    });
  });

  describe('gRPC', () => {
    it('maps a message to the proto fields and back, text and membership alike', () => {
      assert.deepEqual(toChatMessage(text), {
        msgId: 'm1',
        conversation: 'dm:a:b',
        seq: 7,
        fromUser: 'a',
        toUser: 'b',
        body: 'hi',
        ts: 1_000,
        clientId: 'c-1',
        kind: '',
        members: [],
        ref: 0,
      });
      assert.equal(toChatMessage(edited).ref, 7);
      for (const m of [text, created, edited, titled]) assert.deepEqual(fromChatMessage(toChatMessage(m) as ChatMessage__Output), m);
      assert.deepEqual(fromPush({ message: toChatMessage(text) as ChatMessage__Output, recipients: ['b'], excludeConnection: 'c9' }), {
        message: text,
        recipients: ['b'],
        excludeConnection: 'c9',
      });
      assert.equal(fromPush({ message: null, recipients: [], excludeConnection: '' }), undefined);
    });

    it('maps a send command to the request and back; the origin instance is the one the pod knows the gateway by', () => {
      const cmd: SendCommand = {
        from: 'a',
        clientId: 'c-1',
        to: '',
        body: '',
        origin: { instance: 'gw', connection: 'c9' },
        conversation: 'grp:g',
        kind: 'added',
        members: ['c'],
      };
      const req = toSendRequest(cmd) as SendRequest__Output;
      assert.deepEqual(req, {
        fromUser: 'a',
        clientId: 'c-1',
        toUser: '',
        body: '',
        originInstance: 'gw',
        originConnection: 'c9',
        conversation: 'grp:g',
        kind: 'added',
        members: ['c'],
        ref: 0,
      });
      assert.deepEqual(fromSendRequest(req, 'gw'), cmd);
      const edit: SendCommand = { ...cmd, conversation: 'dm:a:b', body: 'new', kind: 'edited', members: [], ref: 5 };
      assert.deepEqual(fromSendRequest(toSendRequest(edit) as SendRequest__Output, 'gw'), edit);
      assert.deepEqual(fromSendRequest({ ...req, originInstance: 'claimed' }, 'stream-gw').origin, { instance: 'stream-gw', connection: 'c9' });
      const direct = fromSendRequest({ ...req, toUser: 'b', body: 'hi', conversation: '', kind: '', members: [] }, 'gw');
      assert.deepEqual(direct, { from: 'a', clientId: 'c-1', to: 'b', body: 'hi', origin: { instance: 'gw', connection: 'c9' } });
    });
  });

  describe('WebSocket frame', () => {
    it('carries the sender id for the send as `id`, and a membership message its kind and members', () => {
      assert.deepEqual(toMessageFrame(text), { msgId: 'm1', conversation: 'dm:a:b', seq: 7, from: 'a', to: 'b', body: 'hi', ts: 1_000, id: 'c-1' });
      assert.deepEqual(toMessageFrame(created), {
        ...toMessageFrame(text),
        conversation: 'grp:g',
        to: 'grp:g',
        body: '',
        kind: 'created',
        members: ['a', 'b'],
      });
      assert.deepEqual(toMessageFrame(edited), { ...toMessageFrame(text), seq: 9, body: 'hi!', kind: 'edited', members: [], ref: 7 });
      assert.deepEqual(toMessageFrame(titled), { ...toMessageFrame(created), seq: 3, body: 'Trip', kind: 'titled', members: [] });
    });
  });
});
