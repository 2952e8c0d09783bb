import assert from 'node:assert/strict';
import { backendMeans } from '../../bench/scenarios/e2e.js';

describe('bench: backend operation means from /metrics', () => {
  it('averages successful operations per backend and op, ignoring errors and other metrics', () => {
    const text = [
      'switchboard_message_backend_seconds_bucket{le="0.005",service="message",backend="store",op="claimSend",result="ok"} 3',
      'switchboard_message_backend_seconds_sum{service="message",backend="store",op="claimSend",result="ok"} 0.03',
      'switchboard_message_backend_seconds_count{service="message",backend="store",op="claimSend",result="ok"} 4',
      'switchboard_message_backend_seconds_sum{service="message",backend="store",op="claimSend",result="error"} 9',
      'switchboard_message_backend_seconds_count{service="message",backend="store",op="claimSend",result="error"} 1',
      'switchboard_message_backend_seconds_sum{service="message",backend="log",op="append",result="ok"} 1.5e-2',
      'switchboard_message_backend_seconds_count{service="message",backend="log",op="append",result="ok"} 3',
      'switchboard_message_backend_seconds_sum{service="message",backend="presence",op="lookup",result="ok"} 0',
      'switchboard_message_backend_seconds_count{service="message",backend="presence",op="lookup",result="ok"} 0',
      'switchboard_message_store_latency_seconds_sum{service="message"} 12',
    ].join('\n');
    assert.deepEqual(backendMeans(text), { 'log.append': 5, 'store.claimSend': 7.5 });
  });
});
