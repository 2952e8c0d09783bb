import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import { createMongoStore } from '../../services/message/adapters/mongo-store.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import type { SendEntry } from '../../services/message/adapters/log.js';
import type { MessageStore } from '../../services/message/adapters/store.js';
import { sharedRealBackends } from '../support/real-backends.js';
import { testLogger } from '../support/services.js';

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
        const entries: SendEntry[] = Array.from({ length: 240 }, (_, i) => {
          const conversation = conversations[i % conversations.length]!;
          const [, from, to] = conversation.split(':') as [string, string, string];
          return { msgId: `m${i}`, conversation, from, to, body: `body ${i}`, ts: 1000 + i, clientId: `c${i}`, originInstance: '', originConnection: '' };
        });
        // The old owner works from the start of the partition; the new one re-reads from the last
        // committed offset (entry 80) at the same time; both go on to the end, in batches of 20.
        const run = async (sequencer: Sequencer, from: number): Promise<number> => {
          let stored = 0;
          for (let i = from; i < entries.length; i += 20) stored += (await sequencer.storeBatch(entries.slice(i, i + 20), 0)).length;
          return stored;
        };
        const [old, fresh] = await Promise.all([run(new Sequencer(store), 0), run(new Sequencer(store), 80)]);
        assert.equal(old + fresh, entries.length, 'every entry stored by exactly one of the two');
        for (const c of conversations) {
          const stored = await store.readMessages(c, 0, 1000);
          assert.deepEqual(stored.map((m) => m.seq), Array.from({ length: 80 }, (_, i) => i + 1), `${c}: seqs without a gap or a repeat`);
          assert.equal(new Set(stored.map((m) => m.msgId)).size, 80, `${c}: each message once`);
          // Seq order follows log order within what one consumer stored; every entry is there.
          assert.deepEqual(
            stored.map((m) => m.msgId).sort(),
            entries.filter((e) => e.conversation === c).map((e) => e.msgId).sort(),
          );
        }
      } finally {
        await store.stop();
      }
    });
  });
}
