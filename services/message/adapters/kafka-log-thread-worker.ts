import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../shared/logger.js';
import { UnavailableError } from '../../shared/errors.js';
import { createKafkaLog } from './kafka-log.js';
import type { FromThread, KafkaThreadData, ThreadError, ToThread } from './kafka-log-thread.js';

/** The Kafka thread of createKafkaLogOnThread: the Kafka log, driven by the main thread's messages. */
const port = parentPort;
if (!port) throw new Error('kafka-log-thread-worker runs as a worker thread');
const data = workerData as KafkaThreadData;
const logger = createLogger(data.log.name, data.log.level, data.log.format).child({ backend: 'kafka', thread: 'kafka' });
const log = createKafkaLog({ ...data.options, logger });
const send = (m: FromThread): void => port.postMessage(m);
const threadError = (err: unknown): ThreadError => ({ message: err instanceof Error ? err.message : String(err), unavailable: err instanceof UnavailableError });

/** Health and request counts as the main thread last saw them: sent again when they change. */
let lastStatus = '';
function sendStatus(): void {
  const status: FromThread = { t: 'status', health: log.health(), requests: [...(log.requestCounts?.() ?? [])], restarts: log.consumerRestarts?.() ?? 0 };
  const json = JSON.stringify(status);
  if (json === lastStatus) return;
  lastStatus = json;
  send(status);
}
setInterval(sendStatus, 250).unref();

/** Batches handed to the main thread's pipeline, by id, until it answers. */
const handling = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
let nextBatch = 1;

/** The outcomes of this turn's appends go back as one message. */
let acks: { id: number; error?: ThreadError }[] = [];
const ack = (a: { id: number; error?: ThreadError }): void => {
  if (acks.length === 0) setImmediate(() => {
    const items = acks;
    acks = [];
    send({ t: 'acks', items });
  });
  acks.push(a);
};

const ops = {
  start: () => log.start(),
  consume: () =>
    log.consume(
      (batch) => {
        const id = nextBatch++;
        const done = new Promise<void>((resolve, reject) => handling.set(id, { resolve, reject }));
        send({ t: 'batch', id, batch });
        return done;
      },
      (partitions) => {
        send({ t: 'assignment', partitions: [...partitions] });
        sendStatus();
      },
    ),
  stopConsuming: () => log.stopConsuming(),
  stop: () => log.stop(),
};

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'append':
      for (const { id, entry } of m.items) {
        log.append(entry).then(
          () => ack({ id }),
          (err: unknown) => ack({ id, error: threadError(err) }),
        );
      }
      return;
    case 'handled': {
      const p = handling.get(m.id);
      handling.delete(m.id);
      if (m.error) p?.reject(m.error.unavailable ? new UnavailableError(m.error.message) : new Error(m.error.message));
      else p?.resolve();
      return;
    }
    case 'call':
      // The state the call leaves goes ahead of its reply.
      ops[m.op]().then(
        () => {
          sendStatus();
          send({ t: 'reply', id: m.id });
        },
        (err: unknown) => {
          sendStatus();
          send({ t: 'reply', id: m.id, error: threadError(err) });
        },
      );
      return;
  }
});
