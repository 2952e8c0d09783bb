import assert from 'node:assert/strict';
import { startConnect, startMessage, getJson, eventually, type RunningConnect, type RunningMessage } from '../support/services.js';
import { clientPool, type Frame, type TestClient } from '../support/ws-client.js';
import { dm } from '../support/traffic.js';
import { isolatedBackendSettings, sharedRealBackends } from '../support/real-backends.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const EDIT_WINDOW_MS = 4000;

/**
 * Edits, deletions and group titles end to end (two gateways, one Message pod), on both kinds of
 * backends: each change is a message of the conversation, pushed to everyone in it (the sending
 * connection included), stored once, replayed by `sync` in order; a title is listed with
 * `conversations`; every refusal answered with its code.
 */
for (const backends of ['embedded', 'real'] as const)
  describe(`edits, deletions and group titles (${backends} backends)`, function () {
    this.timeout(120_000);
    let message: RunningMessage;
    let connects: RunningConnect[];
    const { open, uid, closeAll } = clientPool(() => connects.map((c) => c.url));
    const refusal = async (c: TestClient, frame: Frame & { id: string }): Promise<[unknown, string]> => {
      const res = await c.request(frame, 'error');
      return [res.code, String(res.message)];
    };
    /** Waits for the message `msgId` on each of these connections; its seq. */
    const seen = async (msgId: unknown, ...on: TestClient[]): Promise<number> => {
      let seq = 0;
      for (const c of on) seq = Number((await c.next('message', 10_000, (f) => f.msgId === msgId)).seq);
      return seq;
    };

    before(async () => {
      const settings = { ...(backends === 'real' ? isolatedBackendSettings(await sharedRealBackends()) : {}), EDIT_WINDOW: `${EDIT_WINDOW_MS}ms` };
      message = await startMessage(settings);
      await eventually('Message ready', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 60_000);
      connects = [await startConnect(message.target), await startConnect(message.target)];
      for (const c of connects) await eventually('Connect ready', async () => (await getJson(`${c.admin}/readyz`)).status === 200, 30_000);
    });
    afterEach(() => closeAll());
    after(async () => {
      closeAll();
      for (const c of connects ?? []) await c.stop();
      await message?.stop();
    });

    it("an edit and a deletion of one's own message reach every connection in the conversation, the sending one included, and sync replays them once, in order", async () => {
      const [alice, bob] = [uid('alice'), uid('bob')];
      const [a1, a2, b1] = [await open(alice), await open(alice, 1), await open(bob, 1)];
      const conversation = dm(alice, bob);
      const sent = await a1.request({ type: 'send', id: uid('t'), to: bob, body: 'helo' }, 'accepted');
      const seq = await seen(sent.msgId, a2, b1);

      const edit = { type: 'edit', id: uid('e'), conversation, seq, body: 'hello' };
      const accepted = await a1.request(edit, 'accepted');
      const pushed = await a1.next('message', 10_000, (f) => f.msgId === accepted.msgId);
      assert.deepEqual(
        { ...pushed, ts: 0 },
        {
          type: 'message',
          msgId: accepted.msgId,
          conversation,
          seq: seq + 1,
          from: alice,
          to: bob,
          body: 'hello',
          ts: 0,
          id: edit.id,
          kind: 'edited',
          members: [],
          ref: seq,
        },
        'the sending connection is pushed its change, with its seq',
      );
      assert.equal(await seen(accepted.msgId, a2, b1), seq + 1);
      // The same edit again (a retry): the same message, not a second one.
      assert.equal((await a1.request(edit, 'accepted')).msgId, accepted.msgId);

      const deletion = await b1.request({ type: 'delete', id: uid('d'), conversation, seq }, 'error');
      assert.equal(deletion.code, 'FORBIDDEN', "bob cannot delete alice's message");
      const deleted = await a2.request({ type: 'delete', id: uid('d'), conversation, seq }, 'accepted');
      assert.equal(await seen(deleted.msgId, a1, a2, b1), seq + 2);

      const rows = async () => {
        const res = await b1.request({ type: 'sync', id: uid('s'), conversation, after: 0 }, 'messages');
        return (res.messages as Frame[]).map((m) => [m.seq, m.kind ?? 'text', m.ref ?? 0, m.body]);
      };
      const want = [
        [seq, 'text', 0, 'helo'],
        [seq + 1, 'edited', seq, 'hello'],
        [seq + 2, 'deleted', seq, ''],
      ];
      assert.deepEqual(await rows(), want);
      await sleep(500);
      assert.deepEqual(await rows(), want, 'stored once each');
      assert.deepEqual(
        b1.take('message').filter((m) => m.msgId === accepted.msgId),
        [],
        'the retried edit was not pushed again',
      );
    });

    it('refuses an edit or a delete of a missing seq, of a change, of a message past EDIT_WINDOW, with a bad body, or in a conversation one is not in', async () => {
      const [alice, bob, eve] = [uid('alice'), uid('bob'), uid('eve')];
      const [a1, b1, e1] = [await open(alice), await open(bob), await open(eve, 1)];
      const conversation = dm(alice, bob);
      const sent = await a1.request({ type: 'send', id: uid('t'), to: bob, body: 'first' }, 'accepted');
      const seq = await seen(sent.msgId, b1);
      const edited = await a1.request({ type: 'edit', id: uid('e'), conversation, seq, body: 'first!' }, 'accepted');
      await seen(edited.msgId, b1);

      const beyond = await refusal(a1, { type: 'edit', id: uid('x'), conversation, seq: seq + 5, body: 'x' });
      assert.deepEqual(beyond, ['BAD_REQUEST', `${conversation} has no message at seq ${seq + 5}`]);
      assert.deepEqual(await refusal(a1, { type: 'delete', id: uid('x'), conversation, seq: seq + 1 }), [
        'BAD_REQUEST',
        `the message at seq ${seq + 1} is not a text (kind edited): only a text is edited or deleted`,
      ]);
      assert.deepEqual(await refusal(a1, { type: 'edit', id: uid('x'), conversation, seq, body: '' }), [
        'BAD_REQUEST',
        '"body" must be a non-empty string: the new text',
      ]);
      assert.equal((await refusal(a1, { type: 'edit', id: uid('x'), conversation, seq, body: 'x'.repeat(4097) }))[0], 'TOO_LARGE');
      assert.equal((await refusal(e1, { type: 'delete', id: uid('x'), conversation, seq }))[0], 'FORBIDDEN');
      assert.equal((await refusal(e1, { type: 'delete', id: uid('x'), conversation: 'grp:no-such-group', seq }))[0], 'FORBIDDEN');

      await sleep(EDIT_WINDOW_MS + 500);
      const late = await refusal(a1, { type: 'delete', id: uid('x'), conversation, seq });
      assert.equal(late[0], 'BAD_REQUEST');
      assert.match(late[1], /EDIT_WINDOW/);
      const res = await b1.request({ type: 'sync', id: uid('s'), conversation, after: 0 }, 'messages');
      assert.equal((res.messages as Frame[]).length, 2, 'nothing refused was stored');
    });

    it('a group has a title from its creation, any member retitles it (pushed to every member, listed by conversations); a member edits in the group', async () => {
      const [ann, ben, cat] = [uid('ann'), uid('ben'), uid('cat')];
      const [a1, b1, b2, c1] = [await open(ann), await open(ben, 1), await open(ben), await open(cat, 1)];
      const created = await a1.request({ type: 'group.create', id: uid('g'), members: [ben], title: ' Trip ' }, 'accepted');
      const conversation = String(created.conversation);
      for (const x of [a1, b1, b2]) {
        const m = await x.next('message', 10_000, (f) => f.msgId === created.msgId);
        assert.deepEqual([m.kind, m.body], ['created', 'Trip']);
      }
      const titleOf = async (c: TestClient): Promise<unknown> => {
        const res = await c.request({ type: 'conversations', id: uid('l') }, 'conversations');
        return (res.items as Frame[]).find((i) => i.conversation === conversation)?.title;
      };
      await eventually('the title listed', async () => (await titleOf(b1)) === 'Trip', 15_000, 100);

      const retitled = await b1.request({ type: 'group.title', id: uid('t'), conversation, title: 'Trip 2027' }, 'accepted');
      for (const x of [a1, b1, b2]) {
        const m = await x.next('message', 10_000, (f) => f.msgId === retitled.msgId);
        assert.deepEqual([m.kind, m.body, m.members], ['titled', 'Trip 2027', []]);
      }
      await eventually('the new title listed', async () => (await titleOf(a1)) === 'Trip 2027', 15_000, 100);
      const members = await a1.request({ type: 'group.members', id: uid('m'), conversation }, 'members');
      assert.deepEqual(members.members, [ann, ben].sort(), 'a title changes no membership');

      assert.deepEqual(await refusal(a1, { type: 'group.title', id: uid('x'), conversation, title: '  ' }), [
        'BAD_REQUEST',
        '"title" must be a non-empty string',
      ]);
      assert.deepEqual(await refusal(a1, { type: 'group.title', id: uid('x'), conversation, title: 'a\nb' }), [
        'BAD_REQUEST',
        'title must not hold control characters (line breaks included)',
      ]);
      assert.equal((await refusal(a1, { type: 'group.title', id: uid('x'), conversation, title: 'x'.repeat(101) }))[0], 'BAD_REQUEST');
      assert.equal((await refusal(c1, { type: 'group.title', id: uid('x'), conversation, title: 'Mine now' }))[0], 'FORBIDDEN');

      const text = await b2.request({ type: 'send', id: uid('s'), conversation, body: 'see you there' }, 'accepted');
      const seq = await seen(text.msgId, a1, b1);
      const edit = await b1.request({ type: 'edit', id: uid('e'), conversation, seq, body: 'see you all there' }, 'accepted');
      for (const x of [a1, b1, b2]) {
        const m = await x.next('message', 10_000, (f) => f.msgId === edit.msgId);
        assert.deepEqual([m.kind, m.ref, m.body, m.to], ['edited', seq, 'see you all there', conversation]);
      }
      assert.equal((await refusal(a1, { type: 'delete', id: uid('x'), conversation, seq }))[0], 'FORBIDDEN', "ann cannot delete ben's message");
      await sleep(300);
      assert.deepEqual(c1.take('message'), [], 'nothing reaches someone outside the group');
    });
  });
