import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { createKafkaLog } from '../../services/message/adapters/kafka-log.js';
import type { MessageLog } from '../../services/message/adapters/log.js';
import { sharedRealBackends } from '../support/real-backends.js';
import { eventually, testLogger } from '../support/services.js';
import { entry } from '../contract/log.contract.js';
import type { AcceptedSend } from '../../services/shared/message.js';

/**
 * KAFKA_FETCH_IDLE_WAIT on the real broker: an idle log is long-polled (a fetch per idle wait, not
 * per KAFKA_FETCH_MAX_WAIT), and records that come after a quiet spell, one or many, are delivered.
 */
describe('the Kafka log consumer on an idle log', function () {
  this.timeout(90_000);
  const logs: MessageLog[] = [];
  after(async () => {
    for (const l of logs) await l.stop();
  });

  const consuming = async (fetchIdleWaitMs: number): Promise<{ log: MessageLog; seen: AcceptedSend[]; fetches: () => number }> => {
    const { kafkaBrokers } = await sharedRealBackends();
    const t = randomBytes(4).toString('hex');
    const log = createKafkaLog({
      brokers: kafkaBrokers.split(','),
      clientId: `idle-${t}`,
      topic: `idle.${t}`,
      groupId: `idle-${t}`,
      partitions: 3,
      replicationFactor: 1,
      minInsyncReplicas: 1,
      appendTimeoutMs: 10_000,
      fetchMaxWaitMs: 15,
      fetchMinBytes: 8192,
      fetchIdleWaitMs,
      commitIntervalMs: 200,
      maxBatch: 100,
      logger: testLogger('kafka'),
    });
    logs.push(log);
    await log.start();
    const seen: AcceptedSend[] = [];
    let assigned = false;
    await log.consume(
      async (b) => void seen.push(...b.entries),
      (partitions) => (assigned = partitions.length === 3),
    );
    await eventually('the consumer owns the 3 partitions', () => assigned, 30_000);
    await log.append(entry('dm:warm:up', 0));
    await eventually('the first entry is consumed', () => seen.length === 1, 30_000);
    return { log, seen, fetches: () => log.requestCounts?.().get('Fetch') ?? 0 };
  };
  const fetchesIn = async (fetches: () => number, ms: number): Promise<number> => {
    const before = fetches();
    await delay(ms);
    return fetches() - before;
  };

  it('long-polls while idle (a fetch per idle wait, not per 15 ms fetch wait), answers the long poll as soon as an entry comes, and delivers a burst after it in order', async () => {
    // A long idle wait, so that a poll not answered on arrival would show as seconds.
    const idle = await consuming(5000);
    const polling = await consuming(0);
    const [longPolls, shortPolls] = await Promise.all([fetchesIn(idle.fetches, 3000), fetchesIn(polling.fetches, 3000)]);
    assert.ok(longPolls <= 3, `idle for 3 s with 5 s long polls: ${longPolls} fetches`);
    assert.ok(shortPolls >= 60, `idle for 3 s with 15 ms fetches only: ${shortPolls} fetches (the comparison this test rests on)`);

    // Entries after quiet spells: each is fetched by the long poll in progress, not after it.
    for (let i = 1; i <= 3; i++) {
      await delay(1000);
      const n = idle.seen.length;
      await idle.log.append(entry('dm:a:b', i));
      const appended = Date.now();
      await eventually(`entry ${i} after a quiet spell`, () => idle.seen.length === n + 1, 10_000, 5);
      const ms = Date.now() - appended;
      assert.ok(ms < 1500, `entry ${i} consumed ${ms} ms after its append, in a long poll with 4 s left`);
    }

    // A burst: all delivered, each conversation in order.
    const convs = ['dm:a:b', 'dm:a:c', 'dm:b:c'];
    await Promise.all(
      convs.map(async (c) => {
        for (let i = 4; i <= 203; i++) await idle.log.append(entry(c, i));
      }),
    );
    await eventually('the burst', () => idle.seen.length === 4 + 600, 30_000);
    for (const c of convs) {
      const expected = Array.from({ length: 200 }, (_, i) => i + 4);
      assert.deepEqual(
        idle.seen.filter((e) => e.conversation === c).map((e) => e.ts),
        c === 'dm:a:b' ? [1, 2, 3, ...expected] : expected,
        c,
      );
    }
    // And idle again: back to long polls.
    await delay(500);
    assert.ok((await fetchesIn(idle.fetches, 3000)) <= 3, 'long polls again once the burst is consumed');
  });
});
