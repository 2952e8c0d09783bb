/**
 * `make testenv`: provisions (idempotently) and starts real Kafka, FerretDB and Redis on free
 * loopback ports, prints the settings that point Switchboard at them, and stops them on Ctrl-C.
 */
import { createFerretServer, createKafkaServer, createRedisServer, dataDir, LOGS, type ManagedServer } from './servers.js';

const servers: ManagedServer[] = [await createKafkaServer(dataDir('kafka')), await createFerretServer(dataDir('ferretdb')), await createRedisServer(dataDir('redis'))];
process.stdout.write(`starting ${servers.map((s) => s.name).join(', ')} (logs in ${LOGS})…\n`);
const stop = async (): Promise<void> => {
  process.stdout.write('stopping…\n');
  await Promise.allSettled(servers.map((s) => s.stop()));
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
try {
  await Promise.all(
    servers.map(async (s) => {
      const t0 = Date.now();
      await s.start();
      process.stdout.write(`  ${s.name} healthy at ${s.address} (${Date.now() - t0} ms)\n`);
    }),
  );
} catch (err: unknown) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  await Promise.allSettled(servers.map((s) => s.stop()));
  process.exit(1);
}
const [kafka, mongo, redis] = servers as [ManagedServer, ManagedServer, ManagedServer];
process.stdout.write(
  `\nPoint Switchboard (or make test) at them:\n  export KAFKA_BROKERS=${kafka.address} MONGODB_URI=${mongo.address} REDIS_URL=${redis.address}\nCtrl-C stops them.\n`,
);
setInterval(() => undefined, 1 << 30);
