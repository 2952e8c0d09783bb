import assert from 'node:assert/strict';
import { backendOps, ladder, pairedLadder, warmedUp } from '../../bench/scenarios/e2e.js';
import type { Step } from '../../bench/lib/report.js';
import { formatSpread, spread, summarize } from '../../bench/lib/stats.js';
import { bucketsIn, quantileBetween } from '../../bench/lib/histogram.js';
import { sendsDue } from '../../bench/lib/open-loop.js';
import { groupBySteal } from '../../bench/by-steal.js';
import { coresBetween, cpuSnapshot, runQueueSeconds, type CpuSnapshot } from '../../bench/lib/cpu.js';

describe('bench: figures', () => {
  it('groups earlier steps by system, rate and the steal during the step, with the median p99 and the share within each bar', () => {
    const step = (system: string, offeredPerSec: number, steal: number | undefined, p99: number): Step => ({
      system,
      offeredPerSec,
      achievedPerSec: offeredPerSec,
      lost: 0,
      latency: { count: 1, p50: 1, p95: 1, p99, max: p99, mean: 1 },
      ...(steal === undefined ? {} : { cpuCores: { steal } as Step['cpuCores'] }),
    });
    const groups = groupBySteal([
      step('b', 1000, 0.05, 10),
      step('b', 1000, 0.0, 30),
      step('b', 1000, 0.09, 12),
      step('b', 1000, 0.1, 150), // the band's lower bound belongs to it
      step('a', 2000, 0.5, 25),
      step('a', 1000, undefined, 1), // no steal recorded (older runs): left out
    ]);
    assert.deepEqual(
      groups.map((g) => [g.system, g.offeredPerSec, g.band[0], g.steps, g.medianP99, g.within20, g.within100]),
      [
        ['a', 2000, 0.3, 1, 25, 0, 1],
        ['b', 1000, 0, 3, 12, 0.67, 1],
        ['b', 1000, 0.1, 1, 150, 0, 0],
      ],
    );
  });

  it('warms fresh processes up until their CPU per message stops falling, two slices at least and no more than the most allowed', () => {
    assert.equal(warmedUp([]), false);
    assert.equal(warmedUp([2.0]), false);
    // Still falling by more than a tenth: another slice.
    assert.equal(warmedUp([2.0, 1.5]), false);
    assert.equal(warmedUp([2.0, 1.5, 1.2]), false);
    // Within a tenth of the slice before, or higher: settled.
    assert.equal(warmedUp([2.0, 1.5, 1.4]), true);
    assert.equal(warmedUp([1.0, 1.1]), true);
    // A slice that delivered nothing has no figure: not settled on its account.
    assert.equal(warmedUp([1.0, NaN]), false);
    assert.equal(warmedUp([NaN, 1.0]), false);
    // Never more than the most slices allowed, settled or not.
    assert.equal(warmedUp([8, 4, 2], 3), true);
    assert.equal(warmedUp([8, 4], 3), false);
  });

  it('sends each message of the open-loop schedule at its intended time, not one interval later, and no more than the run holds', () => {
    // 5 msg/s: message n is intended at n × 200 ms.
    assert.equal(sendsDue(0, 5, 10_000), 1);
    assert.equal(sendsDue(199, 5, 10_000), 1);
    assert.equal(sendsDue(200, 5, 10_000), 2);
    assert.equal(sendsDue(9_999, 5, 10_000), 50);
    assert.equal(sendsDue(60_000, 5, 10_000), 50);
    assert.equal(sendsDue(10_000, 1000, 10_000), 10_000);
    assert.equal(sendsDue(0.5, 1000, 10_000), 1);
    assert.equal(sendsDue(1, 1000, 10_000), 2);
    // A rate that does not divide the run: the sends intended before its end (0, 333.3 … 9,999.9 ms).
    assert.equal(sendsDue(20_000, 3, 10_000), 30);
    assert.equal(sendsDue(20_000, 7, 1_000), 7);
  });

  it('averages successful operations per backend and op, with their counts, ignoring errors and other metrics', () => {
    const text = [
      'switchboard_message_backend_seconds_bucket{le="0.005",service="message",backend="store",op="insertMessages",result="ok"} 3',
      'switchboard_message_backend_seconds_sum{service="message",backend="store",op="insertMessages",result="ok"} 0.03',
      'switchboard_message_backend_seconds_count{service="message",backend="store",op="insertMessages",result="ok"} 4',
      'switchboard_message_backend_seconds_sum{service="message",backend="store",op="insertMessages",result="error"} 9',
      'switchboard_message_backend_seconds_count{service="message",backend="store",op="insertMessages",result="error"} 1',
      'switchboard_message_backend_seconds_sum{service="message",backend="log",op="append",result="ok"} 1.5e-2',
      'switchboard_message_backend_seconds_count{service="message",backend="log",op="append",result="ok"} 3',
      'switchboard_message_backend_seconds_sum{service="message",backend="presence",op="lookup",result="ok"} 0',
      'switchboard_message_backend_seconds_count{service="message",backend="presence",op="lookup",result="ok"} 0',
      'switchboard_message_store_latency_seconds_sum{service="message"} 12',
    ].join('\n');
    assert.deepEqual(backendOps(text), { 'log.append': { mean: 5, count: 3 }, 'store.insertMessages': { mean: 7.5, count: 4 } });
  });

  it('reads the quantile of what a histogram observed between two scrapes, of the series with the given labels', () => {
    const scrape = (counts: [string, number][], other = 0) =>
      [
        ...counts.map(([le, n]) => `h_seconds_bucket{le="${le}",service="message",op="append"} ${n}`),
        `h_seconds_bucket{le="+Inf",service="message",op="insert"} ${other}`,
        `h_seconds_sum{service="message",op="append"} 1`,
      ].join('\n');
    const before = bucketsIn(
      scrape(
        [
          ['0.001', 10],
          ['0.01', 10],
          ['+Inf', 10],
        ],
        5,
      ),
      'h_seconds',
      { op: 'append' },
    );
    // 100 observations since: 90 up to 1 ms, 9 in (1, 10] ms, 1 above 10 ms.
    const after = bucketsIn(
      scrape(
        [
          ['0.001', 100],
          ['0.01', 109],
          ['+Inf', 110],
        ],
        500,
      ),
      'h_seconds',
      { op: 'append' },
    );
    assert.deepEqual(
      [...after.entries()],
      [
        [0.001, 100],
        [0.01, 109],
        [Infinity, 110],
      ],
    );
    assert.equal(quantileBetween(before, after, 0.5), (0.001 * 50) / 90);
    // rank 95: the 5th of the 9 in (1, 10] ms, interpolated.
    assert.ok(Math.abs(quantileBetween(before, after, 0.95) - (0.001 + (0.009 * 5) / 9)) < 1e-12);
    // rank 99.5 lands in +Inf: the highest finite bound.
    assert.equal(quantileBetween(before, after, 0.995), 0.01);
    assert.ok(Number.isNaN(quantileBetween(after, after, 0.99)));
  });

  it('tells where the CPU went between two snapshots, in cores, and reads this machine and its own process', () => {
    const at = (t: number, k: number): CpuSnapshot => ({
      at: t,
      system: 1 * k,
      processes: [0.8 * k, 0.2 * k],
      waits: [0.3 * k, 0],
      loadgen: 0.2 * k,
      backends: { kafka: 0.5 * k, redis: 0.05 * k, ferretdb: 0, postgresql: 0.1 * k },
      machine: { busy: 2 * k, steal: 0.01 * k },
    });
    // Two seconds apart, k doubling from 1 to 2: each figure's increment over 2 s.
    assert.deepEqual(coresBetween(at(1000, 1), at(3000, 2)), {
      system: 0.5,
      processes: [0.4, 0.1],
      waiting: [0.15, 0],
      loadgen: 0.1,
      kafka: 0.25,
      redis: 0.03,
      ferretdb: 0,
      postgresql: 0.05,
      machine: 1,
      steal: 0.01,
    });
    // Spin until this process's CPU time moves (clock ticks), for at most 2 s.
    const now = cpuSnapshot([process.pid], []);
    let later = now;
    const until = performance.now() + 2000;
    while (later.system === now.system && performance.now() < until) later = cpuSnapshot([process.pid], []);
    assert.ok(later.system > now.system, 'this process used CPU');
    const [mine, gone] = runQueueSeconds([process.pid, 2 ** 22 + 1]);
    assert.ok(Number.isFinite(mine) && mine! >= 0, `run-queue wait of this process: ${mine}`);
    assert.equal(gone, 0, 'a process that does not exist waited 0');
    assert.ok(later.machine.busy >= later.system - now.system + now.machine.busy - 0.05, 'the machine was busy at least that long');
  });

  it('median and range of repetitions', () => {
    assert.deepEqual(spread([3, 1, 2]), { median: 2, min: 1, max: 3, n: 3 });
    assert.deepEqual(spread([4, 1, 2, 3]), { median: 2.5, min: 1, max: 4, n: 4 });
    assert.equal(formatSpread(spread([2000, 1000, 2000])), '2,000 [1,000–2,000] (n=3)');
  });

  describe('the rate ladder', () => {
    const rates = [100, 200, 500, 1000, 2000];
    /** A system that holds p99 ≤ 100 ms up to `limit` msg/s. */
    const system = (limit: number) => {
      const offered: number[] = [];
      const run = async (rate: number): Promise<Step> => {
        offered.push(rate);
        return { system: 's', offeredPerSec: rate, achievedPerSec: rate, latency: summarize([rate <= limit ? 10 : 500]), lost: 0 };
      };
      return { offered, run };
    };
    it('climbs from the start until a step misses the bar', async () => {
      const s = system(500);
      await ladder(rates, 0, s.run);
      assert.deepEqual(s.offered, [100, 200, 500, 1000]);
    });
    it('goes down from the start until a step passes when the first one misses', async () => {
      const s = system(200);
      await ladder(rates, 3, s.run);
      assert.deepEqual(s.offered, [1000, 500, 200]);
    });
    it('stops at the ends of the ladder', async () => {
      const fast = system(10_000);
      await ladder(rates, 2, fast.run);
      assert.deepEqual(fast.offered, [500, 1000, 2000]);
      const slow = system(0);
      await ladder(rates, 1, slow.run);
      assert.deepEqual(slow.offered, [200, 100]);
    });
    it('bisects between the rung sustained and the one missed, climbing or descending', async () => {
      const up = system(1600);
      await ladder(rates, 2, up.run, 2);
      assert.deepEqual(up.offered, [500, 1000, 2000, 1500, 1750]);
      const down = system(700);
      await ladder(rates, 3, down.run, 3);
      assert.deepEqual(down.offered, [1000, 500, 750, 650]); // 650–750 are within 30 %
    });
    it('bisects at a second bar too: between the highest rate that kept it and the lowest above that missed it', async () => {
      const offered: number[] = [];
      // p99 10 ms up to 700 msg/s, 50 ms up to 1,600, then 500 ms.
      const run = async (rate: number): Promise<Step> => {
        offered.push(rate);
        return { system: 's', offeredPerSec: rate, achievedPerSec: rate, latency: summarize([rate <= 700 ? 10 : rate <= 1600 ? 50 : 500]), lost: 0 };
      };
      const sustained = (s: Step) => s.latency.p99 <= 100 && s.lost === 0;
      const tight = (s: Step) => s.latency.p99 <= 20 && s.lost === 0;
      await ladder(rates, 2, run, 1, [sustained, tight]);
      assert.deepEqual(offered, [500, 1000, 2000, 1500, 750]);
    });
    describe('side by side', () => {
      /** Systems that hold p99 ≤ 100 ms up to their limits, logging every step they run as name@rate. */
      const systems = (limits: Record<string, number>) => {
        const log: string[] = [];
        const runs = Object.entries(limits).map(([name, limit]) => async (rate: number): Promise<Step> => {
          log.push(`${name}@${rate}`);
          return { system: name, offeredPerSec: rate, achievedPerSec: rate, latency: summarize([rate <= limit ? 10 : 500]), lost: 0 };
        });
        return { log, runs };
      };
      it('runs every system at every rate, back to back in alternating order, and climbs while any passes', async () => {
        const s = systems({ a: 500, b: 1000 });
        const steps = await pairedLadder(rates, 0, s.runs);
        assert.deepEqual(s.log, ['a@100', 'b@100', 'b@200', 'a@200', 'a@500', 'b@500', 'b@1000', 'a@1000', 'a@2000', 'b@2000']);
        assert.deepEqual(
          steps.map((own) => own.map((st) => st.system)),
          [
            ['a', 'a', 'a', 'a', 'a'],
            ['b', 'b', 'b', 'b', 'b'],
          ],
        );
      });
      it('climbs for the one that passes at the start and descends for the one that missed until it passes', async () => {
        const s = systems({ a: 200, b: 1000 });
        await pairedLadder(rates, 3, s.runs);
        assert.deepEqual(s.log, ['a@1000', 'b@1000', 'b@2000', 'a@2000', 'a@500', 'b@500', 'b@200', 'a@200']);
      });
      it('bisects for each system, each bisection step run by every system still undecided at its rate', async () => {
        // a: 750 lies between what it passed (500) and missed (1,000); b passed 1,000, so 750 tells b nothing.
        const apart = systems({ a: 700, b: 1600 });
        const steps = await pairedLadder(rates, 2, apart.runs, 1);
        assert.deepEqual(
          steps.map((own) => own.map((st) => st.offeredPerSec)),
          [
            [500, 1000, 2000, 750],
            [500, 1000, 2000, 1500],
          ],
        );
        // Both between 1,000 (passed) and 2,000 (missed): a's bisection step, 1,500, is b's too; b's
        // next one, 1,750, lies above what a missed there.
        const close = systems({ a: 1300, b: 1600 });
        const both = await pairedLadder(rates, 2, close.runs, 1);
        assert.deepEqual(
          both.map((own) => own.map((st) => st.offeredPerSec)),
          [
            [500, 1000, 2000, 1500],
            [500, 1000, 2000, 1500, 1750],
          ],
        );
      });
    });
    it('does not bisect rungs within 30 % of each other, past the top, or below the bottom', async () => {
      const close = system(1100);
      await ladder([1000, 1200, 1400], 0, close.run, 2);
      assert.deepEqual(close.offered, [1000, 1200]);
      const fast = system(10_000);
      await ladder(rates, 3, fast.run, 2);
      assert.deepEqual(fast.offered, [1000, 2000]);
      const slow = system(0);
      await ladder(rates, 0, slow.run, 2);
      assert.deepEqual(slow.offered, [100]);
    });
  });
});
