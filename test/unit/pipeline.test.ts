import assert from 'node:assert/strict';
import { createPipeline } from '../../services/message/domain/pipeline.js';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import type { SubscriberRegistry } from '../../services/message/domain/subscribers.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import { IndexUpdateError, type MessageStore } from '../../services/message/adapters/store.js';
import { silentLogger } from '../../services/shared/logger.js';
import { readRosters } from '../../services/message/domain/roster.js';
import type { AcceptedSend } from '../../services/shared/message.js';

const entry = (n: number): AcceptedSend => ({
  msgId: `m${n}`,
  conversation: 'dm:a:b',
  from: 'a',
  to: 'b',
  body: `b${n}`,
  ts: n,
  clientId: `c${n}`,
  origin: { instance: 'gw', connection: 'c1' },
});

/** For direct messages only: no group is ever read or listed. */
const noGroups = {
  read: async () => assert.fail('no group to read'),
  setMembers: async () => assert.fail('no group to list'),
};

describe('the consume pipeline', () => {
  it('pushes messages a failed batch stored before failing (its redelivery finds them stored and pushes nothing)', async () => {
    const real = createEmbeddedStore();
    await real.start();
    let failOnce = true;
    // A store that stores and then fails to update the conversation index, once.
    const store: MessageStore = {
      ...real,
      async insertMessages(list, members) {
        const n = await real.insertMessages(list, members);
        if (failOnce) {
          failOnce = false;
          throw new IndexUpdateError(n, { cause: new Error('index update timed out') });
        }
        return n;
      },
    };
    const pushed: string[] = [];
    const subscribers = {
      routeBatch: async (items: Array<{ message: { msgId: string; seq: number } }>) =>
        void pushed.push(...items.map((i) => `${i.message.msgId}#${i.message.seq}`)),
    };
    const pipeline = createPipeline({
      sequencer: new Sequencer(store),
      subscribers: subscribers as unknown as SubscriberRegistry,
      groups: noGroups,
      logger: silentLogger(),
    });
    const batch = { partition: 0, entries: [entry(1), entry(2), entry(3)] };
    await assert.rejects(pipeline(batch), /stored before the batch failed/);
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3'], 'pushed although the batch failed');
    await pipeline(batch); // the redelivery
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3'], 'nothing pushed twice');
    assert.deepEqual(
      (await real.readMessages('dm:a:b', 0, 10)).map((m) => m.msgId),
      ['m1', 'm2', 'm3'],
    );
    await pipeline({ partition: 0, entries: [entry(4)] });
    assert.deepEqual(pushed.at(-1), 'm4#4', 'the next message continues the sequence');
  });

  it('routes a group message to the members at its seq, and a listing the store refuses neither fails the batch nor holds its partition', async () => {
    const store = createEmbeddedStore();
    await store.start();
    const g = 'grp:g1';
    const groupEntry = (n: number, extra: Partial<AcceptedSend> = {}): AcceptedSend => ({ ...entry(n), conversation: g, to: g, ...extra });
    const routed: Array<[string, string[]]> = [];
    const subscribers = {
      routeBatch: async (items: Array<{ message: { msgId: string }; audience?: ReadonlySet<string> }>) =>
        void routed.push(...items.map((i) => [i.message.msgId, [...(i.audience ?? [])].sort()] as [string, string[]])),
    };
    const changed: string[] = [];
    const pipeline = createPipeline({
      sequencer: new Sequencer(store),
      subscribers: subscribers as unknown as SubscriberRegistry,
      groups: {
        read: async () => new Map(),
        setMembers: async () => Promise.reject(new Error('index row size exceeds the maximum')),
        changed: (c) => void changed.push(c),
      },
      logger: silentLogger(),
    });
    await pipeline({
      partition: 0,
      entries: [
        groupEntry(1, { body: '', kind: 'created', members: ['a', 'b'] }),
        groupEntry(2),
        groupEntry(3, { body: '', kind: 'removed', members: ['b'] }),
        groupEntry(4),
      ],
    });
    assert.deepEqual(
      routed,
      [
        ['m1', ['a', 'b']],
        ['m2', ['a', 'b']],
        ['m3', ['a', 'b']],
        ['m4', ['a']],
      ],
      'each at its seq: the removed member gets the removal and nothing after',
    );
    assert.deepEqual(changed, [g, g], 'the send path forgets the roster at each stored change');
    assert.deepEqual(
      (await store.readMessages(g, 0, 10)).map((m) => m.seq),
      [1, 2, 3, 4],
    );
  });

  it('pushes entries whose store write was applied but whose reply was lost, when the batch comes again', async () => {
    const real = createEmbeddedStore();
    await real.start();
    let loseReply = true;
    // The server applies the insert; the connection drops before its reply arrives.
    const store: MessageStore = {
      ...real,
      async insertMessages(list, members) {
        const n = await real.insertMessages(list, members);
        if (loseReply) {
          loseReply = false;
          throw new Error('connection closed before the reply');
        }
        return n;
      },
    };
    const pushed: string[] = [];
    let repushed = 0;
    const subscribers = {
      routeBatch: (items: Array<{ message: { msgId: string; seq: number } }>) => void pushed.push(...items.map((i) => `${i.message.msgId}#${i.message.seq}`)),
    };
    const pipeline = createPipeline({
      sequencer: new Sequencer(store),
      subscribers: subscribers as unknown as SubscriberRegistry,
      groups: noGroups,
      logger: silentLogger(),
      onRepushed: (n) => (repushed += n),
    });
    const batch = { partition: 0, entries: [entry(1), entry(2)] };
    await assert.rejects(pipeline(batch), /connection closed/);
    assert.deepEqual(pushed, [], 'nothing known to be stored yet');
    await pipeline({ partition: 0, entries: [...batch.entries, entry(3)] }); // the redelivery, with a new entry after it
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3'], 'found stored, pushed with their seqs, in order, before what follows');
    assert.equal(repushed, 2);
    await pipeline({ partition: 0, entries: [entry(3)] });
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3'], 'what this process pushed is not pushed again');
    // Another process (the partition's next owner) knows nothing of what was pushed: it pushes again.
    const successor = createPipeline({
      sequencer: new Sequencer(store),
      subscribers: subscribers as unknown as SubscriberRegistry,
      groups: noGroups,
      logger: silentLogger(),
    });
    await successor({ partition: 0, entries: [entry(3)] });
    assert.equal(pushed[pushed.length - 1], 'm3#3');
    assert.deepEqual(
      (await real.readMessages('dm:a:b', 0, 10)).map((m) => m.seq),
      [1, 2, 3],
      'each stored once',
    );
  });

  it('gives a redelivered group message the members at its seq, never someone who joined later', async () => {
    const store = createEmbeddedStore();
    await store.start();
    const g = 'grp:g2';
    const groupEntry = (n: number, extra: Partial<AcceptedSend> = {}): AcceptedSend => ({ ...entry(n), conversation: g, to: g, ...extra });
    const entries = [
      groupEntry(1, { body: '', kind: 'created', members: ['a', 'b'] }),
      groupEntry(2),
      groupEntry(3, { body: '', kind: 'added', members: ['c'] }),
      groupEntry(4, { body: '', kind: 'removed', members: ['b'] }),
      groupEntry(5),
    ];
    const first = createPipeline({
      sequencer: new Sequencer(store),
      subscribers: { routeBatch: () => undefined },
      groups: { read: (cs) => readRosters(store, cs), setMembers: async () => undefined },
      logger: silentLogger(),
    });
    await first({ partition: 0, entries });
    // The partition's next owner reads the rosters as stored now (every change applied) and gets the batch again.
    const routed: Array<[number, string[]]> = [];
    const subscribers = {
      routeBatch: (items: ReadonlyArray<{ message: { seq: number }; audience?: ReadonlySet<string> }>) =>
        void routed.push(...items.map((i) => [i.message.seq, [...(i.audience ?? [])].sort()] as [number, string[]])),
    };
    const next = createPipeline({
      sequencer: new Sequencer(store),
      subscribers,
      groups: { read: (cs) => readRosters(store, cs), setMembers: async () => undefined },
      logger: silentLogger(),
    });
    await next({ partition: 0, entries });
    assert.deepEqual(routed, [
      [1, ['a', 'b']],
      [2, ['a', 'b']],
      [3, ['a', 'b', 'c']],
      [4, ['a', 'b', 'c']],
      [5, ['a', 'c']],
    ]);
    assert.deepEqual(
      (await store.readMessages(g, 0, 10)).map((m) => m.seq),
      [1, 2, 3, 4, 5],
    );
  });
});
