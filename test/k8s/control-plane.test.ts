import assert from 'node:assert/strict';
import { dataDir, startKubeControlPlane, type KubeControlPlane } from '../env/servers.js';
import { eventually } from '../support/services.js';
import { killAll, startConnectProcess, startMessageProcess, type ServiceProcess } from '../support/processes.js';
import { CHART, ROOT, run } from './support.js';

/** The manifests, the chart and the readiness gate on a real Kubernetes API server (etcd + kube-apiserver). */
describe('on a Kubernetes control plane', function () {
  this.timeout(180_000);
  let cp: KubeControlPlane;
  const kubectl = (args: string[], input?: string) => run('kubectl', args, { KUBECONFIG: cp.kubeconfig }, input);
  const procs: ServiceProcess[] = [];

  before(async () => {
    cp = await startKubeControlPlane(dataDir('kube'));
    kubectl(['apply', '-f', `${ROOT}test/env/crds/monitoring.coreos.com.yaml`]);
    await eventually('CRDs established', () => {
      try {
        kubectl(['wait', '--for=condition=Established', 'crd/servicemonitors.monitoring.coreos.com', 'crd/prometheusrules.monitoring.coreos.com', '--timeout=5s']);
        return true;
      } catch {
        return false;
      }
    }, 30_000, 500);
  });
  after(async () => {
    await killAll(procs);
    await cp?.stop();
  });

  it('accepts k8s/ on server-side dry-run with strict validation', () => {
    kubectl(['create', 'namespace', 'dry']);
    const out = kubectl(['apply', '--dry-run=server', '--validate=strict', '-n', 'dry', '-f', `${ROOT}k8s/`]);
    for (const o of ['deployment.apps/switchboard-connect', 'deployment.apps/switchboard-message', 'service/switchboard-message-headless', 'servicemonitor.monitoring.coreos.com/switchboard', 'prometheusrule.monitoring.coreos.com/switchboard', 'horizontalpodautoscaler.autoscaling/switchboard-connect', 'poddisruptionbudget.policy/switchboard-connect', 'networkpolicy.networking.k8s.io/switchboard-message', 'role.rbac.authorization.k8s.io/switchboard-connect-readiness-gate']) {
      assert.match(out, new RegExp(`${o.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} created \\(server dry run\\)`), o);
    }
  });

  it('helm install creates the expected objects and prints how to connect', () => {
    kubectl(['create', 'namespace', 'sb']);
    kubectl(['-n', 'sb', 'create', 'secret', 'generic', 'switchboard-auth', '--from-literal=jwt-secret=0123456789abcdef0123456789abcdef0123']);
    const out = run('helm', ['install', 'switchboard', CHART, '--namespace', 'sb'], { KUBECONFIG: cp.kubeconfig });
    assert.match(out, /STATUS: deployed/);
    assert.match(out, /kubectl -n sb port-forward svc\/switchboard-connect 21005:21005/);
    assert.match(out, /npm run client -- --user 1001 --target 1002 --jwt-secret/);
    assert.match(out, /helm test switchboard -n sb/);
    assert.doesNotMatch(out, /shared token/, 'no internal token unless asked for');
    const withToken = run('helm', ['install', 'other', CHART, '--namespace', 'sb', '--dry-run=server', '--set', 'auth.internalTokenSecret=switchboard-internal'], { KUBECONFIG: cp.kubeconfig });
    assert.match(withToken, /kubectl -n sb create secret generic switchboard-internal \\\n\s+--from-literal=token="\$\(openssl rand -hex 32\)"/);
    const names = kubectl(['-n', 'sb', 'get', 'deployments,services,serviceaccounts,roles,rolebindings,pdb,hpa,networkpolicies,servicemonitors,prometheusrules', '-o', 'name']).trim().split('\n').sort();
    for (const expected of [
      'deployment.apps/switchboard-connect',
      'deployment.apps/switchboard-message',
      'service/switchboard-connect',
      'service/switchboard-message-headless',
      'serviceaccount/switchboard-connect',
      'serviceaccount/switchboard-message',
      'role.rbac.authorization.k8s.io/switchboard-connect-readiness-gate',
      'rolebinding.rbac.authorization.k8s.io/switchboard-connect-readiness-gate',
      'poddisruptionbudget.policy/switchboard-connect',
      'poddisruptionbudget.policy/switchboard-message',
      'horizontalpodautoscaler.autoscaling/switchboard-connect',
      'networkpolicy.networking.k8s.io/switchboard-connect',
      'networkpolicy.networking.k8s.io/switchboard-message',
      'servicemonitor.monitoring.coreos.com/switchboard',
      'prometheusrule.monitoring.coreos.com/switchboard',
    ]) {
      assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
    }
    const gates = kubectl(['-n', 'sb', 'get', 'deployment', 'switchboard-connect', '-o', 'jsonpath={.spec.template.spec.readinessGates[*].conditionType}']);
    assert.equal(gates, 'switchboard.dev/message-streams');
  });

  it("the readiness gate: Connect, with only its ServiceAccount's rights, sets the condition True when its stream is up and False when it is lost", async () => {
    // The pod object a kubelet would run; nothing runs it here, Connect runs outside and is told its name.
    kubectl(['-n', 'sb', 'apply', '-f', '-'], JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'switchboard-connect-test', labels: { app: 'gate-test' } },
      spec: {
        serviceAccountName: 'switchboard-connect',
        readinessGates: [{ conditionType: 'switchboard.dev/message-streams' }],
        containers: [{ name: 'connect', image: 'switchboard:0.1.0' }],
      },
    }));
    const token = kubectl(['-n', 'sb', 'create', 'token', 'switchboard-connect', '--duration=1h']).trim();
    const saKubeconfig = cp.kubeconfigFor(token, 'switchboard-connect');
    assert.throws(() => run('kubectl', ['-n', 'sb', 'get', 'secrets'], { KUBECONFIG: saKubeconfig }), /forbidden/i, 'the ServiceAccount may not read secrets');
    const condition = () =>
      kubectl(['-n', 'sb', 'get', 'pod', 'switchboard-connect-test', '-o', 'jsonpath={.status.conditions[?(@.type=="switchboard.dev/message-streams")].status}']);

    const message = await startMessageProcess({}, procs);
    const connect = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, {
      READINESS_GATE: 'on',
      POD_NAME: 'switchboard-connect-test',
      POD_NAMESPACE: 'sb',
      KUBECONFIG: saKubeconfig,
    }, procs);
    await eventually('condition True', () => condition() === 'True', 15_000, 200);
    const reason = kubectl(['-n', 'sb', 'get', 'pod', 'switchboard-connect-test', '-o', 'jsonpath={.status.conditions[?(@.type=="switchboard.dev/message-streams")].reason}']);
    assert.equal(reason, 'MessageStreamsUp');

    message.proc.kill('SIGKILL');
    const t0 = Date.now();
    await eventually('condition False', () => condition() === 'False', 10_000, 200);
    assert.ok(Date.now() - t0 < 5000, `False ${Date.now() - t0} ms after the Message process died`);

    const again = await startMessageProcess({ MESSAGE_GRPC_PORT: String(message.grpcPort) }, procs);
    await eventually('condition True again', () => condition() === 'True', 15_000, 200);
    const updates = Number(/switchboard_connect_readiness_gate_updates_total\{result="success",service="connect"\} (\d+)/.exec(await (await fetch(`${connect.admin}/metrics`)).text())?.[1]);
    assert.equal(updates, 4, 'patched only on transitions: False at start, True, False, True');
    connect.proc.kill('SIGTERM');
    await eventually('condition False on drain', () => condition() === 'False', 10_000, 200);
    assert.deepEqual(await connect.proc.exited, { code: 0, signal: null });
    again.proc.kill('SIGTERM');
  });
});
