import assert from 'node:assert/strict';
import { murmur2, partitionOf } from '../../services/message/adapters/partitioner.js';

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
});
