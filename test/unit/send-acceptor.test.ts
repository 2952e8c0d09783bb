import { emptyRoster, readRosters } from '../../services/message/domain/roster.js';
import assert from 'node:assert/strict';
import { msgIdOf, SendAcceptor } from '../../services/message/domain/send-acceptor.js';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import type { MessageLog } from '../../services/message/adapters/log.js';
import type { MessageStore } from '../../services/message/adapters/store.js';
import type { AcceptedSend } from '../../services/shared/message.js';

/** A log that records appends and can be made to fail. */
function recordingLog(): MessageLog & { appended: AcceptedSend[]; failing: boolean } {
  const log = {
    appended: [] as AcceptedSend[],
    failing: false,
    async start() {},
    async append(e: AcceptedSend) {
      if (log.failing) throw new Error('broker down');
      log.appended.push(e);
    },
    partitions: () => 1,
    async consume() {},
    async stopConsuming() {},
    async stop() {},
    health: () => ({ ok: true, detail: 'test' }),
  };
  return log;
}

describe('SendAcceptor (idempotency by derived msgId)', () => {
  let store: MessageStore;
  let log: ReturnType<typeof recordingLog>;
  let acceptor: SendAcceptor;
  let clock = 1_000_000;
  const send = (clientId: string, body = 'hi', to = 'b', from = 'a') =>
    acceptor.accept({ from, clientId, to, body, origin: { instance: 'i', connection: 'c' } });

  beforeEach(async () => {
    store = createEmbeddedStore();
    await store.start();
    log = recordingLog();
    acceptor = new SendAcceptor({
      log,
      maxBodyBytes: 4096,
      maxGroupMembers: 10,
      maxGroupsPerUser: 5,
      groupCounts: (u) => store.groupCounts(u),
      roster: async (c) => (await readRosters(store, [c])).get(c),
      message: async (c, seq) => (await store.readMessages(c, seq - 1, 1)).find((m) => m.seq === seq),
      editWindowMs: 60_000,
      now: () => clock,
    });
    clock = 1_000_000;
  });

  it('accepts a send once it is appended, with its derived msgId, conversation and accept time', async () => {
    const a = await send('x1');
    assert.deepEqual(a, { msgId: msgIdOf('a', 'x1'), conversation: 'dm:a:b', ts: 1_000_000 });
    assert.match(a.msgId, /^[A-Za-z0-9_-]{24}$/);
    assert.deepEqual(
      log.appended.map((e) => e.msgId),
      [a.msgId],
    );
  });

  it('answers a repeat with the same msgId on any pod, and the consumer stores one message', async () => {
    const first = await send('x1', 'first');
    // The same retry reaching another Message pod: another acceptor on the same log.
    const elsewhere = new SendAcceptor({
      log,
      maxBodyBytes: 4096,
      maxGroupMembers: 10,
      maxGroupsPerUser: 5,
      groupCounts: async () => new Map(),
      roster: async () => undefined,
      message: async () => undefined,
      editWindowMs: 60_000,
    });
    const again = await elsewhere.accept({ from: 'a', clientId: 'x1', to: 'b', body: 'first', origin: { instance: 'j', connection: 'd' } });
    assert.equal(again.msgId, first.msgId);
    assert.equal(log.appended.length, 2, 'both appended: the send path never asks the store');
    const stored = await new Sequencer(store).storeBatch(log.appended);
    assert.deepEqual(
      stored.map(({ message: m }) => [m.msgId, m.seq]),
      [[first.msgId, 1]],
    );
    assert.deepEqual(
      (await store.readMessages('dm:a:b', 0, 10)).map((m) => m.msgId),
      [first.msgId],
    );
    // A repeat sent later, consumed in another batch, is dropped as well and takes no seq (while
    // a redelivery of the first record, the same accept time, comes back for its push).
    clock += 1000;
    await send('x1', 'first');
    assert.deepEqual(await new Sequencer(store).storeBatch(log.appended.slice(2)), []);
    assert.deepEqual(
      (await new Sequencer(store).storeBatch(log.appended.slice(0, 1))).map((s) => [s.message.seq, s.redelivered]),
      [[1, true]],
    );
    await send('x2', 'next');
    assert.deepEqual(
      (await new Sequencer(store).storeBatch(log.appended.slice(3))).map(({ message: m }) => m.seq),
      [2],
      'no gap',
    );
  });

  it('keys idempotency by user: the same id from another user is another message', async () => {
    const mine = await send('x1');
    const other = await send('x1', 'hi', 'a', 'b');
    assert.notEqual(other.msgId, mine.msgId);
    assert.notEqual(msgIdOf('a', 'b\u0000c'), msgIdOf('a\u0000b', 'c'));
  });

  it('rejects bad input with BAD_REQUEST / TOO_LARGE and appends nothing', async () => {
    await assert.rejects(send('x1', ''), { code: 'BAD_REQUEST' });
    await assert.rejects(send('x1', 'x'.repeat(4097)), { code: 'TOO_LARGE' });
    await assert.rejects(send('x1', 'é'.repeat(2049)), { code: 'TOO_LARGE', message: 'body is 4098 bytes; the limit is 4096' });
    await assert.rejects(send('', 'hi'), { code: 'BAD_REQUEST' });
    await assert.rejects(send('x1', 'hi', 'bad id!'), { code: 'BAD_REQUEST' });
    await assert.rejects(acceptor.accept({ from: 'a:b', clientId: 'x', to: 'c', body: 'hi', origin: { instance: '', connection: '' } }), /ambiguous/);
    assert.equal(log.appended.length, 0);
  });

  it('answers UNAVAILABLE when the log is down, and accepts the same send once it is back', async () => {
    log.failing = true;
    await assert.rejects(send('x1'), { code: 'UNAVAILABLE', message: /log unavailable: broker down/ });
    log.failing = false;
    assert.equal((await send('x1')).msgId, msgIdOf('a', 'x1'));
  });

  it('the system account (SYSTEM_USER) posts into a group and changes its members without being one, creates groups it is not in, and takes no messages', async () => {
    const team = { ...emptyRoster(), members: new Set(['ann', 'ben']), seq: 1 };
    const sys = new SendAcceptor({
      log,
      maxBodyBytes: 4096,
      maxGroupMembers: 10,
      maxGroupsPerUser: 5,
      groupCounts: async () => new Map(),
      roster: async (c) => (c === 'grp:team' ? team : undefined),
      message: async () => undefined,
      editWindowMs: 60_000,
      systemUser: 'system',
    });
    const origin = { instance: 'api', connection: '' };
    await sys.accept({ from: 'system', clientId: 'n1', to: '', body: 'standup in 5', conversation: 'grp:team', origin });
    await sys.accept({ from: 'system', clientId: 'n2', to: '', body: '', conversation: 'grp:team', kind: 'added', members: ['cat'], origin });
    const created = await sys.accept({ from: 'system', clientId: 'n3', to: '', body: '', kind: 'created', members: ['ann', 'ben'], origin });
    assert.deepEqual(log.appended.at(-1)!.members, ['ann', 'ben'], 'not a member of the group it created');
    assert.match(created.conversation, /^grp:/);
    await assert.rejects(sys.accept({ from: 'system', clientId: 'n4', to: '', body: '', kind: 'created', members: [], origin }), { code: 'BAD_REQUEST' });
    await assert.rejects(sys.accept({ from: 'system', clientId: 'n5', to: '', body: '', conversation: 'grp:team', kind: 'left', origin }), {
      code: 'BAD_REQUEST',
    });
    await assert.rejects(sys.accept({ from: 'system', clientId: 'n6', to: '', body: 'x', conversation: 'grp:none', origin }), { code: 'FORBIDDEN' });
    // Others need membership as ever, and nobody writes to the system account.
    await assert.rejects(sys.accept({ from: 'cat', clientId: 'c1', to: '', body: 'x', conversation: 'grp:team', origin }), { code: 'FORBIDDEN' });
    await assert.rejects(sys.accept({ from: 'ann', clientId: 'c2', to: 'system', body: 'hello?', origin }), { code: 'FORBIDDEN', message: /system account/ });
    assert.equal((await sys.accept({ from: 'system', clientId: 'n7', to: 'ann', body: 'your order shipped', origin })).conversation, 'dm:ann:system');
  });

  describe('edits, deletions and group titles', () => {
    const origin = { instance: 'i', connection: 'c' };
    /** Appends and stores what was appended since the last call (as the consumer does). */
    let storedUpTo = 0;
    const consume = async () => {
      await new Sequencer(store).storeBatch(log.appended.slice(storedUpTo));
      storedUpTo = log.appended.length;
    };
    const change = (kind: 'edited' | 'deleted', clientId: string, ref: number, body = '', from = 'a', conversation = 'dm:a:b') =>
      acceptor.accept({ from, clientId, to: '', body, conversation, kind, ref, origin });

    beforeEach(() => {
      storedUpTo = 0;
    });

    it("an edit and a deletion of the sender's own text become messages of the conversation naming its seq", async () => {
      await send('t1', 'helo');
      await consume();
      await change('edited', 'e1', 1, 'hello');
      await change('deleted', 'd1', 1, 'ignored');
      await consume();
      const rows = await store.readMessages('dm:a:b', 0, 10);
      assert.deepEqual(
        rows.map((m) => [m.seq, m.kind, m.ref, m.body, m.to]),
        [
          [1, undefined, undefined, 'helo', 'b'],
          [2, 'edited', 1, 'hello', 'b'],
          [3, 'deleted', 1, '', 'b'],
        ],
      );
    });

    it("refuses a change of someone else's message, of a non-text, of a missing seq, past the window, or by a non-member", async () => {
      await send('t1', 'mine');
      await send('t2', 'theirs', 'a', 'b');
      await consume();
      await assert.rejects(change('edited', 'e1', 2, 'x'), { code: 'FORBIDDEN', message: /only its sender/ });
      await assert.rejects(change('edited', 'e2', 3, 'x'), { code: 'BAD_REQUEST', message: 'dm:a:b has no message at seq 3' });
      await assert.rejects(change('edited', 'e3', 0, 'x'), { code: 'BAD_REQUEST', message: /seq must be an integer/ });
      await assert.rejects(change('edited', 'e4', 1, ''), { code: 'BAD_REQUEST', message: /body/ });
      await assert.rejects(change('edited', 'e5', 1, 'x'.repeat(4097)), { code: 'TOO_LARGE' });
      await assert.rejects(change('edited', 'e6', 1, 'x', 'c'), { code: 'FORBIDDEN', message: /not a member/ });
      await assert.rejects(change('edited', 'e7', 1, 'x', 'a', 'bad id!'), { code: 'BAD_REQUEST', message: /conversation/ });
      await change('edited', 'e8', 1, 'mine!');
      await consume();
      await assert.rejects(change('deleted', 'd1', 3), {
        code: 'BAD_REQUEST',
        message: 'the message at seq 3 is not a text (kind edited): only a text is edited or deleted',
      });
      clock += 60_001;
      await assert.rejects(change('deleted', 'd2', 1), { code: 'BAD_REQUEST', message: /EDIT_WINDOW/ });
      assert.equal(log.appended.length, 3, 'only the texts and the one edit were appended');
    });

    it('a group takes a title at creation and a new one from any member, as group changes its roster folds', async () => {
      const created = await acceptor.accept({ from: 'a', clientId: 'g1', to: '', body: '  Trip  ', kind: 'created', members: ['b'], origin });
      await consume();
      const g = created.conversation;
      assert.equal((await readRosters(store, [g])).get(g)?.title, 'Trip', 'trimmed');
      await acceptor.accept({ from: 'b', clientId: 't1', to: '', body: 'Trip 2027', conversation: g, kind: 'titled', origin });
      await acceptor.accept({ from: 'b', clientId: 't2', to: '', body: 'hi', conversation: g, origin });
      await consume();
      const r = (await readRosters(store, [g])).get(g)!;
      assert.equal(r.title, 'Trip 2027');
      assert.deepEqual([...r.members].sort(), ['a', 'b'], 'a title changes no membership');
      const title = (body: string, from = 'a') =>
        acceptor.accept({ from, clientId: `t-${body.length}-${from}`, to: '', body, conversation: g, kind: 'titled', origin });
      await assert.rejects(title('   '), { code: 'BAD_REQUEST', message: 'title must not be empty' });
      await assert.rejects(title('x'.repeat(101)), { code: 'BAD_REQUEST', message: 'title is 101 characters; the limit is 100' });
      await assert.rejects(title('a\nb'), { code: 'BAD_REQUEST', message: /control characters/ });
      await assert.rejects(title('Mine', 'z'), { code: 'FORBIDDEN' });
      await assert.rejects(acceptor.accept({ from: 'a', clientId: 'g2', to: '', body: 'x'.repeat(101), kind: 'created', members: [], origin }), {
        code: 'BAD_REQUEST',
        message: /title is 101/,
      });
    });
  });
});
