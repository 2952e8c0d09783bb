/**
 * The floor of the end-to-end scenario: a bare kafkajs produce → consume round trip on the same
 * broker, offered open-loop at the same rate (acks from all in-sync replicas, one send per message).
 * One worker serves one repetition: it joins once, then runs the steps it is sent one after another
 * on its topic (a message of an earlier step is never counted: its intended time is before the
 * step's start).
 *
 * A step can also produce through Message's own log adapter (`via: 'message-log'`: the idempotent
 * producer, one produce in flight, the appends arriving meanwhile sent together in the next), built
 * from Message's configuration defaults, with nothing else of Switchboard around it: what its
 * appends cost against bare kafkajs at the same rate, and so how much of send → `accepted` is the
 * producer's.
 */
import { Kafka, logLevel, type Consumer, type Producer } from 'kafkajs';
import { nowMs } from './stats.js';
import { sendsDue } from './open-loop.js';
import { createBackends } from '../../services/message/backends.js';
import { loadMessageConfig } from '../../services/message/config.js';
import { silentLogger } from '../../services/shared/logger.js';
import type { MessageLog } from '../../services/message/adapters/log.js';

/** How a step's messages are produced: bare kafkajs, one send each, or Message's log adapter. */
export type FloorVia = 'kafkajs' | 'message-log';

export type FloorCommand =
  | { cmd: 'open'; brokers: string[]; topic: string }
  | { cmd: 'run'; ratePerSec: number; durationMs: number; warmupMs: number; via: FloorVia }
  | { cmd: 'close' };

export type FloorReply =
  { type: 'opened' } | { type: 'result'; latencies: number[]; ackLatencies: number[]; measuredSent: number } | { type: 'error'; error: string };

let producer: Producer | undefined;
let consumer: Consumer | undefined;
let topic = '';
let brokerList: string[] = [];
/** Message's log adapter on this worker's topic, started at the first step that produces through it. */
let messageLog: MessageLog | undefined;
/** The step being measured: messages intended from `from` on are its own. */
let step: { from: number; latencies: number[] } | undefined;

async function open(brokers: string[], t: string): Promise<void> {
  topic = t;
  brokerList = brokers;
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
      // A bare send's value is its intended time; an append's is Message's log entry, the time in its body.
      const value = message.value!.toString();
      const intended = Number(value.startsWith('{') ? (JSON.parse(value) as { body: string }).body : value);
      if (step && intended >= step.from) step.latencies.push(nowMs() - intended);
    },
  });
  while (!joined) await new Promise((res) => setTimeout(res, 50));
}

/** Message's log adapter as Message builds it from its configuration defaults, on this worker's topic. */
async function startMessageLog(): Promise<MessageLog> {
  const config = loadMessageConfig({ KAFKA_BROKERS: brokerList.join(','), KAFKA_TOPIC: topic, KAFKA_GROUP_ID: `${topic}-message-log` });
  const log = createBackends(config, silentLogger()).log;
  await log.start();
  return log;
}

async function run(r: { ratePerSec: number; durationMs: number; warmupMs: number; via: FloorVia }): Promise<FloorReply> {
  const p = producer!;
  const log = r.via === 'message-log' ? (messageLog ??= await startMessageLog()) : undefined;
  const send = (n: number, intended: number): Promise<unknown> =>
    log
      ? log.append({
          msgId: `floor-${n}-${intended}`,
          conversation: `k${n % 100}`,
          from: 'floor',
          to: 'floor',
          body: String(intended),
          ts: Date.now(),
          clientId: String(n),
          origin: { instance: 'floor', connection: 'floor' },
        })
      : p.send({ topic, acks: -1, messages: [{ key: `k${n % 100}`, value: String(intended) }] });
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
        const acked = send(sent, intended);
        inflight.push(
          acked.then(() => {
            if (measured) ackLatencies.push(nowMs() - intended);
          }),
        );
        sent++;
      }
      if (nowMs() >= end) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  // A produce that failed is a message lost: counted by the caller (sent minus received).
  await Promise.allSettled(inflight);
  // The same drain as the load generators': what has not arrived 2 s after the step is lost.
  const until = nowMs() + 2000;
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
      await messageLog?.stop();
      process.exit(0);
    }
  })().catch((err: unknown) => {
    // Exit only once the report is sent: an exit right after send() can drop it.
    reply({ type: 'error', error: err instanceof Error ? (err.stack ?? err.message) : String(err) }, () => process.exit(1));
  });
});
