import assert from 'node:assert/strict';
import { SessionRegistry } from '../../services/connect/domain/session-registry.js';
import type { Session } from '../../services/connect/domain/session.js';

const session = (id: string, user: string) => ({ id, user }) as Session;
const ids = (xs: Iterable<Session>) => [...xs].map((s) => s.id).sort();

describe('Connect session registry', () => {
  it('reports a user online at their first connection and offline at their last, however many they hold between', async () => {
    const sessions = new SessionRegistry();
    const presence: Array<[string[], string[]]> = [];
    sessions.onPresence((on, off) => void presence.push([on, off]));
    const [a1, a2, a3, b1] = [session('a1', 'a'), session('a2', 'a'), session('a3', 'a'), session('b1', 'b')];
    for (const s of [a1, a2, a3, b1]) await sessions.add(s);
    assert.deepEqual(presence, [
      [['a'], []],
      [['b'], []],
    ]);
    assert.equal(sessions.size, 4);
    assert.equal(sessions.countOf('a'), 3);
    assert.deepEqual(ids(sessions.of('a')), ['a1', 'a2', 'a3']);
    assert.deepEqual(ids(sessions.all()), ['a1', 'a2', 'a3', 'b1']);
    assert.deepEqual(sessions.users().sort(), ['a', 'b']);

    sessions.remove(a2);
    sessions.remove(a1);
    assert.deepEqual(ids(sessions.of('a')), ['a3'], 'back to one connection');
    assert.equal(sessions.countOf('a'), 1);
    await sessions.add(a1);
    assert.deepEqual(ids(sessions.of('a')), ['a1', 'a3'], 'and to two again');
    sessions.remove(a3);
    sessions.remove(a1);
    assert.deepEqual(presence.slice(2), [[[], ['a']]], 'offline only when the last one closed');
    assert.deepEqual(ids(sessions.of('a')), []);
    assert.equal(sessions.countOf('a'), 0);
    assert.equal(sessions.size, 1);
  });

  it('reports an offline announcement that failed (not swallowed)', async () => {
    const failed: Array<[string, string]> = [];
    const sessions = new SessionRegistry((user, err) => failed.push([user, (err as Error).message]));
    sessions.onPresence((_on, off) => (off.length > 0 ? Promise.reject(new Error('no stream')) : undefined));
    const a = session('a1', 'a');
    await sessions.add(a);
    sessions.remove(a);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(failed, [['a', 'no stream']]);
  });

  it('counts a session added twice once, ignores removing one it does not hold, and ignores a second removal', async () => {
    const sessions = new SessionRegistry();
    const presence: Array<[string[], string[]]> = [];
    sessions.onPresence((on, off) => void presence.push([on, off]));
    const [a1, a2, stranger] = [session('a1', 'a'), session('a2', 'a'), session('x', 'a')];
    await sessions.add(a1);
    await sessions.add(a1);
    assert.equal(sessions.size, 1);
    await sessions.add(a2);
    await sessions.add(a2);
    assert.equal(sessions.size, 2);
    sessions.remove(stranger);
    assert.equal(sessions.size, 2);
    sessions.remove(a2);
    sessions.remove(a2);
    assert.equal(sessions.size, 1);
    sessions.remove(stranger);
    assert.equal(sessions.countOf('a'), 1);
    sessions.remove(a1);
    sessions.remove(a1);
    assert.equal(sessions.size, 0);
    assert.deepEqual(presence, [
      [['a'], []],
      [[], ['a']],
    ]);
  });

  it("makes a second connection wait for the first one's presence to be confirmed", async () => {
    const sessions = new SessionRegistry();
    let confirm!: () => void;
    sessions.onPresence(() => new Promise<void>((r) => (confirm = r)));
    let firstIn = false;
    let secondIn = false;
    void sessions.add(session('a1', 'a')).then(() => (firstIn = true));
    void sessions.add(session('a2', 'a')).then(() => (secondIn = true));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([firstIn, secondIn], [false, false]);
    confirm();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual([firstIn, secondIn], [true, true]);
  });
});
