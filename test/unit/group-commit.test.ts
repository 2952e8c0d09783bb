import assert from 'node:assert/strict';
import { GroupCommit, type ItemResult } from '../../services/shared/group-commit.js';

/** A write that parks until released, recording the groups it was given. */
function gatedWrite<T>() {
  const groups: T[][] = [];
  const gates: Array<() => void> = [];
  const write = async (items: T[]): Promise<ItemResult<string>[]> => {
    groups.push(items);
    await new Promise<void>((release) => gates.push(release));
    return items.map((i) =>
      String(i).startsWith('bad') ? { ok: false, error: new Error(`refused ${String(i)}`) } : { ok: true, value: `wrote ${String(i)}` },
    );
  };
  const release = async (): Promise<void> => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    gates.shift()!();
  };
  return { groups, write, release };
}

describe('GroupCommit', () => {
  it('sends what arrives during a write as the next group, in order, one write at a time', async () => {
    const w = gatedWrite<string>();
    const gc = new GroupCommit(w.write);
    const first = gc.submit('a');
    const rest = ['b', 'c', 'd'].map((x) => gc.submit(x));
    assert.deepEqual(w.groups, [['a']], 'one write in flight');
    await w.release();
    assert.equal(await first, 'wrote a');
    await w.release();
    assert.deepEqual(await Promise.all(rest), ['wrote b', 'wrote c', 'wrote d']);
    assert.deepEqual(w.groups, [['a'], ['b', 'c', 'd']]);
  });

  it('runs up to maxInFlight writes at once; what waits meanwhile goes out as one group in the first free writer', async () => {
    const w = gatedWrite<string>();
    const gc = new GroupCommit(w.write, { maxInFlight: 2 });
    const all = ['a', 'b', 'c', 'd', 'e'].map((x) => gc.submit(x));
    assert.deepEqual(w.groups, [['a'], ['b']], 'two writes in flight, the rest waits');
    await w.release();
    await w.release();
    await w.release();
    assert.deepEqual(await Promise.all(all), ['wrote a', 'wrote b', 'wrote c', 'wrote d', 'wrote e']);
    assert.deepEqual(w.groups, [['a'], ['b'], ['c', 'd', 'e']]);
    await gc.idle();
    const later = gc.submit('f');
    assert.deepEqual(w.groups.at(-1), ['f'], 'a writer starts again after all were idle');
    await w.release();
    assert.equal(await later, 'wrote f');
  });

  it('caps a group at maxItems and answers each item on its own', async () => {
    const w = gatedWrite<string>();
    const gc = new GroupCommit(w.write, { maxItems: 2 });
    const all = ['x', 'y', 'bad1', 'z', 'w'].map((x) =>
      gc.submit(x).then(
        (v) => v,
        (e: unknown) => (e as Error).message,
      ),
    );
    for (let i = 0; i < 3; i++) await w.release();
    assert.deepEqual(await Promise.all(all), ['wrote x', 'wrote y', 'refused bad1', 'wrote z', 'wrote w']);
    assert.deepEqual(w.groups, [['x'], ['y', 'bad1'], ['z', 'w']]);
  });

  it('fails only the group whose write threw, and goes on with the next', async () => {
    let calls = 0;
    const gc = new GroupCommit<number, number>(async (items) => {
      calls++;
      await new Promise((r) => setImmediate(r));
      if (calls === 1) throw new Error('backend down');
      return items.map((i) => ({ ok: true, value: i * 10 }));
    });
    const first = gc.submit(1);
    const second = [gc.submit(2), gc.submit(3)];
    await assert.rejects(first, /backend down/);
    assert.deepEqual(await Promise.all(second), [20, 30]);
  });

  it('with minIntervalMs, starts a write no sooner than that after the last one began; what comes meanwhile goes together', async () => {
    const started: Array<{ items: string[]; at: number }> = [];
    const gc = new GroupCommit<string, string>(
      async (items) => {
        started.push({ items, at: performance.now() });
        return items.map((i) => ({ ok: true, value: i }));
      },
      { minIntervalMs: 80 },
    );
    assert.equal(await gc.submit('a'), 'a', 'the first write goes at once');
    const later = ['b', 'c'].map((x) => gc.submit(x));
    await new Promise((r) => setTimeout(r, 20));
    const last = gc.submit('d');
    assert.equal(started.length, 1, 'nothing written within the interval');
    assert.deepEqual(await Promise.all([...later, last]), ['b', 'c', 'd']);
    assert.deepEqual(
      started.map((s) => s.items),
      [['a'], ['b', 'c', 'd']],
    );
    assert.ok(started[1]!.at - started[0]!.at >= 75, `${started[1]!.at - started[0]!.at} ms between the writes`);
    await gc.idle();
  });

  it('idle() waits for the items in flight and those queued behind them', async () => {
    const w = gatedWrite<string>();
    const gc = new GroupCommit(w.write);
    const done: string[] = [];
    void gc.submit('a').then((v) => done.push(v));
    void gc.submit('b').then((v) => done.push(v));
    let idle = false;
    const waiting = gc.idle().then(() => (idle = true));
    await w.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(idle, false, 'b is still queued');
    await w.release();
    await waiting;
    assert.deepEqual(done, ['wrote a', 'wrote b']);
    await gc.idle();
    // A new submit after going idle starts a new write.
    const later = gc.submit('c');
    await w.release();
    assert.equal(await later, 'wrote c');
  });
});
