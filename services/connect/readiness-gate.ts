import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { Backoff } from '../shared/backoff.js';

/** The pod condition behind the readiness gate Connect pods declare (PROTOCOL.md §5). */
export const GATE_CONDITION = 'switchboard.dev/message-streams';

/** Keeps the pod's readiness-gate condition equal to the gateway's stream readiness. */
export interface ReadinessGate {
  /** The desired state; the pod is patched only when it differs from the last applied one. */
  set(ready: boolean, message: string): void;
  /** Stops retrying (the last pending state may be applied once more). */
  stop(): Promise<void>;
}

export interface ReadinessGateOptions {
  podName: string;
  namespace: string;
  kubeConfig: KubeConfig;
  logger: Logger;
  onUpdate?: (result: 'success' | 'failure') => void;
  now?: () => number;
}

/** A gate that does nothing (outside a cluster). */
export const NO_GATE: ReadinessGate = { set: () => undefined, stop: async () => undefined };

/** Where Connect gets its Kubernetes credentials: a kubeconfig file, or the pod's service account. */
export function loadKubeConfig(kubeconfigPath: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
  else kc.loadFromCluster();
  return kc;
}

/**
 * Sets condition `switchboard.dev/message-streams` on the gateway's own pod through the API
 * (strategic-merge patch of pods/status, which merges conditions by type). One patch in flight;
 * only transitions are written; failures are retried with backoff until the state is applied.
 */
export function createReadinessGate(opts: ReadinessGateOptions): ReadinessGate {
  const api = opts.kubeConfig.makeApiClient(CoreV1Api);
  const now = opts.now ?? Date.now;
  const backoff = new Backoff({ initialMs: 500, multiplier: 2, jitter: 0.2, maxMs: 30_000 });
  let desired: { ready: boolean; message: string } | undefined;
  let applied: boolean | undefined;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let stopped = false;
  const pending = (): boolean => !stopped && desired !== undefined && desired.ready !== applied;

  async function apply(): Promise<void> {
    while (pending()) {
      const target = desired!;
      const condition = {
        type: GATE_CONDITION,
        status: target.ready ? 'True' : 'False',
        reason: target.ready ? 'MessageStreamsUp' : 'MessageStreamsDown',
        message: target.message,
        lastTransitionTime: new Date(now()).toISOString(),
      };
      try {
        await api.patchNamespacedPodStatus(
          { name: opts.podName, namespace: opts.namespace, body: { status: { conditions: [condition] } } },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        );
        applied = target.ready;
        backoff.reset();
        opts.onUpdate?.('success');
        opts.logger.info({ condition: GATE_CONDITION, status: condition.status, message: target.message }, 'readiness gate updated');
      } catch (err: unknown) {
        opts.onUpdate?.('failure');
        const delay = backoff.next();
        opts.logger.warn({ err, retryInMs: delay }, 'readiness gate update failed; retrying');
        await new Promise<void>((resolve) => {
          wake = resolve;
          timer = setTimeout(resolve, delay);
        });
      }
    }
  }

  function kick(): void {
    if (running || !pending()) return;
    running = apply().finally(() => {
      running = undefined;
      kick(); // a change that arrived as the loop ended
    });
  }

  return {
    set(ready, message) {
      desired = { ready, message };
      kick();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await running;
    },
  };
}
