/**
 * Quantiles of the observations a Prometheus histogram took between two scrapes of a /metrics
 * text: how the bench reads a service's own per-hop timings over one step.
 */

/** Cumulative bucket counts (upper bound → count) of one series of histogram `name`, whose labels include `labels`. */
export function bucketsIn(text: string, name: string, labels: Record<string, string> = {}): Map<number, number> {
  const buckets = new Map<number, number>();
  const prefix = `${name}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const close = line.lastIndexOf('} ');
    if (close < 0) continue;
    const found = new Map<string, string>();
    for (const [, k, v] of line.slice(prefix.length, close).matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) found.set(k!, v!);
    if (!Object.entries(labels).every(([k, v]) => found.get(k) === v)) continue;
    const le = found.get('le');
    if (le === undefined) continue;
    const bound = le === '+Inf' ? Infinity : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + Number(line.slice(close + 2)));
  }
  return buckets;
}

/**
 * The q-quantile (0 < q < 1) of the observations made between `before` and `after` (bucket maps
 * of the same series), interpolated linearly within its bucket as Prometheus' histogram_quantile
 * does; the highest finite bound when it falls in +Inf; NaN without observations.
 */
export function quantileBetween(before: Map<number, number>, after: Map<number, number>, q: number): number {
  const bounds = [...after.keys()].sort((a, b) => a - b);
  const counts = bounds.map((b) => (after.get(b) ?? 0) - (before.get(b) ?? 0));
  const total = counts[counts.length - 1] ?? 0;
  if (total <= 0) return NaN;
  const rank = q * total;
  for (let i = 0; i < bounds.length; i++) {
    if (counts[i]! < rank) continue;
    const upper = bounds[i]!;
    const lower = i === 0 ? 0 : bounds[i - 1]!;
    if (upper === Infinity) return lower;
    const below = i === 0 ? 0 : counts[i - 1]!;
    const inBucket = counts[i]! - below;
    return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
  }
  return bounds[bounds.length - 2] ?? NaN;
}
