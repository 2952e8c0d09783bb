import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import { groupInserts } from '../../services/message/domain/grouped-inserts.js';
import { createMongoStore } from '../../services/message/adapters/mongo-store.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import type { MessageStore } from '../../services/message/adapters/store.js';
import { sharedRealBackends } from '../support/real-backends.js';
import { testLogger } from '../support/services.js';
import type { AcceptedSend, Message } from '../../services/shared/message.js';

/** How many of a batch's entries this call stored (entries found stored before come back marked `redelivered`, for their push). */
const storedNow = (list: ReadonlyArray<{ redelivered?: true }>): number => list.filter((s) => !s.redelivered).length;

/**
 * A stale consumer: after a session timeout the group gives a partition to a new member while the
 * old one still works through the batch it fetched, so two consumers store the same entries of
 * the same conversations at once. The store's unique (conversation, seq) and msgId settle it:
 * every entry is stored once, in a gap-free seq order, whoever wins each race.
 */
for (const [name, open] of [
  ['embedded store', async (): Promise<MessageStore> => createEmbeddedStore()],
  [
    'MongoDB wire protocol (FerretDB)',
    async (): Promise<MessageStore> =>
      createMongoStore({ uri: (await sharedRealBackends()).mongodbUri, database: `stale_${randomBytes(4).toString('hex')}`, logger: testLogger('mongo') }),
  ],
] as const) {
  describe(`two consumers on one partition (${name})`, function () {
    this.timeout(120_000);
    it('store overlapping batches of the same conversations concurrently: each entry once, seqs 1…n without a gap', async () => {
      const store = await open();
      await store.start();
      try {
        const conversations = ['dm:a:b', 'dm:a:c', 'dm:b:c'];
        const entries: AcceptedSend[] = Array.from({ length: 240 }, (_, i) => {
          const conversation = conversations[i % conversations.length]!;
          const [, from, to] = conversation.split(':') as [string, string, string];
          return { msgId: `m${i}`, conversation, from, to, body: `body ${i}`, ts: 1000 + i, clientId: `c${i}`, origin: { instance: '', connection: '' } };
        });
        // The old owner works from the start of the partition; the new one re-reads from the last
        // committed offset (entry 80) at the same time; both go on to the end, in batches of 20.
        const run = async (sequencer: Sequencer, from: number): Promise<number> => {
          let stored = 0;
          for (let i = from; i < entries.length; i += 20) stored += storedNow(await sequencer.storeBatch(entries.slice(i, i + 20), 0));
          return stored;
        };
        const [old, fresh] = await Promise.all([run(new Sequencer(store), 0), run(new Sequencer(store), 80)]);
        assert.equal(old + fresh, entries.length, 'every entry stored by exactly one of the two');
        for (const c of conversations) {
          const stored = await store.readMessages(c, 0, 1000);
          assert.deepEqual(
            stored.map((m) => m.seq),
            Array.from({ length: 80 }, (_, i) => i + 1),
            `${c}: seqs without a gap or a repeat`,
          );
          assert.equal(new Set(stored.map((m) => m.msgId)).size, 80, `${c}: each message once`);
          // Seq order follows log order within what one consumer stored; every entry is there.
          assert.deepEqual(
            stored.map((m) => m.msgId).sort(),
            entries
              .filter((e) => e.conversation === c)
              .map((e) => e.msgId)
              .sort(),
          );
        }
      } finally {
        await store.stop();
      }
    });
  });
}

/**
 * One consumer, as deployed: the batches of several partitions arrive at once and share their
 * store writes (groupInserts), some of them redelivered (a commit lost), so a grouped ordered
 * insert stops inside one partition's batch while the others go on. Every entry is stored once,
 * each conversation's seqs follow its log order without a gap.
 */
for (const [name, open] of [
  ['embedded store', async (): Promise<MessageStore> => createEmbeddedStore()],
  [
    'MongoDB wire protocol (FerretDB)',
    async (): Promise<MessageStore> =>
      createMongoStore({ uri: (await sharedRealBackends()).mongodbUri, database: `grouped_${randomBytes(4).toString('hex')}`, logger: testLogger('mongo') }),
  ],
] as const) {
  describe(`partition batches sharing store writes, with redeliveries (${name})`, function () {
    this.timeout(120_000);
    it("stores every entry once, in log order, gap-free, while grouped inserts stop inside other partitions' batches", async () => {
      const store = await open();
      await store.start();
      try {
        const partitions = [0, 1, 2, 3];
        const log = partitions.map((p) =>
          Array.from({ length: 120 }, (_, i): AcceptedSend => {
            const conversation = `dm:p${p}:u${i % 4}`;
            return {
              msgId: `p${p}-m${i}`,
              conversation,
              from: `p${p}`,
              to: `u${i % 4}`,
              body: `body ${i}`,
              ts: 1000 + i,
              clientId: `c${i}`,
              origin: { instance: '', connection: '' },
            };
          }),
        );
        // Which partitions each store write held: the test is only worth its name if writes mix them.
        const writes: number[] = [];
        const spied = new Proxy(store, {
          get: (target, prop, receiver) =>
            prop === 'insertMessages'
              ? (messages: Message[], members: ReadonlyMap<string, readonly string[]>) => {
                  writes.push(new Set(messages.map((m) => m.from)).size);
                  return target.insertMessages(messages, members);
                }
              : (Reflect.get(target, prop, receiver) as unknown),
        });
        const sequencer = new Sequencer(groupInserts(spied, { maxMessages: 1000 }));
        await sequencer.assigned(partitions);
        // Each partition is consumed in batches of 15; every third batch comes again (its commit
        // was lost), overlapping the batch after it.
        const consume = async (p: number): Promise<number> => {
          let stored = 0;
          for (let i = 0, n = 0; i < log[p]!.length; i += 15, n++) {
            stored += storedNow(await sequencer.storeBatch(log[p]!.slice(i, i + 15), p));
            if (n % 3 === 0) stored += storedNow(await sequencer.storeBatch(log[p]!.slice(i + 5, i + 25), p));
          }
          return stored;
        };
        const counts = await Promise.all(partitions.map(consume));
        assert.deepEqual(counts, [120, 120, 120, 120], "each partition's entries stored once");
        assert.ok(
          writes.some((n) => n > 1),
          `some store write held batches of several partitions (partitions per write: ${writes.join(',')})`,
        );
        for (const p of partitions) {
          for (let u = 0; u < 4; u++) {
            const conversation = `dm:p${p}:u${u}`;
            const stored = await store.readMessages(conversation, 0, 1000);
            assert.deepEqual(
              stored.map((m) => m.seq),
              Array.from({ length: 30 }, (_, i) => i + 1),
              `${conversation}: seqs without a gap`,
            );
            assert.deepEqual(
              stored.map((m) => m.msgId),
              log[p]!.filter((e) => e.conversation === conversation).map((e) => e.msgId),
              `${conversation}: in log order`,
            );
          }
        }
      } finally {
        await store.stop();
      }
    });
  });
}
