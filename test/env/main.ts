/**
 * `make testenv`: provisions (idempotently) and starts real Kafka, FerretDB (on the storage of
 * SWITCHBOARD_FERRETDB_STORAGE, PostgreSQL by default) and Redis on free loopback ports, prints the
 * settings that point Switchboard at them, and stops them on Ctrl-C.
 */
import { LOGS } from './servers.js';
import { privateRealBackends, stopAllRealBackends } from '../support/real-backends.js';

const stop = async (code: number): Promise<void> => {
  process.stdout.write('stopping…\n');
  await stopAllRealBackends();
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
process.stdout.write(`starting Kafka, FerretDB and Redis (logs in ${LOGS})…\n`);
const t0 = Date.now();
try {
  const env = await privateRealBackends();
  process.stdout.write(
    [
      `healthy after ${Date.now() - t0} ms`,
      '',
      'Point Switchboard (or make test) at them:',
      `  export KAFKA_BROKERS=${env.kafkaBrokers} MONGODB_URI=${env.mongodbUri} REDIS_URL=${env.redisUrl}`,
      'Ctrl-C stops them.',
      '',
    ].join('\n'),
  );
} catch (err: unknown) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  await stop(1);
}
setInterval(() => undefined, 1 << 30);
