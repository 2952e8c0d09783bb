import assert from 'node:assert/strict';
import { nextFetch, type FetchedBatch } from '../../services/message/adapters/kafka-idle-fetch.js';

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
});
