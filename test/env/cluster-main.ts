/**
 * `make testenv-cluster`: provisions (idempotently) and starts the single-node test cluster and
 * its backends, prints how to reach them, and removes everything on Ctrl-C.
 */
import { startCluster } from './cluster.js';

const cluster = await startCluster((line) => process.stdout.write(`${line}\n`)).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
process.stdout.write(
  `\nThe cluster is up:\n  export KUBECONFIG=${cluster.kubeconfig}\n  kubectl get nodes,pods -A\nCtrl-C stops it and removes everything it made.\n`,
);
const stop = async (): Promise<void> => {
  process.stdout.write('stopping the cluster…\n');
  await cluster.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
setInterval(() => undefined, 1 << 30);
