import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { Logger } from '../shared/logger.js';
import { retryUntil } from '../shared/retry.js';

/** The pod condition behind the readiness gate Connect pods declare (docs/PROTOCOL.md §7). */
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
  /** Random source of the retry backoff (tests). */
  random?: () => number;
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
  let desired: { ready: boolean; message: string } | undefined;
  let applied: boolean | undefined;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let wake: (() => void) | undefined;
  let stopped = false;
  const pending = (): boolean => !stopped && desired !== undefined && desired.ready !== applied;

  /** Patches the condition to the desired state (re-read at every attempt: it may change meanwhile). */
  async function patch(): Promise<void> {
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
    } catch (err: unknown) {
      opts.onUpdate?.('failure');
      throw err;
    }
    applied = target.ready;
    opts.onUpdate?.('success');
    opts.logger.info({ condition: GATE_CONDITION, status: condition.status, message: target.message }, 'readiness gate updated');
  }

  async function apply(): Promise<void> {
    while (pending()) {
      await retryUntil(patch, {
        backoff: { initialMs: 500, multiplier: 2, jitter: 0.2, maxMs: 30_000 },
        stopped: () => !pending(),
        onRetry: (err, delay) => opts.logger.warn({ err, retryInMs: delay }, 'readiness gate update failed; retrying'),
        // stop() cuts the wait short.
        sleep: (ms) =>
          new Promise<void>((resolve) => {
            wake = resolve;
            timer = setTimeout(resolve, ms);
          }),
        now,
        random: opts.random,
      });
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
