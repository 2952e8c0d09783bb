/**
 * `npm run bench:by-steal -- [results folder…]` (default: every run under bench/results): the
 * end-to-end steps of earlier runs grouped by system, offered rate and the CPU the hypervisor took
 * from the machine during the step (steal), with the median p99 and the share of steps that kept
 * p99 within 20 ms and 100 ms in each group. One run has too few steps at each steal level to tell
 * the host's share of a tail from the code's; the runs of a day on one host have enough.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Report, Step } from './lib/report.js';
import { spread } from './lib/stats.js';

/** Steal bands (cores of the machine taken by the hypervisor during a step), lower bound inclusive. */
export const STEAL_BANDS: ReadonlyArray<readonly [number, number]> = [
  [0, 0.1],
  [0.1, 0.3],
  [0.3, Infinity],
];

export interface StealGroup {
  system: string;
  offeredPerSec: number;
  band: readonly [number, number];
  steps: number;
  medianP99: number;
  within20: number;
  within100: number;
}

/** The steps that report steal, grouped by system, rate and steal band, in that order. */
export function groupBySteal(steps: readonly Step[], bands = STEAL_BANDS): StealGroup[] {
  const groups = new Map<string, { system: string; offeredPerSec: number; band: readonly [number, number]; p99s: number[] }>();
  for (const s of steps) {
    const steal = s.cpuCores?.steal;
    if (steal === undefined) continue;
    const band = bands.find(([lo, hi]) => steal >= lo && steal < hi);
    if (!band) continue;
    const key = `${s.system}\u0000${s.offeredPerSec}\u0000${band[0]}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = { system: s.system, offeredPerSec: s.offeredPerSec, band, p99s: [] }));
    g.p99s.push(s.latency.p99);
  }
  const share = (v: number[], bar: number) => Math.round((v.filter((x) => x <= bar).length / v.length) * 100) / 100;
  return [...groups.values()]
    .sort((a, b) => (a.system < b.system ? -1 : a.system > b.system ? 1 : a.offeredPerSec - b.offeredPerSec || a.band[0] - b.band[0]))
    .map((g) => ({
      system: g.system,
      offeredPerSec: g.offeredPerSec,
      band: g.band,
      steps: g.p99s.length,
      medianP99: spread(g.p99s).median,
      within20: share(g.p99s, 20),
      within100: share(g.p99s, 100),
    }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const root = fileURLToPath(new URL('./results', import.meta.url));
  const args = process.argv.slice(2);
  const dirs =
    args.length > 0
      ? args
      : existsSync(root)
        ? readdirSync(root)
            .sort()
            .map((d) => join(root, d))
        : [];
  const steps: Step[] = [];
  let runs = 0;
  for (const dir of dirs) {
    const file = join(dir, 'report.json');
    if (!existsSync(file)) continue;
    const report = JSON.parse(readFileSync(file, 'utf8')) as Report;
    runs++;
    // Load steps that say where the CPU went (the end-to-end scenario's) carry the steal.
    for (const s of report.scenarios) steps.push(...(s.steps ?? []));
  }
  if (runs === 0) {
    process.stderr.write(`bench:by-steal: no report.json in ${args.length > 0 ? args.join(', ') : root}; run npm run bench first\n`);
    process.exit(2);
  }
  const band = ([lo, hi]: readonly [number, number]) => (hi === Infinity ? `≥ ${lo}` : `${lo}–${hi}`);
  const lines = [
    `${runs} runs, ${steps.filter((s) => s.cpuCores?.steal !== undefined).length} steps that recorded steal (cores the hypervisor took during the step)`,
    '',
    '| system | offered/s | steal | steps | median p99 ms | p99 ≤ 20 ms | p99 ≤ 100 ms |',
    '|---|---:|---|---:|---:|---:|---:|',
    ...groupBySteal(steps).map(
      (g) =>
        `| ${g.system} | ${g.offeredPerSec.toLocaleString('en-US')} | ${band(g.band)} | ${g.steps} | ${g.medianP99.toFixed(1)} | ${g.within20.toFixed(2)} | ${g.within100.toFixed(2)} |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
