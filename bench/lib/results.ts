import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Report } from './report.js';

const SUSTAINED = ': highest rate with p99 ≤ 100 ms (msg/s), median [range]';

/** The figure of `report` whose name starts with `prefix` (the first one). */
function figure(report: Report, scenario: string, prefix: string): string | undefined {
  const s = report.scenarios.find((x) => x.name === scenario);
  const key = s && Object.keys(s.figures).find((k) => k.startsWith(prefix));
  return key === undefined ? undefined : String(s!.figures[key]);
}

/**
 * The headline table: per system of the end-to-end scenario, the highest rate it sustained at
 * p99 ≤ 100 ms, its p99 there and its CPU per message, medians and ranges of the repetitions; then
 * the scenario's ratios. At most 15 lines (the README carries it).
 */
export function headlineTable(report: Report): string[] {
  const e2e = report.scenarios.find((s) => s.name === 'End-to-end 1:1 messaging');
  if (!e2e) return [];
  const systems = Object.keys(e2e.figures)
    .filter((k) => k.endsWith(SUSTAINED))
    .map((k) => k.slice(0, -SUSTAINED.length));
  const rows = ['| system | sustained msg/s (p99 ≤ 100 ms) | p99 at that rate (ms) | CPU ms / msg |', '|---|---:|---:|---:|'];
  for (const sys of systems) {
    const p99Key = Object.keys(e2e.figures).find((k) => k.startsWith(`${sys}: p99 at `));
    const p99 = p99Key === undefined ? '—' : `${String(e2e.figures[p99Key])} at ${/p99 at ([\d,]+)/.exec(p99Key)?.[1] ?? '?'}`;
    rows.push(`| ${sys} | ${String(e2e.figures[`${sys}${SUSTAINED}`])} | ${p99} | ${figure(report, e2e.name, `${sys}: CPU ms per message at`) ?? '—'} |`);
  }
  return rows.slice(0, 15);
}

/** bench/RESULTS.md: the latest run's machine, date and figures (medians [ranges] of the repetitions). */
export function resultsMarkdown(report: Report, runDir: string): string {
  const m = report.machine;
  const out = [
    '# Benchmark results',
    '',
    `<!-- Written by \`make bench\` (bench/lib/results.ts) at the end of each full run; the whole report is in ${runDir}/report.md. -->`,
    '',
    `Latest \`make bench\`: ${report.startedAt}, ${report.durationSec} s, on ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}.`,
    'Kafka, the MongoDB stand-in (FerretDB), PostgreSQL, Redis, the services and the load generator share those cores.',
    'Figures are medians over the repetitions with their range in brackets; ratios compare figures of the same repetition.',
    'What was tried and not kept is in [NOTES.md](NOTES.md).',
    '',
    ...headlineTable(report),
    '',
  ];
  for (const s of report.scenarios) {
    const ratios = Object.entries(s.ratios);
    const figures = Object.entries(s.figures).filter(
      ([k]) => k.includes('median [range]') || k.includes('per repetition') || k.includes('median of the repetitions') || k.includes('most of the repetitions'),
    );
    if (ratios.length === 0 && figures.length === 0) continue;
    const settings = Object.entries(s.settings).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toLocaleString('en-US') : v}`);
    out.push(`## ${s.name}`, '', ...(settings.length > 0 ? [`Settings: ${settings.join(', ')}.`, ''] : []), '| figure | value |', '|---|---|');
    for (const [k, v] of ratios) out.push(`| ${k} | ${v.toFixed(2)} |`);
    for (const [k, v] of figures) out.push(`| ${k} | ${String(v)} |`);
    out.push('');
  }
  return out.join('\n');
}

const START = '<!-- bench:headline -->';
const END = '<!-- /bench:headline -->';

/** Writes bench/RESULTS.md and the README's headline table (between its markers) from a full run. */
export function writeResults(root: string, report: Report, runDir: string): string[] {
  const results = join(root, 'bench', 'RESULTS.md');
  writeFileSync(results, resultsMarkdown(report, runDir));
  const readmePath = join(root, 'README.md');
  const readme = readFileSync(readmePath, 'utf8');
  const from = readme.indexOf(START);
  const to = readme.indexOf(END);
  if (from === -1 || to < from) return [results];
  const table = headlineTable(report);
  writeFileSync(readmePath, `${readme.slice(0, from + START.length)}\n${table.join('\n')}\n${readme.slice(to)}`);
  return [results, readmePath];
}
