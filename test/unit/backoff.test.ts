import assert from 'node:assert/strict';
import { Backoff, DEFAULT_BACKOFF, ReconnectPolicy } from '../../services/shared/backoff.js';
import { retryUntil } from '../../services/shared/retry.js';

describe('Backoff (gRPC connection-backoff spec)', () => {
  it('grows by 1.6 from 1 s with no jitter when random is 0.5', () => {
    const b = new Backoff(DEFAULT_BACKOFF, () => 0.5);
    assert.deepEqual(
      Array.from({ length: 6 }, () => b.next()),
      [1000, 1600, 2560, 4096, 6554, 10486],
    );
  });

  it('applies ±20 % jitter at the extremes of the random source', () => {
    const low = new Backoff(DEFAULT_BACKOFF, () => 0);
    const high = new Backoff(DEFAULT_BACKOFF, () => 0.999999);
    assert.deepEqual([low.next(), low.next(), low.next()], [800, 1280, 2048]);
    assert.deepEqual([high.next(), high.next(), high.next()], [1200, 1920, 3072]);
  });

  it('caps the base delay at maxMs (jitter still applies around the cap)', () => {
    const b = new Backoff({ ...DEFAULT_BACKOFF, maxMs: 5000 }, () => 0.5);
    const delays = Array.from({ length: 10 }, () => b.next());
    assert.deepEqual(delays.slice(0, 5), [1000, 1600, 2560, 4096, 5000]);
    assert.ok(delays.slice(4).every((d) => d === 5000));
    const jittered = new Backoff({ ...DEFAULT_BACKOFF, maxMs: 5000 }, () => 0);
    for (let i = 0; i < 9; i++) jittered.next();
    assert.equal(jittered.next(), 4000);
  });

  it('reset() starts again from the initial delay', () => {
    const b = new Backoff(DEFAULT_BACKOFF, () => 0.5);
    b.next();
    b.next();
    b.next();
    b.reset();
    assert.equal(b.next(), 1000);
    assert.equal(b.next(), 1600);
  });
});

describe('ReconnectPolicy (reset only after a stable connection)', () => {
  let clock: number;
  let policy: ReconnectPolicy;
  beforeEach(() => {
    clock = 0;
    policy = new ReconnectPolicy(
      DEFAULT_BACKOFF,
      10_000,
      () => clock,
      () => 0.5,
    );
  });

  it('grows while attempts keep failing', () => {
    assert.deepEqual([policy.nextDelay(), policy.nextDelay(), policy.nextDelay()], [1000, 1600, 2560]);
  });

  it('keeps growing when a stream flaps (up for less than the reset time)', () => {
    policy.nextDelay();
    policy.nextDelay();
    policy.up();
    clock += 9_999;
    assert.equal(policy.nextDelay(), 2560);
    policy.up();
    clock += 500;
    assert.equal(policy.nextDelay(), 4096);
  });

  it('starts over from 1 s after a stream stayed up for the reset time', () => {
    policy.nextDelay();
    policy.nextDelay();
    policy.nextDelay();
    policy.up();
    clock += 10_000;
    assert.equal(policy.nextDelay(), 1000);
    assert.equal(policy.nextDelay(), 1600, 'the reset is used once: failures right after grow again');
  });

  it('never exceeds the cap plus jitter however long it fails', () => {
    const p = new ReconnectPolicy(
      { ...DEFAULT_BACKOFF, maxMs: 30_000 },
      10_000,
      () => clock,
      () => 0.999999,
    );
    const delays = Array.from({ length: 40 }, () => p.nextDelay());
    assert.equal(Math.max(...delays), 36_000);
    assert.deepEqual(delays.slice(-3), [36_000, 36_000, 36_000]);
  });
});

describe('retryUntil (the one retry loop of the services)', () => {
  it('waits the exact exponential delays between failures and stops retrying on success', async () => {
    const waits: number[] = [];
    let calls = 0;
    const errors: string[] = [];
    const ok = await retryUntil(
      async () => {
        if (++calls < 4) throw new Error(`fail ${calls}`);
      },
      {
        backoff: { initialMs: 100, multiplier: 2, jitter: 0.2, maxMs: 300 },
        stopped: () => false,
        onRetry: (err, delay) => errors.push(`${(err as Error).message} → ${delay}`),
        sleep: async (ms) => void waits.push(ms),
        random: () => 0.5, // the middle of the jitter range: the un-jittered delay
      },
    );
    assert.equal(ok, true);
    assert.deepEqual(waits, [100, 200, 300]);
    assert.deepEqual(errors, ['fail 1 → 100', 'fail 2 → 200', 'fail 3 → 300']);
  });

  it('gives up (false) once stopped, without another attempt or wait', async () => {
    let stopped = false;
    let calls = 0;
    const waits: number[] = [];
    const ok = await retryUntil(
      async () => {
        calls++;
        stopped = true;
        throw new Error('down');
      },
      { backoff: { initialMs: 100, multiplier: 2, jitter: 0, maxMs: 1000 }, stopped: () => stopped, sleep: async (ms) => void waits.push(ms) },
    );
    assert.deepEqual([ok, calls, waits], [false, 1, []]);
  });
});
