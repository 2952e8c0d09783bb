import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { KAFKAJS_WRAPPED_VERSION, longPollWhenIdle, nextFetch, type FetchedBatch } from '../../services/message/adapters/kafka-idle-fetch.js';

const batch = (records: number): FetchedBatch => ({ isEmptyIncludingFiltered: () => records === 0 });
const batching = { maxWaitTime: 15, minBytes: 8192 };

describe('Kafka fetch settings of an idle log', () => {
  it('after a fetch that brought no record of any partition (or no partition), long-polls for any byte', () => {
    assert.deepEqual(nextFetch([batch(0), batch(0), batch(0)], batching, 500), { maxWaitTime: 500, minBytes: 1 });
    assert.deepEqual(nextFetch([], batching, 500), { maxWaitTime: 500, minBytes: 1 });
  });

  it('after a fetch that brought a record of any partition, batches again', () => {
    assert.deepEqual(nextFetch([batch(0), batch(3), batch(0)], batching, 500), batching);
    assert.deepEqual(nextFetch([batch(1)], batching, 500), batching);
  });

  it('never polls an idle log more often than a busy one: an idle wait not longer than the batching wait is ignored', () => {
    assert.deepEqual(nextFetch([batch(0)], batching, 15), batching);
    assert.deepEqual(nextFetch([batch(0)], batching, 5), batching);
  });

  it('wraps the kafkajs it was written for: the version is pinned exactly, installed, and its consumer group has the fetch and the two settings it changes', () => {
    const require = createRequire(import.meta.url);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string> };
    assert.equal(pkg.dependencies.kafkajs, KAFKAJS_WRAPPED_VERSION, 'package.json pins kafkajs to the wrapped version (no range)');
    assert.equal((require('kafkajs/package.json') as { version: string }).version, KAFKAJS_WRAPPED_VERSION);
    const source = readFileSync(require.resolve('kafkajs/src/consumer/consumerGroup.js'), 'utf8');
    for (const read of ['async fetch(nodeId)', 'maxWaitTime: this.maxWaitTime', 'minBytes: this.minBytes'])
      assert.ok(source.includes(read), `consumerGroup.js still has ${read}`);
    assert.equal(longPollWhenIdle('unit-wrap-check', 500), true);
    assert.equal(longPollWhenIdle('unit-wrap-check', 0), true);
  });
});
