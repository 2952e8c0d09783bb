/**
 * The floor of the end-to-end scenario: a bare kafkajs produce → consume round trip on the same
 * broker, offered open-loop at the same rate (acks from all in-sync replicas, one send per message).
 * One worker serves one repetition: it joins once, then runs the steps it is sent one after another
 * on its topic (a message of an earlier step is never counted: its intended time is before the
 * step's start).
 */
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { nowMs } from './stats.js';
import { sendsDue } from './open-loop.js';

export type FloorCommand =
  | { cmd: 'open'; brokers: string[]; topic: string }
  | { cmd: 'run'; ratePerSec: number; durationMs: number; warmupMs: number }
  | { cmd: 'close' };

export type FloorReply =
  | { type: 'opened' }
  | { type: 'result'; latencies: number[]; ackLatencies: number[]; measuredSent: number }
  | { type: 'error'; error: string };

let producer: Producer | undefined;
let consumer: Consumer | undefined;
let topic = '';
/** The step being measured: messages intended from `from` on are its own. */
let step: { from: number; latencies: number[] } | undefined;

async function open(brokers: string[], t: string): Promise<void> {
  topic = t;
  const kafka = new Kafka({ clientId: 'bench-floor', brokers, logLevel: logLevel.ERROR });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 6, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  producer = kafka.producer({ allowAutoTopicCreation: false });
  consumer = kafka.consumer({ groupId: `${topic}-g`, maxWaitTimeInMs: 100 });
  await producer.connect();
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
  await consumer.run({
    eachMessage: async ({ message }) => {
      const intended = Number(message.value!.toString());
      if (step && intended >= step.from) step.latencies.push(nowMs() - intended);
    },
  });
  while (!joined) await new Promise((res) => setTimeout(res, 50));
}

async function run(r: { ratePerSec: number; durationMs: number; warmupMs: number }): Promise<FloorReply> {
  const p = producer!;
  const start = nowMs();
  const latencies: number[] = [];
  step = { from: start + r.warmupMs, latencies };
  // From the intended send time to the produce's acknowledgement (acks from all in-sync replicas).
  const ackLatencies: number[] = [];
  const end = start + r.warmupMs + r.durationMs;
  let sent = 0;
  let measuredSent = 0;
  const inflight: Array<Promise<unknown>> = [];
  await new Promise<void>((resolve) => {
    const tick = () => {
      const due = sendsDue(nowMs() - start, r.ratePerSec, end - start);
      while (sent < due) {
        const intended = start + (sent * 1000) / r.ratePerSec;
        const measured = intended >= start + r.warmupMs;
        if (measured) measuredSent++;
        const acked = p.send({ topic, acks: -1, messages: [{ key: `k${sent % 100}`, value: String(intended) }] });
        inflight.push(acked.then(() => void (measured && ackLatencies.push(nowMs() - intended))));
        sent++;
      }
      if (nowMs() >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  // A produce that failed is a message lost: counted by the caller (sent minus received).
  await Promise.allSettled(inflight);
  const until = nowMs() + 3000;
  while (latencies.length < measuredSent && nowMs() < until) await new Promise((res) => setTimeout(res, 20));
  step = undefined;
  return { type: 'result', latencies, ackLatencies, measuredSent };
}

const reply = (m: FloorReply, then: () => void = () => undefined): void => void process.send!(m, then);

process.on('message', (c: FloorCommand) => {
  (async () => {
    if (c.cmd === 'open') {
      await open(c.brokers, c.topic);
      reply({ type: 'opened' });
    } else if (c.cmd === 'run') {
      reply(await run(c));
    } else {
      await consumer?.disconnect();
      await producer?.disconnect();
      process.exit(0);
    }
  })().catch((err: unknown) => {
    // Exit only once the report is sent: an exit right after send() can drop it.
    reply({ type: 'error', error: err instanceof Error ? err.stack ?? err.message : String(err) }, () => process.exit(1));
  });
});
