import assert from 'node:assert/strict';
import { createDelivery } from '../../services/connect/domain/delivery.js';
import { SessionRegistry } from '../../services/connect/domain/session-registry.js';
import type { Session } from '../../services/connect/domain/session.js';

/** A session that records what it was sent. */
const fake = (id: string, user: string) => {
  const texts: string[] = [];
  const frames: unknown[] = [];
  const s = { id, user, texts, frames, deliverSerialized: (t: string) => (texts.push(t), true), deliver: (f: unknown) => (frames.push(f), true) };
  return s as typeof s & Session;
};

describe('Connect delivery', () => {
  const message = { msgId: 'm1', conversation: 'dm:a:b', seq: 3, from: 'a', to: 'b', body: 'hi', ts: 1_000, clientId: 'c1' };
  // The frame a client reads: the sender's id for the send is the frame's `id`.
  const frame = JSON.stringify({ type: 'message', msgId: 'm1', conversation: 'dm:a:b', seq: 3, from: 'a', to: 'b', body: 'hi', ts: 1_000, id: 'c1' });

  it('pushes to every session of the recipients but the one the send came from, serialized once, and reports the latency', () => {
    const sessions = new SessionRegistry();
    const presence: Array<[string[], string[]]> = [];
    sessions.onPresence((on, off) => void presence.push([on, off]));
    const [a1, a2, b1, c1] = [fake('a1', 'a'), fake('a2', 'a'), fake('b1', 'b'), fake('c1', 'c')];
    for (const s of [a1, a2, b1, c1]) void sessions.add(s);
    assert.deepEqual(
      presence,
      [
        [['a'], []],
        [['b'], []],
        [['c'], []],
      ],
      'first connection of each user reported once',
    );
    const delivered: Array<[number, number]> = [];
    const d = createDelivery({ sessions, now: () => 1_250, onDelivered: (n, s) => delivered.push([n, s]) });
    d.push({ message, recipients: ['b', 'a'], excludeConnection: 'a1' });
    assert.equal(a1.texts.length, 0, 'the sending connection got accepted, not a push');
    assert.deepEqual([a2.texts, b1.texts, c1.texts], [[frame], [frame], []]);
    assert.equal(a2.texts[0], b1.texts[0]);
    assert.deepEqual(delivered, [[2, 0.25]]);
  });

  it('pushes a read marker to every session of its recipients but the one that read', () => {
    const sessions = new SessionRegistry();
    const [a1, a2, b1, c1] = [fake('a1', 'a'), fake('a2', 'a'), fake('b1', 'b'), fake('c1', 'c')];
    for (const s of [a1, a2, b1, c1]) void sessions.add(s);
    createDelivery({ sessions, now: () => 0 }).read({ marker: { conversation: 'dm:a:b', user: 'a', seq: 7 }, recipients: ['a', 'b'], excludeConnection: 'a1' });
    const read = JSON.stringify({ type: 'read', conversation: 'dm:a:b', user: 'a', seq: 7 });
    assert.deepEqual([a1.texts, a2.texts, b1.texts, c1.texts], [[], [read], [read], []]);
  });

  it('tells every client to resync, and nobody when there is nobody', () => {
    const sessions = new SessionRegistry();
    let resyncs = 0;
    const d = createDelivery({ sessions, now: Date.now, onResync: () => resyncs++ });
    d.resyncAll();
    assert.equal(resyncs, 0);
    const [x, y] = [fake('x', 'u'), fake('y', 'v')];
    void sessions.add(x);
    void sessions.add(y);
    d.resyncAll();
    assert.equal(resyncs, 1);
    assert.deepEqual([x.frames, y.frames], [[{ type: 'resync' }], [{ type: 'resync' }]]);
  });
});
