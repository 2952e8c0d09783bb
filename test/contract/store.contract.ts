import assert from 'node:assert/strict';
import type { MessageStore, StoredMessage } from '../../services/message/adapters/store.js';
import { SeqConflictError } from '../../services/message/adapters/store.js';
import type { SendEntry } from '../../services/message/adapters/log.js';

export interface StoreFixture {
  store: MessageStore;
  /** Moves the store's clock forward. */
  advance(ms: number): void;
  close(): Promise<void>;
}

const entry = (from: string, clientId: string, msgId: string): SendEntry => ({
  msgId, conversation: `dm:${from}:zz`, from, to: 'zz', body: `b-${msgId}`, ts: 1, clientId, originInstance: 'i', originConnection: 'c',
});
const msg = (conversation: string, seq: number, msgId: string, ts = seq): StoredMessage => ({
  msgId, conversation, seq, from: 'a', to: 'b', body: `body ${msgId}`, ts, clientId: `c-${msgId}`,
});

/** The behaviour every MessageStore must have, run against each implementation. */
export function storeContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`MessageStore contract: ${name}`, function () {
    this.timeout(30_000);
    let f: StoreFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.close();
    });

    it('claims (user, clientId) once within the window and returns the first claim after', async () => {
      const first = await f.store.claimSend({ entry: entry('u1', 'x', 'm1'), expiresAt: Date.now() + 60_000 });
      assert.equal(first.created, true);
      const second = await f.store.claimSend({ entry: { ...entry('u1', 'x', 'm2'), body: 'other' }, expiresAt: Date.now() + 60_000 });
      assert.equal(second.created, false);
      assert.equal(second.claim.entry.msgId, 'm1');
      assert.equal(second.claim.entry.body, 'b-m1');
      const otherUser = await f.store.claimSend({ entry: entry('u2', 'x', 'm3'), expiresAt: Date.now() + 60_000 });
      assert.equal(otherUser.created, true);
    });

    it('settles concurrent claims: one winner per (user, clientId), every answer names the same message', async () => {
      const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
      // Each key claimed three times at once (a client resending while its first send is in flight).
      const attempts = keys.flatMap((k) => [1, 2, 3].map((n) => ({ k, msgId: `${k}-m${n}` })));
      const answers = await Promise.all(attempts.map((a) => f.store.claimSend({ entry: entry('racer', a.k, a.msgId), expiresAt: Date.now() + 60_000 })));
      for (const k of keys) {
        const mine = answers.filter((_, i) => attempts[i]!.k === k);
        assert.equal(mine.filter((a) => a.created).length, 1, `one claim of ${k} created`);
        assert.equal(new Set(mine.map((a) => a.claim.entry.msgId)).size, 1, `every answer for ${k} names the winner`);
      }
      const again = await f.store.claimSend({ entry: entry('racer', 'k7', 'late'), expiresAt: Date.now() + 60_000 });
      assert.equal(again.created, false);
      assert.equal(again.claim.entry.msgId, answers.find((a, i) => attempts[i]!.k === 'k7' && a.created)!.claim.entry.msgId);
    });

    it('forgets a claim once it expired (checked on read, whatever the server cleans up later)', async () => {
      await f.store.claimSend({ entry: entry('u1', 'y', 'm1'), expiresAt: Date.now() + 1000 });
      f.advance(1001);
      const again = await f.store.claimSend({ entry: entry('u1', 'y', 'm2'), expiresAt: Date.now() + 60_000 });
      assert.equal(again.created, true);
      assert.equal(again.claim.entry.msgId, 'm2');
      const third = await f.store.claimSend({ entry: entry('u1', 'y', 'm3'), expiresAt: Date.now() + 60_000 });
      assert.equal(third.claim.entry.msgId, 'm2');
    });

    it('stores messages with unique (conversation, seq) and msgId', async () => {
      assert.equal(await f.store.lastSeq('dm:a:b'), 0);
      assert.equal(await f.store.insertMessage(msg('dm:a:b', 1, 'm1'), ['a', 'b']), 'inserted');
      assert.equal(await f.store.insertMessage(msg('dm:a:b', 2, 'm2'), ['a', 'b']), 'inserted');
      assert.equal(await f.store.insertMessage(msg('dm:a:b', 3, 'm1'), ['a', 'b']), 'duplicate');
      await assert.rejects(f.store.insertMessage(msg('dm:a:b', 2, 'm3'), ['a', 'b']), (e: unknown) => e instanceof SeqConflictError && e.seq === 2);
      assert.equal(await f.store.lastSeq('dm:a:b'), 2);
      assert.equal(await f.store.hasMessage('m1'), true);
      assert.equal(await f.store.hasMessage('m3'), false);
    });

    it('stores a batch in order, stopping at the first taken msgId or seq, and indexes its conversations', async () => {
      const members = new Map([['dm:a:b', ['a', 'b']], ['dm:a:c', ['a', 'c']]]);
      assert.equal(await f.store.insertMessages([msg('dm:a:b', 1, 'b1', 10), msg('dm:a:c', 1, 'c1', 20), msg('dm:a:b', 2, 'b2', 30)], members), 3);
      assert.deepEqual(await f.store.listConversations('a', 10), [{ conversation: 'dm:a:b', lastSeq: 2 }, { conversation: 'dm:a:c', lastSeq: 1 }]);
      assert.equal(await f.store.lastSeq('dm:a:b'), 2);
      assert.equal(await f.store.lastSeq('dm:a:b', true), 2);
      // b3 fits, then a taken seq stops the batch: b4 after it is not stored.
      assert.equal(await f.store.insertMessages([msg('dm:a:b', 3, 'b3', 40), msg('dm:a:b', 3, 'dup-seq', 41), msg('dm:a:b', 4, 'b4', 42)], members), 1);
      assert.equal(await f.store.lastSeq('dm:a:b'), 3);
      assert.equal(await f.store.hasMessage('b4'), false);
      // A taken msgId stops it too.
      assert.equal(await f.store.insertMessages([msg('dm:a:c', 2, 'c1', 50)], members), 0);
      assert.equal(await f.store.insertMessages([], members), 0);
      assert.deepEqual(await f.store.listConversations('c', 10), [{ conversation: 'dm:a:c', lastSeq: 1 }]);
    });

    it('stores batches spanning hundreds of existing conversations (a busy consumer batch)', async () => {
      const n = 250;
      const convs = Array.from({ length: n }, (_, i) => `dm:a:u${String(i).padStart(3, '0')}`);
      const members = new Map(convs.map((c) => [c, ['a', c.slice(5)]] as const));
      for (const round of [1, 2, 3]) {
        const batch = convs.map((c, i) => msg(c, round, `w${round}-${i}`, round * 1000 + i));
        assert.equal(await f.store.insertMessages(batch, members), n, `round ${round}`);
      }
      assert.equal(await f.store.lastSeq(convs[0]!), 3);
      assert.equal(await f.store.lastSeq(convs[n - 1]!), 3);
      const listed = await f.store.listConversations('a', n);
      assert.equal(listed.length, n);
      assert.ok(listed.every((c) => c.lastSeq === 3));
      assert.equal(listed[0]!.conversation, convs[n - 1]);
    });

    it('reads ranges in seq order with limits', async () => {
      for (let i = 1; i <= 5; i++) await f.store.insertMessage(msg('dm:a:b', i, `r${i}`), ['a', 'b']);
      await f.store.insertMessage(msg('dm:a:c', 1, 'other'), ['a', 'c']);
      assert.deepEqual((await f.store.readMessages('dm:a:b', 0, 3)).map((m) => m.seq), [1, 2, 3]);
      assert.deepEqual((await f.store.readMessages('dm:a:b', 3, 10)).map((m) => m.msgId), ['r4', 'r5']);
      assert.deepEqual(await f.store.readMessages('dm:a:b', 5, 10), []);
      assert.deepEqual(await f.store.readMessages('dm:nobody:here', 0, 10), []);
      assert.deepEqual((await f.store.readMessages('dm:a:b', 1, 1))[0], msg('dm:a:b', 2, 'r2'));
    });

    it("lists a user's conversations, most recently active first, with their last seq", async () => {
      await f.store.insertMessage(msg('dm:a:b', 1, 'l1', 100), ['a', 'b']);
      await f.store.insertMessage(msg('dm:a:c', 1, 'l2', 200), ['a', 'c']);
      await f.store.insertMessage(msg('dm:a:b', 2, 'l3', 300), ['a', 'b']);
      assert.deepEqual(await f.store.listConversations('a', 10), [
        { conversation: 'dm:a:b', lastSeq: 2 },
        { conversation: 'dm:a:c', lastSeq: 1 },
      ]);
      assert.deepEqual(await f.store.listConversations('c', 10), [{ conversation: 'dm:a:c', lastSeq: 1 }]);
      assert.deepEqual(await f.store.listConversations('a', 1), [{ conversation: 'dm:a:b', lastSeq: 2 }]);
      assert.deepEqual(await f.store.listConversations('nobody', 10), []);
    });
  });
}
