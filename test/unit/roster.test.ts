import assert from 'node:assert/strict';
import { ConsumerRosters, RosterCache, applyChange, foldRosters } from '../../services/message/domain/roster.js';
import type { Message } from '../../services/shared/message.js';

const change = (conversation: string, seq: number, kind: Message['kind'], members: string[]): Message => ({
  msgId: `${conversation}#${seq}`,
  conversation,
  seq,
  from: 'a',
  to: conversation,
  body: '',
  ts: seq,
  clientId: `c${seq}`,
  kind,
  members,
});

describe('group rosters', () => {
  it("fold a group's title (created, titled) and ignore edits and deletions, which change no membership", () => {
    const r = foldRosters([
      { ...change('grp:g', 1, 'created', ['a', 'b']), body: 'Trip' },
      { ...change('grp:g', 2, 'edited', []), body: 'x', ref: 1 },
      { ...change('grp:g', 3, 'deleted', ['a']), ref: 1 },
      { ...change('grp:g', 4, 'titled', []), body: 'Trip 2027' },
      { ...change('grp:h', 1, 'created', ['x']) },
    ]).get('grp:g')!;
    assert.deepEqual([...r.members].sort(), ['a', 'b']);
    assert.equal(r.title, 'Trip 2027');
    assert.equal(r.seq, 4);
    const before = { ...r, members: new Set(r.members) };
    applyChange(r, { ...change('grp:g', 5, 'deleted', ['b']), ref: 1 });
    assert.deepEqual(r, before, 'an edit or a deletion applies nothing');
  });

  it('fold membership messages in seq order: members, and former members with the seq that removed them', () => {
    const r = foldRosters([
      change('grp:g', 1, 'created', ['a', 'b', 'c']),
      change('grp:g', 3, 'removed', ['c', 'nobody']),
      change('grp:g', 4, 'added', ['d']),
      change('grp:g', 6, 'left', ['b']),
      change('grp:h', 1, 'created', ['x']),
    ]);
    assert.deepEqual([...r.get('grp:g')!.members].sort(), ['a', 'd']);
    assert.deepEqual(
      [...r.get('grp:g')!.former],
      [
        ['c', 3],
        ['b', 6],
      ],
      'only members can be removed',
    );
    assert.equal(r.get('grp:g')!.seq, 6);
    assert.deepEqual([...r.get('grp:h')!.members], ['x']);
    const back = foldRosters([change('grp:g', 1, 'created', ['a', 'c']), change('grp:g', 2, 'removed', ['c']), change('grp:g', 3, 'added', ['c'])]).get(
      'grp:g',
    )!;
    assert.deepEqual([[...back.members], [...back.former]], [['a', 'c'], []], 'added back: a member again');
  });

  it('caches a roster for maxAgeMs, reads again after, forgets on change, and falls back to the last one when the store fails', async () => {
    let now = 0;
    let reads = 0;
    let failing = false;
    let changes = [change('grp:g', 1, 'created', ['a'])];
    const store = {
      membershipChanges: async () => {
        reads++;
        if (failing) throw new Error('store down');
        return changes;
      },
    };
    const cache = new RosterCache(store, { maxAgeMs: 1000, now: () => now });
    assert.deepEqual([...(await cache.get('grp:g'))!.members], ['a']);
    await cache.get('grp:g');
    assert.equal(reads, 1, 'fresh: not read again');
    changes = [...changes, change('grp:g', 2, 'added', ['b'])];
    now = 1000;
    assert.deepEqual([...(await cache.get('grp:g'))!.members], ['a', 'b'], 'stale: read again');
    changes = [...changes, change('grp:g', 3, 'removed', ['b'])];
    cache.forget('grp:g');
    assert.deepEqual([...(await cache.get('grp:g'))!.members], ['a'], 'forgotten: read again at once');
    failing = true;
    now = 5000;
    assert.deepEqual([...(await cache.get('grp:g'))!.members], ['a'], 'store down: the last roster read');
    await assert.rejects(cache.get('grp:other'), /store down/, 'nothing known: the failure');
    assert.equal(await new RosterCache({ membershipChanges: async () => [] }, { maxAgeMs: 1000 }).get('grp:none'), undefined, 'no such group');
  });

  it('answers with the last roster when the store is slow, shares one read per group, and keeps no read a change overtook', async () => {
    let now = 0;
    let reads = 0;
    let members = ['a'];
    const pending: Array<() => void> = [];
    const store = {
      membershipChanges: async (cs: readonly string[]) => {
        reads++;
        const answer = members;
        await new Promise<void>((resolve) => pending.push(resolve));
        return cs.map((c) => change(c, 1, 'created', answer));
      },
    };
    const cache = new RosterCache(store, { maxAgeMs: 1000, staleAfterMs: 20, now: () => now });
    const first = cache.get('grp:g');
    pending.shift()!();
    assert.deepEqual([...(await first)!.members], ['a']);
    now = 2000;
    members = ['a', 'b'];
    const t0 = Date.now();
    const slow = await Promise.all([cache.get('grp:g'), cache.get('grp:g'), cache.get('grp:g')]);
    assert.ok(Date.now() - t0 < 1000, 'a slow store does not hold the sends');
    assert.deepEqual(
      slow.map((r) => [...r!.members]),
      [['a'], ['a'], ['a']],
      'the last roster read',
    );
    assert.equal(reads, 2, 'one read for the three sends');
    pending.shift()!();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([...(await cache.get('grp:g'))!.members], ['a', 'b'], 'the read that came back is kept');
    assert.equal(reads, 2);
    now = 4000;
    members = ['a'];
    const overtaken = cache.get('grp:g');
    cache.forget('grp:g'); // a change is stored while that read is out
    members = ['a', 'c'];
    const afterChange = cache.get('grp:g');
    assert.equal(reads, 4, 'forgotten: a read of its own, not the one in flight');
    pending.shift()!();
    pending.shift()!();
    assert.deepEqual([...(await afterChange)!.members], ['a', 'c']);
    await overtaken;
    assert.deepEqual([...(await cache.get('grp:g'))!.members], ['a', 'c'], 'the overtaken read is not kept');
    assert.equal(reads, 4);
    now = 6000;
    const hung = cache.get('grp:g'); // this read never answers
    assert.deepEqual([...(await hung)!.members], ['a', 'c'], 'stale while it hangs');
    now = 6000 + 30_000;
    members = ['a', 'd'];
    const replaced = cache.get('grp:g');
    assert.equal(reads, 6, 'a read that never answered is replaced after abandonAfterMs');
    pending.pop()!();
    assert.deepEqual([...(await replaced)!.members], ['a', 'd']);
  });

  it('hands out member sets that never change: a change replaces the set', () => {
    const r = foldRosters([change('grp:g', 1, 'created', ['a', 'b'])]).get('grp:g')!;
    const before = r.members;
    applyChange(r, change('grp:g', 2, 'removed', ['b']));
    assert.deepEqual([[...before], [...r.members]], [['a', 'b'], ['a']]);
  });

  it("keeps the consumer's rosters while their partition stays owned, and reads them again after it left", async () => {
    const reads: string[][] = [];
    const rosters = new ConsumerRosters(async (cs) => {
      reads.push([...cs]);
      return foldRosters(cs.map((c) => change(c, 1, 'created', ['a'])));
    });
    rosters.assigned([0, 1]);
    const first = await rosters.get(['grp:p0', 'grp:new'], 0);
    applyChange(first.get('grp:p0')!, change('grp:p0', 2, 'added', ['b']));
    await rosters.get(['grp:p1'], 1);
    const again = await rosters.get(['grp:p0'], 0);
    assert.deepEqual([...again.get('grp:p0')!.members], ['a', 'b'], "the batch's change stays");
    assert.deepEqual(reads, [['grp:p0', 'grp:new'], ['grp:p1']], 'read once each');
    rosters.assigned([1]); // partition 0 left
    rosters.assigned([0, 1]); // and came back: another member may have written it
    await rosters.get(['grp:p0', 'grp:p1'], 0);
    assert.deepEqual(reads.at(-1), ['grp:p0'], 'partition 0 read again, partition 1 kept');
  });
});
