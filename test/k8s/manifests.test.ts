import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { App, YamlOutputType } from 'cdk8s';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwitchboardChart, SwitchboardMonitoringChart } from '../../cdk8s/switchboard-chart.js';
import { DEFAULT_VALUES } from '../../cdk8s/values.js';
import { CONNECT_SETTINGS } from '../../services/connect/config.js';
import { MESSAGE_SETTINGS, loadMessageConfig } from '../../services/message/config.js';
import { byKey, committedManifests, committedMonitoring, WITH_OPERATOR, helmTemplate, normalize, ROOT, run, CHART, seconds, type K8sObject } from './support.js';

const env = (container: K8sObject, name: string) => (container.env as Array<{ name: string; value?: string; valueFrom?: unknown }>).find((e) => e.name === name);

describe('Kubernetes manifests (cdk8s → k8s/, Helm chart)', function () {
  this.timeout(60_000);
  const objects = byKey([...committedManifests(), ...committedMonitoring()]);
  const get = (key: string): K8sObject => {
    const o = objects.get(key);
    if (!o) throw new Error(`${key} missing from k8s/`);
    return o;
  };

  it('k8s/ is exactly what the cdk8s app synthesizes (snapshot)', () => {
    const outdir = mkdtempSync(join(tmpdir(), 'cdk8s-'));
    const app = new App({ outdir, outputFileExtension: '.yaml', yamlOutputType: YamlOutputType.FILE_PER_CHART });
    new SwitchboardChart(app, 'switchboard');
    new SwitchboardMonitoringChart(app, 'switchboard-monitoring');
    app.synth();
    for (const file of ['switchboard.yaml', 'switchboard-monitoring.yaml']) assert.equal(readFileSync(join(outdir, file), 'utf8'), readFileSync(`${ROOT}k8s/${file}`, 'utf8'), file);
  });

  it('Connect pods declare the readiness gate and get least-privilege RBAC to set it', () => {
    const pod = get('Deployment/switchboard-connect').spec.template.spec;
    assert.deepEqual(pod.readinessGates, [{ conditionType: 'switchboard.dev/message-streams' }]);
    assert.equal(pod.serviceAccountName, 'switchboard-connect');
    const c = pod.containers[0];
    assert.deepEqual(env(c, 'POD_NAME')?.valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
    assert.deepEqual(env(c, 'POD_NAMESPACE')?.valueFrom, { fieldRef: { fieldPath: 'metadata.namespace' } });
    assert.equal(env(c, 'READINESS_GATE')?.value, 'on');
    assert.deepEqual(get('Role/switchboard-connect-readiness-gate').rules, [
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
      { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
    ]);
    const binding = get('RoleBinding/switchboard-connect-readiness-gate');
    assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'switchboard-connect' }]);
    assert.equal(binding.roleRef.name, 'switchboard-connect-readiness-gate');
    assert.equal(get('Deployment/switchboard-message').spec.template.spec.automountServiceAccountToken, false, 'Message needs no API access');
  });

  it('finds Message pods through a headless Service with a named gRPC port', () => {
    const svc = get('Service/switchboard-message-headless').spec;
    assert.equal(svc.clusterIP, 'None');
    assert.deepEqual(svc.ports[0], { name: 'grpc', port: 22004, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'grpc' });
    const c = get('Deployment/switchboard-connect').spec.template.spec.containers[0];
    assert.equal(env(c, 'MESSAGE_DISCOVERY')?.value, 'dns:switchboard-message-headless:22004');
    assert.deepEqual(env(c, 'AUTH_JWT_SECRET')?.valueFrom, { secretKeyRef: { name: 'switchboard-auth', key: 'jwt-secret' } });
    assert.equal(env(c, 'AUTH_MODE')?.value, 'jwt', 'the chart never runs insecure-dev');
  });

  for (const component of ['connect', 'message']) {
    it(`${component}: probes on the admin port, liveness never on a dependency, hardened, graceful`, () => {
      const pod = get(`Deployment/switchboard-${component}`).spec.template.spec;
      const c = pod.containers[0];
      assert.deepEqual(c.livenessProbe.httpGet, { path: '/livez', port: 'admin' });
      assert.deepEqual(c.startupProbe.httpGet, { path: '/livez', port: 'admin' });
      assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'admin' });
      assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
      assert.deepEqual(c.securityContext, { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
      assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory);
      assert.equal(pod.topologySpreadConstraints.length, 2);
      const drain = seconds(env(c, component === 'connect' ? 'CONNECT_DRAIN_WINDOW' : 'MESSAGE_DRAIN_WINDOW')!.value!);
      const shutdown = seconds(env(c, component === 'connect' ? 'CONNECT_SHUTDOWN_TIMEOUT' : 'MESSAGE_SHUTDOWN_TIMEOUT')!.value!);
      const preStop = c.lifecycle.preStop.sleep.seconds as number;
      assert.ok(pod.terminationGracePeriodSeconds > preStop + drain + shutdown, `grace ${pod.terminationGracePeriodSeconds}s > ${preStop}+${drain}+${shutdown}`);
      const pdb = get(`PodDisruptionBudget/switchboard-${component}`).spec;
      assert.equal(pdb.unhealthyPodEvictionPolicy, 'AlwaysAllow');
      assert.deepEqual(pdb.selector.matchLabels, get(`Deployment/switchboard-${component}`).spec.selector.matchLabels);
    });
  }

  it('scales Connect with an HPA, scrapes both admin ports, alerts on lost streams, and limits ingress', () => {
    const hpa = get('HorizontalPodAutoscaler/switchboard-connect').spec;
    assert.deepEqual(hpa.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'switchboard-connect' });
    const sm = get('ServiceMonitor/switchboard').spec;
    assert.deepEqual(sm.endpoints, [{ port: 'admin', path: '/metrics', interval: '15s' }]);
    for (const svc of ['Service/switchboard-connect', 'Service/switchboard-message-headless']) {
      const s = get(svc);
      assert.ok(s.spec.ports.some((p: { name: string }) => p.name === 'admin'), svc);
      for (const [k, v] of Object.entries(sm.selector.matchLabels)) assert.equal(s.metadata.labels![k], v);
    }
    const alerts = get('PrometheusRule/switchboard').spec.groups[0].rules.map((r: { alert: string; expr: string }) => [r.alert, r.expr]);
    assert.ok(alerts.some(([a, e]: string[]) => a === 'SwitchboardConnectNoMessageStreams' && e!.includes('switchboard_connect_streams_active')));
    assert.ok(alerts.some(([a, e]: string[]) => a === 'SwitchboardConnectReconnectRateHigh' && e!.includes('switchboard_connect_stream_reconnects_total')));
    const np = get('NetworkPolicy/switchboard-message').spec;
    assert.deepEqual(np.ingress[0].from, [{ podSelector: { matchLabels: get('Deployment/switchboard-connect').spec.selector.matchLabels } }]);
  });

  it('the Helm chart lints clean (--strict)', () => {
    assert.match(run('helm', ['lint', '--strict', CHART]), /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('helm template with default values renders the same objects as k8s/ (parity), the monitoring objects only where the Operator API exists', () => {
    const plain = helmTemplate();
    assert.deepEqual(plain.filter((o) => o.apiVersion.startsWith('monitoring.coreos.com/')), [], 'nothing that needs the Operator CRDs by default');
    assert.deepEqual(
      plain.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
      committedManifests().map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    );
    const fromHelm = helmTemplate(WITH_OPERATOR);
    const committed = [...committedManifests(), ...committedMonitoring()];
    assert.deepEqual(
      fromHelm.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
      committed.map((o) => `${o.kind}/${o.metadata.name}`).sort(),
    );
    const helm = byKey(fromHelm);
    for (const o of committed) assert.deepEqual(normalize(helm.get(`${o.kind}/${o.metadata.name}`)!), normalize(o), `${o.kind}/${o.metadata.name}`);
    for (const o of fromHelm) assert.equal(o.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm');
  });

  it('toggles remove what they name, and the values schema rejects bad values', () => {
    const keys = (args: string[]) => helmTemplate([...WITH_OPERATOR, ...args]).map((o) => `${o.kind}/${o.metadata.name}`);
    const none = keys(['--set', 'serviceMonitor.enabled=false', '--set', 'prometheusRule.enabled=false', '--set', 'connect.hpa.enabled=false', '--set', 'networkPolicy.enabled=false']);
    for (const k of ['ServiceMonitor/switchboard', 'PrometheusRule/switchboard', 'HorizontalPodAutoscaler/switchboard-connect', 'NetworkPolicy/switchboard-connect']) assert.ok(!none.includes(k), k);
    const noGate = byKey(helmTemplate(['--set', 'connect.readinessGate=false'])).get('Deployment/switchboard-connect')!;
    assert.equal(noGate.spec.template.spec.readinessGates, undefined);
    assert.throws(() => helmTemplate(['--set', 'kafka.brokers=no-port']), /kafka\.brokers|does not match pattern/);
    assert.throws(() => helmTemplate(['--set', 'mongodb.uri=postgres://x']), /mongodb/);
    assert.throws(() => helmTemplate(['--set', 'unknownKey=1']), /unknownKey|additional properties/i);
  });

  it('quickstart: one Message pod on embedded backends (Recreate) and a generated JWT secret', () => {
    const q = byKey(helmTemplate(['--set', 'quickstart=true']));
    const message = q.get('Deployment/switchboard-message')!;
    assert.equal(message.spec.replicas, 1);
    assert.deepEqual(message.spec.strategy, { type: 'Recreate' });
    const env = message.spec.template.spec.containers[0].env.map((e: { name: string }) => e.name);
    for (const backend of ['KAFKA_BROKERS', 'MONGODB_URI', 'REDIS_URL']) assert.ok(!env.includes(backend), `${backend} unset: embedded`);
    const secret = q.get('Secret/switchboard-auth')!;
    assert.ok(Buffer.from(String(secret.data['jwt-secret']), 'base64').length >= 32, 'a generated HS256 key of ≥ 32 bytes');
    assert.equal(byKey(helmTemplate()).get('Secret/switchboard-auth'), undefined, 'without quickstart the chart never creates the secret');
  });

  it('ships a helm test hook that sends and receives one message through the gateway Service', () => {
    const hooks = helmTemplate([], true).filter((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test');
    assert.equal(hooks.length, 1);
    const script = hooks[0]!.spec.containers[0].args[0] as string;
    assert.match(script, /--wait 1/);
    assert.match(script, /--send "hello from helm test"/);
    assert.match(script, /ws:\/\/switchboard-connect:21005\/ws/);
    assert.match(script, /grep -q '"body":"hello from helm test"'/);
    assert.deepEqual(hooks[0]!.spec.containers[0].env[0].valueFrom, { secretKeyRef: { name: DEFAULT_VALUES.auth.existingSecret, key: 'jwt-secret' } });
  });

  /** The container of a component rendered by `helm template` with these arguments. */
  const container = (component: 'connect' | 'message', args: string[]): K8sObject =>
    byKey(helmTemplate(args)).get(`Deployment/switchboard-${component}`)!.spec.template.spec.containers[0];
  const valuesFile = (yaml: string): string[] => {
    const file = join(mkdtempSync(join(tmpdir(), 'switchboard-values-')), 'values.yaml');
    writeFileSync(file, yaml);
    return ['-f', file];
  };

  it('connect.env / message.env set any other setting by name, after the chart’s own; the schema admits exactly the settings the chart does not set', () => {
    const args = [
      ...valuesFile('message:\n  env:\n    KAFKA_FETCH_IDLE_WAIT: 1s\n    MESSAGE_PUSH_BUFFER_MAX: 2000000\nconnect:\n  env:\n    STREAM_BACKOFF_MULTIPLIER: 1.5\n    CONNECT_ALLOWED_ORIGINS: https://chat.example\n'),
      '--set', 'connect.env.RATE_LIMIT_BURST=300',
    ];
    const message = container('message', args);
    const connect = container('connect', args);
    const tail = (c: K8sObject, n: number) => (c.env as Array<{ name: string; value: string }>).slice(-n);
    // A number of a values file comes to the template as a float: a whole one still renders whole.
    assert.deepEqual(tail(message, 2), [{ name: 'KAFKA_FETCH_IDLE_WAIT', value: '1s' }, { name: 'MESSAGE_PUSH_BUFFER_MAX', value: '2000000' }]);
    assert.deepEqual(tail(connect, 3), [
      { name: 'CONNECT_ALLOWED_ORIGINS', value: 'https://chat.example' },
      { name: 'RATE_LIMIT_BURST', value: '300' },
      { name: 'STREAM_BACKOFF_MULTIPLIER', value: '1.5' },
    ]);
    // Every setting a service reads is either set by the chart (from its values) or admitted by name
    // in env, never both: a setting added to a service without a place in the chart fails here.
    const schema = JSON.parse(readFileSync(`${CHART}/values.schema.json`, 'utf8')) as { properties: Record<string, { properties: { env: { properties: Record<string, unknown> } } }> };
    const withToken = [
      ...['--set', 'auth.internalTokenSecret=switchboard-internal', '--set', 'connect.tls.secretName=gateway-tls'],
      ...['--set', 'internalTls.messageSecret=message-link', '--set', 'internalTls.connectSecret=connect-link'],
      ...['--set', 'serverApi.enabled=true', '--set', 'serverApi.keysSecret=api-keys'],
    ];
    for (const [component, settings] of [['connect', CONNECT_SETTINGS], ['message', MESSAGE_SETTINGS]] as const) {
      const chartSets = (container(component, withToken).env as Array<{ name: string }>).map((e) => e.name);
      const admitted = Object.keys(schema.properties[component]!.properties.env.properties);
      // A pod reaches the API with its service account.
      const notInPods = ['KUBECONFIG'];
      assert.deepEqual([...admitted].sort(), settings.filter((s) => !chartSets.includes(s) && !notInPods.includes(s)).sort(), component);
      for (const name of chartSets) assert.ok(settings.includes(name), `${component}: the chart sets ${name}, which the service does not read`);
    }
    assert.throws(() => helmTemplate(['--set', 'message.env.KAFKA_BROKERS=kafka:9092']), /message\.env: Additional property KAFKA_BROKERS is not allowed/);
    assert.throws(() => helmTemplate(['--set', 'connect.env.LOG_LEVEL=debug']), /connect\.env: Additional property LOG_LEVEL is not allowed/);
    assert.throws(() => helmTemplate(['--set', 'connect.env.NO_SUCH_SETTING=1']), /connect\.env: Additional property NO_SUCH_SETTING is not allowed/);
  });

  it('integer values of a values file render as integers (1000000, not 1e+06, which the services refuse)', () => {
    const message = container('message', valuesFile('message:\n  groupMaxMembers: 1000000\n  groupMaxPerUser: 1000000\nkafka:\n  partitions: 10000\n'));
    assert.deepEqual(['GROUP_MAX_MEMBERS', 'GROUP_MAX_PER_USER', 'KAFKA_PARTITIONS'].map((n) => env(message, n)?.value), ['1000000', '1000000', '10000']);
  });

  it('the cdk8s app takes the same env and internal-token values and renders the same Deployments as the chart', () => {
    const values = {
      ...DEFAULT_VALUES,
      auth: { ...DEFAULT_VALUES.auth, internalTokenSecret: 'switchboard-internal', internalTokenKey: 'shared' },
      mongodb: { ...DEFAULT_VALUES.mongodb, existingSecret: 'switchboard-mongodb' },
      connect: { ...DEFAULT_VALUES.connect, env: { STREAM_BACKOFF_MAX: '10s', RATE_LIMIT_BURST: '300' } },
      message: { ...DEFAULT_VALUES.message, env: { KAFKA_FETCH_IDLE_WAIT: '1s' } },
    };
    const chart = new SwitchboardChart(new App({ outdir: mkdtempSync(join(tmpdir(), 'cdk8s-')) }), 'switchboard', values);
    const fromCdk8s = byKey(chart.toJson() as K8sObject[]);
    const fromHelm = byKey(helmTemplate([
      '--set', 'auth.internalTokenSecret=switchboard-internal', '--set', 'auth.internalTokenKey=shared', '--set', 'mongodb.existingSecret=switchboard-mongodb',
      '--set', 'connect.env.STREAM_BACKOFF_MAX=10s', '--set', 'connect.env.RATE_LIMIT_BURST=300', '--set', 'message.env.KAFKA_FETCH_IDLE_WAIT=1s',
    ]));
    for (const key of ['Deployment/switchboard-connect', 'Deployment/switchboard-message']) {
      assert.deepEqual(normalize(fromHelm.get(key)!), normalize(fromCdk8s.get(key)!), key);
      assert.ok(JSON.stringify(fromCdk8s.get(key)).includes('"INTERNAL_AUTH_TOKEN"'), key);
    }
  });

  it('mongodb.existingSecret / redis.existingSecret: Message reads the store URI and the Redis URL from those Secrets (credentials stay out of values); without them, the values', () => {
    const args = ['--set', 'mongodb.existingSecret=switchboard-mongodb', '--set', 'redis.existingSecret=switchboard-redis', '--set', 'redis.secretKey=address'];
    const message = container('message', args);
    assert.deepEqual(env(message, 'MONGODB_URI'), { name: 'MONGODB_URI', valueFrom: { secretKeyRef: { name: 'switchboard-mongodb', key: 'uri' } } });
    assert.deepEqual(env(message, 'REDIS_URL'), { name: 'REDIS_URL', valueFrom: { secretKeyRef: { name: 'switchboard-redis', key: 'address' } } });
    // A replica set's host list, as a values file gives it (on the command line its commas need escaping).
    const plain = container('message', valuesFile("mongodb:\n  uri: 'mongodb://db-0:27017,db-1:27017,db-2:27017/chat?replicaSet=rs0'\n"));
    assert.deepEqual(env(plain, 'MONGODB_URI'), { name: 'MONGODB_URI', value: 'mongodb://db-0:27017,db-1:27017,db-2:27017/chat?replicaSet=rs0' });
    assert.deepEqual(env(plain, 'REDIS_URL'), { name: 'REDIS_URL', value: 'redis://redis:6379' });
    assert.throws(() => helmTemplate(['--set', 'mongodb.secretKey=']), /mongodb/);
  });

  it("the README's production install: its values file renders against the schema, and the store URI it puts in a Secret is one Message takes", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const values = /cat > production\.yaml <<'EOF'\n([\s\S]*?)\nEOF\n/.exec(readme)?.[1];
    assert.ok(values, 'the README writes production.yaml');
    const message = container('message', valuesFile(values));
    assert.equal(env(message, 'KAFKA_BROKERS')?.value, 'switchboard-kafka-bootstrap.kafka:9092');
    assert.equal(env(message, 'KAFKA_REPLICATION_FACTOR')?.value, '3');
    assert.deepEqual(env(message, 'MONGODB_URI')?.valueFrom, { secretKeyRef: { name: 'switchboard-mongodb', key: 'uri' } });
    const uri = /--from-literal=uri="([^"]+)"/.exec(readme)?.[1]?.replace('$MONGODB_PASSWORD', 'secret');
    assert.ok(uri, 'the README creates the store URI Secret');
    assert.equal(loadMessageConfig({ MONGODB_URI: uri }).backends.mongodbUri, uri);
    // The Redis Cluster's URL from its Secret, in the mode the values set.
    assert.deepEqual(env(message, 'REDIS_URL')?.valueFrom, { secretKeyRef: { name: 'switchboard-redis', key: 'url' } });
    const redisUrl = /--from-literal=url="([^"]+)"/.exec(readme)?.[1]?.replace('$REDIS_PASSWORD', 'secret');
    assert.ok(redisUrl, 'the README creates the Redis URL Secret');
    const config = loadMessageConfig({ REDIS_URL: redisUrl, REDIS_MODE: env(message, 'REDIS_MODE')?.value });
    assert.deepEqual([config.backends.redisUrl, config.redis.mode, config.redis.waitReplicas], [redisUrl, 'cluster', 1]);
  });

  it('connect.tls.secretName: the gateway serves wss:// from that Secret, mounted read-only and read again every reloadInterval; the helm test then connects over wss://', () => {
    const args = ['--set', 'connect.tls.secretName=gateway-tls', '--set', 'connect.tls.reloadInterval=30s'];
    const objects = byKey(helmTemplate(args));
    const pod = objects.get('Deployment/switchboard-connect')!.spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(
      ['CONNECT_TLS_CERT_FILE', 'CONNECT_TLS_KEY_FILE', 'CONNECT_TLS_RELOAD_INTERVAL'].map((n) => env(c, n)?.value),
      ['/etc/switchboard/tls/tls.crt', '/etc/switchboard/tls/tls.key', '30s'],
    );
    assert.deepEqual(c.volumeMounts.at(-1), { name: 'tls', mountPath: '/etc/switchboard/tls', readOnly: true });
    assert.deepEqual(pod.volumes.at(-1), { name: 'tls', secret: { secretName: 'gateway-tls' } });
    assert.equal(env(container('connect', []), 'CONNECT_TLS_CERT_FILE'), undefined, 'plain ws:// without it');
    const hook = helmTemplate(args, true).find((o) => o.metadata.annotations?.['helm.sh/hook'] === 'test')!;
    assert.match(hook.spec.containers[0].args[0] as string, /wss:\/\/switchboard-connect:21005\/ws/);
    assert.match(hook.spec.containers[0].args[0] as string, /--ca \/etc\/switchboard\/tls\/ca\.crt/);
    // The same from the cdk8s app.
    const values = { ...DEFAULT_VALUES, connect: { ...DEFAULT_VALUES.connect, tls: { secretName: 'gateway-tls', reloadInterval: '30s' } } };
    const chart = new SwitchboardChart(new App({ outdir: mkdtempSync(join(tmpdir(), 'cdk8s-')) }), 'switchboard', values);
    const fromCdk8s = byKey(chart.toJson() as K8sObject[]).get('Deployment/switchboard-connect')!;
    assert.deepEqual(normalize(objects.get('Deployment/switchboard-connect')!), normalize(fromCdk8s));
  });

  it('internalTls: each component mounts its own Secret and reads INTERNAL_TLS_* from it (mutual TLS between the services); both Secrets or neither; alike from cdk8s', () => {
    const args = ['--set', 'internalTls.messageSecret=message-link', '--set', 'internalTls.connectSecret=connect-link'];
    const objects = byKey(helmTemplate(args));
    for (const [component, secret] of [
      ['connect', 'connect-link'],
      ['message', 'message-link'],
    ] as const) {
      const pod = objects.get(`Deployment/switchboard-${component}`)!.spec.template.spec;
      const c = pod.containers[0];
      assert.deepEqual(
        ['INTERNAL_TLS_CERT_FILE', 'INTERNAL_TLS_KEY_FILE', 'INTERNAL_TLS_CA_FILE', 'INTERNAL_TLS_RELOAD_INTERVAL'].map((n) => env(c, n)?.value),
        ['/etc/switchboard/internal-tls/tls.crt', '/etc/switchboard/internal-tls/tls.key', '/etc/switchboard/internal-tls/ca.crt', '30s'],
        component,
      );
      assert.deepEqual(c.volumeMounts.at(-1), { name: 'internal-tls', mountPath: '/etc/switchboard/internal-tls', readOnly: true });
      assert.deepEqual(pod.volumes.at(-1), { name: 'internal-tls', secret: { secretName: secret } });
    }
    // Connect checks the name the Message pods' certificate carries: the headless Service it discovers them by.
    assert.equal(env(objects.get('Deployment/switchboard-connect')!.spec.template.spec.containers[0], 'MESSAGE_DISCOVERY')?.value, 'dns:switchboard-message-headless:22004');
    assert.throws(() => helmTemplate(['--set', 'internalTls.messageSecret=message-link']), /internalTls: set both messageSecret and connectSecret, or neither/);
    assert.equal(env(container('message', []), 'INTERNAL_TLS_CERT_FILE'), undefined, 'plaintext without them');
    const values = { ...DEFAULT_VALUES, internalTls: { messageSecret: 'message-link', connectSecret: 'connect-link', reloadInterval: '30s' } };
    const fromCdk8s = byKey(new SwitchboardChart(new App({ outdir: mkdtempSync(join(tmpdir(), 'cdk8s-')) }), 'switchboard', values).toJson() as K8sObject[]);
    for (const key of ['Deployment/switchboard-connect', 'Deployment/switchboard-message']) assert.deepEqual(normalize(fromCdk8s.get(key)!), normalize(objects.get(key)!), key);
  });

  it('serverApi: the API port, its keys mounted from their Secret, a ClusterIP Service and a NetworkPolicy rule for the namespace and allowFrom; the helm test publishes through it; alike from cdk8s', () => {
    const args = valuesFile('serverApi:\n  enabled: true\n  keysSecret: api-keys\n  allowFrom:\n    - namespaceSelector:\n        matchLabels:\n          team: shop\n');
    const objects = byKey(helmTemplate(args));
    const pod = objects.get('Deployment/switchboard-message')!.spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(c.ports.at(-1), { name: 'api', containerPort: 22006, protocol: 'TCP' });
    assert.deepEqual([env(c, 'MESSAGE_API_PORT')?.value, env(c, 'SERVER_API_KEYS_FILE')?.value], ['22006', '/etc/switchboard/server-api/keys']);
    assert.deepEqual(c.volumeMounts.at(-1), { name: 'server-api-keys', mountPath: '/etc/switchboard/server-api', readOnly: true });
    assert.deepEqual(pod.volumes.at(-1), { name: 'server-api-keys', secret: { secretName: 'api-keys', items: [{ key: 'keys', path: 'keys' }] } });
    const service = objects.get('Service/switchboard-api')!;
    assert.equal(service.spec.type ?? 'ClusterIP', 'ClusterIP', 'inside the cluster only');
    assert.deepEqual(service.spec.ports, [{ name: 'api', port: 22006, targetPort: 'api', protocol: 'TCP' }]);
    assert.deepEqual(objects.get('NetworkPolicy/switchboard-message')!.spec.ingress[1], {
      from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { team: 'shop' } } }],
      ports: [{ port: 'api', protocol: 'TCP' }],
    });
    const test = byKey(helmTemplate(args, true)).get('Pod/switchboard-test-send-and-receive')!.spec;
    assert.match(test.containers[0].args[0], /switchboard\.v1\.ServerApiService\/Publish/);
    assert.match(test.containers[0].args[0], /grep -q '"body":"hello from the server API"'/);
    assert.throws(() => helmTemplate(['--set', 'serverApi.enabled=true']), /keysSecret/);
    assert.equal(objects.has('Service/switchboard-api') && !byKey(helmTemplate([])).has('Service/switchboard-api'), true, 'off by default');
    const values = {
      ...DEFAULT_VALUES,
      serverApi: { enabled: true, keysSecret: 'api-keys', keysKey: 'keys', allowFrom: [{ namespaceSelector: { matchLabels: { team: 'shop' } } }] },
    };
    const fromCdk8s = byKey(new SwitchboardChart(new App({ outdir: mkdtempSync(join(tmpdir(), 'cdk8s-')) }), 'switchboard', values).toJson() as K8sObject[]);
    for (const key of ['Deployment/switchboard-message', 'Service/switchboard-api', 'NetworkPolicy/switchboard-message'])
      assert.deepEqual(normalize(fromCdk8s.get(key)!), normalize(objects.get(key)!), key);
  });

  it('connect.ingress: an Ingress to the WebSocket port with annotations that keep WebSockets open through ingress-nginx; connect.httpRoute: a Gateway API HTTPRoute; each only where the cluster serves its API, and alike from cdk8s', () => {
    const ingressArgs = valuesFile(
      'connect:\n  ingress:\n    enabled: true\n    className: nginx\n    annotations:\n      nginx.ingress.kubernetes.io/proxy-read-timeout: "7200"\n    hosts:\n      - host: chat.example.com\n        paths:\n          - path: /\n            pathType: Prefix\n    tls:\n      - secretName: chat-tls\n        hosts: [chat.example.com]\n',
    );
    const ingress = byKey(helmTemplate(ingressArgs)).get('Ingress/switchboard-connect')!;
    assert.deepEqual(ingress.metadata.annotations, {
      'nginx.ingress.kubernetes.io/proxy-read-timeout': '7200',
      'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
      'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
    });
    assert.equal(ingress.spec.ingressClassName, 'nginx');
    assert.deepEqual(ingress.spec.tls, [{ secretName: 'chat-tls', hosts: ['chat.example.com'] }]);
    assert.deepEqual(ingress.spec.rules, [
      { host: 'chat.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'switchboard-connect', port: { name: 'ws' } } } }] } },
    ]);
    // Above the heartbeat: an idle WebSocket is not cut by the proxy between two pings.
    assert.ok(Number(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-send-timeout']) * 1000 > 25_000);
    const routeArgs = ['--set', 'connect.httpRoute.enabled=true', '--set', 'connect.httpRoute.parentRefs[0].name=public', '--set', 'connect.httpRoute.parentRefs[0].namespace=gateway-system', '--set', 'connect.httpRoute.hostnames[0]=chat.example.com'];
    assert.throws(() => helmTemplate(routeArgs), /this cluster serves no gateway\.networking\.k8s\.io\/v1 HTTPRoute/);
    const route = byKey(helmTemplate([...routeArgs, '--api-versions', 'gateway.networking.k8s.io/v1'])).get('HTTPRoute/switchboard-connect')!;
    assert.deepEqual(route.spec, {
      parentRefs: [{ name: 'public', namespace: 'gateway-system' }],
      hostnames: ['chat.example.com'],
      rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: 'switchboard-connect', port: 21005 }] }],
    });
    assert.equal(byKey(helmTemplate([])).get('Ingress/switchboard-connect'), undefined, 'off by default');
    assert.throws(() => helmTemplate(['--set', 'connect.ingress.hosts[0].paths[0].path=ws']), /connect\.ingress/);
    // The cdk8s app renders the same two objects from the same values.
    const values = {
      ...DEFAULT_VALUES,
      connect: {
        ...DEFAULT_VALUES.connect,
        ingress: {
          enabled: true,
          className: 'nginx',
          annotations: { 'nginx.ingress.kubernetes.io/proxy-read-timeout': '7200' },
          hosts: [{ host: 'chat.example.com', paths: [{ path: '/', pathType: 'Prefix' }] }],
          tls: [{ secretName: 'chat-tls', hosts: ['chat.example.com'] }],
        },
        httpRoute: { enabled: true, parentRefs: [{ name: 'public', namespace: 'gateway-system' }], hostnames: ['chat.example.com'] },
      },
    };
    const fromCdk8s = byKey(new SwitchboardChart(new App({ outdir: mkdtempSync(join(tmpdir(), 'cdk8s-')) }), 'switchboard', values).toJson() as K8sObject[]);
    assert.deepEqual(normalize(fromCdk8s.get('Ingress/switchboard-connect')!), normalize(ingress));
    assert.deepEqual(normalize(fromCdk8s.get('HTTPRoute/switchboard-connect')!), normalize(route));
  });

  it('auth.internalTokenSecret: both services read INTERNAL_AUTH_TOKEN from that Secret; without it neither has the setting', () => {
    const args = ['--set', 'auth.internalTokenSecret=switchboard-internal', '--set', 'auth.internalTokenKey=shared'];
    for (const component of ['connect', 'message'] as const) {
      assert.deepEqual(env(container(component, args), 'INTERNAL_AUTH_TOKEN'), { name: 'INTERNAL_AUTH_TOKEN', valueFrom: { secretKeyRef: { name: 'switchboard-internal', key: 'shared' } } }, component);
      assert.equal(env(container(component, []), 'INTERNAL_AUTH_TOKEN'), undefined, component);
    }
  });
});
