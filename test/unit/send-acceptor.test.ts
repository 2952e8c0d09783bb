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
});
