import assert from 'node:assert/strict';
import { startConnect, startMessage, getJson, eventually, type RunningConnect, type RunningMessage } from '../support/services.js';
import { clientPool, type Frame, type TestClient } from '../support/ws-client.js';
import { dm } from '../support/traffic.js';
import { isolatedBackendSettings, sharedRealBackends } from '../support/real-backends.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Read markers, typing and presence end to end (two gateways, one Message pod): the `read` frame,
 * its pushes, `conversations`' unread counts; `typing` relayed to the others online; `presence`
 * followed across gateways, debounced; on both kinds of backends.
 */
for (const backends of ['embedded', 'real'] as const)
  describe(`read markers, typing and presence (${backends} backends)`, function () {
    this.timeout(120_000);
    let settings: Record<string, string>;
    let message: RunningMessage;
    let connects: RunningConnect[];
    const { open, uid, closeAll } = clientPool(() => connects.map((c) => c.url));
    const listing = async (c: TestClient, conversation: string): Promise<Frame | undefined> => {
      const res = await c.request({ type: 'conversations', id: uid('list') }, 'conversations');
      return (res.items as Frame[]).find((i) => i.conversation === conversation);
    };
    /** `from` sends `count` texts to `to` and `reader` gets them pushed; their seqs. */
    const texts = async (from: TestClient, to: string, count: number, reader: TestClient): Promise<number[]> => {
      const seqs: number[] = [];
      for (let i = 0; i < count; i++) {
        const acc = await from.request({ type: 'send', id: uid('t'), to, body: `text ${i}` }, 'accepted');
        seqs.push(Number((await reader.next('message', 10_000, (f) => f.msgId === acc.msgId)).seq));
      }
      return seqs;
    };
    const startAll = async (): Promise<void> => {
      message = await startMessage(settings);
      await eventually('Message ready', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 60_000);
      connects = [await startConnect(message.target), await startConnect(message.target)];
      for (const c of connects) await eventually('Connect ready', async () => (await getJson(`${c.admin}/readyz`)).status === 200, 30_000);
    };
    const stopAll = async (): Promise<void> => {
      closeAll();
      for (const c of connects ?? []) await c.stop();
      await message?.stop();
    };

    before(async () => {
      settings = backends === 'real' ? isolatedBackendSettings(await sharedRealBackends()) : {};
      await startAll();
    });
    afterEach(() => {
      closeAll();
    });
    after(stopAll);

    it("a read on one connection reaches the user's other connections and the peer (a receipt); `conversations` counts what is unread", async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const [a1, a2, b1] = [await open(alice), await open(alice, 1), await open(bob)];
      const conversation = dm(alice, bob);
      const seqs = await texts(b1, alice, 3, a1);
      for (const s of seqs) await a2.next('message', 5000, (f) => f.seq === s);
      assert.deepEqual(await listing(a2, conversation), { conversation, lastSeq: seqs[2], readSeq: 0, unread: 3 });

      const answer = await a1.request({ type: 'read', id: 'r1', conversation, seq: seqs[1]! }, 'read');
      assert.deepEqual(answer, { type: 'read', id: 'r1', conversation, user: alice, seq: seqs[1] });
      const other = await a2.next('read', 5000);
      assert.deepEqual(other, { type: 'read', conversation, user: alice, seq: seqs[1] }, "alice's other connection, on the other gateway");
      const receipt = await b1.next('read', 5000);
      assert.deepEqual(receipt, { type: 'read', conversation, user: alice, seq: seqs[1] }, "bob's receipt");
      assert.deepEqual(await listing(a2, conversation), { conversation, lastSeq: seqs[2], readSeq: seqs[1], unread: 1 });
      await sleep(300);
      assert.deepEqual(a1.take('read'), [], 'the reading connection has its answer, not a push');

      // A marker never moves back: an older read is answered with the marker as it is, and changes nothing.
      const older = await a1.request({ type: 'read', id: 'r2', conversation, seq: seqs[0]! }, 'read');
      assert.equal(older.seq, seqs[1]);
      assert.deepEqual(await listing(a2, conversation), { conversation, lastSeq: seqs[2], readSeq: seqs[1], unread: 1 });
    });

    it("one's own messages count as read: the sender's marker follows them into the store", async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const [a1, b1] = [await open(alice), await open(bob, 1)];
      const conversation = dm(alice, bob);
      await texts(b1, alice, 2, a1);
      const mine = await texts(a1, bob, 2, b1);
      await eventually(
        "alice's marker at her last message",
        async () => JSON.stringify(await listing(a1, conversation)) === JSON.stringify({ conversation, lastSeq: mine[1], readSeq: mine[1], unread: 0 }),
        15_000,
        200,
      );
      await eventually(
        "bob's marker at his last message, before alice's two",
        async () => JSON.stringify(await listing(b1, conversation)) === JSON.stringify({ conversation, lastSeq: mine[1], readSeq: mine[1]! - 2, unread: 2 }),
        15_000,
        200,
      );
    });

    it("in a group, the reader's other connections get the marker and the other members no receipt", async () => {
      const [alice, bob, carol] = [uid('alice'), uid('bob'), uid('carol')];
      const [a1, a2, b1, c1] = [await open(alice), await open(alice, 1), await open(bob), await open(carol, 1)];
      const acc = await b1.request({ type: 'group.create', id: uid('g'), members: [alice, carol] }, 'accepted');
      const conversation = String(acc.conversation);
      for (const x of [a1, a2, b1, c1]) await x.next('message', 10_000, (f) => f.conversation === conversation && f.kind === 'created');
      const sent = await b1.request({ type: 'send', id: uid('t'), conversation, body: 'hello all' }, 'accepted');
      const seq = Number((await a1.next('message', 10_000, (f) => f.msgId === sent.msgId)).seq);
      assert.equal((await a1.request({ type: 'read', id: 'g1', conversation, seq }, 'read')).seq, seq);
      assert.deepEqual(await a2.next('read', 5000), { type: 'read', conversation, user: alice, seq });
      await sleep(500);
      assert.deepEqual([...b1.take('read'), ...c1.take('read')], [], 'no receipts in a group');
      assert.deepEqual(await listing(c1, conversation), { conversation, lastSeq: seq, readSeq: 0, unread: seq });
    });

    it('refuses a marker beyond the last message, a seq that is not a positive integer, and a conversation the user is not in', async () => {
      const [alice, bob, eve] = [uid('alice'), uid('bob'), uid('eve')];
      const [a1, b1, e1] = [await open(alice), await open(bob), await open(eve)];
      const conversation = dm(alice, bob);
      const [seq] = await texts(b1, alice, 1, a1);
      const refusal = async (c: TestClient, frame: Frame & { id: string }): Promise<[unknown, string]> => {
        const res = await c.request(frame, 'error');
        return [res.code, String(res.message)];
      };
      const beyond = await refusal(a1, { type: 'read', id: 'x1', conversation, seq: seq! + 1 });
      assert.equal(beyond[0], 'BAD_REQUEST');
      assert.match(beyond[1], /beyond the last message/);
      assert.deepEqual(await refusal(a1, { type: 'read', id: 'x2', conversation, seq: 0 }), ['BAD_REQUEST', '"seq" must be an integer ≥ 1']);
      assert.deepEqual(await refusal(a1, { type: 'read', id: 'x3', conversation, seq: 1.5 }), ['BAD_REQUEST', '"seq" must be an integer ≥ 1']);
      assert.deepEqual(await refusal(a1, { type: 'read', id: 'x4', conversation: 'not an id!', seq: 1 }), [
        'BAD_REQUEST',
        '"conversation" must be a conversation id',
      ]);
      assert.equal((await refusal(e1, { type: 'read', id: 'x5', conversation, seq: 1 }))[0], 'FORBIDDEN');
      assert.equal((await refusal(e1, { type: 'read', id: 'x6', conversation: 'grp:no-such-group', seq: 1 }))[0], 'FORBIDDEN');
      assert.deepEqual(await listing(a1, conversation), { conversation, lastSeq: seq, readSeq: 0, unread: 1 }, 'nothing refused moved the marker');
    });

    it('typing reaches the peer, or the other members of a group, on any gateway; never the typist; absorbed within the interval; refused to a non-member', async () => {
      const [alice, bob, carol, eve] = [uid('alice'), uid('bob'), uid('carol'), uid('eve')];
      const [a1, a2, b1, c1, e1] = [await open(alice), await open(alice, 1), await open(bob, 1), await open(carol), await open(eve)];
      const conversation = dm(alice, bob);
      a1.send({ type: 'typing', conversation });
      assert.deepEqual(await b1.next('typing', 5000), { type: 'typing', conversation, user: alice, ttlMs: 6000 });
      // Again at once: absorbed (the indicator is still on at bob's); the typist's other connection gets nothing.
      a1.send({ type: 'typing', conversation });
      await sleep(500);
      assert.deepEqual([...b1.take('typing'), ...a1.take('typing'), ...a2.take('typing'), ...c1.take('typing')], []);
      // A group: every other member online, whichever gateway holds them.
      const acc = await b1.request({ type: 'group.create', id: uid('g'), members: [alice, carol] }, 'accepted');
      const group = String(acc.conversation);
      for (const x of [a1, b1, c1]) await x.next('message', 10_000, (f) => f.conversation === group && f.kind === 'created');
      c1.send({ type: 'typing', id: 'ty-1', conversation: group });
      for (const x of [a1, a2, b1]) assert.deepEqual(await x.next('typing', 5000), { type: 'typing', conversation: group, user: carol, ttlMs: 6000 });
      await sleep(300);
      assert.deepEqual(c1.take('typing'), [], 'not to the typist');
      // Not a member: FORBIDDEN (with the id when one was given), and nobody is told.
      e1.send({ type: 'typing', id: 'ty-2', conversation: group });
      const refused = await e1.next('error', 5000);
      assert.deepEqual([refused.id, refused.code], ['ty-2', 'FORBIDDEN']);
      e1.send({ type: 'typing', conversation });
      const refusedNoId = await e1.next('error', 5000);
      assert.deepEqual([refusedNoId.id, refusedNoId.code], [undefined, 'FORBIDDEN']);
      e1.send({ type: 'typing', id: 'ty-3', conversation: 'not an id!' });
      assert.deepEqual((await e1.next('error', 5000)).code, 'BAD_REQUEST');
      await sleep(300);
      assert.deepEqual([...a1.take('typing'), ...b1.take('typing'), ...c1.take('typing')], []);
    });

    it("presence: the state of people one shares a conversation with, then each change on any gateway, offline only after the debounce; a blip is no flap; anyone else's is FORBIDDEN", async () => {
      const [alice, bob, carol, eve] = [uid('alice'), uid('bob'), uid('carol'), uid('eve')];
      const a1 = await open(alice);
      let b1 = await open(bob, 1);
      const c1 = await open(carol, 1);
      await texts(b1, alice, 1, a1);
      const acc = await c1.request({ type: 'group.create', id: uid('g'), members: [alice] }, 'accepted');
      await a1.next('message', 10_000, (f) => f.conversation === acc.conversation && f.kind === 'created');
      const answer = await a1.request({ type: 'presence', id: 'p1', users: [bob, carol] }, 'presence');
      assert.deepEqual(answer.users, [
        { user: bob, online: true },
        { user: carol, online: true },
      ]);
      // Bob leaves: told once, after the debounce (3 s).
      const left = Date.now();
      b1.close();
      const off = await a1.next('presence', 10_000);
      assert.deepEqual(off, { type: 'presence', user: bob, online: false });
      assert.ok(Date.now() - left >= 2500, `told ${Date.now() - left} ms after bob left: the debounce`);
      // Back on the other gateway: told at once.
      b1 = await open(bob);
      assert.deepEqual(await a1.next('presence', 5000), { type: 'presence', user: bob, online: true });
      // A reload: gone and back within the debounce: nothing.
      b1.close();
      await sleep(500);
      b1 = await open(bob, 1);
      await sleep(4000);
      assert.deepEqual(a1.take('presence'), [], 'a blip is no flap');
      assert.deepEqual((await a1.request({ type: 'presence', id: 'p1b', users: [bob, carol] }, 'presence')).users, [
        { user: bob, online: true },
        { user: carol, online: true },
      ]);
      b1.close();
      // Eve shares nothing with alice: refused, and nothing followed.
      const refused = await a1.request({ type: 'presence', id: 'p2', users: [bob, eve] }, 'error');
      assert.equal(refused.code, 'FORBIDDEN');
      assert.match(String(refused.message), new RegExp(`shares no conversation with ${eve}`));
      // An empty list follows no one.
      assert.deepEqual((await a1.request({ type: 'presence', id: 'p3', users: [] }, 'presence')).users, []);
      c1.close();
      await sleep(4500);
      assert.deepEqual(a1.take('presence'), [], 'carol is no longer followed');
      const e1 = await open(eve);
      e1.close();
    });

    if (backends === 'real')
      it('markers survive a restart of every process', async () => {
        const [alice, bob] = [uid('alice'), uid('bob')];
        let [a1, b1] = [await open(alice), await open(bob)];
        const conversation = dm(alice, bob);
        const seqs = await texts(b1, alice, 3, a1);
        await a1.request({ type: 'read', id: 'r', conversation, seq: seqs[1]! }, 'read');
        // Bob's own marker follows his messages into the store before the restart.
        await eventually('bob read his own messages', async () => (await listing(b1, conversation))?.readSeq === seqs[2], 15_000, 200);
        await stopAll();
        await startAll();
        [a1, b1] = [await open(alice), await open(bob, 1)];
        assert.deepEqual(await listing(a1, conversation), { conversation, lastSeq: seqs[2], readSeq: seqs[1], unread: 1 });
        assert.deepEqual(await listing(b1, conversation), { conversation, lastSeq: seqs[2], readSeq: seqs[2], unread: 0 });
      });
  });
