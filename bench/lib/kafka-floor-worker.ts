/**
 * The floor of the end-to-end scenario: a bare kafkajs produce → consume round trip on the same
 * broker, offered open-loop at the same rate (acks from all in-sync replicas, one send per message).
 */
import { Kafka, logLevel } from 'kafkajs';
import { nowMs } from './stats.js';

interface Run {
  brokers: string[];
  topic: string;
  ratePerSec: number;
  durationMs: number;
  warmupMs: number;
}

process.once('message', (r: Run) => {
  (async () => {
    const kafka = new Kafka({ clientId: 'bench-floor', brokers: r.brokers, logLevel: logLevel.ERROR });
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: r.topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    const consumer = kafka.consumer({ groupId: `${r.topic}-g`, maxWaitTimeInMs: 100 });
    await producer.connect();
    await consumer.connect();
    await consumer.subscribe({ topic: r.topic, fromBeginning: true });
    const latencies: number[] = [];
    // From the intended send time to the produce's acknowledgement (acks from all in-sync replicas).
    const ackLatencies: number[] = [];
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    let measuredSent = 0;
    let start = 0;
    await consumer.run({
      eachMessage: async ({ message }) => {
        const intended = Number(message.value!.toString());
        if (intended >= start + r.warmupMs) latencies.push(nowMs() - intended);
      },
    });
    while (!joined) await new Promise((res) => setTimeout(res, 50));
    start = nowMs();
    const end = start + r.warmupMs + r.durationMs;
    const total = Math.floor(((r.warmupMs + r.durationMs) * r.ratePerSec) / 1000);
    let sent = 0;
    const inflight: Array<Promise<unknown>> = [];
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = Math.min(total, Math.floor(((nowMs() - start) * r.ratePerSec) / 1000));
        while (sent < due) {
          const intended = start + (sent * 1000) / r.ratePerSec;
          const measured = intended >= start + r.warmupMs;
          if (measured) measuredSent++;
          const acked = producer.send({ topic: r.topic, acks: -1, messages: [{ key: `k${sent % 100}`, value: String(intended) }] });
          inflight.push(acked.then(() => void (measured && ackLatencies.push(nowMs() - intended))));
          sent++;
        }
        if (nowMs() >= end) resolve();
        else setTimeout(tick, 1);
      };
      tick();
    });
    await Promise.allSettled(inflight);
    const until = nowMs() + 3000;
    while (latencies.length < measuredSent && nowMs() < until) await new Promise((res) => setTimeout(res, 20));
    await consumer.disconnect();
    await producer.disconnect();
    process.send!({ latencies, ackLatencies, measuredSent }, () => process.exit(0));
  })().catch((err: unknown) => {
    // Exit only once the report is sent: an exit right after send() can drop it.
    process.send!({ error: err instanceof Error ? err.stack ?? err.message : String(err) }, () => process.exit(1));
  });
});
