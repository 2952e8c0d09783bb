import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { backendHistogram, instrument } from '../../services/message/adapters/instrument.js';

describe('backend instrumentation', () => {
  class Backend {
    calls = 0;
    async get(key: string): Promise<string> {
      this.calls++;
      return `value of ${key}`;
    }
    async fail(): Promise<void> {
      this.calls++;
      throw new Error('backend down');
    }
    health(): string {
      return `healthy after ${this.calls}`;
    }
  }

  it('times the named operations by result and leaves everything else as it was', async () => {
    const registry = new Registry();
    const histogram = backendHistogram(registry);
    const target = new Backend();
    const timed = instrument('store', target, ['get', 'fail'], histogram);

    assert.equal(await timed.get('k'), 'value of k');
    assert.equal(await timed.get('j'), 'value of j');
    await assert.rejects(timed.fail(), /backend down/);
    assert.equal(timed.health(), 'healthy after 3', 'unwrapped methods keep their this');
    assert.equal(target.calls, 3, 'the wrapped methods ran on the target');

    const text = await registry.metrics();
    assert.match(text, /^switchboard_message_backend_seconds_count\{backend="store",op="get",result="ok"\} 2$/m);
    assert.match(text, /^switchboard_message_backend_seconds_count\{backend="store",op="fail",result="error"\} 1$/m);
    assert.doesNotMatch(text, /op="health"/);
  });
});
