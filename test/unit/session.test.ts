import assert from 'node:assert/strict';
import { Session, type ClientSocket, type MessageApi } from '../../services/connect/domain/session.js';
import { ForbiddenError, UnavailableError } from '../../services/shared/errors.js';
import { silentLogger } from '../../services/shared/logger.js';

class FakeSocket implements ClientSocket {
  sent: Array<Record<string, unknown>> = [];
  closedWith: { code: number; reason: string } | undefined;
  bufferedAmount = 0;
  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close(code: number, reason: string): void {
    this.closedWith = { code, reason };
  }
}

const limits = {
  maxBodyBytes: 16,
  syncDefaultLimit: 100,
  syncMaxLimit: 500,
  ratePerSecond: 5,
  rateBurst: 5,
  typingIntervalMs: 2000,
  maxBufferedBytes: 1000,
  maxViolations: 3,
};
const flush = () => new Promise((r) => setImmediate(r));

function setup(api: Partial<MessageApi> = {}) {
  let clock = 0;
  const socket = new FakeSocket();
  const calls: string[] = [];
  const full: MessageApi = {
    send: async (cmd) => {
      calls.push(`send ${cmd.from}→${cmd.to} ${cmd.body}`);
      return { msgId: `m-${cmd.clientId}`, conversation: 'dm:a:b', ts: 5 };
    },
    sync: async () => ({ messages: [], hasMore: false }),
    conversations: async () => [],
    members: async () => [],
    markRead: async (_u, _c, seq) => seq,
    typing: async () => undefined,
    presence: async (_u, users) => users.map(() => false),
    ...api,
  };
  const session = new Session('c-1', 'a', socket, { api: full, instance: 'gw-1', limits, logger: silentLogger(), now: () => clock });
  return { session, socket, calls, tick: (ms: number) => (clock += ms) };
}

describe('Session (every WebSocket error code)', () => {
  it('answers accepted with the authenticated user as sender', async () => {
    const { session, socket, calls } = setup();
    session.handleFrame(JSON.stringify({ type: 'send', id: 's1', to: 'b', body: 'hi', from: 'mallory' }), false);
    await flush();
    assert.deepEqual(calls, ['send a→b hi']);
    assert.deepEqual(socket.sent, [{ type: 'accepted', id: 's1', msgId: 'm-s1', conversation: 'dm:a:b', ts: 5 }]);
  });

  it('BAD_REQUEST for binary and malformed frames; TOO_LARGE for a big body; the connection stays open', () => {
    const { session, socket } = setup();
    session.handleFrame('', true);
    session.handleFrame('{oops', false);
    session.handleFrame(JSON.stringify({ type: 'send', id: 's', to: 'b', body: 'x'.repeat(17) }), false);
    assert.deepEqual(
      socket.sent.map((f) => [f.type, f.code, f.id]),
      [
        ['error', 'BAD_REQUEST', undefined],
        ['error', 'BAD_REQUEST', undefined],
        ['error', 'TOO_LARGE', 's'],
      ],
    );
    assert.equal(socket.closedWith, undefined);
  });

  it('RATE_LIMITED beyond the burst, refilled at the rate', () => {
    const { session, socket, tick } = setup();
    for (let i = 0; i < 6; i++) session.handleFrame(JSON.stringify({ type: 'ping', id: `p${i}` }), false);
    assert.deepEqual(
      socket.sent.map((f) => f.type),
      ['pong', 'pong', 'pong', 'pong', 'pong', 'error'],
    );
    assert.deepEqual(
      socket.sent[5],
      { type: 'error', id: 'p5', code: 'RATE_LIMITED', message: 'rate limit of 5 frames/s (burst 5) exceeded' },
      'named by its id: the client resends it',
    );
    tick(200); // 5/s → one token
    session.handleFrame(JSON.stringify({ type: 'ping', id: 'later' }), false);
    assert.deepEqual(socket.sent[6], { type: 'pong', id: 'later' });
  });

  it("edit, delete and group.title become sends of their kind (after the same conversation's earlier sends), and count against the frame rate", async () => {
    const cmds: Array<Record<string, unknown>> = [];
    const { session, socket } = setup({
      send: async (cmd) => {
        cmds.push({ ...cmd, origin: undefined });
        return { msgId: `m-${cmd.clientId}`, conversation: cmd.conversation ?? 'dm:a:b', ts: 5 };
      },
    });
    const frames = [
      { type: 'send', id: 's1', to: 'b', body: 'helo' },
      { type: 'edit', id: 'e1', conversation: 'dm:a:b', seq: 1, body: 'hello' },
      { type: 'delete', id: 'd1', conversation: 'dm:a:b', seq: 1 },
      { type: 'group.title', id: 't1', conversation: 'grp:g', title: 'Trip' },
      { type: 'group.create', id: 'g1', members: ['b'], title: 'Ski' },
      { type: 'edit', id: 'e2', conversation: 'dm:a:b', seq: 1, body: 'over the burst' },
    ];
    for (const f of frames) session.handleFrame(JSON.stringify(f), false);
    await flush();
    await flush();
    // Sends of one conversation keep their order; each kind carries what its message will.
    assert.deepEqual(
      cmds.map((c) => [c.clientId, c.kind ?? 'text', c.conversation ?? c.to, c.ref, c.body]).sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
      [
        ['d1', 'deleted', 'dm:a:b', 1, ''],
        ['e1', 'edited', 'dm:a:b', 1, 'hello'],
        ['g1', 'created', '', undefined, 'Ski'],
        ['s1', 'text', 'b', undefined, 'helo'],
        ['t1', 'titled', 'grp:g', undefined, 'Trip'],
      ],
    );
    assert.deepEqual(
      cmds.filter((c) => c.conversation === 'dm:a:b' || c.to === 'b').map((c) => c.clientId),
      ['s1', 'e1', 'd1'],
    );
    assert.deepEqual(
      socket.sent.find((f) => f.id === 'e2'),
      { type: 'error', id: 'e2', code: 'RATE_LIMITED', message: socket.sent.find((f) => f.id === 'e2')?.message },
      'the sixth frame of a burst of five, refused by its id',
    );
  });

  it('closes with 1008 when bad frames persist', () => {
    const { session, socket } = setup();
    for (let i = 0; i < 3; i++) session.handleFrame('bad', false);
    assert.equal(socket.closedWith?.code, undefined);
    session.handleFrame('bad', false);
    assert.equal(socket.closedWith?.code, 1008);
    const count = socket.sent.length;
    session.handleFrame('bad', false);
    assert.equal(socket.sent.length, count, 'nothing is answered after close');
  });

  it('FORBIDDEN, UNAVAILABLE and INTERNAL from the Message tier keep the request id', async () => {
    const { session, socket } = setup({
      sync: async () => {
        throw new ForbiddenError('user a is not a member of dm:x:y');
      },
      conversations: async () => {
        throw new Error('boom');
      },
      send: async () => {
        throw new UnavailableError('no Message service reachable; retry later');
      },
    });
    session.handleFrame(JSON.stringify({ type: 'sync', id: 'r1', conversation: 'dm:x:y' }), false);
    session.handleFrame(JSON.stringify({ type: 'conversations', id: 'r2' }), false);
    session.handleFrame(JSON.stringify({ type: 'send', id: 's3', to: 'b', body: 'hi' }), false);
    await flush();
    await flush();
    assert.deepEqual(
      socket.sent.map((f) => [f.id, f.code, f.message]),
      [
        ['r1', 'FORBIDDEN', 'user a is not a member of dm:x:y'],
        ['r2', 'INTERNAL', 'internal error'],
        ['s3', 'UNAVAILABLE', 'no Message service reachable; retry later'],
      ],
    );
  });

  it('relays typing at most once per conversation and interval, and answers a refusal with an error (with the id when given)', async () => {
    const relayed: string[] = [];
    const { session, socket, tick } = setup({
      typing: async (user, conversation, origin) => {
        relayed.push(`${user} ${conversation} ${origin.connection}`);
        if (conversation === 'grp:not-mine') throw new ForbiddenError('user a is not a member of grp:not-mine');
      },
    });
    const typing = (conversation: string, id?: string) => session.handleFrame(JSON.stringify({ type: 'typing', conversation, ...(id ? { id } : {}) }), false);
    typing('dm:a:b');
    typing('dm:a:b');
    tick(1999);
    typing('dm:a:b');
    typing('dm:a:c');
    tick(1);
    typing('dm:a:b');
    await flush();
    assert.deepEqual(relayed, ['a dm:a:b c-1', 'a dm:a:c c-1', 'a dm:a:b c-1'], 'once per conversation per 2 s');
    // A message ends the indicator at the others: the next typing is relayed at once.
    session.handleFrame(JSON.stringify({ type: 'send', id: 's1', to: 'b', body: 'hi' }), false);
    typing('dm:a:b');
    await flush();
    assert.deepEqual(relayed.slice(3), ['a dm:a:b c-1']);
    socket.sent.splice(0);
    tick(5000); // the frame rate's bucket full again
    typing('grp:not-mine', 't1');
    await flush();
    typing('grp:not-mine');
    await flush();
    assert.deepEqual(
      socket.sent.map((f) => [f.type, f.id, f.code]),
      [
        ['error', 't1', 'FORBIDDEN'],
        ['error', undefined, 'FORBIDDEN'],
      ],
      'a refused typing is not absorbed: the next one is relayed (and refused) again',
    );
  });

  it('closes with 1011 when handling a frame fails on the server side', () => {
    const { session, socket } = setup();
    socket.send = () => {
      throw new TypeError('bug in a writer');
    };
    session.handleFrame(JSON.stringify({ type: 'ping', id: 'p' }), false);
    assert.equal(socket.closedWith?.code, 1011);
    assert.equal(session.isClosed, true);
  });

  it('serializes sends per conversation so their order survives slow answers', async () => {
    const order: string[] = [];
    // Each send's answer is released by the test, so "slow" is an order of events, not a timer.
    const answers = new Map<string, () => void>();
    const { session, socket } = setup({
      send: async (cmd) => {
        order.push(`start ${cmd.clientId}`);
        await new Promise<void>((release) => answers.set(cmd.clientId, release));
        order.push(`end ${cmd.clientId}`);
        return { msgId: cmd.clientId, conversation: 'dm:a:b', ts: 0 };
      },
    });
    const settle = () => new Promise((r) => setImmediate(r));
    session.handleFrame(JSON.stringify({ type: 'send', id: 's1', to: 'b', body: '1' }), false);
    session.handleFrame(JSON.stringify({ type: 'send', id: 's2', to: 'b', body: '2' }), false);
    await settle();
    assert.deepEqual(order, ['start s1'], "the second send waits for the first one's answer");
    answers.get('s1')!();
    await settle();
    assert.deepEqual(order, ['start s1', 'end s1', 'start s2']);
    answers.get('s2')!();
    await settle();
    assert.deepEqual(order, ['start s1', 'end s1', 'start s2', 'end s2']);
    assert.deepEqual(
      socket.sent.map((f) => [f.type, f.id]),
      [
        ['accepted', 's1'],
        ['accepted', 's2'],
      ],
      'accepted in send order',
    );
  });

  it('closes a slow consumer with 1013 instead of buffering without bound', () => {
    const { session, socket } = setup();
    assert.equal(session.deliver({ type: 'resync' }), true);
    socket.bufferedAmount = 1001;
    assert.equal(session.deliver({ type: 'resync' }), false);
    assert.equal(socket.closedWith?.code, 1013);
    assert.equal(socket.sent.length, 1);
  });
});
