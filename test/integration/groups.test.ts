import assert from 'node:assert/strict';
import { startConnect, startMessage, getJson, eventually, type RunningConnect, type RunningMessage } from '../support/services.js';
import { metricValue } from '../support/processes.js';
import { clientPool, type Frame, type TestClient } from '../support/ws-client.js';
import { messagesBeforeSentinel } from '../support/traffic.js';
import { isolatedBackendSettings, sharedRealBackends } from '../support/real-backends.js';

/** Group conversations end to end: membership as messages, member-only access, fan-out; on both kinds of backends. */
for (const backends of ['embedded', 'real'] as const)
  describe(`group conversations (${backends} backends)`, function () {
    this.timeout(120_000);
    let message: RunningMessage;
    let connects: RunningConnect[];
    const { open, uid, closeAll } = clientPool(() => connects.map((c) => c.url));
    /**
     * Creates a group as `creator` with `members`, and waits until the creator and every member have
     * its created message (the group is in effect then).
     */
    const create = async (creator: TestClient, members: string[], others: TestClient[]): Promise<string> => {
      const acc = await creator.request({ type: 'group.create', id: uid('create'), members }, 'accepted');
      const conversation = String(acc.conversation);
      for (const c of [creator, ...others]) await c.next('message', 10_000, (f) => f.conversation === conversation && f.kind === 'created');
      return conversation;
    };

    before(async () => {
      const real = backends === 'real' ? isolatedBackendSettings(await sharedRealBackends()) : {};
      message = await startMessage({ ...real, GROUP_MAX_MEMBERS: '10000', GROUP_MAX_PER_USER: '3' });
      await eventually('Message ready', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 60_000);
      // 2,000 clients come within seconds: above the default handshake rate (200/s, burst 400).
      const gateway = { CONNECT_HANDSHAKE_RATE: '10000', CONNECT_HANDSHAKE_BURST: '10000' };
      connects = [await startConnect(message.target, gateway), await startConnect(message.target, gateway)];
      for (const c of connects) await eventually('Connect ready', async () => (await getJson(`${c.admin}/readyz`)).status === 200);
    });
    afterEach(() => {
      closeAll();
    });
    after(async () => {
      for (const c of connects ?? []) await c.stop();
      await message?.stop();
    });

    it('creates a group whose first message names its members; members send to it, every member gets each message in seq order', async () => {
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      const [ca, cb, cc, a2] = [await open(a), await open(b), await open(c, 1), await open(a, 1)];
      const acc = await ca.request({ type: 'group.create', id: 'g1', members: [b, c, b] }, 'accepted');
      const conversation = String(acc.conversation);
      assert.match(conversation, /^grp:[A-Za-z0-9_-]{24}$/);
      for (const x of [ca, cb, cc, a2]) {
        const created = await x.next('message', 5000, (f) => f.conversation === conversation);
        assert.deepEqual([created.kind, created.seq, created.from, created.to, created.members], ['created', 1, a, conversation, [a, b, c]]);
      }
      const again = await ca.request({ type: 'group.create', id: 'g1', members: [b, c] }, 'accepted');
      assert.equal(again.conversation, conversation, 'a repeated create names the same group');

      for (let i = 0; i < 5; i++) await (i % 2 ? cb : ca).request({ type: 'send', id: `t${i}`, conversation, body: `text ${i}` }, 'accepted');
      for (const [x, want] of [
        [cc, ['text 0', 'text 1', 'text 2', 'text 3', 'text 4']],
        [a2, ['text 0', 'text 1', 'text 2', 'text 3', 'text 4']],
        [cb, ['text 0', 'text 2', 'text 4']],
        [ca, ['text 1', 'text 3']],
      ] as const) {
        const got: Frame[] = [];
        for (const _ of want) got.push(await x.next('message', 5000, (f) => f.conversation === conversation));
        assert.deepEqual(
          got.map((f) => f.body),
          want,
          "each member gets the others' messages in order, the sending connection none of its own",
        );
        assert.ok(got.every((f, i) => i === 0 || Number(f.seq) > Number(got[i - 1]!.seq)));
      }
      const synced = await cc.request({ type: 'sync', id: 's', conversation, after: 0 }, 'messages');
      assert.deepEqual(
        (synced.messages as Frame[]).map((m) => m.seq),
        [1, 2, 3, 4, 5, 6],
        'gap-free seqs, the created message first',
      );
      const members = await cb.request({ type: 'group.members', id: 'm', conversation }, 'members');
      assert.deepEqual(members.members, [a, b, c].sort());
      await eventually('listed for its members', async () =>
        ((await cc.request({ type: 'conversations', id: uid('l') }, 'conversations')).items as Frame[]).some((i) => i.conversation === conversation),
      );
    });

    it('refuses a non-member everything: send, sync, members, add (FORBIDDEN), and checks the frames (BAD_REQUEST)', async () => {
      const [a, d] = [uid('a'), uid('d')];
      const [ca, cd] = [await open(a), await open(d)];
      const conversation = await create(ca, [], []);
      const refusals = [
        { type: 'send', id: 'x1', conversation, body: 'let me in' },
        { type: 'sync', id: 'x2', conversation, after: 0 },
        { type: 'group.members', id: 'x3', conversation },
        { type: 'group.add', id: 'x4', conversation, members: [d] },
        { type: 'group.remove', id: 'x5', conversation, members: [a] },
        { type: 'group.leave', id: 'x6', conversation },
        { type: 'send', id: 'x7', conversation: 'grp:no-such-group', body: 'hello?' },
      ];
      for (const f of refusals) {
        const r = await cd.request(f, 'error');
        assert.deepEqual([r.type, r.code, r.id], ['error', 'FORBIDDEN', f.id], JSON.stringify(f));
        assert.match(String(r.message), /is not a member of grp:/);
      }
      const bad = [
        { type: 'send', id: 'b1', conversation: 'dm:a:b', body: 'x' },
        { type: 'group.add', id: 'b2', conversation, members: [] },
        { type: 'group.add', id: 'b3', conversation, members: ['not a user'] },
        { type: 'group.create', id: 'b4', members: 'everyone' },
        { type: 'group.members', id: 'b5', conversation: 'grp:' },
      ];
      for (const f of bad) {
        const r = await ca.request(f, 'error');
        assert.deepEqual([r.code, r.id], ['BAD_REQUEST', f.id], JSON.stringify(f));
      }
    });

    it('a removed member gets the removal and nothing after it; sync stops at the removal; a member who leaves can no longer send', async () => {
      const [a, b, c] = [uid('a'), uid('b'), uid('c')];
      const [ca, cb, cc] = [await open(a), await open(b), await open(c)];
      const conversation = await create(ca, [b, c], [cb, cc]);
      await ca.request({ type: 'send', id: 'before', conversation, body: 'before' }, 'accepted');
      await cc.next('message', 5000, (f) => f.body === 'before');
      const removal = await ca.request({ type: 'group.remove', id: 'rm', conversation, members: [c] }, 'accepted');
      const removed = await cc.next('message', 5000, (f) => f.kind === 'removed');
      await ca.next('message', 5000, (f) => f.kind === 'removed'); // the remover's own connection too
      assert.deepEqual([removed.seq, removed.members, removed.msgId], [3, [c], removal.msgId]);
      await cb.next('message', 5000, (f) => f.kind === 'removed');
      await ca.request({ type: 'send', id: 'after', conversation, body: 'after the removal' }, 'accepted');
      assert.equal((await cb.next('message', 5000, (f) => f.conversation === conversation && f.kind === undefined)).body, 'before');
      assert.equal((await cb.next('message', 5000, (f) => f.conversation === conversation)).body, 'after the removal');
      assert.deepEqual(await messagesBeforeSentinel(ca, cc, c), [], 'nothing after the removal reached the removed member');
      const synced = await cc.request({ type: 'sync', id: 's', conversation, after: 0 }, 'messages');
      assert.deepEqual(
        (synced.messages as Frame[]).map((m) => m.seq),
        [1, 2, 3],
        'sync stops at the removal',
      );
      assert.equal((await cc.request({ type: 'send', id: 'x', conversation, body: 'still here?' }, 'error')).code, 'FORBIDDEN');
      await eventually(
        'no longer listed for the removed member',
        async () =>
          !((await cc.request({ type: 'conversations', id: uid('l') }, 'conversations')).items as Frame[]).some((i) => i.conversation === conversation),
      );

      await cb.request({ type: 'group.leave', id: 'bye', conversation }, 'accepted');
      const left = await ca.next('message', 5000, (f) => f.kind === 'left');
      assert.deepEqual(left.members, [b]);
      assert.equal((await cb.request({ type: 'send', id: 'y', conversation, body: 'gone' }, 'error')).code, 'FORBIDDEN');
      assert.deepEqual((await ca.request({ type: 'group.members', id: 'm', conversation }, 'members')).members, [a]);
    });

    it('keeps a group within GROUP_MAX_MEMBERS with a clear error', async () => {
      const a = uid('a');
      const ca = await open(a);
      const many = (k: number, from = 0) => Array.from({ length: k }, (_, i) => `${a}-m${from + i}`);
      const tooMany = await ca.request({ type: 'group.create', id: 'frame', members: many(1001) }, 'error');
      assert.deepEqual([tooMany.code, tooMany.message], ['BAD_REQUEST', '"members" names 1001 users; at most 1000 per frame']);
      const conversation = await create(ca, many(999), []);
      for (let k = 0; k < 8; k++) await ca.request({ type: 'group.add', id: `add${k}`, conversation, members: many(1000, 999 + k * 1000) }, 'accepted');
      await ca.request({ type: 'group.add', id: 'last', conversation, members: many(999, 8999) }, 'accepted');
      await eventually(
        '9,999 members stored',
        async () => ((await ca.request({ type: 'group.members', id: uid('m'), conversation }, 'members')).members as string[]).length === 9999,
        30_000,
      );
      const add = await ca.request({ type: 'group.add', id: 'more', conversation, members: many(2, 9998) }, 'error');
      assert.deepEqual([add.code, add.message], ['BAD_REQUEST', 'the group would have 10001 members; the limit is 10000']);
      await ca.request({ type: 'group.add', id: 'one-more', conversation, members: many(1, 9998) }, 'accepted');
      await eventually(
        '10,000 members stored',
        async () => ((await ca.request({ type: 'group.members', id: uid('m'), conversation }, 'members')).members as string[]).length === 10_000,
        30_000,
      );
      const create2 = await ca.request({ type: 'group.add', id: 'full', conversation, members: [`${a}-one-too-many`] }, 'error');
      assert.deepEqual([create2.code, create2.message], ['BAD_REQUEST', 'the group would have 10001 members; the limit is 10000']);
    });

    it('keeps a user within GROUP_MAX_PER_USER groups (creating or adding them) with a clear error', async () => {
      const [a, x] = [uid('a'), uid('x')];
      const [ca, cx] = [await open(a), await open(x)];
      const groups: string[] = [];
      for (let i = 0; i < 3; i++) groups.push(await create(cx, [], []));
      // The limit counts the groups a user is listed for, which follows each change once it is stored.
      await eventually(
        'three groups listed for x',
        async () =>
          ((await cx.request({ type: 'conversations', id: uid('l') }, 'conversations')).items as Frame[]).filter((i) =>
            String(i.conversation).startsWith('grp:'),
          ).length === 3,
        30_000,
      );
      const byCreate = await ca.request({ type: 'group.create', id: 'fourth', members: [x] }, 'error');
      assert.deepEqual([byCreate.code, byCreate.message], ['BAD_REQUEST', `${x} is in 3 groups; the limit is 3`]);
      const mine = await create(ca, [], []);
      const byAdd = await ca.request({ type: 'group.add', id: 'add-x', conversation: mine, members: [x] }, 'error');
      assert.deepEqual([byAdd.code, byAdd.message], ['BAD_REQUEST', `${x} is in 3 groups; the limit is 3`]);
      const ownFourth = await cx.request({ type: 'group.create', id: 'own-fourth', members: [] }, 'error');
      assert.equal(ownFourth.message, `${x} is in 3 groups; the limit is 3`, 'the creator counts too');
      await cx.request({ type: 'group.leave', id: 'leave-one', conversation: groups[0]! }, 'accepted');
      await eventually(
        'room for one more',
        async () => (await ca.request({ type: 'group.add', id: 'add-x', conversation: mine, members: [x] }, 'accepted')).type === 'accepted',
        30_000,
      );
    });

    it('fans out with one push per gateway per message: a group of 10,000 with 2,000 online over two gateways, each online member gets every message in order', async function () {
      this.timeout(240_000);
      const a = uid('fan');
      const users = Array.from({ length: 9999 }, (_, i) => `${a}-u${i}`);
      const sender = await open(a);
      const acc = await sender.request({ type: 'group.create', id: 'fan', members: users.slice(0, 999) }, 'accepted');
      const conversation = String(acc.conversation);
      await sender.next('message', 10_000, (f) => f.conversation === conversation && f.kind === 'created');
      for (let from = 999; from < users.length; from += 1000) {
        await sender.request({ type: 'group.add', id: `fan-add-${from}`, conversation, members: users.slice(from, from + 1000) }, 'accepted');
      }
      await eventually(
        '10,000 members',
        async () => ((await sender.request({ type: 'group.members', id: uid('m'), conversation }, 'members')).members as string[]).length === 10_000,
        60_000,
      );
      // 2,000 of them online, spread over the two gateways.
      const members: TestClient[] = [];
      for (let i = 0; i < 2000; i += 200) members.push(...(await Promise.all(users.slice(i, i + 200).map((u, j) => open(u, (i + j) % 2)))));
      const pushesBefore = await metricValue(`http://127.0.0.1:${message.httpPort}`, 'switchboard_message_pushes_total', 'result="sent"');
      for (let i = 0; i < 10; i++) await sender.request({ type: 'send', id: `f${i}`, conversation, body: `fan ${i}` }, 'accepted');
      for (const m of members) {
        const got: Frame[] = [];
        for (let i = 0; i < 10; i++) got.push(await m.next('message', 30_000, (f) => f.conversation === conversation && f.kind === undefined));
        assert.deepEqual(
          got.map((f) => f.body),
          Array.from({ length: 10 }, (_, i) => `fan ${i}`),
        );
      }
      const pushes = (await metricValue(`http://127.0.0.1:${message.httpPort}`, 'switchboard_message_pushes_total', 'result="sent"')) - pushesBefore;
      assert.equal(pushes, 20, 'one push per gateway per message, not one per member');
      // `conversations` lists the group for every member, the last one added included.
      for (const m of [members[0]!, await open(users.at(-1)!)]) {
        await eventually('the group of 10,000 listed for its member', async () =>
          ((await m.request({ type: 'conversations', id: uid('l') }, 'conversations')).items as Frame[]).some(
            (i) => i.conversation === conversation && i.lastSeq === 20,
          ),
        );
      }
    });
  });
