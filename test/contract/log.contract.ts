import assert from 'node:assert/strict';
import type { LogBatch, MessageLog, SendEntry } from '../../services/message/adapters/log.js';
import { eventually } from '../support/services.js';

export interface LogFixture {
  /** A new log client on the same topic and group (a second process, or a restart). */
  open(): Promise<MessageLog>;
  close(): Promise<void>;
}

const entry = (conversation: string, n: number): SendEntry => ({
  msgId: `${conversation}#${n}`, conversation, from: 'a', to: 'b', body: String(n), ts: n, clientId: `c${n}`, originInstance: '', originConnection: '',
});

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
      await Promise.all(convs.map(async (c) => {
        for (let i = 1; i <= 25; i++) await log.append(entry(c, i));
      }));
      await eventually('all consumed', () => convs.every((c) => (seen.get(c)?.length ?? 0) >= 25), 30_000);
      for (const c of convs) assert.deepEqual(seen.get(c), Array.from({ length: 25 }, (_, i) => i + 1), c);
      await eventually('healthy', () => log.health().ok, 10_000);
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

    it('tells its consumer which partitions it owns: every one for a lone member, none once it stops consuming', async () => {
      const log = await open();
      const assignments: number[][] = [];
      await log.consume(async () => {}, (partitions) => assignments.push([...partitions].sort()));
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
