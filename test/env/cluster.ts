/**
 * A real single-node Kubernetes cluster on this machine, for the operator's path in `make test`:
 * etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy (iptables),
 * containerd + runc + the CNI bridge plugin, and CoreDNS as cluster DNS. Everything is built or
 * installed by provision.sh and cached outside the clone; the images come from images.ts.
 *
 * Layout (differences from a production cluster: one node, local images, no registry):
 *  - pods live on the bridge `switchboard0`, 10.244.0.0/24; the host is 10.244.0.1 on it;
 *  - kube-apiserver, CoreDNS and the backends (Kafka, FerretDB, Redis) run on the host, bound to
 *    10.244.0.1 so that pods reach them; Services get ClusterIPs from 10.96.0.0/24 (kube-proxy);
 *  - kubelet listens on 127.0.0.1 and is reached by its hostname `localhost`, so that
 *    `kubectl port-forward`, `logs` and `exec` stay on loopback.
 * Needs root. stop() removes every process, container, mount, network namespace, iptables rule
 * and link it made, and restores the sysctls it changed; start() first clears what a crashed run
 * may have left.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { CACHE, KUBE_VERSION, TESTENV, apiServerReady, etcdServer, freePort, kubeApiServerArgs, managed, tool, type ManagedServer } from './servers.js';
import { buildImages } from './images.js';

export const BRIDGE = 'switchboard0';
export const HOST_IP = '10.244.0.1';
const POD_CIDR = '10.244.0.0/24';
const SERVICE_CIDR = '10.96.0.0/24';
const COREDNS_VERSION = process.env.COREDNS_VERSION ?? 'v1.15.0';
const DIR = join(TESTENV, 'cluster');
const RUN = '/run/switchboard-cluster';
const CONTAINERD_SOCK = `${RUN}/containerd.sock`;
/** Mount points under these belong to the cluster and are removed on stop. */
const OWNED_PREFIXES = [DIR, RUN];

export interface Cluster {
  /** cluster-admin kubeconfig (a static token in system:masters). */
  kubeconfig: string;
  server: string;
  /** The admin's bearer token (system:masters). */
  token: string;
  /** The host's address on the pod network, where the backends listen. */
  hostIp: string;
  /** Runs kubectl against the cluster; returns stdout or throws with stderr. */
  kubectl(args: string[], input?: string): string;
  stop(): Promise<void>;
}

type Say = (line: string) => void;

function bin(name: string, version = KUBE_VERSION): string {
  const file = join(CACHE, 'bin', `${name}-${version}`);
  if (!existsSync(file)) throw new Error(`${name} is not provisioned (${file}); run test/env/provision.sh cluster`);
  return file;
}

/** Runs a command synchronously; returns stdout; throws unless `allowFail`. */
function run(cmd: string, args: string[], allowFail = false): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0 && !allowFail) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout ?? '';
}

const SYSCTLS = ['/proc/sys/net/ipv4/ip_forward', '/proc/sys/net/bridge/bridge-nf-call-iptables'];

/** Every iptables rule and chain named KUBE-* (kube-proxy's and the kubelet's), in every table. */
export function kubeIptablesRules(): string[] {
  const out: string[] = [];
  for (const cmd of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      for (const line of run(`${cmd}-save`, ['-t', table], true).split('\n')) if (line.includes('KUBE-')) out.push(`${cmd} -t ${table} ${line}`);
    }
  }
  return out;
}

function removeKubeIptables(): void {
  for (const cmd of ['iptables', 'ip6tables']) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const lines = run(`${cmd}-save`, ['-t', table], true).split('\n');
      // Rules first (those that jump into KUBE-* chains from built-in ones, and those inside them).
      for (const line of lines.filter((l) => l.startsWith('-A ') && l.includes('KUBE-'))) {
        run(cmd, ['-w', '-t', table, '-D', ...splitRule(line.slice(3))], true);
      }
      const chains = lines.filter((l) => l.startsWith(':KUBE-')).map((l) => l.slice(1).split(' ')[0]!);
      for (const c of chains) run(cmd, ['-w', '-t', table, '-F', c], true);
      for (const c of chains) run(cmd, ['-w', '-t', table, '-X', c], true);
    }
  }
}

/** Splits an iptables-save rule into arguments, keeping quoted comments whole. */
function splitRule(rule: string): string[] {
  const args: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(rule); m; m = re.exec(rule)) args.push(m[1] !== undefined ? m[1].replace(/\\"/g, '"') : m[2]!);
  return args;
}

/** Processes of this cluster still running (command lines that name its folders or socket). */
export function clusterProcesses(): string[] {
  return run('pgrep', ['-af', `${DIR}/|${RUN}/|${CONTAINERD_SOCK}`], true)
    .split('\n')
    .filter((l) => l.trim() && !l.includes('pgrep'));
}

/** Mount points of this cluster, deepest first. */
export function clusterMounts(): string[] {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\040/g, ' '))
    .filter((p) => OWNED_PREFIXES.some((prefix) => p === prefix || p.startsWith(`${prefix}/`)))
    .sort((a, b) => b.length - a.length);
}

/** The kubelet's pod cgroups (cgroupfs driver), in every hierarchy: `<hierarchy>/kubepods…`. */
export function podCgroups(): string[] {
  const root = '/sys/fs/cgroup';
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    out.push(dir);
  };
  for (const h of [root, ...readdirSync(root).map((d) => join(root, d))]) {
    if (existsSync(join(h, 'kubepods'))) walk(join(h, 'kubepods'));
  }
  return out; // children before parents
}

/** SIGKILLs every process in a pod cgroup and removes the cgroups. */
function killPodCgroups(): void {
  for (let round = 0; round < 50; round++) {
    const groups = podCgroups();
    if (groups.length === 0) return;
    for (const g of groups) {
      const procs = existsSync(join(g, 'cgroup.procs')) ? readFileSync(join(g, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean) : [];
      for (const pid of procs) run('kill', ['-KILL', pid], true);
    }
    for (const g of groups) spawnSync('rmdir', [g]);
    spawnSync('sleep', ['0.1']);
  }
}

/** Network namespaces the CRI plugin made for pod sandboxes of this cluster. */
function podNetns(): string[] {
  const dir = '/var/run/netns';
  if (!existsSync(dir)) return [];
  // containerd names them cni-<uuid>; a record of ours is kept so that others are never touched.
  const ours = existsSync(join(DIR, 'netns.txt')) ? new Set(readFileSync(join(DIR, 'netns.txt'), 'utf8').split('\n')) : new Set<string>();
  return readdirSync(dir).filter((n) => n.startsWith('cni-') && !ours.has(`before:${n}`));
}

/**
 * Removes whatever a cluster of ours left behind: processes (containers included), mounts, pod
 * network namespaces, the bridge, KUBE-* iptables rules; restores the sysctls. Safe to call when
 * nothing is left.
 */
export function cleanUpCluster(): void {
  // The kubelet first (it would restart containers), then the containers' processes (found by
  // their cgroups: the shims' death does not end them), then everything else of ours: our
  // directories are on their command lines.
  run('pkill', ['-KILL', '-f', `${bin('kubelet')} `], true);
  killPodCgroups();
  for (const pattern of [`${DIR}/`, CONTAINERD_SOCK, `${RUN}/`]) run('pkill', ['-KILL', '-f', pattern], true);
  for (const m of clusterMounts()) run('umount', ['-l', m], true);
  for (const ns of podNetns()) run('ip', ['netns', 'delete', ns], true);
  run('ip', ['link', 'delete', BRIDGE], true);
  removeKubeIptables();
  const saved = join(DIR, 'sysctl.json');
  if (existsSync(saved)) {
    for (const [file, value] of Object.entries(JSON.parse(readFileSync(saved, 'utf8')) as Record<string, string>)) writeFileSync(file, value);
    rmSync(saved);
  }
}

/** Starts the cluster (after clearing any leftovers) and resolves once its node is Ready. */
export async function startCluster(say: Say = () => undefined): Promise<Cluster> {
  if (process.getuid?.() !== 0) throw new Error('the test cluster needs root (network, mounts, containers)');
  const t0 = Date.now();
  const step = (line: string): void => say(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(3)} s] ${line}`);
  cleanUpCluster();
  rmSync(DIR, { recursive: true, force: true });
  rmSync(RUN, { recursive: true, force: true });
  for (const d of [DIR, RUN, join(DIR, 'certs'), join(DIR, 'cni'), join(DIR, 'kubelet')]) mkdirSync(d, { recursive: true });
  const images = buildImages(step);
  images.catch(() => undefined); // awaited below, once containerd runs; a failure before that is not unhandled

  // Network: the bridge with the host's address, forwarding, bridged traffic through iptables
  // (kube-proxy's rules must see pod-to-Service traffic between pods on the bridge).
  writeFileSync(join(DIR, 'netns.txt'), (existsSync('/var/run/netns') ? readdirSync('/var/run/netns') : []).map((n) => `before:${n}`).join('\n'));
  writeFileSync(join(DIR, 'sysctl.json'), JSON.stringify(Object.fromEntries(SYSCTLS.map((f) => [f, readFileSync(f, 'utf8').trim()]))));
  for (const f of SYSCTLS) writeFileSync(f, '1');
  run('ip', ['link', 'add', BRIDGE, 'type', 'bridge']);
  run('ip', ['addr', 'add', `${HOST_IP}/24`, 'dev', BRIDGE]);
  run('ip', ['link', 'set', BRIDGE, 'up']);

  const servers: ManagedServer[] = [];
  // A throw-away cluster: nothing in it needs a graceful end, and every process goes at once.
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.kill()));
    cleanUpCluster();
  };
  try {
    const [etcdPort, peerPort, apiPort, kubeletPort, kubeletHealthz, proxyMetrics, proxyHealthz] = await Promise.all([
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ]);
    const server = `https://${HOST_IP}:${apiPort}`;
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(DIR, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    writeFileSync(join(DIR, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const token = randomBytes(24).toString('hex');
    writeFileSync(join(DIR, 'tokens.csv'), `${token},admin,admin-uid,"system:masters"\n`);
    const kubeconfig = join(DIR, 'admin.kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: switchboard-test, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`,
        `users: [{name: admin, user: {token: "${token}"}}]`,
        'contexts: [{name: switchboard-test, context: {cluster: switchboard-test, user: admin, namespace: default}}]',
        'current-context: switchboard-test',
        '',
      ].join('\n'),
    );
    const kubectl = (args: string[], input?: string): string => {
      const r = spawnSync(tool('kubectl'), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, timeout: 120_000 });
      if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.status}):\n${r.stderr || r.stdout}`);
      return r.stdout;
    };
    const start = async (s: ManagedServer): Promise<void> => {
      servers.push(s);
      await s.start();
      step(`${s.name} up`);
    };
    // containerd with the CRI plugin. Root here lacks CAP_SYS_RESOURCE, so sandboxes must not
    // lower their oom_score_adj (restrict_oom_score_adj), or runc fails every pod.
    writeFileSync(
      join(DIR, 'containerd.toml'),
      [
        'version = 2',
        `root = "${join(DIR, 'containerd')}"`,
        `state = "${RUN}/containerd"`,
        `[grpc]\n  address = "${CONTAINERD_SOCK}"`,
        `[ttrpc]\n  address = "${CONTAINERD_SOCK}.ttrpc"`,
        '[plugins."io.containerd.grpc.v1.cri"]',
        '  sandbox_image = "localhost/pause:3.10"',
        '  restrict_oom_score_adj = true',
        '  [plugins."io.containerd.grpc.v1.cri".containerd]',
        '    snapshotter = "overlayfs"',
        '    default_runtime_name = "runc"',
        '    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
        '      runtime_type = "io.containerd.runc.v2"',
        '      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
        '        SystemdCgroup = false',
        '  [plugins."io.containerd.grpc.v1.cri".cni]',
        '    bin_dir = "/usr/lib/cni"',
        `    conf_dir = "${join(DIR, 'cni')}"`,
        '',
      ].join('\n'),
    );
    writeFileSync(
      join(DIR, 'cni', '10-switchboard.conflist'),
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'switchboard',
        plugins: [
          {
            type: 'bridge',
            bridge: BRIDGE,
            isGateway: true,
            ipMasq: false,
            hairpinMode: true,
            ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR, gateway: HOST_IP }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(DIR, 'ipam') },
          },
        ],
      }),
    );
    await start(
      managed(
        'containerd',
        CONTAINERD_SOCK,
        () => ({ cmd: 'containerd', args: ['--config', join(DIR, 'containerd.toml')] }),
        async () => run('ctr', ['-a', CONTAINERD_SOCK, 'version'], true).includes('Server'),
        30_000,
      ),
    );
    const importing = images.then((tars) => {
      for (const tar of tars) run('ctr', ['-a', CONTAINERD_SOCK, '-n', 'k8s.io', 'images', 'import', '--no-unpack', tar]);
      step(`images imported: ${tars.map((t) => t.split('/').pop()).join(', ')}`);
    });

    await start(etcdServer(join(DIR, 'etcd'), etcdPort, peerPort));
    await start(
      managed(
        'kube-apiserver',
        server,
        () => ({
          cmd: tool('kube-apiserver'),
          // The API server must answer on the pod network (pods reach it there through the
          // kubernetes Service) and reach the kubelet by its hostname, localhost.
          args: kubeApiServerArgs({
            dir: DIR,
            etcdPort,
            port: apiPort,
            address: HOST_IP,
            serviceCidr: SERVICE_CIDR,
            extra: ['--kubelet-preferred-address-types=Hostname'],
          }),
        }),
        () => apiServerReady(server, token),
        120_000,
      ),
    );
    const common = [`--kubeconfig=${kubeconfig}`, '--leader-elect=false'];
    await start(
      managed(
        'kube-controller-manager',
        'kube-controller-manager',
        () => ({
          cmd: bin('kube-controller-manager'),
          args: [
            ...common,
            `--service-account-private-key-file=${join(DIR, 'sa.key')}`,
            // What pods trust: the API server's self-signed serving certificate (and its CA).
            `--root-ca-file=${join(DIR, 'certs', 'apiserver.crt')}`,
            `--service-cluster-ip-range=${SERVICE_CIDR}`,
            `--cluster-cidr=${POD_CIDR}`,
            '--bind-address=127.0.0.1',
            '--secure-port=0',
            '--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller',
          ],
        }),
        async () => kubectl(['get', 'serviceaccount', 'default', '-n', 'default', '-o', 'name']).includes('default'),
        60_000,
      ),
    );
    await start(
      managed(
        'kube-scheduler',
        'kube-scheduler',
        () => ({ cmd: bin('kube-scheduler'), args: [...common, '--bind-address=127.0.0.1', '--secure-port=0'] }),
        async () => true,
        5000,
      ),
    );

    // CoreDNS on the host, on the pod network's gateway address: cluster DNS for every pod.
    writeFileSync(
      join(DIR, 'Corefile'),
      [
        'cluster.local:53 in-addr.arpa:53 {',
        `  bind ${HOST_IP}`,
        '  errors',
        `  kubernetes cluster.local in-addr.arpa {\n    kubeconfig ${kubeconfig} switchboard-test\n    pods insecure\n    ttl 2\n  }`,
        '}',
        '.:53 {',
        `  bind ${HOST_IP}`,
        '  errors',
        '  template ANY ANY {\n    rcode NXDOMAIN\n  }',
        '}',
        '',
      ].join('\n'),
    );
    await start(
      managed(
        'coredns',
        `${HOST_IP}:53`,
        () => ({ cmd: bin('coredns', COREDNS_VERSION), args: ['-conf', join(DIR, 'Corefile')] }),
        async () => {
          const resolver = new Resolver({ timeout: 1000, tries: 1 });
          resolver.setServers([HOST_IP]);
          return (await resolver.resolve4('kubernetes.default.svc.cluster.local')).includes('10.96.0.1');
        },
        30_000,
      ),
    );

    writeFileSync(join(DIR, 'resolv.conf'), `nameserver ${HOST_IP}\n`);
    writeFileSync(
      join(DIR, 'kubelet.yaml'),
      [
        'apiVersion: kubelet.config.k8s.io/v1beta1',
        'kind: KubeletConfiguration',
        'address: 127.0.0.1',
        `port: ${kubeletPort}`,
        'readOnlyPort: 0',
        'healthzBindAddress: 127.0.0.1',
        `healthzPort: ${kubeletHealthz}`,
        'cgroupDriver: cgroupfs',
        'failSwapOn: false',
        'makeIPTablesUtilChains: false',
        `containerRuntimeEndpoint: unix://${CONTAINERD_SOCK}`,
        'authentication: {anonymous: {enabled: true}, webhook: {enabled: false}}',
        'authorization: {mode: AlwaysAllow}',
        `clusterDNS: [${HOST_IP}]`,
        'clusterDomain: cluster.local',
        `resolvConf: ${join(DIR, 'resolv.conf')}`,
        'evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}',
        'imageGCHighThresholdPercent: 100',
        'imageGCLowThresholdPercent: 99',
        'serializeImagePulls: false',
        'syncFrequency: 10s',
        'nodeStatusUpdateFrequency: 5s',
        '',
      ].join('\n'),
    );
    await importing; // the sandbox image must be there before the kubelet starts pods
    await start(
      managed(
        'kubelet',
        'kubelet',
        () => ({
          cmd: bin('kubelet'),
          args: [
            `--config=${join(DIR, 'kubelet.yaml')}`,
            `--kubeconfig=${kubeconfig}`,
            '--hostname-override=localhost',
            `--node-ip=${HOST_IP}`,
            `--root-dir=${join(DIR, 'kubelet')}`,
            `--cert-dir=${join(DIR, 'kubelet-pki')}`,
          ],
        }),
        async () => kubectl(['get', 'node', 'localhost', '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']) === 'True',
        120_000,
      ),
    );
    await start(
      managed(
        'kube-proxy',
        'kube-proxy',
        () => ({
          cmd: bin('kube-proxy'),
          args: [
            `--kubeconfig=${kubeconfig}`,
            '--hostname-override=localhost',
            '--proxy-mode=iptables',
            `--cluster-cidr=${POD_CIDR}`,
            '--conntrack-max-per-core=0',
            `--metrics-bind-address=127.0.0.1:${proxyMetrics}`,
            `--healthz-bind-address=127.0.0.1:${proxyHealthz}`,
          ],
        }),
        async () => kubeIptablesRules().some((r) => r.includes('KUBE-SERVICES')),
        60_000,
      ),
    );
    step('cluster ready');
    return { kubeconfig, server, token, hostIp: HOST_IP, kubectl, stop };
  } catch (err: unknown) {
    await stop().catch(() => undefined);
    throw err;
  }
}
