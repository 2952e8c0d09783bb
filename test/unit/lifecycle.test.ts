import assert from 'node:assert/strict';
import { createSignalHandler, once } from '../../services/shared/lifecycle.js';
import { silentLogger } from '../../services/shared/logger.js';

describe('signal handling of a main.ts', () => {
  const setup = () => {
    let clock = 1000;
    const exits: number[] = [];
    let stops = 0;
    let finish!: () => void;
    const stopped = new Promise<void>((r) => (finish = r));
    const service = { start: async () => undefined, stop: once(async () => {
      stops++;
      await stopped;
    }) };
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
