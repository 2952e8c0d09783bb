import { randomBytes } from 'node:crypto';
import { createMongoStore } from '../../services/message/adapters/mongo-store.js';
import type { MessageStore } from '../../services/message/adapters/store.js';
import { createLogger } from '../../services/shared/logger.js';
import { ferretOn } from '../../test/support/real-backends.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, spread } from '../lib/stats.js';
import { cpuSnapshot } from '../lib/cpu.js';
import type { Message } from '../../services/shared/message.js';

export interface StoreOptions {
  /** FerretDB backends to measure. */
  storages: Array<'postgresql' | 'sqlite'>;
  reps: number;
  durationMs: number;
  progress: (line: string) => void;
}

/**
 * The consumer's store writes alone, through Message's own MongoDB store adapter, at full speed:
 * how many messages per second the MongoDB stand-in takes when each write of `size` messages
 * names `size` conversations (1:1 traffic over many pairs: one index statement per message) or
 * one (a busy conversation: one index statement per write), with `inFlight` writes at once (the
 * consumer runs up to 4). This is the ceiling the real-backend variant of e2e cannot pass.
 */
const SHAPES: ReadonlyArray<{ name: string; size: number; conversations: number; inFlight: number }> = [
  { name: '64 messages in 64 conversations, 1 write in flight', size: 64, conversations: 64, inFlight: 1 },
  { name: '64 messages in 64 conversations, 4 writes in flight', size: 64, conversations: 64, inFlight: 4 },
  { name: '64 messages in 1 conversation, 4 writes in flight', size: 64, conversations: 1, inFlight: 4 },
];

/**
 * Messages per second stored by writes of one shape during `durationMs`, and the CPU milliseconds
 * per stored message of FerretDB with its PostgreSQL or SQLite (every process of theirs) and of
 * this process (Message's store adapter and the MongoDB driver).
 */
async function measure(
  store: MessageStore,
  shape: (typeof SHAPES)[number],
  durationMs: number,
): Promise<{ rate: number; serverCpuMs: number; clientCpuMs: number }> {
  const tag = randomBytes(3).toString('hex');
  const seqs = new Map<string, number>();
  let stored = 0;
  // Each writer has conversations of its own, as the consumer's writes in flight hold different partitions.
  const write = async (writer: number): Promise<void> => {
    const list: Message[] = [];
    for (let i = 0; i < shape.size; i++) {
      const pair = `${tag}-${writer}-${i % shape.conversations}`;
      const conversation = `dm:${pair}a:${pair}b`;
      const seq = (seqs.get(conversation) ?? 0) + 1;
      seqs.set(conversation, seq);
      list.push({
        msgId: `${tag}-${conversation}-${seq}`,
        conversation,
        seq,
        from: `${tag}-a`,
        to: `${tag}-b`,
        body: 'x'.repeat(100),
        ts: Date.now(),
        clientId: `${seq}`,
      });
    }
    const members = new Map(list.map((m) => [m.conversation, m.conversation.split(':').slice(1)]));
    stored += await store.insertMessages(list, members);
  };
  const before = cpuSnapshot([process.pid], []);
  const t0 = performance.now();
  const end = t0 + durationMs;
  await Promise.all(
    Array.from({ length: shape.inFlight }, async (_, writer) => {
      while (performance.now() < end) await write(writer);
    }),
  );
  const elapsed = performance.now() - t0;
  const after = cpuSnapshot([process.pid], []);
  const server = (c: typeof before) => c.backends.ferretdb + c.backends.postgresql;
  const perMessage = (seconds: number) => Math.round((seconds * 1000 * 1000) / Math.max(1, stored)) / 1000;
  return { rate: (stored * 1000) / elapsed, serverCpuMs: perMessage(server(after) - server(before)), clientCpuMs: perMessage(after.system - before.system) };
}

export async function storeScenario(o: StoreOptions): Promise<ScenarioResult> {
  const figures: Record<string, number | string> = {};
  const logger = createLogger('bench-store', 'warn');
  for (const storage of o.storages) {
    const label = `FerretDB/${storage === 'postgresql' ? 'PostgreSQL' : 'SQLite'}`;
    const store = createMongoStore({ uri: (await ferretOn(storage)).mongodbUri, database: `bench_store_${randomBytes(3).toString('hex')}`, logger });
    await store.start();
    try {
      const perShape = new Map<string, Array<Awaited<ReturnType<typeof measure>>>>(SHAPES.map((s) => [s.name, []]));
      for (let rep = 1; rep <= o.reps; rep++) {
        for (const shape of SHAPES) {
          o.progress(`store ${label} rep ${rep}/${o.reps}: ${shape.name}`);
          perShape.get(shape.name)!.push(await measure(store, shape, o.durationMs));
        }
      }
      for (const [name, runs] of perShape) {
        figures[`${label}: messages stored per second, writes of ${name}, median [range]`] = formatSpread(spread(runs.map((r) => r.rate)));
        figures[
          `${label}: CPU ms per stored message, FerretDB + its ${storage === 'postgresql' ? 'PostgreSQL' : 'SQLite'} / the store adapter's process, writes of ${name}, median [range]`
        ] = `${formatSpread(spread(runs.map((r) => r.serverCpuMs)), 3)} / ${formatSpread(spread(runs.map((r) => r.clientCpuMs)), 3)}`;
      }
    } finally {
      await store.stop();
    }
  }
  return {
    name: 'Store ceiling (the MongoDB stand-in alone)',
    description:
      "The consumer's store writes alone, at full speed, through Message's own MongoDB store adapter (an ordered insert of the messages, then one insert of the write's conversation activity, which a timer folds into the conversation index every second: the newer heads inserted, the older ones and the folded activity deleted): messages stored per second when a write's messages are each in a conversation of their own, as 1:1 traffic over many pairs is, or all in one. The real-backend variant of the end-to-end scenario cannot store faster than this.",
    settings: { reps: o.reps, seconds: o.durationMs / 1000, storages: o.storages.join('/') },
    figures,
    ratios: {},
    notes: [],
  };
}
