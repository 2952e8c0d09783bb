import assert from 'node:assert/strict';
import { SendAcceptor } from '../../services/message/domain/send-acceptor.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import type { MessageLog, SendEntry } from '../../services/message/adapters/log.js';
import type { MessageStore } from '../../services/message/adapters/store.js';

const HOUR = 3_600_000;

/** A log that records appends and can be made to fail. */
function recordingLog(): MessageLog & { appended: SendEntry[]; failing: boolean } {
  const log = {
    appended: [] as SendEntry[],
    failing: false,
    async start() {},
    async append(e: SendEntry) {
      if (log.failing) throw new Error('broker down');
      log.appended.push(e);
    },
    async consume() {},
    async stopConsuming() {},
    async stop() {},
    health: () => ({ ok: true, detail: 'test' }),
  };
  return log;
}

describe('SendAcceptor (idempotency window)', () => {
  let clock: number;
  let store: MessageStore;
  let log: ReturnType<typeof recordingLog>;
  let ids: number;
  let acceptor: SendAcceptor;
  const send = (clientId: string, body = 'hi', to = 'b') =>
    acceptor.accept({ from: 'a', clientId, to, body, originInstance: 'i', originConnection: 'c' });

  beforeEach(async () => {
    clock = 1_000_000;
    ids = 0;
    store = createEmbeddedStore({ now: () => clock });
    await store.start();
    log = recordingLog();
    acceptor = new SendAcceptor({ log, store, maxBodyBytes: 4096, idempotencyWindowMs: 24 * HOUR, now: () => clock, newId: () => `m${++ids}` });
  });

  it('accepts a send once it is appended, with conversation and accept time', async () => {
    const a = await send('x1');
    assert.deepEqual(a, { msgId: 'm1', conversation: 'dm:a:b', ts: 1_000_000, duplicate: false });
    assert.equal(log.appended.length, 1);
    assert.equal(log.appended[0]!.msgId, 'm1');
  });

  it('repeats the same msgId for the same (user, id) within the window and appends no second message once stored', async () => {
    const first = await send('x1', 'first');
    await store.insertMessage({ ...log.appended[0]!, seq: 1 }, ['a', 'b']);
    clock += 23 * HOUR;
    const again = await send('x1', 'changed body');
    assert.deepEqual(again, { ...first, duplicate: true });
    assert.equal(log.appended.length, 1);
  });

  it('re-appends the original entry when the first attempt may not have reached the log', async () => {
    log.failing = true;
    await assert.rejects(send('x1', 'original'), { code: 'UNAVAILABLE' });
    log.failing = false;
    const again = await send('x1', 'retry text');
    assert.equal(again.msgId, 'm1');
    assert.equal(log.appended.length, 1);
    assert.equal(log.appended[0]!.body, 'original');
  });

  it('treats the same id after the window as a new message', async () => {
    await send('x1');
    clock += 24 * HOUR + 1;
    const later = await send('x1');
    assert.equal(later.msgId, 'm2');
    assert.equal(later.duplicate, false);
  });

  it('keys idempotency by user: the same id from another user is another message', async () => {
    await send('x1');
    const other = await acceptor.accept({ from: 'b', clientId: 'x1', to: 'a', body: 'hi', originInstance: '', originConnection: '' });
    assert.equal(other.msgId, 'm2');
  });

  it('rejects bad input with BAD_REQUEST / TOO_LARGE and appends nothing', async () => {
    await assert.rejects(send('x1', ''), { code: 'BAD_REQUEST' });
    await assert.rejects(send('x1', 'x'.repeat(4097)), { code: 'TOO_LARGE' });
    await assert.rejects(send('x1', 'é'.repeat(2049)), { code: 'TOO_LARGE', message: 'body is 4098 bytes; the limit is 4096' });
    await assert.rejects(send('', 'hi'), { code: 'BAD_REQUEST' });
    await assert.rejects(send('x1', 'hi', 'bad id!'), { code: 'BAD_REQUEST' });
    await assert.rejects(acceptor.accept({ from: 'a:b', clientId: 'x', to: 'c', body: 'hi', originInstance: '', originConnection: '' }), /ambiguous/);
    assert.equal(log.appended.length, 0);
  });

  it('answers UNAVAILABLE when the store is down', async () => {
    await store.stop();
    await assert.rejects(send('x1'), { code: 'UNAVAILABLE' });
  });
});
