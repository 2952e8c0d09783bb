import assert from 'node:assert/strict';
import { FencedError, type HotStore } from '../../services/message/adapters/hot-store.js';
import type { Message } from '../../services/shared/message.js';
import { partitionOf } from '../../services/message/adapters/partitioner.js';

/** The log's partition count the stores under test are given. */
export const CONTRACT_PARTITIONS = 8;
/** A conversation's partition, as the log places it: the contract records each under its own. */
const part = (conversation: string): number => partitionOf(conversation, CONTRACT_PARTITIONS);

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
      const p = part('dm:a:b');
      assert.equal(await f.hot.claim(p, 'pod-a/1'), null, 'nobody held it');
      await f.hot.record(p, 'pod-a/1', [msg('dm:a:b', 1, 'm1'), msg('dm:a:b', 2, 'm2')], none, 60_000);
      assert.equal(await f.hot.claimedBy(p), 'pod-a/1');
      // The partition's new owner claims it: the old one can no longer record (and so never pushes).
      assert.equal(await f.hot.claim(p, 'pod-b/1'), 'pod-a/1', 'the claim says whom it was taken from');
      await assert.rejects(f.hot.record(p, 'pod-a/1', [msg('dm:a:b', 3, 'm3')], none, 60_000), FencedError);
      await f.hot.record(p, 'pod-b/1', [msg('dm:a:b', 3, 'm3-b')], none, 60_000);
      const { records } = await f.hot.sequenced(p, ['m1', 'm2', 'm3', 'm3-b', 'unknown']);
      assert.deepEqual(Object.fromEntries([...records].map(([id, r]) => [id, r.seq])), { m1: 1, m2: 2, 'm3-b': 3 });
      assert.deepEqual(records.get('m2'), { conversation: 'dm:a:b', seq: 2, ts: 1002 });
      assert.equal(await f.hot.claimedBy((p + 1) % CONTRACT_PARTITIONS), null);
    });

    it('serves what it recorded until it is persisted: messages by seq, last seqs, listings', async () => {
      // A group in another partition than the direct conversation: a user's listing spans partitions.
      const g = ['grp:g1', 'grp:g2', 'grp:g3', 'grp:g4'].find((c) => part(c) !== part('dm:a:b'))!;
      for (const p of new Set([part('dm:a:b'), part(g)])) await f.hot.claim(p, 'o');
      await f.hot.record(part('dm:a:b'), 'o', [msg('dm:a:b', 4, 'x4'), msg('dm:a:b', 5, 'x5')], new Map([['x4', { list: ['a', 'b'], unlist: [] }]]), 60_000);
      await f.hot.record(
        part(g),
        'o',
        [{ ...msg(g, 1, 'g1', { to: g, body: '' }), kind: 'created', members: ['a', 'b'] }, msg(g, 2, 'g2', { to: g })],
        new Map([['g1', { list: ['a', 'b'], unlist: [] }]]),
        60_000,
      );
      const ids = async (c: string, after: number) => (await f.hot.read(c, after, 10)).messages.map((m) => m.msgId);
      assert.deepEqual(await ids('dm:a:b', 0), ['x4', 'x5']);
      assert.deepEqual(await ids('dm:a:b', 4), ['x5']);
      assert.deepEqual(
        (await f.hot.read(g, 0, 1)).messages,
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
        part(g),
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
      assert.deepEqual(await ids('dm:a:b', 0), ['x5']);
      assert.deepEqual(await seqsOf(['dm:a:b']), new Map([['dm:a:b', 5]]));
    });

    it('keeps the last seq of a conversation when a lower one is recorded again (a redelivery recorded late)', async () => {
      const p = part('dm:a:c');
      await f.hot.claim(p, 'o');
      await f.hot.record(p, 'o', [msg('dm:a:c', 7, 'y7')], none, 60_000);
      await f.hot.record(p, 'o', [msg('dm:a:c', 6, 'y6')], none, 60_000);
      assert.equal((await f.hot.lastSeqs(['dm:a:c'])).get('dm:a:c')?.seq, 7);
    });

    it('says since when it records every msgId of a partition: from the start on an empty store, from now on one with data; anew after a reset', async () => {
      const p = part('dm:a:b');
      const other = (p + 1) % CONTRACT_PARTITIONS;
      assert.equal((await f.hot.sequenced(p, ['z'])).coveredSince, undefined);
      assert.equal(await f.hot.dedupeSince(p, async () => true), 0, 'a new deployment: everything covered');
      assert.equal(await f.hot.dedupeSince(p, async () => false), 0, 'set once');
      assert.equal((await f.hot.sequenced(p, ['z'])).coveredSince, 0);
      const before = Date.now();
      // A partition first asked for after others stored messages is covered since the deployment's start too.
      assert.equal(await f.hot.dedupeSince(other, async () => false), 0, 'a partition asked for later: since the deployment began');
      await f.hot.claim(p, 'o');
      await f.hot.record(p, 'o', [msg('dm:a:b', 1, 'r1')], none, 60_000);
      assert.equal((await f.hot.read('dm:a:b', 0, 10)).coveredSince, 0, "a read says its partition's coverage");
      await f.hot.resetCoverage(p);
      const since = (await f.hot.sequenced(p, ['z'])).coveredSince!;
      assert.ok(since >= before && since <= Date.now() + 1, `reset to now: ${since}`);
      assert.equal((await f.hot.read('dm:a:b', 0, 10)).coveredSince, since);
      assert.equal((await f.hot.sequenced(other, ['z'])).coveredSince, 0, "another partition's coverage is its own");
    });

    it('a store with data when the first partition asks: every partition covered from then on', async () => {
      const before = Date.now();
      const first = await f.hot.dedupeSince(1, async () => false);
      assert.ok(first >= before && first <= Date.now() + 1, `since ${first}`);
      assert.equal(await f.hot.dedupeSince(2, async () => true), first, 'the deployment began then for every partition');
    });
  });
}
