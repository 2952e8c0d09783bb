import type { ICustomPartitioner } from 'kafkajs';

/**
 * Kafka's default partitioner for keyed records: murmur2 of the UTF-8 key, positive, modulo the
 * partition count. Both logs use it, so a conversation maps to the same partition on both.
 */
export function partitionOf(key: string | Buffer, partitions: number): number {
  return (murmur2(typeof key === 'string' ? Buffer.from(key, 'utf8') : key) & 0x7fffffff) % partitions;
}

/**
 * The Kafka log's producer partitioner: partitionOf over all of the topic's partitions, the
 * placement of kafkajs's DefaultPartitioner and of the Java client for a keyed record. kafkajs's
 * own murmur2 computes on 64-bit Long objects, several per 4 bytes of key, for every record
 * produced; this one on 32-bit integers. Every log entry is keyed by its conversation.
 */
export const conversationPartitioner: ICustomPartitioner =
  () =>
  ({ topic, partitionMetadata, message }) => {
    if (message.partition !== undefined) return message.partition;
    if (message.key === undefined || message.key === null) throw new Error(`a record for ${topic} has no key; log entries are keyed by their conversation`);
    return partitionOf(message.key, partitionMetadata.length);
  };

/** murmur2 as implemented by the Java Kafka client (seed 0x9747b28c). */
export function murmur2(data: Buffer): number {
  const m = 0x5bd1e995;
  const r = 24;
  const length = data.length;
  let h = 0x9747b28c ^ length;
  const length4 = length >> 2;
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4;
    let k = (data[i4]! & 0xff) | ((data[i4 + 1]! & 0xff) << 8) | ((data[i4 + 2]! & 0xff) << 16) | ((data[i4 + 3]! & 0xff) << 24);
    k = Math.imul(k, m);
    k ^= k >>> r;
    k = Math.imul(k, m);
    h = Math.imul(h, m);
    h ^= k;
  }
  const tail = length & ~3;
  const rest = length % 4;
  if (rest >= 3) h ^= (data[tail + 2]! & 0xff) << 16;
  if (rest >= 2) h ^= (data[tail + 1]! & 0xff) << 8;
  if (rest >= 1) {
    h ^= data[tail]! & 0xff;
    h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}
