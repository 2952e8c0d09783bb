import assert from 'node:assert/strict';
import { SubscriberRegistry, type PushResult, type SessionsClose, type SubscriberLink } from '../../services/message/domain/subscribers.js';
import type { PresenceChange, Push, ReadPush, TypingPush } from '../../services/shared/message.js';
import { createEmbeddedPresence } from '../../services/message/adapters/embedded-presence.js';
import type { PresenceStore } from '../../services/message/adapters/presence.js';
import { silentLogger } from '../../services/shared/logger.js';
import type { Message } from '../../services/shared/message.js';

const message = (from: string, to: string, seq = 1): Message => ({
  msgId: `m${seq}`,
  conversation: `dm:${from}:${to}`,
  seq,
  from,
  to,
  body: 'hi',
  ts: 1,
  clientId: `c${seq}`,
});

/** A stream that records its pushes and can refuse them; it answers session queries from `connections` unless `silent`. */
function link(): SubscriberLink & {
  pushes: Push[];
  reads: ReadPush[];
  typing: TypingPush[];
  presence: PresenceChange[];
  ended: string[];
  full: boolean;
  connections: Map<string, number>;
  silent: boolean;
  asked: Array<{ users: string[]; close?: SessionsClose }>;
} {
  const l = {
    pushes: [] as Push[],
    reads: [] as ReadPush[],
    typing: [] as TypingPush[],
    presence: [] as PresenceChange[],
    ended: [] as string[],
    full: false,
    connections: new Map<string, number>(),
    silent: false,
    asked: [] as Array<{ users: string[]; close?: SessionsClose }>,
    sessions(users: readonly string[], close: SessionsClose | undefined) {
      l.asked.push({ users: [...users], ...(close ? { close } : {}) });
      return Promise.resolve(l.silent ? undefined : users.map((u) => l.connections.get(u) ?? 0));
    },
    push(frame: Push) {
      if (l.full) return false;
      l.pushes.push(frame);
      return true;
    },
    pushRead(frame: ReadPush) {
      l.reads.push(frame);
      return true;
    },
    pushTyping(frame: TypingPush) {
      l.typing.push(frame);
      return true;
    },
    pushPresence(change: PresenceChange) {
      l.presence.push(change);
      return true;
    },
    end(reason: string) {
      l.ended.push(reason);
    },
  };
  return l;
}

/** A presence store whose epoch and availability a test sets; it records the users written per instance. */
function scriptedPresence(): PresenceStore & { written: Map<string, Set<string>>; epochValue: string; down: boolean; reconnect(): void } {
  const inner = createEmbeddedPresence();
  const listeners: Array<() => void> = [];
  const p = {
    ...inner,
    written: new Map<string, Set<string>>(),
    epochValue: 'e1',
    down: false,
    reconnect: () => listeners.forEach((l) => l()),
    async epoch() {
      if (p.down) throw new Error('connection refused');
      return p.epochValue;
    },
    async refresh(instance: string, users: readonly string[], ttl: number) {
      if (p.down) throw new Error('connection refused');
      let w = p.written.get(instance);
      if (!w) p.written.set(instance, (w = new Set()));
      for (const u of users) w.add(u);
      await inner.refresh(instance, users, ttl);
    },
    async remove(instance: string, users: readonly string[]) {
      if (p.down) throw new Error('connection refused');
      for (const u of users) p.written.get(instance)?.delete(u);
      await inner.remove(instance, users);
    },
    onReconnect: (l: () => void) => void listeners.push(l),
  };
  return p;
}

describe("SubscriberRegistry: routing by the streams' announcements", () => {
  let presence: ReturnType<typeof scriptedPresence>;
  let results: PushResult[];
  let clock: number;
  let registry: SubscriberRegistry;
  beforeEach(async () => {
    presence = scriptedPresence();
    await presence.start();
    results = [];
    clock = 0;
    registry = new SubscriberRegistry({ presence, presenceTtlMs: 30_000, logger: silentLogger(), onPush: (r) => results.push(r), now: () => clock });
    registry.start();
  });
  afterEach(() => registry.stop('test over'));

  it('pushes to the gateways that announced either user, whatever the presence store holds or answers', async () => {
    const g1 = link();
    const g2 = link();
    registry.attach('g1', g1, ['a']);
    registry.attach('g2', g2, []);
    assert.equal(registry.update('g2', g2, ['b', 'a'], []), true);
    presence.down = true; // the store is not asked
    registry.routeBatch([{ message: message('a', 'b'), origin: { instance: 'g1', connection: 'conn-a' } }]);
    assert.deepEqual(
      g1.pushes.map((p) => [p.recipients, p.excludeConnection]),
      [[['a'], 'conn-a']],
      'the sending connection has its accepted',
    );
    assert.deepEqual(
      g2.pushes.map((p) => [...p.recipients].sort()),
      [['a', 'b']],
    );
    registry.update('g2', g2, [], ['b']);
    registry.routeBatch([{ message: message('a', 'b', 2), origin: { instance: 'g1', connection: 'conn-a' } }]);
    assert.deepEqual(g2.pushes.at(-1)!.recipients, ['a'], 'b went offline there');
    assert.deepEqual(results, ['sent', 'sent', 'sent', 'sent']);
  });

  it("pushes a followed user's first connection and last disconnection, on any gateway, to the gateways following them", () => {
    const [g1, g2, g3] = [link(), link(), link()];
    registry.attach('g1', g1, []);
    registry.attach('g2', g2, []);
    registry.attach('g3', g3, []);
    assert.equal(registry.watch('g1', g1, ['u', 'v'], []), true);
    assert.equal(registry.watch('g3', g3, ['u'], []), true);
    registry.update('g2', g2, ['u', 'w'], []);
    registry.update('g3', g3, ['u'], []);
    assert.equal(registry.isOnline('u'), true);
    registry.update('g2', g2, [], ['u']);
    registry.update('g3', g3, [], ['u']);
    assert.equal(registry.isOnline('u'), false);
    assert.deepEqual(g1.presence, [
      { user: 'u', online: true },
      { user: 'u', online: false },
    ]);
    assert.deepEqual(g3.presence, g1.presence);
    assert.deepEqual(g2.presence, [], 'g2 follows no one');
    registry.watch('g1', g1, [], ['u']);
    registry.update('g2', g2, ['u'], []);
    assert.equal(g1.presence.length, 2, 'no more after unfollowing');
    assert.equal(g3.presence.length, 3);
    assert.equal(registry.watch('gx', g1, ['u'], []), false, 'not its stream');
  });

  it('routes a read marker to the gateways holding the reader and the peer, not to the reading connection', () => {
    const [g1, g2, g3] = [link(), link(), link()];
    registry.attach('g1', g1, ['a']);
    registry.attach('g2', g2, ['a', 'b']);
    registry.attach('g3', g3, ['c']);
    const marker = { conversation: 'dm:a:b', user: 'a', seq: 4 };
    registry.routeRead(marker, ['a', 'b'], { instance: 'g1', connection: 'conn-a' });
    assert.deepEqual(g1.reads, [{ marker, recipients: ['a'], excludeConnection: 'conn-a' }]);
    assert.deepEqual(g2.reads, [{ marker, recipients: ['a', 'b'], excludeConnection: '' }]);
    assert.deepEqual(g3.reads, []);
  });

  it('counts pushes to a gateway whose stream ended as skipped until it subscribes again, and as dropped when the stream refuses them', async () => {
    const g1 = link();
    registry.attach('g1', g1, ['b']);
    g1.full = true;
    registry.routeBatch([{ message: message('a', 'b'), origin: { instance: 'x', connection: '' } }]);
    assert.equal(registry.detach('g1', g1), true);
    assert.equal(registry.detach('g1', g1), false, 'one stream ends once');
    registry.routeBatch([
      { message: message('a', 'b', 2), origin: { instance: 'x', connection: '' } },
      { message: message('a', 'b', 3), origin: { instance: 'x', connection: '' } },
    ]);
    assert.deepEqual(results, ['dropped', 'skipped', 'skipped']);
    const again = link();
    registry.attach('g1', again, ['b']);
    registry.routeBatch([{ message: message('a', 'b', 4), origin: { instance: 'x', connection: '' } }]);
    assert.deepEqual(results.at(-1), 'sent');
    assert.deepEqual(
      again.pushes.map((p) => p.message.seq),
      [4],
    );
  });

  it('forgets a gone gateway once its presence would have expired', async () => {
    const g1 = link();
    registry.attach('g1', g1, ['b']);
    registry.detach('g1', g1);
    clock += 30_001;
    (registry as unknown as { sweep(): void }).sweep();
    registry.routeBatch([{ message: message('a', 'b'), origin: { instance: 'x', connection: '' } }]);
    assert.deepEqual(results, [], 'nobody holds b now');
  });

  it('routes a group message to the gateways of its audience, gone ones counted as skipped', async () => {
    const g1 = link();
    const g2 = link();
    registry.attach('g1', g1, ['a', 'b', 'z']);
    registry.attach('g2', g2, ['c']);
    registry.detach('g2', g2);
    registry.routeBatch([
      { message: { ...message('a', 'grp:x'), conversation: 'grp:x' }, origin: { instance: 'g1', connection: 'conn-a' }, audience: new Set(['a', 'b', 'c']) },
    ]);
    assert.deepEqual(
      g1.pushes.map((p) => [...p.recipients].sort()),
      [['a', 'b']],
    );
    assert.deepEqual(results.sort(), ['sent', 'skipped']);
  });

  it('counts a user’s connections by asking the gateways that announced them; one that cannot answer, or whose stream ended, counts one (none when closing)', async () => {
    const g1 = link();
    const g2 = link();
    const g3 = link();
    g1.connections.set('a', 2);
    g2.silent = true;
    registry.attach('g1', g1, ['a', 'b']);
    registry.attach('g2', g2, ['a']);
    registry.attach('g3', g3, ['c']);
    registry.detach('g3', g3);
    const counts = await registry.sessions(['a', 'b', 'c', 'd']);
    assert.deepEqual(Object.fromEntries(counts), { a: 3, b: 0, c: 1, d: 0 });
    assert.deepEqual(g1.asked, [{ users: ['a', 'b'] }], 'one query per gateway');
    assert.deepEqual(g3.asked, [], 'a gateway whose stream ended is not asked');
    // Closing: only what a gateway reported closed counts.
    const closed = await registry.sessions(['a', 'c'], { code: 4403, reason: 'banned' });
    assert.deepEqual(Object.fromEntries(closed), { a: 2, c: 0 });
    assert.deepEqual(g1.asked.at(-1), { users: ['a'], close: { code: 4403, reason: 'banned' } }, 'the close goes with the query');
  });

  it('ends the stream a newer one of the same instance replaces, and keeps routing to the newer one', async () => {
    const old = link();
    const fresh = link();
    registry.attach('g1', old, ['a']);
    registry.attach('g1', fresh, ['b']);
    assert.deepEqual(old.ended, ['replaced']);
    assert.equal(registry.detach('g1', old), false, "the old stream's end leaves the new one alone");
    registry.routeBatch([{ message: message('a', 'b'), origin: { instance: 'x', connection: '' } }]);
    assert.deepEqual(
      fresh.pushes.map((p) => p.recipients),
      [['b']],
      'a is no longer announced there',
    );
  });
});

describe('PresenceDirectory (behind SubscriberRegistry): the shared directory written behind the announcements', () => {
  let presence: ReturnType<typeof scriptedPresence>;
  let rewrites: string[];
  let registry: SubscriberRegistry;
  beforeEach(async () => {
    presence = scriptedPresence();
    await presence.start();
    rewrites = [];
    registry = new SubscriberRegistry({ presence, presenceTtlMs: 60_000, logger: silentLogger(), onDirectoryRewrite: (r) => rewrites.push(r) });
    registry.start();
  });
  afterEach(() => registry.stop('test over'));
  const written = (instance: string) => [...(presence.written.get(instance) ?? [])].sort();

  it('writes announcements behind, and writes everything again at once when the store restarts empty or failed', async () => {
    const g1 = link();
    registry.attach('g1', g1, ['a', 'b']);
    registry.update('g1', g1, ['c'], ['b']);
    await registry.directoryFlushed();
    assert.deepEqual(written('g1'), ['a', 'c']);
    assert.deepEqual([...(await presence.lookup(['a', 'b', 'c'])).keys()].sort(), ['a', 'c']);

    // Restarted empty: a new epoch. The reconnect makes the directory write every entry again.
    presence.written.clear();
    presence.epochValue = 'e2';
    presence.reconnect();
    await registry.directoryFlushed();
    assert.deepEqual(written('g1'), ['a', 'c']);
    assert.deepEqual(rewrites, ['store_reset']);

    // Down: changes are kept as a pending rewrite (no retry loop), written once it is back.
    presence.down = true;
    registry.update('g1', g1, ['d'], ['a']);
    await registry.directoryFlushed();
    presence.down = false;
    presence.written.clear();
    presence.reconnect();
    await registry.directoryFlushed();
    assert.deepEqual(written('g1'), ['c', 'd']);
    assert.deepEqual([...(await presence.lookup(['a', 'c', 'd'])).keys()].sort(), ['c', 'd'], 'the departure that failed is written too');
    assert.deepEqual(rewrites, ['store_reset', 'after_failure']);
  });

  it('notices a new epoch at its next write even without a reconnect (a flushed or failed-over store)', async () => {
    const g1 = link();
    registry.attach('g1', g1, ['a']);
    await registry.directoryFlushed();
    presence.written.clear();
    presence.epochValue = 'e2';
    registry.update('g1', g1, ['b'], []);
    await registry.directoryFlushed();
    assert.deepEqual(written('g1'), ['a', 'b']);
    assert.deepEqual(rewrites, ['store_reset']);
  });
});
