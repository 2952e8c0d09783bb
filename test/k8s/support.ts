import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { tool } from '../env/servers.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = `${ROOT}charts/switchboard`;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> }; [k: string]: any };

/** The objects of a multi-document YAML text. */
export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => !!o);
}

/** The committed manifests of k8s/switchboard.yaml (what every cluster gets). */
export function committedManifests(): K8sObject[] {
  return parseObjects(readFileSync(`${ROOT}k8s/switchboard.yaml`, 'utf8'));
}

/** The committed Prometheus Operator objects of k8s/switchboard-monitoring.yaml. */
export function committedMonitoring(): K8sObject[] {
  return parseObjects(readFileSync(`${ROOT}k8s/switchboard-monitoring.yaml`, 'utf8'));
}

/** The API version that tells the chart the Prometheus Operator is there. */
export const WITH_OPERATOR = ['--api-versions', 'monitoring.coreos.com/v1'];

/** Runs a provisioned tool; returns its output or throws with stderr. */
export function run(name: 'helm' | 'kubectl', args: string[], env: Record<string, string> = {}, input?: string): string {
  const r = spawnSync(tool(name), args, { env: { ...process.env, ...env }, encoding: 'utf8', input, timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${name} ${args.join(' ')} failed (${r.status}):\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** `helm template` of the chart, hooks left out unless asked for. */
export function helmTemplate(args: string[] = [], withHooks = false): K8sObject[] {
  return parseObjects(run('helm', ['template', 'switchboard', CHART, ...args])).filter((o) => withHooks || !o.metadata.annotations?.['helm.sh/hook']);
}

/** An object with Helm's bookkeeping labels removed and every map's keys sorted. */
export function normalize(o: K8sObject): unknown {
  const helmOnly = new Set(['helm.sh/chart', 'app.kubernetes.io/managed-by']);
  return JSON.parse(
    JSON.stringify(o, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v as Record<string, unknown>).filter(([k]) => !helmOnly.has(k)).sort(([a], [b]) => (a < b ? -1 : 1)))
        : v,
    ),
  );
}

export const byKey = (objects: K8sObject[]): Map<string, K8sObject> => new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o]));

/** Parses 10s / 500ms / 2m into seconds. */
export function seconds(d: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(d);
  if (!m) throw new Error(`not a duration: ${d}`);
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 } as Record<string, number>)[m[2]!]!;
}
