import assert from 'node:assert/strict';
import { MongoWriteConcernError } from 'mongodb';
import { createPipeline, HOT_RETRY_MS, type StoreFirstReason } from '../../services/message/domain/pipeline.js';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import { Persister } from '../../services/message/domain/persister.js';
import { withHotReads } from '../../services/message/domain/hot-reads.js';
import { readRosters } from '../../services/message/domain/roster.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import { createEmbeddedHotStore } from '../../services/message/adapters/embedded-hot-store.js';
import { FencedError, HotStoreError, type HotStore } from '../../services/message/adapters/hot-store.js';
import type { MessageStore } from '../../services/message/adapters/store.js';
import type { BatchOutcome } from '../../services/message/adapters/log.js';
import { silentLogger } from '../../services/shared/logger.js';
import type { AcceptedSend, Message } from '../../services/shared/message.js';

const entry = (n: number, extra: Partial<AcceptedSend> = {}): AcceptedSend => ({
  msgId: `m${n}`,
  conversation: 'dm:a:b',
  from: 'a',
  to: 'b',
  body: `b${n}`,
  ts: 1000 + n,
  clientId: `c${n}`,
  origin: { instance: 'gw', connection: 'c1' },
  ...extra,
});

/** A store whose writes can be held (the store down or slow) and counted. */
function holdableStore(inner: MessageStore): MessageStore & { hold: boolean; writes: number[]; release(): void } {
  const waiters: Array<() => void> = [];
  const s = {
    ...inner,
    hold: false,
    writes: [] as number[],
    release() {
      s.hold = false;
      for (const w of waiters.splice(0)) w();
    },
    async insertMessages(list: readonly Message[], members: ReadonlyMap<string, readonly string[]>) {
      while (s.hold) await new Promise<void>((r) => waiters.push(r));
      s.writes.push(list.length);
      return inner.insertMessages(list, members);
    },
  };
  return s;
}

async function backends() {
  const inner = createEmbeddedStore();
  await inner.start();
  const store = holdableStore(inner);
  const hot = createEmbeddedHotStore();
  await hot.start();
  return { inner, store, hot };
}

const persisterFor = (store: MessageStore, hot: HotStore, opts: Partial<{ maxBatch: number; maxDelayMs: number }> = {}) =>
  new Persister({ store, hot, maxBatch: opts.maxBatch ?? 1000, maxDelayMs: opts.maxDelayMs ?? 0, backlogMax: 100_000, logger: silentLogger() });

function hotPipeline(store: MessageStore, hot: HotStore, instance: string, pushed: string[], persister: Persister, handoverGraceMs?: number) {
  const sequencer = new Sequencer(store, { hot: { hot, instance, dedupeWindowMs: 3_600_000, handoverGraceMs } });
  const readable = withHotReads(store, hot, silentLogger());
  const subscribers = {
    routeBatch: (items: ReadonlyArray<{ message: Message }>) => void pushed.push(...items.map((i) => `${i.message.msgId}#${i.message.seq}`)),
  };
  const pipeline = createPipeline({
    sequencer,
    subscribers: subscribers,
    groups: { read: (cs) => readRosters(readable, cs), setMembers: (c, m, seq) => store.setMembers(c, m, seq) },
    logger: silentLogger(),
    persister,
    hotReady: () => hot.health().ok,
  });
  return { sequencer, pipeline, readable };
}

describe('the delivery path: pushed at the speed of the log, stored behind', () => {
  it('pushes a batch before the store has it, stores it behind, and resolves `persisted` (the offset commit) only then', async () => {
    const { store, hot, inner } = await backends();
    const pushed: string[] = [];
    const persister = persisterFor(store, hot);
    const { pipeline, readable } = hotPipeline(store, hot, 'pod-a', pushed, persister);
    store.hold = true; // the store down
    const outcome = (await pipeline({ partition: 0, entries: [entry(1), entry(2)] })) as BatchOutcome;
    assert.deepEqual(pushed, ['m1#1', 'm2#2'], 'pushed with their seqs while the store is down');
    let persisted = false;
    void outcome.persisted.then(() => (persisted = true));
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(persisted, false, 'not committed before it is stored');
    assert.deepEqual(await inner.readMessages('dm:a:b', 0, 10), []);
    // A reader sees what was pushed (a sync after a reconnect misses nothing) …
    assert.deepEqual(
      (await readable.readMessages('dm:a:b', 0, 10)).map((m) => m.seq),
      [1, 2],
    );
    assert.deepEqual(await readable.listConversations('b', 10), [{ conversation: 'dm:a:b', lastSeq: 2 }]);
    // … and the next batch goes on, with the next seqs.
    await pipeline({ partition: 0, entries: [entry(3)] });
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3']);
    store.release();
    await outcome.persisted;
    await persister.flushed();
    assert.deepEqual(
      (await inner.readMessages('dm:a:b', 0, 10)).map((m) => [m.msgId, m.seq]),
      [
        ['m1', 1],
        ['m2', 2],
        ['m3', 3],
      ],
    );
    assert.deepEqual((await hot.read('dm:a:b', 0, 10)).messages, [], 'stored: the hot store forgets them');
    assert.deepEqual(
      (await readable.readMessages('dm:a:b', 0, 10)).map((m) => m.seq),
      [1, 2, 3],
      'read from the store now',
    );
  });

  it("a partition's first batch, after other partitions stored messages, is pushed with the store down: its coverage is the deployment's", async () => {
    const { store, hot, inner } = await backends();
    let lookups = 0;
    const counted: MessageStore = Object.assign(Object.create(store) as MessageStore, {
      storedAlready: (...args: Parameters<MessageStore['storedAlready']>) => (lookups++, store.storedAlready(...args)),
    });
    const pushed: string[] = [];
    const persister = persisterFor(store, hot);
    const { pipeline } = hotPipeline(counted, hot, 'pod-a', pushed, persister);
    await pipeline({ partition: 0, entries: [entry(1)] });
    await persister.flushed();
    assert.equal((await inner.readMessages('dm:a:b', 0, 10)).length, 1, 'the store holds a message');
    store.hold = true; // the store down
    await pipeline({ partition: 3, entries: [entry(2, { msgId: 'p3', conversation: 'dm:c:d', from: 'c', to: 'd' })] });
    assert.deepEqual(pushed, ['m1#1', 'p3#1']);
    assert.equal(lookups, 0, 'the store was not asked whether the new msgIds were stored before');
    store.release();
    await persister.flushed();
  });

  it('a consumer killed after pushing and before storing: its successor gives the same messages the same seqs and stores each once', async () => {
    const { store, hot, inner } = await backends();
    const pushedA: string[] = [];
    const a = hotPipeline(store, hot, 'pod-a', pushedA, persisterFor(store, hot));
    store.hold = true;
    const batch = { partition: 2, entries: [entry(1), entry(2), entry(3)] };
    await a.pipeline(batch);
    assert.deepEqual(pushedA, ['m1#1', 'm2#2', 'm3#3']);
    // pod-a dies with its batch unstored (its persister is gone); the offsets were not committed.
    const pushedB: string[] = [];
    store.hold = false;
    const persisterB = persisterFor(store, hot);
    const b = hotPipeline(store, hot, 'pod-b', pushedB, persisterB);
    // The next owner gets the batch again, and one more entry after it.
    await b.pipeline({ partition: 2, entries: [...batch.entries, entry(4)] });
    assert.deepEqual(pushedB, ['m1#1', 'm2#2', 'm3#3', 'm4#4'], 'the same seqs again (pushed again: pod-a may have died before pushing), the next after them');
    await persisterB.flushed();
    assert.deepEqual(
      (await inner.readMessages('dm:a:b', 0, 10)).map((m) => [m.msgId, m.seq]),
      [
        ['m1', 1],
        ['m2', 2],
        ['m3', 3],
        ['m4', 4],
      ],
      'each stored once',
    );
  });

  it('fences the last owner: once the next one claimed the partition, the last can neither record nor push', async () => {
    const { store, hot } = await backends();
    const pushedA: string[] = [];
    const a = hotPipeline(store, hot, 'pod-a', pushedA, persisterFor(store, hot));
    await a.pipeline({ partition: 1, entries: [entry(1)] });
    const pushedB: string[] = [];
    const b = hotPipeline(store, hot, 'pod-b', pushedB, persisterFor(store, hot));
    await b.pipeline({ partition: 1, entries: [entry(2)] });
    // pod-a has not heard of the rebalance yet: its next batch is refused and pushes nothing.
    await assert.rejects(a.pipeline({ partition: 1, entries: [entry(3)] }), FencedError);
    assert.deepEqual(pushedA, ['m1#1']);
    assert.deepEqual(pushedB, ['m2#2'], 'the new owner continues from the seq the last one recorded');
  });

  it('drops a repeated send (the same msgId, a later accept) and keeps a redelivery (the same record)', async () => {
    const { store, hot } = await backends();
    const pushed: string[] = [];
    const { pipeline } = hotPipeline(store, hot, 'pod-a', pushed, persisterFor(store, hot));
    await pipeline({ partition: 0, entries: [entry(1)] });
    await pipeline({ partition: 0, entries: [entry(1, { ts: 9999 }), entry(2)] });
    assert.deepEqual(pushed, ['m1#1', 'm2#2'], 'the repeat takes no seq');
  });

  it('checks the store for a msgId the hot store cannot vouch for (its records cover less than the dedupe window)', async () => {
    const { store, hot, inner } = await backends();
    // Stored long ago, before the hot store existed (or before it lost its data).
    await inner.insertMessages(
      [{ msgId: 'old', conversation: 'dm:a:b', seq: 1, from: 'a', to: 'b', body: 'x', ts: 5, clientId: 'c-old' }],
      new Map([['dm:a:b', ['a', 'b']]]),
    );
    const pushed: string[] = [];
    const { pipeline } = hotPipeline(store, hot, 'pod-a', pushed, persisterFor(store, hot), 50);
    await pipeline({ partition: 0, entries: [entry(7, { msgId: 'old', ts: 77 }), entry(8)] });
    assert.deepEqual(pushed, ['m8#2'], 'the old send repeated is dropped; the next message follows the stored one');
  });

  it('after the hot store lost its records, a new owner waits a moment for sends accepted before its claim (the last owner may be storing them), not for later ones, and stops waiting once the batch is not its own', async () => {
    const { store, hot, inner } = await backends();
    // The store has messages and the hot store records nothing older than now: it cannot vouch.
    await inner.insertMessages(
      [{ msgId: 'old', conversation: 'dm:a:b', seq: 1, from: 'a', to: 'b', body: 'x', ts: 5, clientId: 'c-old' }],
      new Map([['dm:a:b', ['a', 'b']]]),
    );
    const pushed: string[] = [];
    const { pipeline } = hotPipeline(store, hot, 'pod-b', pushed, persisterFor(store, hot), 400);
    const timed = async (run: () => Promise<unknown>): Promise<number> => {
      const t0 = Date.now();
      await run();
      return Date.now() - t0;
    };
    const later = Date.now() + 10_000;
    const fresh = await timed(() => pipeline({ partition: 0, entries: [entry(1, { ts: later }), entry(2, { ts: later })] }));
    assert.ok(fresh < 300, `accepted after the claim: no wait (${fresh} ms)`);
    const before = await timed(() => pipeline({ partition: 1, entries: [entry(3, { conversation: 'dm:c:d', from: 'c', to: 'd' })] }));
    assert.ok(before >= 350, `accepted before the claim: the grace is waited (${before} ms)`);
    assert.deepEqual(pushed, ['m1#2', 'm2#3', 'm3#1']);
    // A long grace, cut short: the partition moved on (or consuming stops).
    const moved = new AbortController();
    const slow = hotPipeline(store, hot, 'pod-c', [], persisterFor(store, hot), 60_000);
    setTimeout(() => moved.abort(), 100);
    const t0 = Date.now();
    await assert.rejects(slow.pipeline({ partition: 2, entries: [entry(4, { conversation: 'dm:e:f', from: 'e', to: 'f' })], signal: moved.signal }), {
      name: 'AbortError',
    });
    assert.ok(Date.now() - t0 < 1000, `the wait ended with the batch (${Date.now() - t0} ms)`);
  });

  it('stores first while the hot store is down, for what the last owner of the partition cannot have pushed', async () => {
    const { store, hot, inner } = await backends();
    const pushed: string[] = [];
    const persister = persisterFor(store, hot);
    const { pipeline, sequencer } = hotPipeline(store, hot, 'pod-a', pushed, persister);
    // Partitions 1 and 9 were another process's; 0 and 7 nobody's yet.
    await hot.claim(1, 'pod-z/1');
    await sequencer.assigned([0, 1, 7]); // each claimed at once, before any batch of it
    await hot.claim(9, 'pod-z/1'); // another consumer's
    await pipeline({ partition: 0, entries: [entry(1)] });
    // Partition 0 leaves and comes back: claimed anew, from this very process.
    await sequencer.assigned([1, 7]);
    await sequencer.assigned([0, 1, 7]);
    const later = Date.now() + 5_000; // accepted after this consumer's claims
    await hot.stop(); // Redis down
    await pipeline({ partition: 0, entries: [entry(2, { ts: later })] });
    assert.deepEqual(pushed, ['m1#1', 'm2#2']);
    assert.deepEqual(
      (await inner.readMessages('dm:a:b', 0, 10)).map((m) => m.seq),
      [1, 2],
      'stored before its push, after what the persister held',
    );
    // Taken from this process itself: whatever it pushed it knows, so a send accepted before the
    // claim goes on too.
    await pipeline({ partition: 0, entries: [entry(8, { msgId: 'p0-old' })] });
    assert.deepEqual(pushed.at(-1), 'p0-old#3');
    // Claimed at its assignment, no batch since: sends accepted after the claim go on.
    await pipeline({ partition: 7, entries: [entry(3, { msgId: 'p7', conversation: 'dm:g:h', from: 'g', to: 'h', ts: later })] });
    assert.deepEqual(pushed.at(-1), 'p7#1');
    // … and, nobody having held it before, one accepted before the claim as well.
    await pipeline({ partition: 7, entries: [entry(9, { msgId: 'p7-old', conversation: 'dm:g:h', from: 'g', to: 'h' })] });
    assert.deepEqual(pushed.at(-1), 'p7-old#2');
    // A send accepted before the claim that the store does not hold, in the partition taken from
    // another process: that process may have pushed it with a seq only the hot store knows.
    await assert.rejects(
      pipeline({ partition: 1, entries: [entry(4, { msgId: 'p1-old', conversation: 'dm:c:d', from: 'c', to: 'd' })] }),
      /waits for the hot store/,
    );
    // … unless the store holds it already (the last owner stored it): it keeps its seq.
    await inner.insertMessages(
      [{ msgId: 'p1-old', conversation: 'dm:c:d', seq: 1, from: 'c', to: 'd', body: 'b4', ts: 1004, clientId: 'c4' }],
      new Map([['dm:c:d', ['c', 'd']]]),
    );
    await pipeline({
      partition: 1,
      entries: [
        entry(4, { msgId: 'p1-old', conversation: 'dm:c:d', from: 'c', to: 'd' }),
        entry(5, { msgId: 'p1-new', conversation: 'dm:c:d', from: 'c', to: 'd', ts: later }),
      ],
    });
    assert.deepEqual(pushed.slice(-2), ['p1-old#1', 'p1-new#2']);
    // A partition it does not hold the claim of: waits, whatever the sends' times.
    await assert.rejects(
      pipeline({ partition: 9, entries: [entry(6, { msgId: 'p9', conversation: 'dm:e:f', from: 'e', to: 'f', ts: later })] }),
      /waits for the hot store/,
    );
  });

  it("stores first a batch the hot store failed while it reports healthy (a cluster node failing over), and the partition's next ones for a while; then pushes first again", async () => {
    const { store, hot, inner } = await backends();
    // The write is applied, then its reply lost (the worst case): the seq it holds must be the one the store gives.
    let failing = false;
    const records: number[] = [];
    const flaky: HotStore = {
      ...hot,
      async record(partition, owner, messages, listed, window) {
        records.push(partition);
        await hot.record(partition, owner, messages, listed, window);
        if (failing) throw new HotStoreError('hot store: Connection is closed.');
      },
    };
    let clock = 1_000_000;
    const pushed: string[] = [];
    const reasons: StoreFirstReason[] = [];
    const persister = persisterFor(store, flaky);
    const sequencer = new Sequencer(store, { hot: { hot: flaky, instance: 'pod-a', dedupeWindowMs: 3_600_000, handoverGraceMs: 10 } });
    const pipeline = createPipeline({
      sequencer,
      subscribers: { routeBatch: (items) => void pushed.push(...items.map((i) => `${i.message.msgId}#${i.message.seq}`)) },
      groups: { read: (cs) => readRosters(store, cs), setMembers: (c, m, seq) => store.setMembers(c, m, seq) },
      logger: silentLogger(),
      persister,
      hotReady: () => true,
      onStoreFirst: (r) => reasons.push(r),
      now: () => clock,
    });
    await sequencer.assigned([0, 1]);
    await pipeline({ partition: 0, entries: [entry(1)] });
    failing = true;
    await pipeline({ partition: 0, entries: [entry(2)] });
    assert.deepEqual(pushed, ['m1#1', 'm2#2'], 'pushed once stored');
    assert.deepEqual(
      (await inner.readMessages('dm:a:b', 0, 10)).map((m) => m.seq),
      [1, 2],
      'stored before its push, after what the persister held',
    );
    failing = false;
    // The partition's next batch is stored first without asking the hot store; another partition's is not held back.
    const before = records.length;
    await pipeline({ partition: 0, entries: [entry(3)] });
    assert.equal(records.length, before, 'the hot store not tried again yet');
    assert.deepEqual((await inner.readMessages('dm:a:b', 0, 10)).at(-1)?.seq, 3);
    await pipeline({ partition: 1, entries: [entry(9, { msgId: 'p1', conversation: 'dm:c:d', from: 'c', to: 'd' })] });
    assert.deepEqual(records.slice(before), [1], 'partition 1 goes on through the hot store');
    assert.deepEqual(reasons, ['hot_store_failed', 'hot_store_failed']);
    // Past the cool-down: pushed first again, with the next seq.
    clock += HOT_RETRY_MS;
    store.hold = true;
    await pipeline({ partition: 0, entries: [entry(4)] });
    assert.deepEqual(pushed.slice(-1), ['m4#4'], 'pushed while the store is held');
    store.release();
    // The failed batch comes again (its offsets were committed, but a rebalance may bring it): same seq, pushed no more.
    await pipeline({ partition: 0, entries: [entry(2)] });
    await persister.flushed();
    assert.deepEqual(
      (await inner.readMessages('dm:a:b', 0, 10)).map((m) => `${m.msgId}#${m.seq}`),
      ['m1#1', 'm2#2', 'm3#3', 'm4#4'],
    );
    assert.equal(pushed.filter((p) => p.startsWith('m2#')).length, 1);
    // A fenced write is not the hot store failing: it fails the batch, nothing stored.
    await hot.claim(0, 'pod-z/1');
    await assert.rejects(pipeline({ partition: 0, entries: [entry(5)] }), FencedError);
    assert.equal(reasons.length, 2);
  });

  it('claims each newly assigned partition once, keeps the claims of partitions kept, and drops those of partitions gone', async () => {
    const { store, hot } = await backends();
    const claims: string[] = [];
    const counted: HotStore = {
      ...hot,
      claim: (p, owner) => {
        claims.push(`${p}:${owner}`);
        return hot.claim(p, owner);
      },
    };
    const sequencer = new Sequencer(store, { hot: { hot: counted, instance: 'pod-a', dedupeWindowMs: 3_600_000 } });
    const tokens = (): string[] => claims.map((c) => c.replace(/^(\d+):pod-a\/[0-9a-f]{8}\//, '$1:pod-a/'));
    await sequencer.assigned([0, 1]);
    assert.deepEqual(tokens(), ['0:pod-a/1', '1:pod-a/2']);
    await sequencer.sequenceHot([entry(1)], 0);
    assert.equal(claims.length, 2, 'a batch of a claimed partition claims nothing more');
    await sequencer.assigned([1, 2]);
    assert.deepEqual(tokens().slice(2), ['2:pod-a/3'], 'only the new partition');
    await sequencer.assigned([0, 1, 2]);
    assert.deepEqual(tokens().slice(3), ['0:pod-a/4'], 'a partition that was away is claimed anew');
    assert.equal(await hot.claimedBy(0), claims.at(-1)!.slice(2));
  });

  it('claims assigned partitions again and again while the hot store cannot take them, and a partition kept while its claim was being made', async () => {
    const { store, hot } = await backends();
    const failures: number[][] = [];
    const sequencer = new Sequencer(store, {
      hot: { hot, instance: 'pod-a', dedupeWindowMs: 3_600_000, onClaimFailed: (partitions) => failures.push([...partitions]) },
    });
    await hot.stop(); // the hot store not there yet when the group assigns the partitions
    const claimed = sequencer.assigned([0, 1]);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(failures.length >= 1, 'failed claims reported');
    assert.deepEqual(failures[0], [0, 1]);
    // A second assignment keeps both while they are still unclaimed: they are claimed all the same.
    const again = sequencer.assigned([0, 1, 2]);
    await hot.start();
    await Promise.all([claimed, again]);
    for (const p of [0, 1, 2]) assert.match(String(await hot.claimedBy(p)), /^pod-a\//, `partition ${p} claimed`);
    await hot.stop();
    for (const p of [0, 1, 2]) assert.equal(await sequencer.mayStoreFirst([entry(1, { ts: Date.now() + 5000 })], p), true, `partition ${p} may store first`);
  });

  it('a slow store gets further writes in flight, each on partitions no other write holds, each partition in log order; a fast one gets one at a time', async () => {
    const run = async (writeMs: number) => {
      const { store, hot } = await backends();
      let inFlight = 0;
      let most = 0;
      const holding = new Set<string>();
      const order = new Map<string, number[]>();
      const slow: MessageStore = {
        ...store,
        insertMessages: async (l, m) => {
          const mine = [...new Set(l.map((x) => x.conversation))];
          for (const c of mine) assert.ok(!holding.has(c), `${c} is in two writes at once`);
          for (const c of mine) holding.add(c);
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setTimeout(r, writeMs));
          for (const x of l) order.set(x.conversation, [...(order.get(x.conversation) ?? []), x.seq]);
          for (const c of mine) holding.delete(c);
          inFlight--;
          return store.insertMessages(l, m);
        },
      };
      const persister = new Persister({ store: slow, hot, maxBatch: 1000, maxDelayMs: 5, backlogMax: 100_000, maxInFlight: 4, logger: silentLogger() });
      const all: Array<Promise<void>> = [];
      // One message every 10 ms, over 8 partitions (a conversation each), for 1.6 s, the first
      // eight at once: the first write holds every partition, and they all stay busy.
      for (let i = 0; i < 160; i++) {
        const p = i % 8;
        const m: Message = {
          msgId: `s${i}`,
          conversation: `dm:a:p${p}`,
          seq: Math.floor(i / 8) + 1,
          from: 'a',
          to: `p${p}`,
          body: 'x',
          ts: Date.now(),
          clientId: `c${i}`,
        };
        all.push(persister.submit(p, [m], new Map([[m.conversation, ['a', m.to]]])));
        if (i >= 8) await new Promise((r) => setTimeout(r, 10));
      }
      await Promise.all(all);
      for (const [c, seqs] of order)
        assert.deepEqual(
          seqs,
          [...seqs].sort((a, b) => a - b),
          `${c} stored in log order`,
        );
      return { most, writes: store.writes.length };
    };
    const slow = await run(1200);
    assert.ok(slow.most >= 2 && slow.most <= 4, `a store answering in 1.2 s: ${slow.most} writes in flight at most`);
    const fast = await run(5);
    assert.equal(fast.most, 1, 'a store answering in 5 ms: one write at a time');
  });

  it('writes larger batches as the rate rises: the store writes per message fall', async () => {
    const run = async (gapMs: number): Promise<{ messages: number; writes: number }> => {
      const { store, hot } = await backends();
      // Each write takes 20 ms: what arrives meanwhile goes into the next one.
      const slow: MessageStore = {
        ...store,
        insertMessages: async (l, m) => {
          await new Promise((r) => setTimeout(r, 20));
          return store.insertMessages(l, m);
        },
      };
      const persister = persisterFor(slow, hot, { maxDelayMs: 5 });
      const all: Array<Promise<void>> = [];
      for (let i = 0; i < 40; i++) {
        const m: Message = { msgId: `r${i}`, conversation: `dm:a:u${i}`, seq: 1, from: 'a', to: `u${i}`, body: 'x', ts: i, clientId: `c${i}` };
        all.push(persister.submit(0, [m], new Map([[m.conversation, ['a', m.to]]])));
        if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
      }
      await Promise.all(all);
      return { messages: 40, writes: store.writes.length };
    };
    const slowRate = await run(30);
    const fastRate = await run(0);
    assert.ok(slowRate.writes >= 20, `at a message every 30 ms, about a write each: ${slowRate.writes}`);
    assert.ok(fastRate.writes <= 3, `all at once, a few large writes: ${fastRate.writes}`);
  });

  it('a write concern the store cannot satisfy (a replica set short of a majority) is retried until it is, whether or not the write was applied; nothing is lost or stored twice', async () => {
    const { inner, hot } = await backends();
    // The first two writes fail: one not applied, one applied on the primary but not acknowledged by
    // a majority in time (the driver's MongoWriteConcernError, code 64); the third goes through.
    let attempts = 0;
    const store: MessageStore = {
      ...inner,
      async insertMessages(list, members) {
        attempts++;
        const unsatisfied = new MongoWriteConcernError({ ok: 1, writeConcernError: { code: 64, errmsg: 'waiting for replication timed out' } });
        if (attempts === 1) throw unsatisfied;
        if (attempts === 2) {
          await inner.insertMessages(list, members);
          throw unsatisfied;
        }
        return inner.insertMessages(list, members);
      },
    };
    const pushed: string[] = [];
    const persister = new Persister({ store, hot, maxBatch: 1000, maxDelayMs: 0, backlogMax: 100_000, logger: silentLogger(), random: () => 0 });
    const { pipeline } = hotPipeline(store, hot, 'pod-a', pushed, persister);
    const outcome = (await pipeline({ partition: 0, entries: [entry(1), entry(2), entry(3)] })) as BatchOutcome;
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3'], 'pushed at once, the store aside');
    await outcome.persisted;
    assert.ok(attempts >= 3, `${attempts} writes`);
    const stored = await inner.readMessages('dm:a:b', 0, 10);
    assert.deepEqual(
      stored.map((m) => `${m.msgId}#${m.seq}`),
      ['m1#1', 'm2#2', 'm3#3'],
    );
    await persister.stop(1000);
  });

  it('a redelivered run the store has already costs one look-up for the batch, not a round trip per message; the new ones in it are stored', async () => {
    const { store, hot } = await backends();
    const msg = (i: number): Message => ({ msgId: `d${i}`, conversation: 'dm:a:b', seq: i, from: 'a', to: 'b', body: 'x', ts: i, clientId: `c${i}` });
    const members = new Map([['dm:a:b', ['a', 'b']]]);
    const first = Array.from({ length: 50 }, (_, i) => msg(i + 1));
    await persisterFor(store, hot).submit(0, first, members);
    let lookups = 0;
    let inserts = 0;
    const counting: MessageStore = {
      ...store,
      insertMessages: (l, m) => {
        inserts++;
        return store.insertMessages(l, m);
      },
      storedAlready: (ids, m) => {
        lookups++;
        return store.storedAlready(ids, m);
      },
    };
    // The whole run again (a rebalance redelivers it), then two new messages.
    await persisterFor(counting, hot).submit(0, [...first, msg(51), msg(52)], members);
    assert.ok(lookups <= 2 && inserts <= 3, `${lookups} look-ups and ${inserts} inserts for a redelivered run of 50`);
    const stored = await store.readMessages('dm:a:b', 0, 100);
    assert.deepEqual(
      stored.map((m) => m.seq),
      Array.from({ length: 52 }, (_, i) => i + 1),
    );
  });

  it('while the store is down, continues a conversation from the last seq the hot store recorded; one it never recorded waits for the store', async () => {
    const { store, hot } = await backends();
    const pushed: string[] = [];
    const a = hotPipeline(store, hot, 'pod-a', pushed, persisterFor(store, hot));
    await a.pipeline({ partition: 0, entries: [entry(1), entry(2)] });
    // The store goes down, and the partition moves to pod-b (nothing cached there).
    store.hold = true;
    const down: MessageStore = {
      ...store,
      lastSeqs: () => Promise.reject(new Error('store unreachable')),
      readMessages: () => Promise.reject(new Error('store unreachable')),
    };
    const pushedB: string[] = [];
    const b = hotPipeline(down, hot, 'pod-b', pushedB, persisterFor(down, hot));
    await b.pipeline({ partition: 0, entries: [entry(3)] });
    assert.deepEqual(pushedB, ['m3#3'], 'continued from the recorded last seq');
    await assert.rejects(b.pipeline({ partition: 0, entries: [entry(4, { conversation: 'dm:c:d', from: 'c', to: 'd' })] }), /store unreachable/);
    // A reader asking from where the messages not stored yet begin is answered without the store;
    // one asking from further back needs it.
    assert.deepEqual(
      (await b.readable.readMessages('dm:a:b', 2, 10)).map((m) => m.seq),
      [3],
    );
    await assert.rejects(b.readable.readMessages('dm:a:b', 0, 10), /store unreachable/);
    await assert.rejects(b.readable.readMessages('dm:x:y', 0, 10), /store unreachable/, 'a conversation it holds nothing of needs the store');
  });
});
