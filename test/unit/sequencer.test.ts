import assert from 'node:assert/strict';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import type { MessageStore } from '../../services/message/adapters/store.js';
import type { AcceptedSend } from '../../services/shared/message.js';

function entry(msgId: string, conversation = 'dm:a:b', from = 'a', to = 'b'): AcceptedSend {
  return { msgId, conversation, from, to, body: `body ${msgId}`, ts: 1, clientId: `c-${msgId}`, origin: { instance: '', connection: '' } };
}

describe('Sequencer', () => {
  let store: MessageStore;
  beforeEach(async () => {
    store = createEmbeddedStore();
    await store.start();
  });

  it('assigns 1, 2, 3 … per conversation, independently across conversations', async () => {
    const seq = new Sequencer(store);
    const got: Array<[string, number]> = [];
    for (const [id, conv] of [
      ['m1', 'dm:a:b'],
      ['m2', 'dm:a:b'],
      ['m3', 'dm:a:c'],
      ['m4', 'dm:a:b'],
      ['m5', 'dm:a:c'],
    ] as const) {
      const m = await seq.store(entry(id, conv, 'a', conv.slice(-1)));
      got.push([m!.msgId, m!.seq]);
    }
    assert.deepEqual(got, [
      ['m1', 1],
      ['m2', 2],
      ['m3', 1],
      ['m4', 3],
      ['m5', 2],
    ]);
    assert.deepEqual(
      (await store.readMessages('dm:a:b', 0, 10)).map((m) => m.seq),
      [1, 2, 3],
    );
  });

  it('drops a redelivered entry (same msgId) without using a seq', async () => {
    const seq = new Sequencer(store);
    assert.equal((await seq.store(entry('m1')))!.seq, 1);
    assert.equal(await seq.store(entry('m1')), undefined);
    assert.equal((await seq.store(entry('m2')))!.seq, 2);
    assert.equal(await store.lastSeq('dm:a:b'), 2);
  });

  it('recovers from a stale cache when another writer took the next seq (partition hand-over)', async () => {
    const first = new Sequencer(store);
    const second = new Sequencer(store);
    await first.store(entry('m1'));
    await second.store(entry('m2')); // second reads lastSeq 1 from the store → 2
    const m3 = await first.store(entry('m3')); // first's cache says 1 → conflict on 2 → re-read → 3
    assert.equal(m3!.seq, 3);
    assert.deepEqual(
      (await store.readMessages('dm:a:b', 0, 10)).map((m) => [m.msgId, m.seq]),
      [
        ['m1', 1],
        ['m2', 2],
        ['m3', 3],
      ],
    );
  });

  it('resumes from what is stored after a restart (no counter to run ahead)', async () => {
    await new Sequencer(store).store(entry('m1'));
    await new Sequencer(store).store(entry('m2'));
    assert.equal((await new Sequencer(store).store(entry('m3')))!.seq, 3);
  });

  it('stores a batch in log order with per-conversation seqs, dropping redelivered entries and repeats', async () => {
    const seq = new Sequencer(store);
    await seq.store(entry('old'));
    const stored = await seq.storeBatch([
      entry('old'),
      entry('n1'),
      entry('x1', 'dm:a:c', 'a', 'c'),
      entry('n1'),
      entry('n2'),
      entry('x2', 'dm:a:c', 'a', 'c'),
    ]);
    const now = (list: typeof stored) => list.filter((s) => !s.redelivered).map(({ message: m }) => [m.msgId, m.seq]);
    const again = (list: typeof stored) => list.filter((s) => s.redelivered).map(({ message: m }) => [m.msgId, m.seq]);
    assert.deepEqual(now(stored), [
      ['n1', 2],
      ['x1', 1],
      ['n2', 3],
      ['x2', 2],
    ]);
    assert.deepEqual(again(stored), [['old', 1]], 'the record stored before comes back for its push');
    assert.deepEqual(
      (await store.readMessages('dm:a:b', 0, 10)).map((m) => m.msgId),
      ['old', 'n1', 'n2'],
    );
    const redelivered = await seq.storeBatch([entry('n1'), entry('n2')]);
    assert.deepEqual(now(redelivered), [], 'a redelivered batch stores nothing');
    assert.deepEqual(again(redelivered), [
      ['n1', 2],
      ['n2', 3],
    ]);
    // A repeat of a send is a later record (a later accept time) with the same msgId: dropped.
    assert.deepEqual(await seq.storeBatch([{ ...entry('n1'), ts: 2 }]), [], 'a repeated send is neither stored nor pushed again');
    assert.deepEqual(
      (await store.readMessages('dm:a:b', 0, 10)).map((m) => m.msgId),
      ['old', 'n1', 'n2'],
    );
  });

  it('drops a redelivered batch with a few store calls, not two per entry, and stores what follows it', async () => {
    const old = Array.from({ length: 50 }, (_, i) => entry(`r${i}`));
    await new Sequencer(store).storeBatch(old);
    const calls: string[] = [];
    const counted = new Proxy(store, {
      get: (t, key, receiver) => {
        const v = Reflect.get(t, key, receiver) as unknown;
        return typeof v === 'function' ? (...args: unknown[]) => (calls.push(String(key)), (v as (...a: unknown[]) => unknown).apply(t, args)) : v;
      },
    });
    // A new owner (after a crash before the offsets were committed) gets the batch again, with new entries after it.
    const fresh = Array.from({ length: 5 }, (_, i) => entry(`n${i}`));
    const stored = await new Sequencer(counted).storeBatch([...old, ...fresh]);
    assert.deepEqual(
      stored.filter((s) => !s.redelivered).map(({ message: m }) => [m.msgId, m.seq]),
      fresh.map((e, i) => [e.msgId, 51 + i]),
    );
    // Whoever stored them may not have pushed them: they come back, in log order, with their seqs.
    assert.deepEqual(
      stored.filter((s) => s.redelivered).map(({ message: m }) => [m.msgId, m.seq]),
      old.map((e, i) => [e.msgId, i + 1]),
    );
    assert.deepEqual(
      stored.map((s) => s.message.msgId),
      [...old, ...fresh].map((e) => e.msgId),
      'in log order',
    );
    assert.deepEqual(calls, ['lastSeqs', 'insertMessages', 'storedAlready', 'lastSeqs', 'insertMessages']);
    assert.deepEqual(
      (await store.readMessages('dm:a:b', 0, 100)).map((m) => m.seq),
      Array.from({ length: 55 }, (_, i) => i + 1),
    );
  });

  it('falls back to one by one when another writer took a seq mid-batch, without gaps or losses', async () => {
    const first = new Sequencer(store);
    const second = new Sequencer(store);
    await first.store(entry('m1')); // first caches lastSeq 1
    await second.store(entry('m2')); // seq 2 taken behind first's back
    const stored = await first.storeBatch([entry('m3'), entry('m4')]);
    assert.deepEqual(
      stored.map(({ message: m }) => [m.msgId, m.seq]),
      [
        ['m3', 3],
        ['m4', 4],
      ],
    );
    assert.deepEqual(
      (await store.readMessages('dm:a:b', 0, 10)).map((m) => m.seq),
      [1, 2, 3, 4],
    );
  });

  it('asks for the exact last seq when the quick one trails the messages (crash between writes)', async () => {
    const trailing: MessageStore = Object.assign(Object.create(store) as MessageStore, {
      lastSeq: (c: string, exact?: boolean) => (exact ? store.lastSeq(c) : Promise.resolve(0)),
    });
    await new Sequencer(store).store(entry('m1'));
    await new Sequencer(store).store(entry('m2'));
    const stored = await new Sequencer(trailing).storeBatch([entry('m3')]);
    assert.deepEqual(
      stored.map(({ message: m }) => m.seq),
      [3],
    );
  });

  it('propagates store failures so the batch is redelivered', async () => {
    const seq = new Sequencer(store);
    await store.stop();
    await assert.rejects(seq.store(entry('m1')), { code: 'UNAVAILABLE' });
  });

  it("returns each stored message with its send's gateway and connection (they get accepted, not a push), also on the one-by-one path", async () => {
    const from = (msgId: string, connection: string): AcceptedSend => ({ ...entry(msgId), origin: { instance: `gw-${connection}`, connection: connection } });
    const first = new Sequencer(store);
    const second = new Sequencer(store);
    await first.store(entry('o1'));
    await second.store(entry('o2')); // first's cache is stale now: its batch falls back to one by one
    const stored = await first.storeBatch([from('o3', 'c3'), from('o4', 'c4')]);
    assert.deepEqual(
      stored.map((s) => [s.message.msgId, s.message.seq, s.origin.instance, s.origin.connection]),
      [
        ['o3', 3, 'gw-c3', 'c3'],
        ['o4', 4, 'gw-c4', 'c4'],
      ],
    );
    const fresh = await new Sequencer(store).storeBatch([from('o5', 'c5')]);
    assert.deepEqual(
      fresh.map((s) => [s.message.seq, s.origin.connection]),
      [[5, 'c5']],
    );
  });

  describe('cached seqs follow the partition assignment', () => {
    /** The store, counting the conversations whose last seq the sequencer had to read. */
    const counting = (): { store: MessageStore; reads: string[] } => {
      const reads: string[] = [];
      const counted: MessageStore = Object.create(store) as MessageStore;
      counted.lastSeqs = (cs: readonly string[]) => {
        reads.push(...cs);
        return store.lastSeqs(cs);
      };
      return { store: counted, reads };
    };

    it('reads a conversation once while its partition stays owned, and again after the partition left and came back', async () => {
      const { store: counted, reads } = counting();
      const seq = new Sequencer(counted);
      await seq.assigned([0, 1]);
      await seq.storeBatch([entry('p0-1', 'dm:a:b')], 0);
      await seq.storeBatch([entry('p1-1', 'dm:a:c', 'a', 'c')], 1);
      await seq.storeBatch([entry('p0-2', 'dm:a:b')], 0);
      assert.deepEqual(reads, ['dm:a:b', 'dm:a:c'], 'one read per conversation while owned');

      // A rebalance keeps partition 1 and moves partition 0 away; meanwhile another member stores seq 3 of dm:a:b.
      await seq.assigned([1]);
      const { origin: _o, ...elsewhere } = entry('elsewhere', 'dm:a:b');
      await store.insertMessage({ ...elsewhere, seq: 3 }, ['a', 'b']);
      await seq.assigned([0, 1]); // partition 0 comes back
      reads.length = 0;
      const [m] = await seq.storeBatch([entry('p0-3', 'dm:a:b')], 0);
      const [n] = await seq.storeBatch([entry('p1-3', 'dm:a:c', 'a', 'c')], 1);
      assert.deepEqual(reads, ['dm:a:b'], 'only the conversation of the partition that was away is read again');
      assert.equal(m!.message.seq, 4, 'continues after what the other member stored');
      assert.equal(n!.message.seq, 2);
    });

    it('forgets everything when the consumer leaves the group', async () => {
      const { store: counted, reads } = counting();
      const seq = new Sequencer(counted);
      await seq.assigned([0]);
      await seq.storeBatch([entry('x1')], 0);
      await seq.assigned([]);
      await seq.assigned([0]);
      await seq.storeBatch([entry('x2')], 0);
      assert.deepEqual(reads, ['dm:a:b', 'dm:a:b']);
    });
  });
});
