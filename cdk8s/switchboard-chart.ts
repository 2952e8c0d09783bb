import { ApiObject, Chart, type ChartProps } from 'cdk8s';
import { k8s } from 'cdk8s-plus-32';
import type { Construct } from 'constructs';
import { DEFAULT_VALUES, type SwitchboardValues } from './values.js';

const { IntOrString, Quantity } = k8s;

/** Ports of docs/PROTOCOL.md §1. */
export const PORTS = { messageGrpc: 22004, messageHttp: 21004, messageApi: 22006, connectWs: 21005, connectAdmin: 22005 } as const;
/** Where Message reads the server API's keys (the Secret's key mounted as one file). */
const API_KEYS_DIR = '/etc/switchboard/server-api';
/** The readiness gate of Connect pods (docs/PROTOCOL.md §7). */
export const GATE_CONDITION = 'switchboard.dev/message-streams';

type Component = 'connect' | 'message';

/** The labels of every object (of a component's, when given). */
function labelsFor(v: SwitchboardValues, c?: Component): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'switchboard',
    'app.kubernetes.io/instance': v.fullname,
    'app.kubernetes.io/version': v.version,
    'app.kubernetes.io/part-of': 'switchboard',
    ...(c ? { 'app.kubernetes.io/component': c } : {}),
  };
}

/**
 * Switchboard on Kubernetes: Connect and Message Deployments with probes on the admin ports, a
 * headless Service for Message (one stream per pod), a Service for Connect, the readiness gate
 * and the least-privilege RBAC it needs, PodDisruptionBudgets, an HPA, a NetworkPolicy, and the
 * scrape annotations for Prometheus (see SwitchboardMonitoringChart for the Operator's objects).
 */
/** Where the gateway's TLS Secret is mounted. */
const TLS_DIR = '/etc/switchboard/tls';
/** Where each component's Secret for the link between the services is mounted. */
const LINK_TLS_DIR = '/etc/switchboard/internal-tls';

export class SwitchboardChart extends Chart {
  constructor(
    scope: Construct,
    id: string,
    readonly values: SwitchboardValues = DEFAULT_VALUES,
    props: ChartProps = {},
  ) {
    super(scope, id, { disableResourceNameHashes: true, ...props });
    const v = values;
    const name = (c: Component, suffix = '') => `${v.fullname}-${c}${suffix}`;
    const selector = (c: Component) => ({
      'app.kubernetes.io/name': 'switchboard',
      'app.kubernetes.io/instance': v.fullname,
      'app.kubernetes.io/component': c,
    });
    const labels = (c?: Component) => labelsFor(v, c);
    const meta = (n: string, c?: Component) => ({ name: n, labels: labels(c) });
    const image = `${v.image.repository}:${v.image.tag}`;
    const resources = (r: SwitchboardValues['connect']['resources']) => ({
      requests: { cpu: Quantity.fromString(r.requests.cpu), memory: Quantity.fromString(r.requests.memory) },
      limits: { cpu: Quantity.fromString(r.limits.cpu), memory: Quantity.fromString(r.limits.memory) },
    });
    const podSecurity = { runAsNonRoot: true, runAsUser: 10001, runAsGroup: 10001, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } };
    const containerSecurity = { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } };
    const probes = (port: string) => ({
      startupProbe: { httpGet: { path: '/livez', port: IntOrString.fromString(port) }, periodSeconds: 2, failureThreshold: 30 },
      livenessProbe: { httpGet: { path: '/livez', port: IntOrString.fromString(port) }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
      readinessProbe: { httpGet: { path: '/readyz', port: IntOrString.fromString(port) }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 2 },
    });
    const spread = (c: Component) => [
      { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector(c) } },
      { maxSkew: 1, topologyKey: 'topology.kubernetes.io/zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: selector(c) } },
    ];
    const tmp = { volumes: [{ name: 'tmp', emptyDir: { sizeLimit: Quantity.fromString('64Mi') } }], mounts: [{ name: 'tmp', mountPath: '/tmp' }] };
    /** The gateway's own TLS, when a Secret is named. */
    const tls = v.connect.tls.secretName ? v.connect.tls : undefined;
    /** Mutual TLS between the services: its env, and each component's mount of its Secret. */
    if (Boolean(v.internalTls.messageSecret) !== Boolean(v.internalTls.connectSecret))
      throw new Error('internalTls: set both messageSecret and connectSecret, or neither');
    const linkTls = v.internalTls.messageSecret ? v.internalTls : undefined;
    const linkEnv = linkTls
      ? [
          { name: 'INTERNAL_TLS_CERT_FILE', value: `${LINK_TLS_DIR}/tls.crt` },
          { name: 'INTERNAL_TLS_KEY_FILE', value: `${LINK_TLS_DIR}/tls.key` },
          { name: 'INTERNAL_TLS_CA_FILE', value: `${LINK_TLS_DIR}/ca.crt` },
          { name: 'INTERNAL_TLS_RELOAD_INTERVAL', value: linkTls.reloadInterval },
        ]
      : [];
    const linkMount = linkTls ? [{ name: 'internal-tls', mountPath: LINK_TLS_DIR, readOnly: true }] : [];
    const linkVolume = (secretName: string) => (linkTls ? [{ name: 'internal-tls', secret: { secretName } }] : []);
    const fieldEnv = (n: string, path: string) => ({ name: n, valueFrom: { fieldRef: { fieldPath: path } } });
    /** The server API: its port, its env, and the mount of its keys, when on. */
    if (v.serverApi.enabled && !v.serverApi.keysSecret) throw new Error('serverApi.keysSecret: the Secret holding the API keys');
    const api = v.serverApi.enabled ? v.serverApi : undefined;
    const apiPort = api ? [{ name: 'api', containerPort: PORTS.messageApi, protocol: 'TCP' }] : [];
    const apiEnv = api
      ? [
          { name: 'MESSAGE_API_PORT', value: String(PORTS.messageApi) },
          { name: 'SERVER_API_KEYS_FILE', value: `${API_KEYS_DIR}/keys` },
        ]
      : [];
    const apiMount = api ? [{ name: 'server-api-keys', mountPath: API_KEYS_DIR, readOnly: true }] : [];
    const apiVolume = api ? [{ name: 'server-api-keys', secret: { secretName: api.keysSecret, items: [{ key: api.keysKey, path: 'keys' }] } }] : [];
    // The shared token of Connect's calls to Message, for both, when a Secret holds it.
    // A backend address from a Secret when one is named (it may carry credentials), else the value.
    const fromSecretOr = (name: string, value: string, s: { existingSecret: string; secretKey: string }) =>
      s.existingSecret ? { name, valueFrom: { secretKeyRef: { name: s.existingSecret, key: s.secretKey } } } : { name, value };
    const internalToken = v.auth.internalTokenSecret
      ? [{ name: 'INTERNAL_AUTH_TOKEN', valueFrom: { secretKeyRef: { name: v.auth.internalTokenSecret, key: v.auth.internalTokenKey } } }]
      : [];
    // Settings by name, after the chart's own, in name order (as Helm renders a map).
    const byName = (env: Readonly<Record<string, string>>) =>
      Object.keys(env)
        .sort()
        .map((n) => ({ name: n, value: env[n]! }));
    // The convention of Prometheus servers without the Operator (kubernetes_sd, pod role).
    const scrape = (port: number) => ({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(port), 'prometheus.io/path': '/metrics' });

    // ---- Message ----------------------------------------------------------------------------
    new k8s.KubeServiceAccount(this, 'message-sa', { metadata: meta(name('message'), 'message'), automountServiceAccountToken: false });

    new k8s.KubeDeployment(this, 'message', {
      metadata: meta(name('message'), 'message'),
      spec: {
        replicas: v.message.replicas,
        selector: { matchLabels: selector('message') },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: IntOrString.fromNumber(0), maxSurge: IntOrString.fromNumber(1) } },
        template: {
          metadata: { labels: labels('message'), annotations: scrape(PORTS.messageHttp) },
          spec: {
            serviceAccountName: name('message'),
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: v.message.terminationGracePeriodSeconds,
            securityContext: podSecurity,
            topologySpreadConstraints: spread('message'),
            containers: [
              {
                name: 'message',
                image,
                imagePullPolicy: v.image.pullPolicy,
                args: ['message'],
                ports: [
                  { name: 'grpc', containerPort: PORTS.messageGrpc, protocol: 'TCP' },
                  { name: 'admin', containerPort: PORTS.messageHttp, protocol: 'TCP' },
                  ...apiPort,
                ],
                env: [
                  fieldEnv('MESSAGE_INSTANCE_ID', 'metadata.name'),
                  { name: 'MESSAGE_GRPC_PORT', value: String(PORTS.messageGrpc) },
                  { name: 'MESSAGE_HTTP_PORT', value: String(PORTS.messageHttp) },
                  { name: 'KAFKA_BROKERS', value: v.kafka.brokers },
                  { name: 'KAFKA_TOPIC', value: v.kafka.topic },
                  { name: 'KAFKA_PARTITIONS', value: String(v.kafka.partitions) },
                  { name: 'KAFKA_REPLICATION_FACTOR', value: String(v.kafka.replicationFactor) },
                  { name: 'KAFKA_MIN_INSYNC_REPLICAS', value: String(v.kafka.minInsyncReplicas) },
                  fromSecretOr('MONGODB_URI', v.mongodb.uri, v.mongodb),
                  { name: 'REDIS_MODE', value: v.redis.mode },
                  fromSecretOr('REDIS_URL', v.redis.url, v.redis),
                  { name: 'MESSAGE_DRAIN_WINDOW', value: v.message.drainWindow },
                  { name: 'MESSAGE_SHUTDOWN_TIMEOUT', value: v.message.shutdownTimeout },
                  { name: 'GROUP_MAX_MEMBERS', value: String(v.message.groupMaxMembers) },
                  { name: 'GROUP_MAX_PER_USER', value: String(v.message.groupMaxPerUser) },
                  { name: 'LOG_LEVEL', value: v.logLevel },
                  ...apiEnv,
                  ...internalToken,
                  ...linkEnv,
                  ...byName(v.message.env),
                ],
                ...probes('admin'),
                lifecycle: { preStop: { sleep: { seconds: v.message.preStopSleepSeconds } } },
                resources: resources(v.message.resources),
                securityContext: containerSecurity,
                volumeMounts: [...tmp.mounts, ...linkMount, ...apiMount],
              },
            ],
            volumes: [...tmp.volumes, ...linkVolume(v.internalTls.messageSecret), ...apiVolume],
          },
        },
      },
    });

    // Not-ready pods listed too: a Message pod is not Ready while a backend blips (Redis, say) yet
    // still serves its streams; a starting pod answers streams only once it serves and a draining one refuses them, so
    // discovery follows what Connect can use rather than readiness (which still paces rollouts).
    new k8s.KubeService(this, 'message-headless', {
      metadata: meta(name('message', '-headless'), 'message'),
      spec: {
        clusterIp: 'None',
        publishNotReadyAddresses: true,
        selector: selector('message'),
        ports: [
          { name: 'grpc', port: PORTS.messageGrpc, targetPort: IntOrString.fromString('grpc'), protocol: 'TCP', appProtocol: 'grpc' },
          { name: 'admin', port: PORTS.messageHttp, targetPort: IntOrString.fromString('admin'), protocol: 'TCP' },
        ],
      },
    });

    if (api) {
      // The server API for the application's backends inside the cluster.
      new k8s.KubeService(this, 'message-api', {
        metadata: meta(`${v.fullname}-api`, 'message'),
        spec: {
          selector: selector('message'),
          ports: [{ name: 'api', port: PORTS.messageApi, targetPort: IntOrString.fromString('api'), protocol: 'TCP' }],
        },
      });
    }

    new k8s.KubePodDisruptionBudget(this, 'message-pdb', {
      metadata: meta(name('message'), 'message'),
      spec: { maxUnavailable: IntOrString.fromNumber(1), selector: { matchLabels: selector('message') }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });

    // ---- Connect ----------------------------------------------------------------------------
    new k8s.KubeServiceAccount(this, 'connect-sa', { metadata: meta(name('connect'), 'connect') });
    // Least privilege for the readiness gate: read pods and patch their status in this namespace.
    new k8s.KubeRole(this, 'connect-role', {
      metadata: meta(name('connect', '-readiness-gate'), 'connect'),
      rules: [
        { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
        { apiGroups: [''], resources: ['pods/status'], verbs: ['patch'] },
      ],
    });
    new k8s.KubeRoleBinding(this, 'connect-rolebinding', {
      metadata: meta(name('connect', '-readiness-gate'), 'connect'),
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: name('connect', '-readiness-gate') },
      subjects: [{ kind: 'ServiceAccount', name: name('connect') }],
    });

    new k8s.KubeDeployment(this, 'connect', {
      metadata: meta(name('connect'), 'connect'),
      spec: {
        replicas: v.connect.replicas,
        selector: { matchLabels: selector('connect') },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: IntOrString.fromNumber(0), maxSurge: IntOrString.fromNumber(1) } },
        template: {
          metadata: { labels: labels('connect'), annotations: scrape(PORTS.connectAdmin) },
          spec: {
            serviceAccountName: name('connect'),
            terminationGracePeriodSeconds: v.connect.terminationGracePeriodSeconds,
            securityContext: podSecurity,
            topologySpreadConstraints: spread('connect'),
            ...(v.connect.readinessGate ? { readinessGates: [{ conditionType: GATE_CONDITION }] } : {}),
            containers: [
              {
                name: 'connect',
                image,
                imagePullPolicy: v.image.pullPolicy,
                args: ['connect'],
                ports: [
                  { name: 'ws', containerPort: PORTS.connectWs, protocol: 'TCP' },
                  { name: 'admin', containerPort: PORTS.connectAdmin, protocol: 'TCP' },
                ],
                env: [
                  fieldEnv('POD_NAME', 'metadata.name'),
                  fieldEnv('POD_NAMESPACE', 'metadata.namespace'),
                  { name: 'CONNECT_INSTANCE_ID', value: '$(POD_NAME)' },
                  { name: 'CONNECT_WS_PORT', value: String(PORTS.connectWs) },
                  { name: 'CONNECT_ADMIN_PORT', value: String(PORTS.connectAdmin) },
                  { name: 'MESSAGE_DISCOVERY', value: `dns:${name('message', '-headless')}:${PORTS.messageGrpc}` },
                  { name: 'CONNECT_MIN_STREAMS', value: String(v.connect.minStreams) },
                  { name: 'CONNECT_MAX_CONNECTIONS', value: String(v.connect.maxConnections) },
                  { name: 'AUTH_MODE', value: 'jwt' },
                  { name: 'AUTH_JWT_SECRET', valueFrom: { secretKeyRef: { name: v.auth.existingSecret, key: v.auth.secretKey } } },
                  { name: 'READINESS_GATE', value: v.connect.readinessGate ? 'on' : 'off' },
                  { name: 'CONNECT_DRAIN_WINDOW', value: v.connect.drainWindow },
                  { name: 'CONNECT_SHUTDOWN_TIMEOUT', value: v.connect.shutdownTimeout },
                  { name: 'CONNECT_DEMO_PAGE', value: String(v.connect.demoPage) },
                  { name: 'LOG_LEVEL', value: v.logLevel },
                  ...(tls
                    ? [
                        { name: 'CONNECT_TLS_CERT_FILE', value: `${TLS_DIR}/tls.crt` },
                        { name: 'CONNECT_TLS_KEY_FILE', value: `${TLS_DIR}/tls.key` },
                        { name: 'CONNECT_TLS_RELOAD_INTERVAL', value: tls.reloadInterval },
                      ]
                    : []),
                  ...internalToken,
                  ...linkEnv,
                  ...byName(v.connect.env),
                ],
                ...probes('admin'),
                lifecycle: { preStop: { sleep: { seconds: v.connect.preStopSleepSeconds } } },
                resources: resources(v.connect.resources),
                securityContext: containerSecurity,
                volumeMounts: [...tmp.mounts, ...(tls ? [{ name: 'tls', mountPath: TLS_DIR, readOnly: true }] : []), ...linkMount],
              },
            ],
            volumes: [...tmp.volumes, ...(tls ? [{ name: 'tls', secret: { secretName: tls.secretName } }] : []), ...linkVolume(v.internalTls.connectSecret)],
          },
        },
      },
    });

    new k8s.KubeService(this, 'connect-service', {
      metadata: meta(name('connect'), 'connect'),
      spec: {
        type: 'ClusterIP',
        selector: selector('connect'),
        ports: [
          { name: 'ws', port: PORTS.connectWs, targetPort: IntOrString.fromString('ws'), protocol: 'TCP' },
          { name: 'admin', port: PORTS.connectAdmin, targetPort: IntOrString.fromString('admin'), protocol: 'TCP' },
        ],
      },
    });

    if (v.connect.ingress.enabled) {
      const ing = v.connect.ingress;
      // Keeps WebSockets open through ingress-nginx: an hour between reads or writes (the heartbeat is 25 s), no buffering.
      const defaults: Record<string, string> = {
        'nginx.ingress.kubernetes.io/proxy-read-timeout': '3600',
        'nginx.ingress.kubernetes.io/proxy-send-timeout': '3600',
        'nginx.ingress.kubernetes.io/proxy-buffering': 'off',
        ...(tls ? { 'nginx.ingress.kubernetes.io/backend-protocol': 'HTTPS' } : {}),
      };
      new k8s.KubeIngress(this, 'connect-ingress', {
        metadata: { ...meta(name('connect'), 'connect'), annotations: { ...defaults, ...ing.annotations } },
        spec: {
          ...(ing.className ? { ingressClassName: ing.className } : {}),
          ...(ing.tls.length > 0 ? { tls: ing.tls.map((t) => ({ secretName: t.secretName, ...(t.hosts ? { hosts: [...t.hosts] } : {}) })) } : {}),
          rules: ing.hosts.map((h) => ({
            host: h.host,
            http: {
              paths: h.paths.map((p) => ({ path: p.path, pathType: p.pathType, backend: { service: { name: name('connect'), port: { name: 'ws' } } } })),
            },
          })),
        },
      });
    }
    if (v.connect.httpRoute.enabled) {
      new ApiObject(this, 'connect-httproute', {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: meta(name('connect'), 'connect'),
        spec: {
          parentRefs: v.connect.httpRoute.parentRefs,
          ...(v.connect.httpRoute.hostnames.length > 0 ? { hostnames: v.connect.httpRoute.hostnames } : {}),
          rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [{ name: name('connect'), port: PORTS.connectWs }] }],
        },
      });
    }

    new k8s.KubePodDisruptionBudget(this, 'connect-pdb', {
      metadata: meta(name('connect'), 'connect'),
      spec: { maxUnavailable: IntOrString.fromNumber(1), selector: { matchLabels: selector('connect') }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
    });

    if (v.connect.hpa.enabled) {
      new k8s.KubeHorizontalPodAutoscalerV2(this, 'connect-hpa', {
        metadata: meta(name('connect'), 'connect'),
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: name('connect') },
          minReplicas: v.connect.hpa.minReplicas,
          maxReplicas: v.connect.hpa.maxReplicas,
          metrics: [
            { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: v.connect.hpa.targetCPUUtilizationPercentage } } },
          ],
        },
      });
    }

    // ---- Network policy -----------------------------------------------------------------------
    if (v.networkPolicy.enabled) {
      new k8s.KubeNetworkPolicy(this, 'message-netpol', {
        metadata: meta(name('message'), 'message'),
        spec: {
          podSelector: { matchLabels: selector('message') },
          policyTypes: ['Ingress'],
          ingress: [
            { from: [{ podSelector: { matchLabels: selector('connect') } }], ports: [{ port: IntOrString.fromString('grpc'), protocol: 'TCP' }] },
            ...(api
              ? [
                  {
                    from: [{ podSelector: {} }, ...(api.allowFrom as unknown as k8s.NetworkPolicyPeer[])],
                    ports: [{ port: IntOrString.fromString('api'), protocol: 'TCP' }],
                  },
                ]
              : []),
            { ports: [{ port: IntOrString.fromString('admin'), protocol: 'TCP' }] },
          ],
        },
      });
      new k8s.KubeNetworkPolicy(this, 'connect-netpol', {
        metadata: meta(name('connect'), 'connect'),
        spec: {
          podSelector: { matchLabels: selector('connect') },
          policyTypes: ['Ingress'],
          ingress: [
            {
              ports: [
                { port: IntOrString.fromString('ws'), protocol: 'TCP' },
                { port: IntOrString.fromString('admin'), protocol: 'TCP' },
              ],
            },
          ],
        },
      });
    }
  }
}

/**
 * The Prometheus Operator objects (ServiceMonitor, PrometheusRule), apart from the rest because
 * they need the Operator's CRDs: k8s/switchboard-monitoring.yaml, applied only where that API
 * exists (the Helm chart renders them only then). Alert expressions select by metric name only,
 * so they hold whichever way the pods are scraped (ServiceMonitor or kubernetes_sd annotations).
 */
export class SwitchboardMonitoringChart extends Chart {
  constructor(
    scope: Construct,
    id: string,
    readonly values: SwitchboardValues = DEFAULT_VALUES,
    props: ChartProps = {},
  ) {
    super(scope, id, { disableResourceNameHashes: true, ...props });
    const v = values;
    const meta = (n: string) => ({ name: n, labels: labelsFor(v) });
    /** The alert's entry in docs/OPERATIONS.md (its heading is the alert's name). */
    const runbook = (alert: string): string => `${v.prometheusRule.runbookBaseUrl}#${alert.toLowerCase()}`;
    if (v.serviceMonitor.enabled) {
      new ApiObject(this, 'servicemonitor', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'ServiceMonitor',
        metadata: meta(v.fullname),
        spec: {
          selector: { matchLabels: { 'app.kubernetes.io/name': 'switchboard', 'app.kubernetes.io/instance': v.fullname } },
          endpoints: [{ port: 'admin', path: '/metrics', interval: v.serviceMonitor.interval }],
        },
      });
    }
    if (v.prometheusRule.enabled) {
      new ApiObject(this, 'prometheusrule', {
        apiVersion: 'monitoring.coreos.com/v1',
        kind: 'PrometheusRule',
        metadata: meta(v.fullname),
        spec: {
          groups: [
            {
              name: 'switchboard',
              rules: [
                {
                  alert: 'SwitchboardConnectNoMessageStreams',
                  expr: `max by (namespace, pod) (switchboard_connect_streams_active) == 0`,
                  for: '2m',
                  labels: { severity: 'critical' },
                  annotations: {
                    summary: 'A Connect gateway has no stream to any Message pod',
                    description: 'Pod {{ $labels.pod }} cannot deliver messages; check the Message pods and the headless Service.',
                    runbook_url: runbook('SwitchboardConnectNoMessageStreams'),
                  },
                },
                {
                  alert: 'SwitchboardConnectReconnectRateHigh',
                  expr: `sum by (namespace, pod) (rate(switchboard_connect_stream_reconnects_total[5m])) > 0.05`,
                  for: '10m',
                  labels: { severity: 'warning' },
                  annotations: {
                    summary: 'Connect streams to Message keep being lost and re-established',
                    description: 'Pod {{ $labels.pod }} re-established {{ $value | humanize }} streams/s over 5m.',
                    runbook_url: runbook('SwitchboardConnectReconnectRateHigh'),
                  },
                },
                {
                  alert: 'SwitchboardConnectStreamFailures',
                  expr: `sum by (namespace, pod) (rate(switchboard_connect_stream_connect_attempts_total{result="failure"}[5m])) > 0.2`,
                  for: '10m',
                  labels: { severity: 'warning' },
                  annotations: {
                    summary: 'Connect keeps failing to open streams to Message pods',
                    description: 'Pod {{ $labels.pod }}: {{ $value | humanize }} failed attempts/s.',
                    runbook_url: runbook('SwitchboardConnectStreamFailures'),
                  },
                },
                {
                  alert: 'SwitchboardMessageNoSubscribers',
                  expr: `max by (namespace, pod) (switchboard_message_subscribers) == 0`,
                  for: '5m',
                  labels: { severity: 'warning' },
                  annotations: {
                    summary: 'A Message pod has no Connect stream',
                    description: 'Pod {{ $labels.pod }} cannot push to any gateway.',
                    runbook_url: runbook('SwitchboardMessageNoSubscribers'),
                  },
                },
                {
                  // What `accepted` promises (docs/PROTOCOL.md §5.1): every accepted message is stored. The
                  // pods of a namespace together, since a message is stored by whichever pod owns its
                  // partition; a backlog after a rebalance or a store blip clears well within 5 minutes.
                  alert: 'SwitchboardMessagesNotStored',
                  expr: `sum by (namespace) (rate(switchboard_message_sends_total{result="accepted"}[5m])) > 2 * sum by (namespace) (rate(switchboard_message_stored_total[5m]))`,
                  for: '5m',
                  labels: { severity: 'critical' },
                  annotations: {
                    summary: 'Accepted messages are not being stored',
                    description:
                      'Namespace {{ $labels.namespace }}: Message pods accept {{ $value | humanize }} messages/s and store less than half as many; check their /readyz (log consumer, store).',
                    runbook_url: runbook('SwitchboardMessagesNotStored'),
                  },
                },
                {
                  // A gateway that reads its stream slower than its users' pushes arrive has the stream
                  // ended (MESSAGE_PUSH_BUFFER_MAX): its clients resync, and the first time is worth a look.
                  alert: 'SwitchboardGatewayStreamOverflow',
                  expr: `sum by (namespace, pod) (increase(switchboard_message_streams_ended_total{reason="push_buffer_full"}[10m])) > 0`,
                  labels: { severity: 'warning' },
                  annotations: {
                    summary: 'A Message pod ended a gateway stream that could not keep up with its pushes',
                    description:
                      "Pod {{ $labels.pod }} ended {{ $value | humanize }} gateway streams in 10m (MESSAGE_PUSH_BUFFER_MAX); their clients were told to resync. Check the gateways' CPU and event-loop delay.",
                    runbook_url: runbook('SwitchboardGatewayStreamOverflow'),
                  },
                },
                {
                  // Pushed messages wait for the store behind the push; a lag that lasts is a store
                  // down or too slow for the rate (history lags, and the backlog bound nears).
                  alert: 'SwitchboardMessagePersistLagging',
                  expr: `max by (namespace, pod) (switchboard_message_persist_lag_seconds) > 30`,
                  for: '5m',
                  labels: { severity: 'warning' },
                  annotations: {
                    summary: 'Pushed messages are not reaching the store',
                    description:
                      'Pod {{ $labels.pod }} has pushed messages waiting {{ $value | humanize }}s for the store; history (sync) and conversations lag meanwhile.',
                    runbook_url: runbook('SwitchboardMessagePersistLagging'),
                  },
                },
                {
                  // One restart per pod is what a broker restart or a rebalance error costs; restarts that
                  // go on for a quarter of an hour are a consumer that joins and crashes again.
                  alert: 'SwitchboardMessageLogConsumerRestarting',
                  expr: `sum by (namespace, pod) (increase(switchboard_message_log_consumer_restarts_total[10m])) > 2`,
                  for: '15m',
                  labels: { severity: 'warning' },
                  annotations: {
                    summary: 'A Message pod keeps restarting its log consumer',
                    description: 'Pod {{ $labels.pod }} restarted its Kafka consumer {{ $value | humanize }} times in 10m; its log shows why it crashes.',
                    runbook_url: runbook('SwitchboardMessageLogConsumerRestarting'),
                  },
                },
                {
                  // Each skipped record may have been a message someone sent: never silent.
                  alert: 'SwitchboardMessageLogRecordsUnreadable',
                  expr: `sum by (namespace, pod) (increase(switchboard_message_log_records_unreadable_total[15m])) > 0`,
                  labels: { severity: 'warning' },
                  annotations: {
                    summary: 'A Message pod skipped log records it could not read',
                    description:
                      'Pod {{ $labels.pod }} skipped {{ $value | humanize }} records of the messages topic in 15m that were not send entries; its log names their partitions and offsets.',
                    runbook_url: runbook('SwitchboardMessageLogRecordsUnreadable'),
                  },
                },
              ],
            },
          ],
        },
      });
    }
  }
}
