import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { conversationPartitioner, murmur2, partitionOf } from '../../services/message/adapters/partitioner.js';

const metadata = (n: number): PartitionMetadata[] =>
  Array.from({ length: n }, (_, i) => ({ partitionId: i, leader: i === 1 ? -1 : 0, replicas: [0], isr: [0], offlineReplicas: [], partitionErrorCode: 0 }));

describe('partitioner', () => {
  it('matches the Java Kafka client murmur2 test vectors', () => {
    const cases: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, want] of cases) assert.equal(murmur2(Buffer.from(key)), want, key);
  });

  it('maps a key to the same partition in range', () => {
    for (const key of ['dm:1:2', 'dm:a:b', 'x']) {
      const p = partitionOf(key, 12);
      assert.ok(p >= 0 && p < 12);
      assert.equal(partitionOf(key, 12), p);
    }
  });

  it("places every keyed record where kafkajs's default partitioner does, over all partitions (a leaderless one too)", () => {
    const ours = conversationPartitioner();
    const theirs = Partitioners.DefaultPartitioner();
    const keys = [
      'dm:1001:1002',
      'grp:team-x',
      'dm:é:ü',
      ...Array.from(
        { length: 500 },
        (_, i) =>
          `dm:${createHash('sha256')
            .update(String(i))
            .digest('base64url')
            .slice(0, 1 + (i % 40))}:u${i}`,
      ),
    ];
    for (const n of [1, 2, 3, 7, 12, 64]) {
      const partitionMetadata = metadata(n);
      for (const key of keys) {
        const args = { topic: 't', partitionMetadata, message: { key, value: 'v' } };
        assert.equal(ours(args), theirs(args), `${key} over ${n} partitions`);
        assert.equal(ours(args), partitionOf(key, n));
      }
    }
  });

  it("keeps a record's own partition, and refuses a record without a key", () => {
    const ours = conversationPartitioner();
    assert.equal(ours({ topic: 't', partitionMetadata: metadata(12), message: { key: 'dm:a:b', value: 'v', partition: 5 } }), 5);
    assert.throws(() => ours({ topic: 't', partitionMetadata: metadata(12), message: { key: null, value: 'v' } }), /no key/);
  });
});
