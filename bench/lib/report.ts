import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Machine } from './machine.js';
import { spread, type LatencySummary } from './stats.js';
import type { CpuCores } from './cpu.js';

/** One measured step of a load scenario. */
export interface Step {
  system: string;
  offeredPerSec: number;
  achievedPerSec: number;
  latency: LatencySummary;
  /** From the intended send time to its acknowledgement (`accepted`; the floor: the produce's acks). */
  ackLatency?: LatencySummary;
  lost: number;
  /** Repetition of the measurement this step belongs to (1…). */
  rep?: number;
  /** CPU the load generator used while the step offered its rate, in cores (near 1 per worker process: starved). */
  loadgenCpu?: number;
  /** CPU milliseconds the system under test (all its processes) spent per delivered message. */
  cpuMsPerMessage?: number;
  /** Messages stored per second over the step, warm-up included (Switchboard): below the offered rate, the store falls behind. */
  storedPerSec?: number;
  /** Stored over stored plus the growth of the messages waiting to be stored: 1 when the store keeps up, whatever its lag. */
  storePace?: number;
  /** Store operations per message stored during the step (Switchboard). */
  storeOpsPerMessage?: number;
  /** Kafka Produce requests per stored message (the producer's group commit at work). */
  producesPerMessage?: number;
  /** Kafka Fetch requests Message's consumer sent per second over the step (an idle log is long-polled). */
  fetchesPerSecond?: number;
  /**
   * Where delivery went (Switchboard), p99 ms over the step from the services' histograms: accept →
   * stored with a seq, one store write, one presence lookup, accept → on the recipient's socket.
   */
  deliveryHops?: { stored: number; storeWrite: number; lookup: number; pushed: number };
  /** Where the machine's CPU went during the step's measured window (cores): the system, the load generator, each backend server. */
  cpuCores?: CpuCores;
}

/** What one scenario found: its steps, figures and the ratios against its baseline. */
export interface ScenarioResult {
  name: string;
  description: string;
  settings: Record<string, string | number>;
  steps?: Step[];
  figures: Record<string, number | string>;
  ratios: Record<string, number>;
  notes: string[];
  /** How long the scenario ran (set by the runner). */
  seconds?: number;
}

export interface Report {
  startedAt: string;
  durationSec: number;
  machine: Machine;
  scenarios: ScenarioResult[];
}

const fmt = (v: number | string): string => (typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('en-US') : v.toFixed(2)) : v);

/** The report as Markdown (also printed at the end of a run). */
export function toMarkdown(r: Report): string {
  const m = r.machine;
  const out = [
    `# Switchboard benchmark — ${r.startedAt}`,
    '',
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGiB} GiB, Node ${m.node}, ${m.os}. Run took ${r.durationSec} s.`,
    '',
  ];
  for (const s of r.scenarios) {
    out.push(`## ${s.name}`, '', `${s.description}${s.seconds !== undefined ? ` (${s.seconds} s)` : ''}`, '');
    if (Object.keys(s.settings).length > 0)
      out.push(
        `Settings: ${Object.entries(s.settings)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}`,
        '',
      );
    if (s.steps && s.steps.length > 0) {
      out.push(
        '| system | rep | offered/s | achieved/s | p50 ms | p95 ms | p99 ms | max ms | lost | ack p99 ms | load-gen CPU (cores) | CPU ms / msg | store ops / msg | produces / msg | fetches / s |',
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      );
      const opt = (v: number | undefined) => (v === undefined ? '' : fmt(v));
      for (const st of s.steps) {
        out.push(
          `| ${st.system} | ${st.rep ?? 1} | ${fmt(st.offeredPerSec)} | ${fmt(Math.round(st.achievedPerSec))} | ${fmt(st.latency.p50)} | ${fmt(st.latency.p95)} | ${fmt(st.latency.p99)} | ${fmt(st.latency.max)} | ${st.lost} | ${opt(st.ackLatency?.p99)} | ${opt(st.loadgenCpu)} | ${opt(st.cpuMsPerMessage)} | ${opt(st.storeOpsPerMessage)} | ${opt(st.producesPerMessage)} | ${opt(st.fetchesPerSecond)} |`,
        );
      }
      out.push('');
      const withHops = s.steps.filter((st) => st.deliveryHops);
      if (withHops.length > 0) {
        out.push(
          "Where delivery went during each Switchboard step (p99 ms, from the services' histograms, so within their buckets): accept → stored with a seq; one store write; one presence lookup; accept → on the recipient's socket; the client's own p99 beside them:",
          '',
          '| system | rep | offered/s | accept → stored | store write | presence lookup | accept → pushed | at the client |',
          '|---|---:|---:|---:|---:|---:|---:|---:|',
        );
        for (const st of withHops) {
          const h = st.deliveryHops!;
          out.push(
            `| ${st.system} | ${st.rep ?? 1} | ${fmt(st.offeredPerSec)} | ${fmt(h.stored)} | ${fmt(h.storeWrite)} | ${fmt(h.lookup)} | ${fmt(h.pushed)} | ${fmt(st.latency.p99)} |`,
          );
        }
        out.push('');
      }
      const withCpu = s.steps.filter((st) => st.cpuCores);
      if (withCpu.length > 0) {
        out.push(
          `Where the CPU went during each step's measured window, after the warm-up and before the drain (cores; the machine has ${m.cores}):`,
          '',
          '| system | rep | offered/s | system under test (per process) | its processes waiting for a core | load generator | Kafka | Redis | FerretDB | PostgreSQL | whole machine | steal |',
          '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
        );
        for (const st of withCpu) {
          const c = st.cpuCores!;
          out.push(
            `| ${st.system} | ${st.rep ?? 1} | ${fmt(st.offeredPerSec)} | ${c.system.toFixed(2)}${c.processes.length > 1 ? ` (${c.processes.map((v) => v.toFixed(2)).join(' + ')})` : ''} | ${c.waiting.map((v) => v.toFixed(2)).join(' + ')} | ${c.loadgen.toFixed(2)} | ${c.kafka.toFixed(2)} | ${c.redis.toFixed(2)} | ${c.ferretdb.toFixed(2)} | ${c.postgresql.toFixed(2)} | ${c.machine.toFixed(2)} | ${c.steal.toFixed(2)} |`,
          );
        }
        out.push('');
      }
    }
    if (Object.keys(s.figures).length > 0) {
      out.push('| figure | value |', '|---|---:|');
      for (const [k, v] of Object.entries(s.figures)) out.push(`| ${k} | ${fmt(v)} |`);
      out.push('');
    }
    if (Object.keys(s.ratios).length > 0) {
      out.push('| ratio | value |', '|---|---:|');
      for (const [k, v] of Object.entries(s.ratios)) out.push(`| ${k} | ${v.toFixed(2)} |`);
      out.push('');
    }
    for (const n of s.notes) out.push(`- ${n}`);
    if (s.notes.length > 0) out.push('');
  }
  return out.join('\n');
}

/** One point per system and offered rate: the median p50 and p99 of its repetitions. */
function medianSteps(steps: Step[]): Step[] {
  const groups = new Map<string, Step[]>();
  for (const st of steps) {
    const key = `${st.system}\u0000${st.offeredPerSec}`;
    groups.set(key, [...(groups.get(key) ?? []), st]);
  }
  return [...groups.values()].map((g) => ({
    ...g[0]!,
    latency: { ...g[0]!.latency, p50: spread(g.map((x) => x.latency.p50)).median, p99: spread(g.map((x) => x.latency.p99)).median },
  }));
}

/** p50/p99 latency (medians of the repetitions) against offered rate, one line per system, as an SVG chart. */
export function latencyChart(title: string, all: Step[]): string {
  const steps = medianSteps(all);
  const W = 960;
  const H = 420;
  const pad = { l: 64, r: 380, t: 40, b: 48 };
  const systems = [...new Set(steps.map((s) => s.system))];
  const xs = steps.map((s) => s.offeredPerSec);
  const ys = steps.flatMap((s) => [s.latency.p50, s.latency.p99]).filter(Number.isFinite);
  const xMax = Math.max(...xs, 1);
  const yMax = Math.max(...ys, 1);
  const logY = (v: number) => Math.log10(Math.max(0.1, v));
  const yTop = Math.ceil(logY(yMax));
  const x = (v: number) => pad.l + (v / xMax) * (W - pad.l - pad.r);
  const y = (v: number) => H - pad.b - ((logY(v) + 1) / (yTop + 1)) * (H - pad.t - pad.b);
  const colors = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${title}</text>`,
    `<line x1="${pad.l}" y1="${H - pad.b}" x2="${W - pad.r}" y2="${H - pad.b}" stroke="black"/>`,
    `<line x1="${pad.l}" y1="${pad.t}" x2="${pad.l}" y2="${H - pad.b}" stroke="black"/>`,
    `<text x="${(pad.l + W - pad.r) / 2}" y="${H - 12}" text-anchor="middle">offered messages / s</text>`,
    `<text x="16" y="${H / 2}" transform="rotate(-90 16 ${H / 2})" text-anchor="middle">latency, ms (log): p99 solid, p50 dashed; medians of the repetitions</text>`,
  ];
  for (let e = -1; e <= yTop; e++) {
    const v = 10 ** e;
    parts.push(
      `<line x1="${pad.l}" y1="${y(v)}" x2="${W - pad.r}" y2="${y(v)}" stroke="#ddd"/><text x="${pad.l - 6}" y="${y(v) + 4}" text-anchor="end">${v}</text>`,
    );
  }
  for (const v of [...new Set(xs)]) parts.push(`<text x="${x(v)}" y="${H - pad.b + 16}" text-anchor="middle">${v}</text>`);
  parts.push(
    `<line x1="${pad.l}" y1="${y(100)}" x2="${W - pad.r}" y2="${y(100)}" stroke="#999" stroke-dasharray="4 4"/><text x="${W - pad.r + 4}" y="${y(100) + 4}">100 ms</text>`,
  );
  systems.forEach((sys, i) => {
    const color = colors[i % colors.length]!;
    const pts = steps.filter((s) => s.system === sys && Number.isFinite(s.latency.p99)).sort((a, b) => a.offeredPerSec - b.offeredPerSec);
    for (const [q, dash] of [
      ['p99', ''],
      ['p50', '3 3'],
    ] as const) {
      const d = pts.map((s, j) => `${j === 0 ? 'M' : 'L'}${x(s.offeredPerSec).toFixed(1)},${y(s.latency[q]).toFixed(1)}`).join(' ');
      if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}"/>`);
    }
    for (const s of pts) parts.push(`<circle cx="${x(s.offeredPerSec)}" cy="${y(s.latency.p99)}" r="3" fill="${color}"/>`);
    parts.push(`<text x="${W - pad.r + 8}" y="${pad.t + 20 + i * 18}" fill="${color}">${sys}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

/** Writes report.json, report.md and one chart per load scenario into `dir`. */
export function writeReport(dir: string, r: Report): string[] {
  mkdirSync(dir, { recursive: true });
  const files = [join(dir, 'report.json'), join(dir, 'report.md')];
  writeFileSync(files[0]!, JSON.stringify(r, null, 2));
  writeFileSync(files[1]!, toMarkdown(r));
  for (const s of r.scenarios) {
    if (!s.steps || s.steps.length === 0) continue;
    const f = join(dir, `${s.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-latency.svg`);
    writeFileSync(f, latencyChart(s.name, s.steps));
    files.push(f);
  }
  return files;
}
