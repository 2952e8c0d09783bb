import assert from 'node:assert/strict';
import { createEmbeddedLog } from '../../services/message/adapters/embedded-log.js';
import { createEmbeddedPresence } from '../../services/message/adapters/embedded-presence.js';
import type { LogBatch } from '../../services/message/adapters/log.js';
import { silentLogger } from '../../services/shared/logger.js';
import { eventually } from '../support/services.js';
import type { AcceptedSend } from '../../services/shared/message.js';

const entry = (msgId: string, conversation: string): AcceptedSend => ({
  msgId,
  conversation,
  from: 'a',
  to: 'b',
  body: msgId,
  ts: 0,
  clientId: msgId,
  origin: { instance: '', connection: '' },
});

describe('embedded log', () => {
  it('delivers each conversation in order and redelivers a failed batch', async () => {
    const log = createEmbeddedLog({ partitions: 3, logger: silentLogger() });
    await log.start();
    const seen: string[] = [];
    let failOnce = true;
    await log.consume(async (batch: LogBatch) => {
      if (failOnce && batch.entries.some((e) => e.msgId === 'm3')) {
        failOnce = false;
        throw new Error('store down');
      }
      for (const e of batch.entries) seen.push(e.msgId);
    });
    for (let i = 1; i <= 6; i++) await log.append(entry(`m${i}`, 'dm:a:b'));
    await eventually('all entries consumed', () => new Set(seen).size === 6);
    const firsts = [...new Set(seen)];
    assert.deepEqual(firsts, ['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    await log.stop();
    await assert.rejects(log.append(entry('late', 'dm:a:b')), { code: 'UNAVAILABLE' });
    assert.equal(log.health().ok, false);
  });
});

describe('embedded presence', () => {
  it('expires entries unless refreshed and removes them on demand', async () => {
    let clock = 0;
    const p = createEmbeddedPresence({ now: () => clock });
    await p.start();
    await p.refresh('c1', ['u1', 'u2'], 1000);
    await p.refresh('c2', ['u1'], 1000);
    assert.deepEqual(Object.fromEntries(await p.lookup(['u1', 'u2', 'u3'])), { u1: ['c1', 'c2'], u2: ['c1'] });
    clock = 900;
    await p.refresh('c1', ['u1'], 1000);
    clock = 1500;
    assert.deepEqual(Object.fromEntries(await p.lookup(['u1', 'u2'])), { u1: ['c1'] });
    await p.remove('c1', ['u1']);
    assert.deepEqual(Object.fromEntries(await p.lookup(['u1'])), {});
  });
});
