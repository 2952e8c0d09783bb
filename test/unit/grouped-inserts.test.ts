import assert from 'node:assert/strict';
import { groupInserts } from '../../services/message/domain/grouped-inserts.js';
import { IndexUpdateError, type MessageStore } from '../../services/message/adapters/store.js';
import type { Message } from '../../services/shared/message.js';

const msg = (conversation: string, seq: number): Message => ({
  msgId: `${conversation}#${seq}`,
  conversation,
  seq,
  from: 'a',
  to: 'b',
  body: 'x',
  ts: seq,
  clientId: `c${seq}`,
});
const batch = (conversation: string, n: number): Message[] => Array.from({ length: n }, (_, i) => msg(conversation, i + 1));
const members = (conversation: string) => new Map([[conversation, ['a', 'b']]]);

/**
 * A store whose insertMessages parks until released and records what it was given; `answer`
 * decides what each call returns (how many it stored) or throws.
 */
function recordingStore(answer: (messages: readonly Message[], call: number) => number = (m) => m.length) {
  const calls: Array<{ ids: string[]; conversations: string[] }> = [];
  const gates: Array<() => void> = [];
  const store = {
    async insertMessages(messages: readonly Message[], m: ReadonlyMap<string, readonly string[]>): Promise<number> {
      calls.push({ ids: messages.map((x) => x.msgId), conversations: [...m.keys()] });
      const call = calls.length - 1;
      await new Promise<void>((release) => gates.push(release));
      return answer(messages, call);
    },
    async lastSeq() {
      return 7;
    },
  } as unknown as MessageStore;
  const release = async (): Promise<void> => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  /** Resolves once the store has been called `n` times (the writer starts after the current turn). */
  const called = async (n: number): Promise<void> => {
    while (calls.length < n) await new Promise((r) => setImmediate(r));
  };
  return { store, calls, release, called };
}

describe('groupInserts (store writes grouped across partitions)', () => {
  it('writes the batches that arrive during a write as one ordered insert, and answers each its own count', async () => {
    const s = recordingStore();
    const grouped = groupInserts(s.store, { maxMessages: 1000 });
    const first = grouped.insertMessages(batch('p0', 2), members('p0'));
    await s.called(1);
    const rest = ['p1', 'p2', 'p3'].map((c, i) => grouped.insertMessages(batch(c, i + 1), members(c)));
    assert.equal(s.calls.length, 1, 'one write in flight');
    await s.release();
    assert.equal(await first, 2);
    await s.release();
    assert.deepEqual(await Promise.all(rest), [1, 2, 3]);
    assert.deepEqual(
      s.calls.map((c) => c.ids),
      [
        ['p0#1', 'p0#2'],
        ['p1#1', 'p2#1', 'p2#2', 'p3#1', 'p3#2', 'p3#3'],
      ],
    );
    assert.deepEqual(s.calls[1]!.conversations, ['p1', 'p2', 'p3'], 'the members of every batch go with the write');
    assert.equal(await grouped.lastSeq('x'), 7, "other methods are the store's own");
  });

  it('gives the batch an insert stopped in its stored prefix, the ones before all, and writes the ones after again', async () => {
    // The grouped write stops after 3 of its messages: inside the second batch (p2).
    const s = recordingStore((m, call) => (call === 1 ? 3 : m.length));
    const grouped = groupInserts(s.store, { maxMessages: 1000 });
    const head = grouped.insertMessages(batch('p0', 1), members('p0'));
    await s.called(1);
    const results = [
      grouped.insertMessages(batch('p1', 2), members('p1')),
      grouped.insertMessages(batch('p2', 3), members('p2')),
      grouped.insertMessages(batch('p3', 2), members('p3')),
    ];
    for (let i = 0; i < 3; i++) await s.release();
    assert.equal(await head, 1);
    assert.deepEqual(await Promise.all(results), [2, 1, 2]);
    assert.deepEqual(
      s.calls.map((c) => c.ids),
      [['p0#1'], ['p1#1', 'p1#2', 'p2#1', 'p2#2', 'p2#3', 'p3#1', 'p3#2'], ['p3#1', 'p3#2']],
    );
  });

  it('answers every batch of a write whose index update failed with an IndexUpdateError of its own stored prefix', async () => {
    const s = recordingStore((_, call) => {
      if (call === 1) throw new IndexUpdateError(3, { cause: new Error('index down') });
      return 1;
    });
    const grouped = groupInserts(s.store, { maxMessages: 1000 });
    const head = grouped.insertMessages(batch('p0', 1), members('p0'));
    await s.called(1);
    const results = ['p1', 'p2', 'p3'].map((c) =>
      grouped.insertMessages(batch(c, 2), members(c)).then(
        () => 'ok',
        (e: unknown) => e,
      ),
    );
    await s.release();
    await s.release();
    await head;
    const errors = await Promise.all(results);
    assert.deepEqual(
      errors.map((e) => (e instanceof IndexUpdateError ? e.inserted : e)),
      [2, 1, 0],
    );
    assert.equal(s.calls.length, 2, 'not written again');
  });

  it('fails every batch of a write that failed outright, and goes on with the next', async () => {
    const s = recordingStore((m, call) => {
      if (call === 1) throw new Error('store down');
      return m.length;
    });
    const grouped = groupInserts(s.store, { maxMessages: 1000 });
    const head = grouped.insertMessages(batch('p0', 1), members('p0'));
    await s.called(1);
    const failed = ['p1', 'p2'].map((c) =>
      grouped.insertMessages(batch(c, 1), members(c)).then(
        () => 'ok',
        (e: unknown) => (e as Error).message,
      ),
    );
    await s.release();
    await s.release();
    await head;
    assert.deepEqual(await Promise.all(failed), ['store down', 'store down']);
    const later = grouped.insertMessages(batch('p4', 1), members('p4'));
    await s.release();
    assert.equal(await later, 1);
  });

  it('lets the batches submitted in one turn of the event loop (the partitions of one fetch) share the first write', async () => {
    const s = recordingStore();
    const grouped = groupInserts(s.store, { maxMessages: 1000, maxInFlight: 4 });
    const all = ['p0', 'p1', 'p2'].map((c) => grouped.insertMessages(batch(c, 2), members(c)));
    await s.release();
    assert.deepEqual(await Promise.all(all), [2, 2, 2]);
    assert.deepEqual(
      s.calls.map((c) => c.conversations),
      [['p0', 'p1', 'p2']],
    );
  });

  it('runs up to maxInFlight writes side by side', async () => {
    const s = recordingStore();
    const grouped = groupInserts(s.store, { maxMessages: 1000, maxInFlight: 2 });
    const a = grouped.insertMessages(batch('p0', 1), members('p0'));
    await s.called(1);
    const b = grouped.insertMessages(batch('p1', 1), members('p1'));
    await s.called(2);
    const rest = ['p2', 'p3'].map((c) => grouped.insertMessages(batch(c, 1), members(c)));
    assert.equal(s.calls.length, 2, 'two writes in flight, the others wait');
    for (let i = 0; i < 3; i++) await s.release();
    assert.deepEqual(await Promise.all([a, b, ...rest]), [1, 1, 1, 1]);
    assert.deepEqual(
      s.calls.map((c) => c.conversations),
      [['p0'], ['p1'], ['p2', 'p3']],
    );
  });

  it('keeps a write within maxMessages (a larger batch goes alone) and never calls the store for an empty batch', async () => {
    const s = recordingStore();
    const grouped = groupInserts(s.store, { maxMessages: 4 });
    const head = grouped.insertMessages(batch('p0', 1), members('p0'));
    await s.called(1);
    const rest = [
      grouped.insertMessages(batch('p1', 3), members('p1')),
      grouped.insertMessages(batch('p2', 2), members('p2')),
      grouped.insertMessages(batch('p3', 6), members('p3')),
      grouped.insertMessages(batch('p4', 1), members('p4')),
    ];
    assert.equal(await grouped.insertMessages([], new Map()), 0);
    for (let i = 0; i < 5; i++) await s.release();
    await head;
    assert.deepEqual(await Promise.all(rest), [3, 2, 6, 1]);
    assert.deepEqual(
      s.calls.map((c) => c.ids.length),
      [1, 3, 2, 6, 1],
    );
  });
});
