import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../services/shared/logger.js';

/** A JSON logger into an array, with a repeat window of `windowMs`. */
function capture(windowMs: number) {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger('test', 'info', 'json', { repeatWindowMs: windowMs, destination }) };
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('logger: repeated warnings are counted, not written', () => {
  it('writes the first of a flood at once and one line with the count when the window ends', async () => {
    // A window long enough that a busy machine does not end it before the first look.
    const { lines, logger } = capture(1000);
    const child = logger.child({ component: 'pipeline' });
    for (let i = 0; i < 5000; i++) child.warn({ err: new Error('connection refused'), batch: i }, 'push failed');
    await tick(10);
    assert.deepEqual(
      lines.map((l) => [l.msg, l.batch]),
      [['push failed', 0]],
    );
    await tick(1300);
    assert.equal(lines.length, 2);
    assert.equal(lines[1]!.msg, 'push failed (repeated 4999 times)');
    assert.equal(lines[1]!.repeated, 4999);
    assert.equal(lines[1]!.batch, 4999, 'with the fields of the last one');
    assert.equal(lines[1]!.component, 'pipeline');
    // After a quiet window the next one is written at once again.
    child.warn('push failed');
    assert.equal(lines.length, 3);
  });

  it('limits each kind on its own (text, component, level) and never limits info', async () => {
    const { lines, logger } = capture(100);
    for (let i = 0; i < 3; i++) {
      logger.child({ component: 'a' }).warn('store unreachable');
      logger.child({ component: 'b' }).warn('store unreachable');
      logger.error('store unreachable');
      logger.warn('another text');
      logger.info('gateway subscribed');
    }
    await tick(10);
    assert.equal(lines.filter((l) => l.msg === 'gateway subscribed').length, 3);
    assert.equal(lines.filter((l) => l.msg === 'store unreachable').length, 3, 'one per component and level');
    assert.equal(lines.filter((l) => l.msg === 'another text').length, 1);
    await tick(200);
    assert.deepEqual(
      lines.filter((l) => typeof l.repeated === 'number').map((l) => l.repeated),
      [2, 2, 2, 2],
    );
  });

  it('writes nothing more when nothing repeated, and everything with the window at 0', async () => {
    const { lines, logger } = capture(50);
    logger.warn('once');
    await tick(120);
    assert.equal(lines.length, 1);
    const all = capture(0);
    for (let i = 0; i < 10; i++) all.logger.warn('again');
    assert.equal(all.lines.length, 10);
  });
});
