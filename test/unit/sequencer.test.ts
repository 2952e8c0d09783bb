import assert from 'node:assert/strict';
import { Sequencer } from '../../services/message/domain/sequencer.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import type { SendEntry } from '../../services/message/adapters/log.js';
import type { MessageStore } from '../../services/message/adapters/store.js';

function entry(msgId: string, conversation = 'dm:a:b', from = 'a', to = 'b'): SendEntry {
  return { msgId, conversation, from, to, body: `body ${msgId}`, ts: 1, clientId: `c-${msgId}`, originInstance: '', originConnection: '' };
}

describe('Sequencer', () => {
  let store: MessageStore;
  beforeEach(async () => {
    store = createEmbeddedStore();
    await store.start();
  });

  it('assigns 1, 2, 3 … per conversation, independently across conversations', async () => {
    const seq = new Sequencer(store);
    const got: Array<[string, number]> = [];
    for (const [id, conv] of [['m1', 'dm:a:b'], ['m2', 'dm:a:b'], ['m3', 'dm:a:c'], ['m4', 'dm:a:b'], ['m5', 'dm:a:c']] as const) {
      const m = await seq.store(entry(id, conv, 'a', conv.slice(-1)));
      got.push([m!.msgId, m!.seq]);
    }
    assert.deepEqual(got, [['m1', 1], ['m2', 2], ['m3', 1], ['m4', 3], ['m5', 2]]);
    assert.deepEqual((await store.readMessages('dm:a:b', 0, 10)).map((m) => m.seq), [1, 2, 3]);
  });

  it('drops a redelivered entry (same msgId) without using a seq', async () => {
    const seq = new Sequencer(store);
    assert.equal((await seq.store(entry('m1')))!.seq, 1);
    assert.equal(await seq.store(entry('m1')), undefined);
    assert.equal((await seq.store(entry('m2')))!.seq, 2);
    assert.equal(await store.lastSeq('dm:a:b'), 2);
  });

  it('recovers from a stale cache when another writer took the next seq (partition hand-over)', async () => {
    const first = new Sequencer(store);
    const second = new Sequencer(store);
    await first.store(entry('m1'));
    await second.store(entry('m2')); // second reads lastSeq 1 from the store → 2
    const m3 = await first.store(entry('m3')); // first's cache says 1 → conflict on 2 → re-read → 3
    assert.equal(m3!.seq, 3);
    assert.deepEqual((await store.readMessages('dm:a:b', 0, 10)).map((m) => [m.msgId, m.seq]), [['m1', 1], ['m2', 2], ['m3', 3]]);
  });

  it('resumes from what is stored after a restart (no counter to run ahead)', async () => {
    await new Sequencer(store).store(entry('m1'));
    await new Sequencer(store).store(entry('m2'));
    assert.equal((await new Sequencer(store).store(entry('m3')))!.seq, 3);
  });

  it('propagates store failures so the batch is redelivered', async () => {
    const seq = new Sequencer(store);
    await store.stop();
    await assert.rejects(seq.store(entry('m1')), { code: 'UNAVAILABLE' });
  });
});
