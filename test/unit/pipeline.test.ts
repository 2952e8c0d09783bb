import assert from 'node:assert/strict';
import { createPipeline } from '../../services/message/domain/pipeline.js';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import type { SubscriberRegistry } from '../../services/message/domain/subscribers.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import { IndexUpdateError, type MessageStore } from '../../services/message/adapters/store.js';
import type { SendEntry } from '../../services/message/adapters/log.js';
import { silentLogger } from '../../services/shared/logger.js';

const entry = (n: number): SendEntry => ({ msgId: `m${n}`, conversation: 'dm:a:b', from: 'a', to: 'b', body: `b${n}`, ts: n, clientId: `c${n}`, originInstance: 'gw', originConnection: 'c1' });

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
    const subscribers = { routeBatch: async (items: Array<{ message: { msgId: string; seq: number } }>) => void pushed.push(...items.map((i) => `${i.message.msgId}#${i.message.seq}`)) };
    const pipeline = createPipeline({ sequencer: new Sequencer(store), subscribers: subscribers as unknown as SubscriberRegistry, groups: noGroups, logger: silentLogger() });
    const batch = { partition: 0, entries: [entry(1), entry(2), entry(3)] };
    await assert.rejects(pipeline(batch), /stored before the batch failed/);
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3'], 'pushed although the batch failed');
    await pipeline(batch); // the redelivery
    assert.deepEqual(pushed, ['m1#1', 'm2#2', 'm3#3'], 'nothing pushed twice');
    assert.deepEqual((await real.readMessages('dm:a:b', 0, 10)).map((m) => m.msgId), ['m1', 'm2', 'm3']);
    await pipeline({ partition: 0, entries: [entry(4)] });
    assert.deepEqual(pushed.at(-1), 'm4#4', 'the next message continues the sequence');
  });

  it('routes a group message to the members at its seq, and a listing the store refuses neither fails the batch nor holds its partition', async () => {
    const store = createEmbeddedStore();
    await store.start();
    const g = 'grp:g1';
    const groupEntry = (n: number, extra: Partial<SendEntry> = {}): SendEntry => ({ ...entry(n), conversation: g, to: g, ...extra });
    const routed: Array<[string, string[]]> = [];
    const subscribers = { routeBatch: async (items: Array<{ message: { msgId: string }; audience?: ReadonlySet<string> }>) => void routed.push(...items.map((i) => [i.message.msgId, [...(i.audience ?? [])].sort()] as [string, string[]])) };
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
    assert.deepEqual(routed, [
      ['m1', ['a', 'b']],
      ['m2', ['a', 'b']],
      ['m3', ['a', 'b']],
      ['m4', ['a']],
    ], 'each at its seq: the removed member gets the removal and nothing after');
    assert.deepEqual(changed, [g, g], 'the send path forgets the roster at each stored change');
    assert.deepEqual((await store.readMessages(g, 0, 10)).map((m) => m.seq), [1, 2, 3, 4]);
  });
});
