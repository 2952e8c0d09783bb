import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { startCluster, type Cluster } from '../env/cluster.js';
import { createFerretServer, createKafkaServer, createRedisServer, dataDir, tool, TESTENV, type ManagedServer } from '../env/servers.js';
import { CHART } from '../k8s/support.js';

/** The test cluster and the backends its pods use (on the host's pod-network address). */
export interface ClusterEnv {
  cluster: Cluster;
  kafka: ManagedServer;
  mongodb: ManagedServer;
  redis: ManagedServer;
}

let shared: Promise<ClusterEnv> | undefined;
let started: ClusterEnv | undefined;

/** The cluster of this run, started on first use and stopped by the root hook. A cluster that cannot start fails the suite. */
export function sharedCluster(): Promise<ClusterEnv> {
  return (shared ??= (async () => {
    const cluster = await startCluster((line) => process.stdout.write(`      cluster ${line}\n`));
    const servers = [
      await createKafkaServer(dataDir('cluster-kafka'), cluster.hostIp, 'cluster-kafka'),
      await createFerretServer(dataDir('cluster-ferretdb'), cluster.hostIp, 'cluster-ferretdb'),
      await createRedisServer(dataDir('cluster-redis'), cluster.hostIp, 'cluster-redis'),
    ] as const;
    started = { cluster, kafka: servers[0], mongodb: servers[1], redis: servers[2] };
    await Promise.all(servers.map((s) => s.start()));
    return started;
  })());
}

/** Stops the cluster and its backends if this run started them. */
export async function stopSharedCluster(): Promise<void> {
  const env = started;
  started = undefined;
  if (!env) return;
  await Promise.allSettled([env.kafka.stop(), env.mongodb.stop(), env.redis.stop()]);
  await env.cluster.stop();
}

/** Runs helm against the cluster; returns stdout or throws with stderr. */
export function helm(env: ClusterEnv, args: string[]): string {
  const r = spawnSync(tool('helm'), args, { env: { ...process.env, KUBECONFIG: env.cluster.kubeconfig }, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`helm ${args.join(' ')} failed (${r.status}):\n${r.stderr || r.stdout}`);
  return r.stdout;
}

/** `helm upgrade switchboard` of the chart in `ns`, keeping the release's values and setting `sets` over them; `--wait` when asked. */
export function helmUpgrade(env: ClusterEnv, ns: string, sets: Record<string, string>, wait = true): string {
  return helm(env, [
    'upgrade',
    'switchboard',
    CHART,
    '-n',
    ns,
    '--reuse-values',
    ...Object.entries(sets).flatMap(([k, v]) => ['--set', `${k}=${v}`]),
    ...(wait ? ['--wait', '--timeout', '240s'] : []),
  ]);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Json = any;

/** `kubectl get … -o json`, parsed. */
export function getJson(env: ClusterEnv, args: string[]): Json {
  return JSON.parse(env.cluster.kubectl([...args, '-o', 'json']));
}

/** The pods of a component of a release, oldest first. */
export function podsOf(env: ClusterEnv, ns: string, component: 'connect' | 'message'): Json[] {
  const items = getJson(env, ['-n', ns, 'get', 'pods', '-l', `app.kubernetes.io/component=${component}`]).items as Json[];
  return items
    .filter((p) => !p.metadata.deletionTimestamp)
    .sort((a, b) => String(a.metadata.creationTimestamp).localeCompare(String(b.metadata.creationTimestamp)));
}

/** The status of a pod condition ("True", "False", or undefined when absent). */
export function condition(pod: Json, type: string): string | undefined {
  return (pod.status?.conditions as Json[] | undefined)?.find((c) => c.type === type)?.status;
}

/** A metric of a pod's /metrics (read from the host, which reaches pod IPs on the bridge); 0 when absent. */
export async function podMetric(pod: Json, port: number, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`http://${pod.status.podIP}:${port}/metrics`, { signal: AbortSignal.timeout(3000) })).text();
  const escaped = `${name}{${labels}${labels ? ',' : ''}service="`.replace(/[{}.*+?^$()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^${escaped}[a-z]+"\\} ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** An HS256 token for `user`, as a real identity provider would issue with the chart's secret. */
export function tokenFor(secret: string, user: string): Promise<string> {
  return new SignJWT({ sub: user }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('30m').sign(new TextEncoder().encode(secret));
}

/**
 * Watches objects through the API (`?watch=1&resourceVersion=0`, one JSON event per line; `path` is the list URL,
 * e.g. /api/v1/namespaces/x/pods) and calls `onObject` with every version of every object of
 * `kind`. Returns a function that ends the watch.
 */
export async function watchObjects(env: ClusterEnv, path: string, kind: string, onObject: (o: Json) => void): Promise<() => void> {
  const { request } = await import('node:https');
  let ended = false;
  let current: ReturnType<typeof request> | undefined;
  let first!: () => void;
  // Resolves with the first object: the watch delivers from then on (every object is listed first).
  const delivering = new Promise<void>((resolve) => (first = resolve));
  // resourceVersion=0: served by the API server's watch cache at whatever version it holds, every
  // object first as ADDED, then every change. Without it the server asks etcd for the newest
  // version and waits for its cache of this resource to reach it, which, while nothing of this
  // resource changes, it may never do ("Too large resource version"). A watch that ends or reports
  // an error is opened again, and every object is listed anew.
  let lastTrouble = 'nothing received';
  const open = (): void => {
    const req = request(`${env.cluster.server}${path}?watch=1&resourceVersion=0`, {
      rejectUnauthorized: false,
      headers: { authorization: `Bearer ${env.cluster.token}` },
    });
    current = req;
    // Once per request: an error event, the response's end and the socket's error may all follow
    // one failure, and each must not open a watch of its own.
    let reopened = false;
    const again = (why: string): void => {
      if (reopened) return;
      reopened = true;
      lastTrouble = why;
      req.destroy();
      if (!ended) setTimeout(open, 300);
    };
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        return again(`HTTP ${res.statusCode}`);
      }
      let partial = '';
      res.on('data', (c: Buffer) => {
        if (reopened) return;
        const lines = (partial + c.toString()).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (!line.trim()) continue;
          const event = JSON.parse(line);
          if (event.type === 'ERROR' || event.object?.kind !== kind) return again(`${event.type} ${JSON.stringify(event.object).slice(0, 200)}`);
          onObject(event.object);
          first();
        }
      });
      res.on('end', () => again('the watch ended'));
    });
    req.on('error', (err) => again(err.message));
    req.end();
  };
  open();
  const stop = (): void => {
    ended = true;
    current?.destroy();
  };
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no ${kind} from the watch of ${path} within 30 s (last: ${lastTrouble})`)), 30_000).unref(),
  );
  await Promise.race([delivering, timeout]).catch((err: unknown) => {
    stop();
    throw err;
  });
  return stop;
}

/** `kubectl port-forward` as an operator runs it, on a free local port. */
export class PortForward {
  readonly child: ChildProcess;
  readonly port: Promise<number>;
  constructor(env: ClusterEnv, ns: string, target: string, remotePort: number) {
    this.child = spawn(tool('kubectl'), ['--kubeconfig', env.cluster.kubeconfig, '-n', ns, 'port-forward', target, `:${remotePort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    this.port = new Promise((resolve, reject) => {
      const onData = (c: Buffer): void => {
        out += c.toString();
        const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      };
      this.child.stdout!.on('data', onData);
      this.child.stderr!.on('data', onData);
      this.child.on('exit', (code) => reject(new Error(`kubectl port-forward ${target} exited (${code}): ${out}`)));
    });
  }
  stop(): void {
    this.child.kill();
  }
}

/**
 * Prometheus (built from source) on the host, discovering pods through the Kubernetes API
 * (kubernetes_sd, pod role) and scraping those annotated prometheus.io/scrape, with rule files.
 */
export async function startPrometheus(
  env: ClusterEnv,
  ruleFiles: string[],
): Promise<{ url: string; query(q: string): Promise<Json[]>; stop(): Promise<void>; log: string }> {
  const { freePort, managed, CACHE } = await import('../env/servers.js');
  const dir = join(TESTENV, 'prometheus');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const config = join(dir, 'prometheus.yml');
  writeFileSync(
    config,
    [
      'global: {scrape_interval: 2s, evaluation_interval: 2s}',
      `rule_files: [${ruleFiles.map((f) => JSON.stringify(f)).join(', ')}]`,
      'scrape_configs:',
      '  - job_name: kubernetes-pods',
      '    kubernetes_sd_configs:',
      `      - {role: pod, kubeconfig_file: ${JSON.stringify(env.cluster.kubeconfig)}}`,
      '    relabel_configs:',
      '      - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape], action: keep, regex: "true"}',
      '      - {source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path], action: replace, target_label: __metrics_path__, regex: "(.+)"}',
      '      - {source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port], action: replace, target_label: __address__, regex: "(.+);(.+)", replacement: "$1:$2"}',
      '      - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}',
      '      - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}',
      '',
    ].join('\n'),
  );
  const bin = join(CACHE, 'bin', 'prometheus-v0.316.0');
  const url = `http://127.0.0.1:${port}`;
  const server = managed(
    'prometheus',
    url,
    () => ({
      cmd: bin,
      args: [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, `data-${process.pid}`)}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
    }),
    async () => (await fetch(`${url}/-/ready`)).ok,
    60_000,
  );
  await server.start();
  return {
    url,
    log: server.logFile,
    async query(q: string) {
      const res = (await (await fetch(`${url}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as Json;
      if (res.status !== 'success') throw new Error(`PromQL ${q}: ${JSON.stringify(res)}`);
      return res.data.result as Json[];
    },
    stop: () => server.stop(),
  };
}
