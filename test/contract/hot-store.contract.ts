import assert from 'node:assert/strict';
import { FencedError, type HotStore } from '../../services/message/adapters/hot-store.js';
import type { Message } from '../../services/shared/message.js';

export interface HotStoreFixture {
  hot: HotStore;
  close(): Promise<void>;
}

const msg = (conversation: string, seq: number, msgId: string, extra: Partial<Message> = {}): Message => ({
  msgId,
  conversation,
  seq,
  from: 'a',
  to: 'b',
  body: `body ${msgId}`,
  ts: 1000 + seq,
  clientId: `c-${msgId}`,
  ...extra,
});
const none = new Map<string, { list: string[]; unlist: string[] }>();

/** The behaviour every HotStore must have, run against each implementation. */
export function hotStoreContract(name: string, make: () => Promise<HotStoreFixture>): void {
  describe(`HotStore contract: ${name}`, function () {
    this.timeout(30_000);
    let f: HotStoreFixture;
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await f.close();
    });

    it('records messages under a claim, and refuses a write from an owner whose claim was taken', async () => {
      assert.equal(await f.hot.claim(3, 'pod-a/1'), null, 'nobody held it');
      await f.hot.record(3, 'pod-a/1', [msg('dm:a:b', 1, 'm1'), msg('dm:a:b', 2, 'm2')], none, 60_000);
      assert.equal(await f.hot.claimedBy(3), 'pod-a/1');
      // The partition's new owner claims it: the old one can no longer record (and so never pushes).
      assert.equal(await f.hot.claim(3, 'pod-b/1'), 'pod-a/1', 'the claim says whom it was taken from');
      await assert.rejects(f.hot.record(3, 'pod-a/1', [msg('dm:a:b', 3, 'm3')], none, 60_000), FencedError);
      await f.hot.record(3, 'pod-b/1', [msg('dm:a:b', 3, 'm3-b')], none, 60_000);
      const { records } = await f.hot.sequenced(['m1', 'm2', 'm3', 'm3-b', 'unknown']);
      assert.deepEqual(Object.fromEntries([...records].map(([id, r]) => [id, r.seq])), { m1: 1, m2: 2, 'm3-b': 3 });
      assert.deepEqual(records.get('m2'), { conversation: 'dm:a:b', seq: 2, ts: 1002 });
      assert.equal(await f.hot.claimedBy(9), null);
    });

    it('serves what it recorded until it is persisted: messages by seq, last seqs, listings', async () => {
      await f.hot.claim(0, 'o');
      const g = 'grp:g1';
      await f.hot.record(
        0,
        'o',
        [
          msg('dm:a:b', 4, 'x4'),
          msg('dm:a:b', 5, 'x5'),
          { ...msg(g, 1, 'g1', { to: g, body: '' }), kind: 'created', members: ['a', 'b'] },
          msg(g, 2, 'g2', { to: g }),
        ],
        new Map([
          ['x4', { list: ['a', 'b'], unlist: [] }],
          ['g1', { list: ['a', 'b'], unlist: [] }],
        ]),
        60_000,
      );
      assert.deepEqual(
        (await f.hot.read('dm:a:b', 0, 10)).map((m) => m.msgId),
        ['x4', 'x5'],
      );
      assert.deepEqual(
        (await f.hot.read('dm:a:b', 4, 10)).map((m) => m.msgId),
        ['x5'],
      );
      assert.deepEqual(
        await f.hot.read(g, 0, 1),
        [{ ...msg(g, 1, 'g1', { to: g, body: '' }), kind: 'created', members: ['a', 'b'] }],
        'whole, kind and members included',
      );
      const before = Date.now();
      const seqsOf = async (cs: string[]) => new Map([...(await f.hot.lastSeqs(cs))].map(([c, l]) => [c, l.seq]));
      assert.deepEqual(
        await seqsOf(['dm:a:b', g, 'dm:x:y']),
        new Map([
          ['dm:a:b', 5],
          [g, 2],
        ]),
      );
      const at = (await f.hot.lastSeqs(['dm:a:b'])).get('dm:a:b')!.at;
      assert.ok(at <= Date.now() && at >= before - 5000, `recorded at ${at}: when (a store's coverage is compared with it)`);
      assert.deepEqual(
        (await f.hot.listing('a')).sort((x, y) => x.conversation.localeCompare(y.conversation)),
        [
          { conversation: 'dm:a:b', lastSeq: 4 },
          { conversation: g, lastSeq: 1 },
        ],
      );
      // Someone leaves the group: it is no longer among their recent conversations.
      await f.hot.record(
        0,
        'o',
        [{ ...msg(g, 3, 'g3', { from: 'b', to: g, body: '' }), kind: 'left', members: ['b'] }],
        new Map([['g3', { list: [], unlist: ['b'] }]]),
        60_000,
      );
      assert.deepEqual(
        (await f.hot.listing('b')).map((c) => c.conversation),
        ['dm:a:b'],
      );
      // Persisted: forgotten up to the seq given; the last seq stays known.
      await f.hot.persisted(new Map([['dm:a:b', 4]]));
      assert.deepEqual(
        (await f.hot.read('dm:a:b', 0, 10)).map((m) => m.msgId),
        ['x5'],
      );
      assert.deepEqual(await seqsOf(['dm:a:b']), new Map([['dm:a:b', 5]]));
    });

    it('keeps the last seq of a conversation when a lower one is recorded again (a redelivery recorded late)', async () => {
      await f.hot.claim(1, 'o');
      await f.hot.record(1, 'o', [msg('dm:a:c', 7, 'y7')], none, 60_000);
      await f.hot.record(1, 'o', [msg('dm:a:c', 6, 'y6')], none, 60_000);
      assert.equal((await f.hot.lastSeqs(['dm:a:c'])).get('dm:a:c')?.seq, 7);
    });

    it('says since when it records every msgId: from the start on an empty store, from now on one with data; anew after a reset', async () => {
      assert.equal((await f.hot.sequenced(['z'])).coveredSince, undefined);
      assert.equal(await f.hot.dedupeSince(async () => true), 0, 'a new deployment: everything covered');
      assert.equal(await f.hot.dedupeSince(async () => false), 0, 'set once');
      assert.equal((await f.hot.sequenced(['z'])).coveredSince, 0);
      const before = Date.now();
      await f.hot.resetCoverage();
      const since = (await f.hot.sequenced(['z'])).coveredSince!;
      assert.ok(since >= before && since <= Date.now() + 1, `reset to now: ${since}`);
    });
  });
}
