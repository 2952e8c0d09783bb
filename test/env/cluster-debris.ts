/**
 * Fails (exit 1) when anything of the test cluster is still on this machine: its processes, pod
 * cgroups, mounts, pod network namespaces, the bridge, KUBE-* iptables rules. `make test` runs it
 * after the suites have stopped the cluster.
 */
import { spawnSync } from 'node:child_process';
import { BRIDGE, clusterMounts, kubeIptablesRules, podCgroups, clusterProcesses } from './cluster.js';

const debris: string[] = [
  ...clusterProcesses().map((p) => `process ${p}`),
  ...podCgroups().map((c) => `cgroup ${c}`),
  ...clusterMounts().map((m) => `mount ${m}`),
  ...kubeIptablesRules().map((r) => `iptables ${r}`),
  ...(spawnSync('ip', ['link', 'show', BRIDGE]).status === 0 ? [`link ${BRIDGE}`] : []),
];
if (debris.length > 0) {
  process.stderr.write(`the test cluster left debris:\n  ${debris.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write('no cluster debris: no process, pod cgroup, mount, bridge or KUBE-* iptables rule\n');
