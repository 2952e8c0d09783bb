import assert from 'node:assert/strict';
import { ChatClient, type ChatEvent, type ChatMessage, type Frame, type SocketHandlers } from '../../services/client/sdk/index.js';

/** A gateway the test plays by hand: every socket the core opens, every frame it sends. */
class FakeGateway {
  sockets: Array<{ h: SocketHandlers; sent: Frame[]; closed?: { code?: number } }> = [];
  get current() {
    return this.sockets[this.sockets.length - 1]!;
  }
  open = (h: SocketHandlers) => {
    const s: { h: SocketHandlers; sent: Frame[]; closed?: { code?: number } } = { h, sent: [] };
    this.sockets.push(s);
    return { send: (t: string) => s.sent.push(JSON.parse(t) as Frame), close: (code?: number) => (s.closed = { code }) };
  };
  /** Opens the current socket and says welcome. */
  welcome(user = 'a') {
    this.current.h.onOpen();
    this.push({ type: 'welcome', user, connection: `c-${this.sockets.length}`, instance: 'gw-1' });
  }
  push(frame: Record<string, unknown>) {
    this.current.h.onMessage(JSON.stringify(frame));
  }
  /** Removes and returns what the core sent on the current socket. */
  take(): Frame[] {
    return this.current.sent.splice(0);
  }
}

const msg = (seq: number, body = `m${seq}`, from = 'b'): ChatMessage => ({ msgId: `id-${body}`, conversation: 'dm:a:b', seq, from, to: 'a', body, ts: seq });

function setup(opts: { historyLimit?: number; catchUp?: boolean } = {}) {
  const gw = new FakeGateway();
  const events: ChatEvent[] = [];
  const timers: Array<{ fn: () => void; ms: number; cancelled?: boolean }> = [];
  let ids = 0;
  const delays = [500, 800, 1280];
  let attempt = 0;
  const core = new ChatClient({
    open: gw.open,
    onEvent: (e) => events.push(e),
    newId: () => `s${++ids}`,
    setTimer: (fn, ms) => {
      const t = { fn, ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => ((t as { cancelled?: boolean }).cancelled = true),
    policy: { up: () => (attempt = 0), nextDelay: () => delays[Math.min(attempt++, delays.length - 1)]! },
    ...opts,
  });
  /** Runs the timers that are due now (in order). */
  const runTimers = () => {
    for (const t of timers.splice(0)) if (!t.cancelled) t.fn();
  };
  const shown = () => events.flatMap((e) => (e.kind === 'message' ? [`${e.message.seq}:${e.message.body}`] : []));
  return { gw, core, events, timers, runTimers, shown };
}

describe('ChatClient (the SDK: the protocol logic of the terminal client and the page)', () => {
  it('catches up on joining with the last historyLimit messages of each conversation, in order', () => {
    const { gw, core, shown } = setup({ historyLimit: 2 });
    core.start();
    gw.welcome();
    const [conv] = gw.take();
    assert.equal(conv!.type, 'conversations');
    gw.push({ type: 'conversations', id: conv!.id, items: [{ conversation: 'dm:a:b', lastSeq: 5 }] });
    const [sync] = gw.take();
    assert.deepEqual({ ...sync, id: undefined }, { type: 'sync', id: undefined, conversation: 'dm:a:b', after: 3, limit: 100 });
    gw.push({ type: 'messages', id: sync!.id, conversation: 'dm:a:b', messages: [msg(4), msg(5)], hasMore: false });
    assert.deepEqual(shown(), ['4:m4', '5:m5']);
  });

  it('holds a push that skips seqs until sync fills the gap, and drops repeats', () => {
    const { gw, core, shown } = setup();
    core.start();
    gw.welcome();
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [] });
    gw.push({ type: 'message', ...msg(1) });
    gw.push({ type: 'message', ...msg(3) });
    assert.deepEqual(shown(), ['1:m1'], 'seq 3 waits for seq 2');
    const [sync] = gw.take();
    assert.equal(sync!.after, 1);
    gw.push({ type: 'messages', id: sync!.id, conversation: 'dm:a:b', messages: [msg(2), msg(3)], hasMore: false });
    gw.push({ type: 'message', ...msg(3) });
    gw.push({ type: 'message', ...msg(2) });
    assert.deepEqual(shown(), ['1:m1', '2:m2', '3:m3']);
  });

  it('sends one message per peer at a time, in order, and resends with the same id on UNAVAILABLE', () => {
    const { gw, core, events, runTimers } = setup({ catchUp: false });
    core.start();
    gw.welcome();
    core.send('b', 'first');
    core.send('b', 'second');
    assert.deepEqual(gw.take(), [{ type: 'send', id: 's1', to: 'b', body: 'first' }]);
    gw.push({ type: 'error', id: 's1', code: 'UNAVAILABLE', message: 'no Message pod' });
    assert.deepEqual(gw.take(), [], 'nothing until the pause is over');
    runTimers();
    assert.deepEqual(gw.take(), [{ type: 'send', id: 's1', to: 'b', body: 'first' }], 'the same id again');
    gw.push({ type: 'accepted', id: 's1', msgId: 'm-1', conversation: 'dm:a:b', ts: 1 });
    assert.deepEqual(gw.take(), [{ type: 'send', id: 's2', to: 'b', body: 'second' }]);
    gw.push({ type: 'error', id: 's2', code: 'TOO_LARGE', message: 'body too large' });
    assert.deepEqual(
      events.filter((e) => e.kind === 'accepted' || e.kind === 'send-failed').map((e) => `${e.kind} ${'id' in e ? e.id : ''}`),
      ['accepted s1', 'send-failed s2'],
    );
    assert.equal(core.pendingSends, 0);
  });

  it('reconnects with the policy delay after a loss and resends what was not accepted, with its id', () => {
    const { gw, core, events, timers, runTimers } = setup({ catchUp: false });
    core.start();
    gw.welcome();
    core.send('b', 'in flight');
    gw.take();
    gw.current.h.onClose(1001, 'server draining');
    assert.deepEqual(
      events.filter((e) => e.kind === 'disconnected'),
      [{ kind: 'disconnected', code: 1001, reason: 'server draining', retryInMs: 500 }],
    );
    assert.equal(timers[0]!.ms, 500);
    runTimers();
    gw.current.h.onClose(1006, 'ECONNREFUSED'); // the gateway is still down
    assert.equal(timers[0]!.ms, 800, 'the delay grows');
    runTimers();
    gw.welcome();
    assert.deepEqual(gw.take(), [{ type: 'send', id: 's1', to: 'b', body: 'in flight' }]);
    assert.ok(events.some((e) => e.kind === 'connected' && e.reconnect));
  });

  it('stops for good when the upgrade is refused with 401, and retries a 503', () => {
    const a = setup();
    a.core.start();
    a.gw.current.h.onClose(1006, '', { status: 503, message: 'HTTP 503 draining' });
    assert.equal(a.timers.length, 1, '503 is retried');
    const b = setup();
    b.core.start();
    b.gw.current.h.onClose(1006, '', { status: 401, message: 'HTTP 401 bad token' });
    assert.deepEqual(
      b.events.filter((e) => e.kind === 'refused' || e.kind === 'stopped'),
      [{ kind: 'refused', status: 401, message: 'HTTP 401 bad token' }, { kind: 'stopped' }],
    );
    assert.equal(b.timers.length, 0);
  });

  it('stops for good when the application disconnects the user with 4403, and reconnects after a 4000', () => {
    const a = setup({ catchUp: false });
    a.core.start();
    a.gw.welcome();
    a.gw.current.h.onClose(4403, 'banned for spam');
    assert.deepEqual(
      a.events.filter((e) => e.kind === 'disconnected' || e.kind === 'stopped'),
      [{ kind: 'disconnected', code: 4403, reason: 'banned for spam', retryInMs: -1 }, { kind: 'stopped' }],
    );
    assert.equal(a.timers.length, 0, 'no reconnect is scheduled');
    const b = setup({ catchUp: false });
    b.core.start();
    b.gw.welcome();
    b.gw.current.h.onClose(4000, 'log in again');
    assert.equal(b.timers[0]?.ms, 500, 'a 4000 is reconnected with backoff');
  });

  it('starts a conversation over when the server numbers a new message with a seq already shown (history lost)', () => {
    const { gw, core, shown, events } = setup();
    core.start();
    gw.welcome();
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [] });
    gw.push({ type: 'message', ...msg(1, 'old1') });
    gw.push({ type: 'message', ...msg(2, 'old2') });
    gw.push({ type: 'message', ...msg(2, 'old2') }); // a repeat is not a reset
    assert.equal(events.filter((e) => e.kind === 'history-reset').length, 0);
    gw.push({ type: 'message', ...msg(1, 'new1') });
    assert.deepEqual(shown(), ['1:old1', '2:old2', '1:new1']);
    assert.equal(events.filter((e) => e.kind === 'history-reset').length, 1);
  });

  it('asks for group changes and members, and reports each answer once as a group event (a refusal as an error)', () => {
    const { gw, core, events } = setup();
    assert.equal(core.group('create', { members: ['b'] }), false, 'not connected: nothing sent');
    core.start();
    gw.welcome();
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [] });
    assert.equal(core.group('create', { members: ['b', 'c'] }), true);
    core.group('add', { conversation: 'grp:g', members: ['d'] });
    core.group('leave', { conversation: 'grp:g', members: ['ignored'] });
    core.group('members', { conversation: 'grp:g' });
    core.group('remove', { conversation: 'grp:g', members: ['x'] });
    const [create, add, leave, members, remove] = gw.take();
    assert.deepEqual(
      [create!, add!, leave!, members!].map(({ id: _id, ...f }) => f),
      [
        { type: 'group.create', members: ['b', 'c'] },
        { type: 'group.add', conversation: 'grp:g', members: ['d'] },
        { type: 'group.leave', conversation: 'grp:g' },
        { type: 'group.members', conversation: 'grp:g' },
      ],
    );
    const groupEvents = () => events.filter((e) => e.kind === 'group' || e.kind === 'error' || e.kind === 'accepted');
    gw.push({ type: 'accepted', id: create!.id, msgId: 'm1', conversation: 'grp:new', ts: 1 });
    gw.push({ type: 'accepted', id: create!.id, msgId: 'm1', conversation: 'grp:new', ts: 1 }); // answered once
    gw.push({ type: 'accepted', id: add!.id, msgId: 'm2', conversation: 'grp:g', ts: 2 });
    gw.push({ type: 'members', id: members!.id, conversation: 'grp:g', members: ['a', 'd'] });
    gw.push({ type: 'error', id: remove!.id, code: 'FORBIDDEN', message: 'a is not a member of grp:g' });
    gw.push({ type: 'accepted', id: remove!.id, msgId: 'm3', conversation: 'grp:g', ts: 3 }); // its request is over
    assert.deepEqual(groupEvents(), [
      { kind: 'group', action: 'create', conversation: 'grp:new' },
      { kind: 'group', action: 'add', conversation: 'grp:g' },
      { kind: 'group', action: 'members', conversation: 'grp:g', members: ['a', 'd'] },
      { kind: 'error', code: 'FORBIDDEN', message: 'a is not a member of grp:g' },
    ]);
    // The group it created is followed: it is caught up at once, though `conversations` did not list it.
    assert.deepEqual(gw.take(), [{ type: 'sync', id: 'sync:grp:new:2', conversation: 'grp:new', after: 0, limit: 100 }]);
  });

  it("counts unread messages from the server's marker, clears them on a read here or on another connection, and reports a peer's receipt", () => {
    const { gw, core, events } = setup();
    const unread = () => events.flatMap((e) => (e.kind === 'unread' ? [`${e.conversation}:${e.readSeq}/${e.unread}`] : []));
    core.start();
    gw.welcome('a');
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [{ conversation: 'dm:a:b', lastSeq: 2, readSeq: 1, unread: 1 }] });
    assert.deepEqual(unread(), ['dm:a:b:1/1'], 'as the server counts');
    const [sync] = gw.take();
    gw.push({ type: 'messages', id: sync!.id, conversation: 'dm:a:b', messages: [msg(1), msg(2)], hasMore: false });
    gw.push({ type: 'message', ...msg(3) });
    assert.equal(core.unread('dm:a:b'), 2, "b's message 3 is unread too");
    // Read here: the marker moves at once (and the gateway is told).
    assert.equal(core.markRead('dm:a:b'), true);
    assert.deepEqual(gw.take(), [{ type: 'read', id: 'read:3', conversation: 'dm:a:b', seq: 3 }]);
    assert.equal(core.unread('dm:a:b'), 0);
    assert.equal(core.markRead('dm:a:b'), false, 'nothing new to mark');
    // b's next message, then this user read it on another device: pushed without an id.
    gw.push({ type: 'message', ...msg(4) });
    assert.equal(core.unread('dm:a:b'), 1);
    gw.push({ type: 'read', conversation: 'dm:a:b', user: 'a', seq: 4 });
    assert.equal(core.unread('dm:a:b'), 0);
    // The answer to an older read does not move it back; own messages count as read.
    gw.push({ type: 'read', id: 'read:3', conversation: 'dm:a:b', user: 'a', seq: 3 });
    gw.push({ type: 'message', ...msg(5) });
    gw.push({ type: 'message', ...msg(6, 'mine', 'a') });
    assert.equal(core.unread('dm:a:b'), 0, 'an own message after it: everything before it was seen');
    assert.deepEqual(unread().slice(1), ['dm:a:b:1/2', 'dm:a:b:3/0', 'dm:a:b:3/1', 'dm:a:b:4/0', 'dm:a:b:4/1', 'dm:a:b:6/0']);
    // The peer's receipt.
    gw.push({ type: 'read', conversation: 'dm:a:b', user: 'b', seq: 6 });
    assert.deepEqual(events.at(-1), { kind: 'receipt', conversation: 'dm:a:b', user: 'b', seq: 6 });
  });

  it("reports others typing until their indicator expires or their message arrives, and sends this user's typing at most every interval", () => {
    const { gw, core, events, timers } = setup();
    const typing = () => events.flatMap((e) => (e.kind === 'typing' ? [`${e.user}:${e.active ? 'on' : 'off'}`] : []));
    core.start();
    gw.welcome('a');
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [] });
    gw.push({ type: 'typing', conversation: 'dm:a:b', user: 'b', ttlMs: 6000 });
    gw.push({ type: 'typing', conversation: 'dm:a:b', user: 'b', ttlMs: 6000 });
    assert.deepEqual(typing(), ['b:on'], 'a renewal is not news');
    const live = timers.filter((t) => !t.cancelled && t.ms === 6000);
    assert.equal(live.length, 1, 'the renewal replaced the expiry');
    live[0]!.fn();
    assert.deepEqual(typing(), ['b:on', 'b:off'], 'expired');
    gw.push({ type: 'typing', conversation: 'dm:a:b', user: 'b', ttlMs: 6000 });
    gw.push({ type: 'message', ...msg(1) });
    assert.deepEqual(typing(), ['b:on', 'b:off', 'b:on', 'b:off'], 'ended by their message');
  });

  it('sends typing once per conversation and interval, and again at once after a send', () => {
    let clock = 0;
    const gw = new FakeGateway();
    const core = new ChatClient({
      open: gw.open,
      onEvent: () => undefined,
      newId: () => 'id',
      setTimer: () => 0,
      clearTimer: () => undefined,
      now: () => clock,
    });
    core.start();
    gw.welcome('a');
    gw.take();
    assert.equal(core.typing('b'), true);
    assert.equal(core.typing('b'), false);
    assert.equal(core.typing('grp:g'), true);
    clock += 2000;
    assert.equal(core.typing('b'), true);
    core.send('b', 'hi');
    assert.equal(core.typing('b'), true, 'the send ended the indicator at the other side');
    assert.deepEqual(
      gw.take().map((f) => `${f.type} ${f.conversation ?? f.to}`),
      ['typing dm:a:b', 'typing grp:g', 'typing dm:a:b', 'send b', 'typing dm:a:b'],
    );
  });

  it('follows presence: asks once connected and again after every reconnect, and reports the answer and each change', () => {
    const { gw, core, events, runTimers } = setup({ catchUp: false });
    const presence = () => events.flatMap((e) => (e.kind === 'presence' ? [`${e.user}:${e.online ? 'on' : 'off'}`] : []));
    core.followPresence(['b', 'c', 'b']);
    core.start();
    gw.welcome('a');
    const [ask] = gw.take();
    assert.deepEqual({ ...ask, id: undefined }, { type: 'presence', id: undefined, users: ['b', 'c'] });
    gw.push({
      type: 'presence',
      id: ask!.id,
      users: [
        { user: 'b', online: true },
        { user: 'c', online: false },
      ],
    });
    gw.push({ type: 'presence', user: 'b', online: false });
    assert.deepEqual(presence(), ['b:on', 'c:off', 'b:off']);
    // The connection is lost and comes back: asked again.
    gw.current.h.onClose(1006, '');
    runTimers();
    gw.welcome('a');
    assert.deepEqual(
      gw.take().map((f) => [f.type, f.users]),
      [['presence', ['b', 'c']]],
    );
    core.followPresence([]);
    assert.deepEqual(
      gw.take().map((f) => [f.type, f.users]),
      [['presence', []]],
      'follow no one',
    );
  });

  it('edits and deletes by seq, or by the msgId of an own send whose seq it first learns (reported as sequenced), and reports each answer', () => {
    const { gw, core, events, runTimers, shown } = setup();
    assert.equal(core.edit('dm:a:b', 1, 'x'), undefined, 'not connected: nothing sent');
    core.start();
    gw.welcome();
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [{ conversation: 'dm:a:b', lastSeq: 1 }] });
    const [first] = gw.take();
    gw.push({ type: 'messages', id: first!.id, conversation: 'dm:a:b', messages: [msg(1)], hasMore: false });
    // An own send: reported at accepted, without its seq (the sending connection is not pushed it).
    core.send('b', 'helo');
    gw.take();
    gw.push({ type: 'accepted', id: 's1', msgId: 'own-1', conversation: 'dm:a:b', ts: 5 });
    const editId = core.edit('dm:a:b', 'own-1', 'hello')!;
    const [ask] = gw.take();
    assert.deepEqual({ ...ask, id: undefined }, { type: 'sync', id: undefined, conversation: 'dm:a:b', after: 1, limit: 100 }, 'it asks where its send is');
    // Not sequenced yet: it asks again after a pause.
    gw.push({ type: 'messages', id: ask!.id, conversation: 'dm:a:b', messages: [], hasMore: false });
    assert.deepEqual(gw.take(), []);
    runTimers();
    const [again] = gw.take();
    assert.equal(again!.type, 'sync');
    gw.push({ type: 'messages', id: again!.id, conversation: 'dm:a:b', messages: [{ ...msg(2, 'helo', 'a'), msgId: 'own-1' }], hasMore: false });
    assert.deepEqual(gw.take(), [{ type: 'edit', id: editId, conversation: 'dm:a:b', seq: 2, body: 'hello' }]);
    assert.equal(core.seqOf('own-1'), 2);
    assert.deepEqual(
      events.filter((e) => e.kind === 'sequenced'),
      [{ kind: 'sequenced', conversation: 'dm:a:b', msgId: 'own-1', seq: 2 }],
    );
    assert.deepEqual(shown(), ['1:m1'], 'the own send is not reported twice');
    gw.push({ type: 'accepted', id: editId, msgId: 'e-1', conversation: 'dm:a:b', ts: 6 });
    // A deletion by seq goes out at once; a refusal is its answer.
    const delId = core.deleteMessage('dm:a:b', 1)!;
    assert.deepEqual(gw.take(), [{ type: 'delete', id: delId, conversation: 'dm:a:b', seq: 1 }]);
    gw.push({ type: 'error', id: delId, code: 'FORBIDDEN', message: "the message at seq 1 is b's" });
    assert.deepEqual(
      events.filter((e) => e.kind === 'change' || e.kind === 'error' || e.kind === 'accepted').map((e) => JSON.stringify(e)),
      [
        JSON.stringify({ kind: 'accepted', id: 's1', msgId: 'own-1', conversation: 'dm:a:b', to: 'b', body: 'helo' }),
        JSON.stringify({ kind: 'change', id: editId, conversation: 'dm:a:b', ref: 'own-1', accepted: true }),
        JSON.stringify({
          kind: 'change',
          id: delId,
          conversation: 'dm:a:b',
          ref: 1,
          accepted: false,
          code: 'FORBIDDEN',
          message: "the message at seq 1 is b's",
        }),
      ],
    );
    // The edit's message comes to this connection too, and is reported in order like any message.
    gw.push({ type: 'message', ...msg(3, 'hello', 'a'), kind: 'edited', members: [], ref: 2 });
    assert.deepEqual(shown(), ['1:m1', '3:hello']);
  });

  it('refuses each change whose send never gets a seq, after asking a while', () => {
    const { gw, core, events, runTimers } = setup();
    core.start();
    gw.welcome();
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [] });
    const id = core.deleteMessage('dm:a:b', 'nowhere')!;
    const edit = core.edit('dm:a:b', 'nowhere', 'x')!;
    for (let i = 0; i < 30; i++) {
      for (const f of gw.take()) if (f.type === 'sync') gw.push({ type: 'messages', id: f.id, conversation: 'dm:a:b', messages: [], hasMore: false });
      runTimers();
    }
    assert.deepEqual(
      events.filter((e) => e.kind === 'change'),
      [id, edit].map((x) => ({
        kind: 'change',
        id: x,
        conversation: 'dm:a:b',
        ref: 'nowhere',
        accepted: false,
        code: 'BAD_REQUEST',
        message: 'message nowhere has no seq in dm:a:b',
      })),
      'each change its own answer',
    );
    assert.ok(!gw.take().some((f) => f.type === 'delete' || f.type === 'edit'), 'nothing was sent');
  });

  it("reports a group's title from conversations and from its created and titled messages, and asks for a new one", () => {
    const { gw, core, events } = setup();
    core.start();
    gw.welcome();
    const [conv] = gw.take();
    gw.push({ type: 'conversations', id: conv!.id, items: [{ conversation: 'grp:g', lastSeq: 0, title: 'Trip' }] });
    core.group('title', { conversation: 'grp:g', title: 'Trip 2027', members: ['ignored'] });
    core.group('create', { members: ['b'], title: 'Ski' });
    assert.deepEqual(
      gw.take().map(({ id: _id, ...f }) => f),
      [
        { type: 'group.title', conversation: 'grp:g', title: 'Trip 2027' },
        { type: 'group.create', members: ['b'], title: 'Ski' },
      ],
    );
    const g = (seq: number, kind: string, body: string) => ({
      type: 'message',
      msgId: `g${seq}`,
      conversation: 'grp:g',
      seq,
      from: 'a',
      to: 'grp:g',
      body,
      ts: seq,
      kind,
      members: [],
    });
    gw.push(g(1, 'created', 'Trip'));
    gw.push(g(2, 'titled', 'Trip 2027'));
    assert.deepEqual(
      events.filter((e) => e.kind === 'title'),
      [
        { kind: 'title', conversation: 'grp:g', title: 'Trip' },
        { kind: 'title', conversation: 'grp:g', title: 'Trip 2027' },
      ],
      'reported when it changes',
    );
  });
});
