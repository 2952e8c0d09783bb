/**
 * `npm run bench -- <scenario…> [options]` and `make bench` (the short suite).
 * Scenarios: e2e, push, idle, recovery, peer, all (= the short suite). Options: --rates 500,1000,…
 * --duration S --warmup S --pairs N --workers N --backends embedded,real,kafka-redis --clients N
 * --connections N --out DIR. Prints a live progress line and writes report.json, report.md and
 * SVG latency charts to --out (default bench/results/<timestamp>).
 */
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { machine } from './lib/machine.js';
import { toMarkdown, writeReport, type Report, type ScenarioResult } from './lib/report.js';
import { e2eScenario, type Backend } from './scenarios/e2e.js';
import { pushScenario } from './scenarios/push.js';
import { idleScenario } from './scenarios/idle.js';
import { recoveryScenario } from './scenarios/recovery.js';
import { peerScenario } from './scenarios/peer.js';
import { stopAllRealBackends } from '../test/support/real-backends.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rates: { type: 'string', default: '100,200,500,1000,2000,4000' },
    duration: { type: 'string', default: '4' },
    warmup: { type: 'string', default: '2' },
    pairs: { type: 'string', default: '150' },
    workers: { type: 'string', default: '1' },
    backends: { type: 'string', default: 'embedded,real,kafka-redis' },
    clients: { type: 'string', default: '300' },
    connections: { type: 'string', default: '5000' },
    out: { type: 'string' },
  },
});
const scenarios = positionals.length === 0 || positionals.includes('all') ? ['e2e', 'push', 'idle', 'recovery', 'peer'] : positionals;
const started = new Date();
const out = values.out ?? fileURLToPath(new URL(`./results/${started.toISOString().replace(/[:.]/g, '-')}`, import.meta.url));
const progress = (line: string): void => void process.stderr.write(`\r\x1b[2K[bench] ${line}`);
const say = (line: string): void => void process.stderr.write(`\r\x1b[2K[bench] ${line}\n`);

const results: ScenarioResult[] = [];
try {
  for (const s of scenarios) {
    say(`scenario ${s}…`);
    const t0 = Date.now();
    if (s === 'e2e') {
      results.push(
        await e2eScenario({
          rates: values.rates!.split(',').map(Number),
          durationMs: Number(values.duration) * 1000,
          warmupMs: Number(values.warmup) * 1000,
          pairs: Number(values.pairs),
          workers: Number(values.workers),
          backends: values.backends!.split(',') as Backend[],
          progress,
        }),
      );
    } else if (s === 'push') results.push(await pushScenario({ clients: Number(values.clients), frames: 200, progress }));
    else if (s === 'idle') results.push(await idleScenario({ connections: Number(values.connections), progress }));
    else if (s === 'recovery') results.push(await recoveryScenario({ progress }));
    else if (s === 'peer') {
      results.push(
        await peerScenario({ rates: values.rates!.split(',').map(Number), durationMs: Number(values.duration) * 1000, warmupMs: Number(values.warmup) * 1000, pairs: Number(values.pairs), progress }),
      );
    } else throw new Error(`unknown scenario "${s}" (e2e, push, idle, recovery, peer, all)`);
    say(`scenario ${s} done in ${Math.round((Date.now() - t0) / 1000)} s`);
  }
} finally {
  await stopAllRealBackends();
}
const report: Report = { startedAt: started.toISOString(), durationSec: Math.round((Date.now() - started.getTime()) / 1000), machine: machine(), scenarios: results };
const files = writeReport(out, report);
process.stdout.write(`\n${toMarkdown(report)}\nwrote ${files.join(', ')}\n`);
process.exit(0);
