import assert from 'node:assert/strict';
import type { LogBatch, MessageLog } from '../../services/message/adapters/log.js';
import { eventually } from '../support/services.js';
import { partitionOf } from '../../services/message/adapters/partitioner.js';
import type { AcceptedSend } from '../../services/shared/message.js';

export interface LogFixture {
  /** A new log client on the same topic and group (a second process, or a restart). */
  open(): Promise<MessageLog>;
  close(): Promise<void>;
}

/** Entry `n` of `conversation` (its `ts` is `n`, so order can be read back). */
export const entry = (conversation: string, n: number): AcceptedSend => ({
  msgId: `${conversation}#${n}`,
  conversation,
  from: 'a',
  to: 'b',
  body: String(n),
  ts: n,
  clientId: `c${n}`,
  origin: { instance: '', connection: '' },
});

/** Two conversations that the logs' partitioner (3 partitions) puts on different partitions. */
function conversationsOnTwoPartitions(): [string, string] {
  const first = 'dm:p:q';
  for (let i = 0; ; i++) {
    const other = `dm:p${i}:q`;
    if (partitionOf(other, 3) !== partitionOf(first, 3)) return [first, other];
  }
}

/** The behaviour every MessageLog must have, run against each implementation. */
export function logContract(name: string, make: () => Promise<LogFixture>): void {
  describe(`MessageLog contract: ${name}`, function () {
    this.timeout(60_000);
    let f: LogFixture;
    const opened: MessageLog[] = [];
    const open = async (): Promise<MessageLog> => {
      const l = await f.open();
      opened.push(l);
      await l.start();
      return l;
    };
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      for (const l of opened.splice(0)) await l.stop();
      await f.close();
    });

    it('delivers every appended entry, each conversation in append order, and reports healthy', async () => {
      const log = await open();
      const seen = new Map<string, number[]>();
      await log.consume(async (b: LogBatch) => {
        for (const e of b.entries) seen.set(e.conversation, [...(seen.get(e.conversation) ?? []), e.ts]);
      });
      const convs = ['dm:a:b', 'dm:a:c', 'dm:b:c', 'dm:c:d'];
      await Promise.all(
        convs.map(async (c) => {
          for (let i = 1; i <= 25; i++) await log.append(entry(c, i));
        }),
      );
      await eventually('all consumed', () => convs.every((c) => (seen.get(c)?.length ?? 0) >= 25), 30_000);
      for (const c of convs)
        assert.deepEqual(
          seen.get(c),
          Array.from({ length: 25 }, (_, i) => i + 1),
          c,
        );
      await eventually('healthy', () => log.health().ok, 10_000);
    });

    it("puts each conversation on the partition partitionOf names (Kafka's placement of a keyed record), over the partitions it says it has", async () => {
      const unstarted = await f.open();
      opened.push(unstarted);
      assert.throws(() => unstarted.partitions(), /not known yet|has not started/, 'not known before the start');
      const log = await open();
      assert.equal(log.partitions(), 3);
      const placed = new Map<string, Set<number>>();
      await log.consume(async (b: LogBatch) => {
        for (const e of b.entries) placed.set(e.conversation, (placed.get(e.conversation) ?? new Set()).add(b.partition));
      });
      const convs = Array.from({ length: 12 }, (_, i) => `dm:place${i}:q`);
      assert.equal(new Set(convs.map((c) => partitionOf(c, 3))).size, 3, 'the conversations cover every partition');
      for (const c of convs) await log.append(entry(c, 1));
      await eventually('all consumed', () => convs.every((c) => placed.has(c)), 30_000);
      for (const c of convs) assert.deepEqual([...placed.get(c)!], [partitionOf(c, 3)], c);
    });

    it('redelivers a batch whose handler failed, and nothing after it is skipped', async () => {
      const log = await open();
      const seen: number[] = [];
      let failures = 0;
      await log.consume(async (b: LogBatch) => {
        if (b.entries.some((e) => e.ts === 3) && failures === 0) {
          failures++;
          throw new Error('store down');
        }
        for (const e of b.entries) seen.push(e.ts);
      });
      for (let i = 1; i <= 6; i++) await log.append(entry('dm:r:s', i));
      await eventually('all consumed', () => new Set(seen).size === 6, 30_000);
      assert.equal(failures, 1);
      assert.deepEqual([...new Set(seen)], [1, 2, 3, 4, 5, 6]);
    });

    it('resumes after the committed offset when consumption stops and starts again', async () => {
      const first = await open();
      const seen: number[] = [];
      await first.consume(async (b) => {
        for (const e of b.entries) seen.push(e.ts);
      });
      // One entry consumed first, so that the rest come in later batches than the first one.
      await first.append(entry('dm:x:y', 1));
      await eventually('the first', () => seen.length === 1, 30_000);
      for (let i = 2; i <= 5; i++) await first.append(entry('dm:x:y', i));
      await eventually('first five', () => seen.length === 5, 30_000);
      await first.stopConsuming();
      const second = await open();
      for (let i = 6; i <= 8; i++) await second.append(entry('dm:x:y', i));
      const later: number[] = [];
      await second.consume(async (b) => {
        for (const e of b.entries) later.push(e.ts);
      });
      await eventually('the rest', () => later.length >= 3, 30_000);
      assert.deepEqual(later, [6, 7, 8]);
    });

    it("holds no other partition back while one partition's batch is slow to handle, and keeps that partition's order", async () => {
      const log = await open();
      const [slow, quick] = conversationsOnTwoPartitions();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const seen = new Map<string, number[]>();
      await log.consume(async (b) => {
        if (b.entries.some((e) => e.conversation === slow)) await gate;
        for (const e of b.entries) seen.set(e.conversation, [...(seen.get(e.conversation) ?? []), e.ts]);
      });
      await log.append(entry(slow, 1));
      // Appended one by one, so that they come in fetches after the one that brought the slow batch.
      for (let i = 1; i <= 5; i++) {
        await log.append(entry(quick, i));
        await eventually(`${quick} #${i} while ${slow} waits`, () => (seen.get(quick)?.length ?? 0) === i, 20_000);
      }
      for (let i = 2; i <= 4; i++) await log.append(entry(slow, i));
      assert.equal(seen.get(slow), undefined, 'the slow batch is not done');
      release();
      await eventually('the slow partition caught up', () => (seen.get(slow)?.length ?? 0) >= 4, 30_000);
      assert.deepEqual(seen.get(slow), [1, 2, 3, 4]);
      assert.deepEqual(seen.get(quick), [1, 2, 3, 4, 5]);
    });

    it('when consumption stops during a batch, finishes and commits it; the entries after it go to the next consumer', async () => {
      const first = await open();
      const [conv] = conversationsOnTwoPartitions();
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let entered!: () => void;
      const handling = new Promise<void>((r) => (entered = r));
      const seen: number[] = [];
      await first.consume(async (b) => {
        entered();
        await gate;
        for (const e of b.entries) seen.push(e.ts);
      });
      await first.append(entry(conv, 1));
      await handling;
      for (let i = 2; i <= 4; i++) await first.append(entry(conv, i));
      const stopped = first.stopConsuming();
      release();
      await stopped;
      assert.deepEqual(seen.slice(0, 1), [1], 'the batch being handled when it stopped was finished');
      const second = await open();
      const later: number[] = [];
      await second.consume(async (b) => {
        for (const e of b.entries) later.push(e.ts);
      });
      await eventually('the rest', () => new Set([...seen, ...later]).size === 4, 30_000);
      // Each entry once, in order: the finished batch was committed (not given again), and what the
      // first consumer had not handled went to the second.
      assert.deepEqual([...seen, ...later], [1, 2, 3, 4]);
    });

    it('tells its consumer which partitions it owns: every one for a lone member, none once it stops consuming', async () => {
      const log = await open();
      const assignments: number[][] = [];
      await log.consume(
        async () => {},
        (partitions) => assignments.push([...partitions].sort()),
      );
      await eventually('assigned', () => assignments.length > 0, 30_000);
      assert.deepEqual(assignments.at(-1), [0, 1, 2]);
      await log.stopConsuming();
      await eventually('revoked', () => assignments.at(-1)?.length === 0, 30_000);
    });

    it('refuses appends after stop with UNAVAILABLE', async () => {
      const log = await open();
      await log.stop();
      await assert.rejects(log.append(entry('dm:z:z', 1)), { code: 'UNAVAILABLE' });
    });
  });
}
