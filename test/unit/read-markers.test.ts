import assert from 'node:assert/strict';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import type { MessageStore } from '../../services/message/adapters/store.js';
import { History } from '../../services/message/domain/history.js';
import { ReadMarking, SenderMarkers, withSenderMarkers } from '../../services/message/domain/read-markers.js';
import type { Message, ReadMarker } from '../../services/shared/message.js';
import { silentLogger } from '../../services/shared/logger.js';

const text = (conversation: string, seq: number, from: string, to: string): Message => ({
  msgId: `${conversation}-${seq}`,
  conversation,
  seq,
  from,
  to,
  body: 'hi',
  ts: seq,
  clientId: `c${seq}`,
});
const origin = { instance: 'gw-1', connection: 'conn-1' };

describe('read markers (Message domain)', () => {
  let store: MessageStore;
  beforeEach(async () => {
    store = createEmbeddedStore();
    await store.start();
    for (let seq = 1; seq <= 3; seq++) await store.insertMessage(text('dm:a:b', seq, 'b', 'a'), ['a', 'b']);
  });

  const marking = (receipts: boolean) => {
    const routed: Array<{ marker: ReadMarker; users: readonly string[] }> = [];
    const reads = new ReadMarking({
      store,
      history: new History(store, { maxSyncLimit: 500, maxConversations: 100 }),
      receipts,
      route: (marker, users) => routed.push({ marker, users }),
    });
    return { reads, routed };
  };

  it("stores the highest marker and routes it to the reader and a direct conversation's peer; with receipts off, to the reader alone", async () => {
    const on = marking(true);
    assert.equal(await on.reads.mark('a', 'dm:a:b', 2, origin), 2);
    assert.equal(await on.reads.mark('a', 'dm:a:b', 1, origin), 2);
    assert.deepEqual(on.routed.at(0), { marker: { conversation: 'dm:a:b', user: 'a', seq: 2 }, users: ['a', 'b'] });
    const off = marking(false);
    assert.equal(await off.reads.mark('a', 'dm:a:b', 3, origin), 3);
    assert.deepEqual(off.routed, [{ marker: { conversation: 'dm:a:b', user: 'a', seq: 3 }, users: ['a'] }]);
  });

  it('refuses a seq beyond the last message, below 1, and a reader who is not a member', async () => {
    const { reads, routed } = marking(true);
    await assert.rejects(reads.mark('a', 'dm:a:b', 4, origin), { code: 'BAD_REQUEST', message: /seq 4 is beyond the last message of dm:a:b .*\(3\)/ });
    await assert.rejects(reads.mark('a', 'dm:a:b', 0, origin), { code: 'BAD_REQUEST' });
    await assert.rejects(reads.mark('c', 'dm:a:b', 1, origin), { code: 'FORBIDDEN' });
    await assert.rejects(reads.mark('a', 'grp:none', 1, origin), { code: 'FORBIDDEN' });
    assert.deepEqual(routed, []);
    assert.deepEqual(await store.readMarkers('a', ['dm:a:b']), new Map([['dm:a:b', 0]]));
  });

  it("moves senders' markers to their stored messages, one store call at a time, coalesced, and again after a failed write", async () => {
    const calls: ReadMarker[][] = [];
    let fail = 1;
    let release: (() => void) | undefined;
    const slow: Pick<MessageStore, 'advanceMarkers'> = {
      advanceMarkers: async (list) => {
        calls.push(list.map((m) => ({ ...m })));
        await new Promise<void>((r) => (release = r));
        if (fail-- > 0) throw new Error('store away');
      },
    };
    const markers = new SenderMarkers(slow, silentLogger());
    const wrapped = withSenderMarkers(store, markers);
    await wrapped.insertMessages([text('dm:a:b', 4, 'a', 'b'), text('dm:a:b', 5, 'b', 'a')], new Map([['dm:a:b', ['a', 'b']]]));
    // While that write is in flight, more of the same pairs arrive: they wait, coalesced to the highest.
    await wrapped.insertMessage(text('dm:a:b', 6, 'a', 'b'), ['a', 'b']);
    await wrapped.insertMessage(text('dm:a:b', 7, 'a', 'b'), ['a', 'b']);
    assert.equal(calls.length, 1);
    release!(); // the first write fails: its markers go back, merged with the waiting ones
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(calls.length, 2);
    release!();
    await markers.idle();
    markers.stop();
    assert.deepEqual(calls, [
      [
        { user: 'a', conversation: 'dm:a:b', seq: 4 },
        { user: 'b', conversation: 'dm:a:b', seq: 5 },
      ],
      [
        { user: 'a', conversation: 'dm:a:b', seq: 7 },
        { user: 'b', conversation: 'dm:a:b', seq: 5 },
      ],
    ]);
  });
});
