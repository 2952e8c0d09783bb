import assert from 'node:assert/strict';
import type { MessageStore } from '../../services/message/adapters/store.js';
import { SeqConflictError } from '../../services/message/adapters/store.js';
import type { Message } from '../../services/shared/message.js';

export interface StoreFixture {
  store: MessageStore;
  /** Brings a store whose index lags its writes (folded later) up to date now; absent when it never lags. */
  settle?(): Promise<void>;
  close(): Promise<void>;
}

const msg = (conversation: string, seq: number, msgId: string, ts = seq): Message => ({
  msgId,
  conversation,
  seq,
  from: 'a',
  to: 'b',
  body: `body ${msgId}`,
  ts,
  clientId: `c-${msgId}`,
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

    it('stores messages with unique (conversation, seq) and msgId', async () => {
      assert.equal(await f.store.lastSeq('dm:a:b'), 0);
      assert.equal(await f.store.insertMessage(msg('dm:a:b', 1, 'm1'), ['a', 'b']), 'inserted');
      assert.equal(await f.store.insertMessage(msg('dm:a:b', 2, 'm2'), ['a', 'b']), 'inserted');
      assert.equal(await f.store.insertMessage(msg('dm:a:b', 3, 'm1'), ['a', 'b']), 'duplicate');
      await assert.rejects(f.store.insertMessage(msg('dm:a:b', 2, 'm3'), ['a', 'b']), (e: unknown) => e instanceof SeqConflictError && e.seq === 2);
      assert.equal(await f.store.lastSeq('dm:a:b'), 2);
      assert.deepEqual(
        (await f.store.readMessages('dm:a:b', 0, 10)).map((m) => m.msgId),
        ['m1', 'm2'],
        'm3 was not stored',
      );
      assert.deepEqual(
        await f.store.lastSeqs(['dm:a:b', 'dm:none']),
        new Map([
          ['dm:a:b', 2],
          ['dm:none', 0],
        ]),
      );
    });

    it('stores a batch in order, stopping at the first taken msgId or seq, and indexes its conversations', async () => {
      const members = new Map([
        ['dm:a:b', ['a', 'b']],
        ['dm:a:c', ['a', 'c']],
      ]);
      assert.equal(await f.store.insertMessages([msg('dm:a:b', 1, 'b1', 10), msg('dm:a:c', 1, 'c1', 20), msg('dm:a:b', 2, 'b2', 30)], members), 3);
      assert.deepEqual(await f.store.listConversations('a', 10), [
        { conversation: 'dm:a:b', lastSeq: 2 },
        { conversation: 'dm:a:c', lastSeq: 1 },
      ]);
      assert.equal(await f.store.lastSeq('dm:a:b'), 2);
      assert.equal(await f.store.lastSeq('dm:a:b', true), 2);
      // b3 fits, then a taken seq stops the batch: b4 after it is not stored.
      assert.equal(await f.store.insertMessages([msg('dm:a:b', 3, 'b3', 40), msg('dm:a:b', 3, 'dup-seq', 41), msg('dm:a:b', 4, 'b4', 42)], members), 1);
      assert.equal(await f.store.lastSeq('dm:a:b'), 3);
      assert.deepEqual(
        (await f.store.readMessages('dm:a:b', 2, 10)).map((m) => m.msgId),
        ['b3'],
        'b4 was not stored',
      );
      // A taken msgId stops it too.
      assert.equal(await f.store.insertMessages([msg('dm:a:c', 2, 'c1', 50)], members), 0);
      assert.equal(await f.store.insertMessages([], members), 0);
      assert.deepEqual(await f.store.listConversations('c', 10), [{ conversation: 'dm:a:c', lastSeq: 1 }]);
    });

    it('stops a batch of hundreds at its first taken msgId or seq, wherever it is, and stores nothing after it', async () => {
      // A redelivered consumer batch: hundreds of messages whose first (or 150th) is stored already.
      const members = new Map([['dm:a:b', ['a', 'b']]]);
      assert.equal(await f.store.insertMessages([msg('dm:a:b', 1, 'h-old', 1)], members), 1);
      for (const at of [0, 150]) {
        // Seqs 2, 3, … in order; the stored message sits at `at` (with the seq the next one takes).
        let seq = 2;
        const batch = Array.from({ length: 250 }, (_, i) => (i === at ? msg('dm:a:b', seq, 'h-old', seq) : msg('dm:a:b', seq, `h-${at}-${i}`, seq++)));
        assert.equal(await f.store.insertMessages(batch, members), at, `stopped at ${at}`);
        const after = batch.slice(at + 1).map((m) => m.msgId);
        assert.deepEqual(await f.store.storedAlready(after, members), new Map(), `nothing after ${at} is stored`);
        assert.equal(
          (
            await f.store.storedAlready(
              batch.slice(0, at).map((m) => m.msgId),
              members,
            )
          ).size,
          at,
          `all before ${at} are stored`,
        );
      }
      await f.settle?.();
      assert.equal(await f.store.lastSeq('dm:a:b'), 151, 'the index names the last message stored, not one the stop left out');
      assert.equal(await f.store.lastSeq('dm:a:b', true), 151);
    });

    it('names the msgIds stored already among many, in one call', async () => {
      const members = new Map([['dm:a:b', ['a', 'b']]]);
      assert.equal(await f.store.insertMessages([msg('dm:a:b', 1, 'k1', 10), msg('dm:a:b', 2, 'k2', 20)], members), 2);
      const found = await f.store.storedAlready(['u0', 'k2', 'u1', 'k1'], members);
      assert.deepEqual([...found.keys()].sort(), ['k1', 'k2']);
      assert.deepEqual(found.get('k2'), msg('dm:a:b', 2, 'k2', 20), 'with the message as stored (its seq and accept time)');
      assert.deepEqual(await f.store.storedAlready([], members), new Map());
      assert.deepEqual(await f.store.listConversations('a', 10), [{ conversation: 'dm:a:b', lastSeq: 2 }], 'the index is left as it was');
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

    it('keeps group membership messages with their kind and members, and lists a group for the members it is given', async () => {
      const g = 'grp:g1';
      const text = (seq: number, id: string): Message => ({ ...msg(g, seq, id, seq * 10), to: g });
      const change = (seq: number, id: string, kind: Message['kind'], members: string[]): Message => ({
        ...text(seq, id),
        body: '',
        kind,
        members,
      });
      const batch = [
        change(1, 'g-1', 'created', ['a', 'b', 'c']),
        text(2, 'g-2'),
        change(3, 'g-3', 'removed', ['c']),
        text(4, 'g-4'),
        change(5, 'g-5', 'added', ['d']),
      ];
      assert.equal(await f.store.insertMessages(batch, new Map([[g, []]])), 5);
      assert.equal(await f.store.insertMessage(change(6, 'g-6', 'left', ['b']), []), 'inserted');
      const changes = await f.store.membershipChanges([g, 'grp:none']);
      assert.deepEqual(
        changes.map((m) => [m.seq, m.kind, m.members]),
        [
          [1, 'created', ['a', 'b', 'c']],
          [3, 'removed', ['c']],
          [5, 'added', ['d']],
          [6, 'left', ['b']],
        ],
      );
      const read = await f.store.readMessages(g, 0, 10);
      assert.deepEqual(
        read.map((m) => m.kind ?? 'text'),
        ['created', 'text', 'removed', 'text', 'added', 'left'],
      );
      assert.equal(read[1]!.members, undefined, 'a text message has no members');
      assert.deepEqual(await f.store.listConversations('a', 10), [], 'a group is listed only through setMembers');
      await f.store.setMembers(g, ['a', 'd'], 6);
      await f.store.setMembers(g, ['a', 'b', 'c'], 1); // an older roster, late: ignored
      assert.deepEqual(await f.store.listConversations('a', 10), [{ conversation: g, lastSeq: 6 }]);
      assert.deepEqual(await f.store.listConversations('d', 10), [{ conversation: g, lastSeq: 6 }]);
      assert.deepEqual(await f.store.listConversations('c', 10), [], 'a removed member no longer lists it');
      assert.deepEqual(await f.store.membershipChanges([]), []);
      await f.store.insertMessage({ ...change(1, 'h-1', 'created', ['a', 'c']), conversation: 'grp:g2' }, []);
      await f.store.setMembers('grp:g2', ['a', 'c'], 1);
      await f.store.insertMessage(msg('dm:a:c', 1, 'dm-1'), ['a', 'c']);
      assert.deepEqual(
        await f.store.groupCounts(['a', 'c', 'd', 'nobody']),
        new Map([
          ['a', 2],
          ['c', 1],
          ['d', 1],
          ['nobody', 0],
        ]),
        'groups only, direct conversations not counted',
      );
    });

    it("keeps edits and deletions with the seq they change, a group's title changes among its group changes, and lists a group with its title", async () => {
      const g = 'grp:titled';
      const base = { ...msg(g, 1, 'tt-1'), to: g, members: [] as string[] };
      await f.store.insertMessages(
        [
          { ...base, body: 'Trip', kind: 'created', members: ['a', 'b'] },
          { ...base, seq: 2, msgId: 'tt-2', clientId: 'c-tt-2', body: 'helo' },
          { ...base, seq: 3, msgId: 'tt-3', clientId: 'c-tt-3', body: 'hello', kind: 'edited', ref: 2 },
          { ...base, seq: 4, msgId: 'tt-4', clientId: 'c-tt-4', body: 'Trip 2027', kind: 'titled' },
          { ...base, seq: 5, msgId: 'tt-5', clientId: 'c-tt-5', body: '', kind: 'deleted', ref: 2 },
        ],
        new Map([[g, []]]),
      );
      assert.deepEqual(
        (await f.store.readMessages(g, 0, 10)).map((m) => [m.seq, m.kind ?? 'text', m.ref, m.body]),
        [
          [1, 'created', undefined, 'Trip'],
          [2, 'text', undefined, 'helo'],
          [3, 'edited', 2, 'hello'],
          [4, 'titled', undefined, 'Trip 2027'],
          [5, 'deleted', 2, ''],
        ],
      );
      assert.deepEqual(
        (await f.store.membershipChanges([g])).map((m) => [m.seq, m.kind]),
        [
          [1, 'created'],
          [4, 'titled'],
        ],
        'the group changes, not the edits',
      );
      await f.store.setMembers(g, ['a', 'b'], 4, 'Trip 2027');
      await f.store.setMembers(g, ['a', 'b'], 1, 'Trip'); // an older roster, late: ignored
      assert.deepEqual(await f.store.listConversations('b', 10), [{ conversation: g, lastSeq: 5, title: 'Trip 2027' }]);
    });

    it('a group’s roster and its activity written at once both stay: the listing never goes back to an older seq', async () => {
      // A consumer lists a group's members while the index folds the group's newest message; a
      // store that updated one document for both (not atomic on every server) could keep either.
      const g = 'grp:roster-race';
      const users = ['rr1', 'rr2', 'rr3'];
      const change = (seq: number): Message => ({
        ...msg(g, seq, `roster-race-${seq}`, seq * 10),
        to: g,
        body: '',
        kind: seq === 1 ? 'created' : 'added',
        members: seq === 1 ? users : ['rr3'],
      });
      const after = (ms: number) => new Promise((r) => setTimeout(r, ms));
      for (let seq = 1; seq <= 40; seq++) {
        await f.store.insertMessage(change(seq), []);
        // The claim starts 0–4 ms into the fold, so that some land while the fold writes.
        await Promise.all([f.settle?.(), after(seq % 5).then(() => f.store.setMembers(g, users, seq))]);
        assert.deepEqual(await f.store.listConversations('rr1', 10), [{ conversation: g, lastSeq: seq }], `after seq ${seq}`);
      }
      await f.settle?.();
      assert.deepEqual(await f.store.listConversations('rr2', 10), [{ conversation: g, lastSeq: 40 }]);
      assert.equal(await f.store.lastSeq(g), 40);
    });

    it('lists a group of hundreds for each member, follows a removal and a member added back, and ignores a late older roster', async () => {
      const g = 'grp:big';
      const users = Array.from({ length: 300 }, (_, i) => `u${i}`);
      const change = (seq: number, kind: Message['kind'], members: string[]): Message => ({
        ...msg(g, seq, `big-${seq}`, seq * 10),
        to: g,
        body: '',
        kind,
        members,
      });
      await f.store.insertMessage(change(1, 'created', users), []);
      await f.store.setMembers(g, users, 1);
      for (const u of ['u0', 'u150', 'u299']) assert.deepEqual(await f.store.listConversations(u, 10), [{ conversation: g, lastSeq: 1 }], u);
      await f.store.insertMessage(change(2, 'removed', ['u150']), []);
      await f.store.setMembers(
        g,
        users.filter((u) => u !== 'u150'),
        2,
      );
      await f.store.setMembers(g, users, 1); // the older roster again, late: ignored
      assert.deepEqual(await f.store.listConversations('u150', 10), [], 'removed');
      assert.deepEqual(await f.store.listConversations('u151', 10), [{ conversation: g, lastSeq: 2 }]);
      assert.deepEqual(
        await f.store.groupCounts(['u0', 'u150', 'nobody']),
        new Map([
          ['u0', 1],
          ['u150', 0],
          ['nobody', 0],
        ]),
      );
      await f.store.insertMessage(change(3, 'added', ['u150']), []);
      await f.store.setMembers(g, users, 3);
      assert.deepEqual(await f.store.listConversations('u150', 10), [{ conversation: g, lastSeq: 3 }], 'added back');
      await f.store.insertMessage(msg('dm:u0:u1', 1, 'big-dm', 5), ['u0', 'u1']);
      assert.deepEqual(
        await f.store.listConversations('u0', 10),
        [
          { conversation: g, lastSeq: 3 },
          { conversation: 'dm:u0:u1', lastSeq: 1 },
        ],
        'groups and direct conversations, most recent first',
      );
      assert.deepEqual(await f.store.listConversations('u0', 1), [{ conversation: g, lastSeq: 3 }]);
    });

    it('answers the same before and after its index settles, and goes on from there', async () => {
      const g = 'grp:settle';
      const members = new Map([
        ['dm:a:b', ['a', 'b']],
        ['dm:a:c', ['a', 'c']],
        [g, []],
      ]);
      const created: Message = { ...msg(g, 1, 's-g1', 15), to: g, body: '', kind: 'created', members: ['a', 'c'] };
      assert.equal(
        await f.store.insertMessages([msg('dm:a:b', 1, 's-b1', 10), created, msg('dm:a:c', 1, 's-c1', 20), msg('dm:a:b', 2, 's-b2', 30)], members),
        4,
      );
      await f.store.setMembers(g, ['a', 'c'], 1);
      const read = async () => ({
        a: await f.store.listConversations('a', 10),
        c: await f.store.listConversations('c', 10),
        a1: await f.store.listConversations('a', 1),
        seqs: await f.store.lastSeqs(['dm:a:b', 'dm:a:c', g, 'dm:none']),
        one: await f.store.lastSeq('dm:a:b'),
      });
      const before = await read();
      assert.deepEqual(before.a, [
        { conversation: 'dm:a:b', lastSeq: 2 },
        { conversation: 'dm:a:c', lastSeq: 1 },
        { conversation: g, lastSeq: 1 },
      ]);
      assert.deepEqual(before.c, [
        { conversation: 'dm:a:c', lastSeq: 1 },
        { conversation: g, lastSeq: 1 },
      ]);
      assert.deepEqual(
        before.seqs,
        new Map([
          ['dm:a:b', 2],
          ['dm:a:c', 1],
          [g, 1],
          ['dm:none', 0],
        ]),
      );
      await f.settle?.();
      assert.deepEqual(await read(), before, 'the same once settled');
      // Newer messages after settling: the index and what is not folded yet, together.
      assert.equal(await f.store.insertMessages([msg('dm:a:c', 2, 's-c2', 40), { ...msg(g, 2, 's-g2', 50), to: g }], members), 2);
      const after = await read();
      assert.deepEqual(after.a, [
        { conversation: g, lastSeq: 2 },
        { conversation: 'dm:a:c', lastSeq: 2 },
        { conversation: 'dm:a:b', lastSeq: 2 },
      ]);
      assert.deepEqual(after.a1, [{ conversation: g, lastSeq: 2 }], 'a conversation the index ranks low comes first once newer');
      assert.deepEqual(
        after.seqs,
        new Map([
          ['dm:a:b', 2],
          ['dm:a:c', 2],
          [g, 2],
          ['dm:none', 0],
        ]),
      );
      await f.settle?.();
      assert.deepEqual(await read(), after);
      // A redelivered write (stored already) moves nothing back.
      assert.deepEqual([...(await f.store.storedAlready(['s-b1', 's-c1'], members)).keys()].sort(), ['s-b1', 's-c1']);
      await f.settle?.();
      assert.deepEqual(await read(), after);
    });

    it('never answers an older seq than one stored before the read, while its index settles at the same time', async () => {
      // Reads that take the settled index and what is not settled yet must not miss a message that
      // moves from one to the other between their two looks.
      const g = 'grp:race';
      const members = new Map([
        ['dm:a:b', ['a', 'b']],
        [g, []],
      ]);
      await f.store.insertMessage({ ...msg(g, 1, 'race-g1', 1), to: g, body: '', kind: 'created', members: ['a', 'b'] }, []);
      await f.store.setMembers(g, ['a', 'b'], 1);
      let settling = true;
      const settles = (async () => {
        while (settling) await (f.settle?.() ?? new Promise((r) => setImmediate(r)));
      })();
      try {
        for (let seq = 2; seq <= 81; seq++) {
          const written = [msg('dm:a:b', seq - 1, `race-d${seq}`, seq * 10), { ...msg(g, seq, `race-g${seq}`, seq * 10 + 1), to: g }];
          assert.equal(await f.store.insertMessages(written, members), 2);
          const [direct, group, both, listed] = await Promise.all([
            f.store.lastSeq('dm:a:b'),
            f.store.lastSeq(g),
            f.store.lastSeqs(['dm:a:b', g]),
            f.store.listConversations('b', 10),
          ]);
          assert.deepEqual(
            { direct, group, both, listed },
            {
              direct: seq - 1,
              group: seq,
              both: new Map([
                ['dm:a:b', seq - 1],
                [g, seq],
              ]),
              listed: [
                { conversation: g, lastSeq: seq },
                { conversation: 'dm:a:b', lastSeq: seq - 1 },
              ],
            },
            `after seq ${seq}`,
          );
        }
      } finally {
        settling = false;
        await settles;
      }
    });

    it('reads ranges in seq order with limits', async () => {
      for (let i = 1; i <= 5; i++) await f.store.insertMessage(msg('dm:a:b', i, `r${i}`), ['a', 'b']);
      await f.store.insertMessage(msg('dm:a:c', 1, 'other'), ['a', 'c']);
      assert.deepEqual(
        (await f.store.readMessages('dm:a:b', 0, 3)).map((m) => m.seq),
        [1, 2, 3],
      );
      assert.deepEqual(
        (await f.store.readMessages('dm:a:b', 3, 10)).map((m) => m.msgId),
        ['r4', 'r5'],
      );
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

    it('keeps the highest read marker per user and conversation, whatever order the marks come in, and many at once', async () => {
      assert.deepEqual(await f.store.readMarkers('a', ['dm:a:b']), new Map([['dm:a:b', 0]]));
      assert.equal(await f.store.markRead('a', 'dm:a:b', 5), 5);
      assert.equal(await f.store.markRead('a', 'dm:a:b', 3), 5, 'a marker never moves back');
      assert.equal(await f.store.markRead('b', 'dm:a:b', 2), 2, "each user's own");
      // First marks of one marker at once: one of them creates it, the others move it.
      const racing = await Promise.all([4, 9, 7].map((seq) => f.store.markRead('c', 'grp:g1', seq)));
      assert.ok(racing.every((seq) => seq >= 4 && seq <= 9));
      await f.store.advanceMarkers([
        { user: 'a', conversation: 'dm:a:b', seq: 4 },
        { user: 'a', conversation: 'dm:a:c', seq: 8 },
        ...Array.from({ length: 40 }, (_, i) => ({ user: 'a', conversation: `grp:many-${i}`, seq: i + 1 })),
      ]);
      assert.deepEqual(
        await f.store.readMarkers('a', ['dm:a:b', 'dm:a:c', 'grp:many-39', 'dm:a:z']),
        new Map([
          ['dm:a:b', 5],
          ['dm:a:c', 8],
          ['grp:many-39', 40],
          ['dm:a:z', 0],
        ]),
      );
      assert.deepEqual(await f.store.readMarkers('c', ['grp:g1']), new Map([['grp:g1', 9]]));
      assert.deepEqual(
        await f.store.readMarkers('b', ['dm:a:b', 'dm:a:c']),
        new Map([
          ['dm:a:b', 2],
          ['dm:a:c', 0],
        ]),
      );
      assert.deepEqual(await f.store.readMarkers('a', []), new Map());
    });
  });
}
