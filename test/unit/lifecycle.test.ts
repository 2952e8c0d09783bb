import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createSignalHandler, installFatalErrorPolicy, once, TimeoutError, withTimeout } from '../../services/shared/lifecycle.js';
import { createRegistry } from '../../services/shared/metrics.js';
import { silentLogger } from '../../services/shared/logger.js';

describe('signal handling of a main.ts', () => {
  const setup = () => {
    let clock = 1000;
    const exits: number[] = [];
    let stops = 0;
    let finish!: () => void;
    const stopped = new Promise<void>((r) => (finish = r));
    const service = {
      start: async () => undefined,
      stop: once(async () => {
        stops++;
        await stopped;
      }),
    };
    const handler = createSignalHandler([service], silentLogger(), { now: () => clock, exit: (c) => exits.push(c), repeatWindowMs: 1000 });
    return { handler, exits, finish, stopsCount: () => stops, tick: (ms: number) => (clock += ms) };
  };

  it('one keypress relayed by npm and tsx (repeats within the window) stops once and exits 0', async () => {
    const s = setup();
    s.handler('SIGINT');
    s.tick(30);
    s.handler('SIGINT');
    s.tick(5);
    s.handler('SIGTERM');
    assert.deepEqual(s.exits, [], 'no forced exit');
    s.finish();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(s.exits, [0]);
    assert.equal(s.stopsCount(), 1);
  });

  it('a deliberate second Ctrl-C after the window forces exit 1', () => {
    const s = setup();
    s.handler('SIGINT');
    s.tick(1000);
    s.handler('SIGINT');
    assert.deepEqual(s.exits, [1]);
  });
});

describe('the fatal-error policy of a main.ts', () => {
  it('logs and counts an unhandled rejection, stops the services once, and exits 1', async () => {
    const events = new EventEmitter();
    const exits: number[] = [];
    let stops = 0;
    const registry = createRegistry('test');
    const service = {
      registry,
      start: async () => undefined,
      stop: once(async () => {
        stops++;
      }),
    };
    // Counted in the registry of the service it stops, and in no other.
    const elsewhere = createRegistry('other');
    const before = (await registry.getSingleMetric('switchboard_process_fatal_errors_total')!.get()).values[0]?.value ?? 0;
    assert.equal(before, 0);
    installFatalErrorPolicy([service], silentLogger(), { events, exit: (c) => exits.push(c) });
    events.emit('unhandledRejection', new Error('nobody awaited me'));
    events.emit('uncaughtException', new Error('and me'));
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(exits, [1]);
    assert.equal(stops, 1);
    const after = (await registry.getSingleMetric('switchboard_process_fatal_errors_total')!.get()).values[0]!.value;
    assert.equal(after - before, 2);
    assert.equal((await elsewhere.getSingleMetric('switchboard_process_fatal_errors_total')!.get()).values[0]?.value ?? 0, 0);
  });

  it('exits 1 after the deadline when the graceful stop hangs', async () => {
    const events = new EventEmitter();
    const exits: number[] = [];
    const stuck = { start: async () => undefined, stop: () => new Promise<void>(() => undefined) };
    installFatalErrorPolicy([stuck], silentLogger(), { events, exit: (c) => exits.push(c), deadlineMs: 20 });
    events.emit('uncaughtException', new Error('boom'));
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(exits, [1]);
  });
});

describe('withTimeout', () => {
  it('rejects with a TimeoutError (UNAVAILABLE at the edges) that says what did not answer and after how long', async () => {
    const never = new Promise<never>(() => undefined);
    await assert.rejects(withTimeout(never, 20, 'the store did not answer in time'), (err: unknown) => {
      assert.ok(err instanceof TimeoutError);
      assert.deepEqual([err.name, err.code, err.message, err.afterMs], ['TimeoutError', 'UNAVAILABLE', 'the store did not answer in time', 20]);
      return true;
    });
    assert.equal(await withTimeout(Promise.resolve(7), 20, 'unused'), 7);
  });
});
