import assert from 'node:assert/strict';
import { headlineTable, resultsMarkdown } from '../../bench/lib/results.js';
import type { Report } from '../../bench/lib/report.js';

const report: Report = {
  startedAt: '2026-12-06T10:00:00.000Z',
  durationSec: 570,
  machine: { cores: 2, cpuModel: 'AMD EPYC', memoryGiB: 23.5, node: 'v20.20.2', os: 'linux' },
  scenarios: [
    {
      name: 'End-to-end 1:1 messaging',
      description: '',
      settings: {},
      figures: {
        'Switchboard, embedded backends: highest rate with p99 ≤ 100 ms (msg/s), median [range]': '8,000 [7,000–8,000]',
        'Switchboard, embedded backends: p99 at 8,000 msg/s (ms), median [range]': '13.5 [12.9–104.7]',
        'Switchboard, embedded backends: CPU ms per message at 1000 msg/s, median [range]': '0.51 [0.47–0.55]',
        'floor: bare kafkajs produce → consume: highest rate with p99 ≤ 100 ms (msg/s), median [range]': '3,000 [3,000–3,000]',
        'a figure of one repetition': 7,
      },
      ratios: { 'kafka-redis / floor': 2 },
      notes: [],
    },
  ],
};

describe('bench results: what make bench writes to bench/RESULTS.md and the README', () => {
  it('tabulates each system of the end-to-end scenario in at most 15 lines', () => {
    const t = headlineTable(report);
    assert.deepEqual(t.slice(2), [
      '| Switchboard, embedded backends | 8,000 [7,000–8,000] | 13.5 [12.9–104.7] at 8,000 | 0.51 [0.47–0.55] |',
      '| floor: bare kafkajs produce → consume | 3,000 [3,000–3,000] | — | — |',
    ]);
    assert.ok(t.length <= 15);
  });

  it('says when, how long and on what machine, with the medians and ratios, and leaves single-repetition figures to the full report', () => {
    const md = resultsMarkdown(report, 'bench/results/x');
    assert.match(md, /2026-12-06T10:00:00.000Z, 570 s, on 2 cores \(AMD EPYC\)/);
    assert.match(md, /\| kafka-redis \/ floor \| 2\.00 \|/);
    assert.doesNotMatch(md, /a figure of one repetition/);
  });
});
