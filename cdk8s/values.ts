/**
 * The deployment's settings with their defaults — the same defaults as charts/switchboard/values.yaml
 * (the parity test renders both and compares the objects).
 */
export interface SwitchboardValues {
  /** Prefix of every object name (Helm: the release's full name). */
  fullname: string;
  version: string;
  image: { repository: string; tag: string; pullPolicy: string };
  kafka: { brokers: string; topic: string; partitions: number; replicationFactor: number; minInsyncReplicas: number };
  /** existingSecret: a Secret holding the URI (credentials, a replica set's hosts) under secretKey, instead of `uri` ('': not used). */
  mongodb: { uri: string; existingSecret: string; secretKey: string };
  /** existingSecret: a Secret holding the URL (a password) under secretKey, instead of `url` ('': not used). */
  redis: { mode: 'standalone' | 'cluster'; url: string; existingSecret: string; secretKey: string };
  /** internalTokenSecret: a Secret holding INTERNAL_AUTH_TOKEN for both services ('': not used). */
  auth: { existingSecret: string; secretKey: string; internalTokenSecret: string; internalTokenKey: string };
  /** Mutual TLS between the services: each one's kubernetes.io/tls Secret with ca.crt (both or neither; '': plaintext). */
  internalTls: { messageSecret: string; connectSecret: string; reloadInterval: string };
  /**
   * The server API (docs/PROTOCOL.md §9) on every Message pod, behind the Service <fullname>-api:
   * its keys from keysSecret (under keysKey, mounted), reachable from the namespace's pods and the
   * NetworkPolicy peers of allowFrom.
   */
  serverApi: { enabled: boolean; keysSecret: string; keysKey: string; allowFrom: ReadonlyArray<Record<string, unknown>> };
  connect: {
    replicas: number;
    drainWindow: string;
    shutdownTimeout: string;
    minStreams: number;
    maxConnections: number;
    terminationGracePeriodSeconds: number;
    preStopSleepSeconds: number;
    resources: Resources;
    hpa: { enabled: boolean; minReplicas: number; maxReplicas: number; targetCPUUtilizationPercentage: number };
    readinessGate: boolean;
    /** Serve the browser chat page at / of the WebSocket port (CONNECT_DEMO_PAGE). */
    demoPage: boolean;
    /** wss:// from the gateway: a kubernetes.io/tls Secret mounted and read again every reloadInterval ('': plain ws://). */
    tls: { secretName: string; reloadInterval: string };
    /** An Ingress to the WebSocket port; its annotations merged over the ingress-nginx WebSocket defaults. */
    ingress: {
      enabled: boolean;
      className: string;
      annotations: Readonly<Record<string, string>>;
      hosts: ReadonlyArray<{ host: string; paths: ReadonlyArray<{ path: string; pathType: string }> }>;
      tls: ReadonlyArray<{ secretName: string; hosts?: readonly string[] }>;
    };
    /** A Gateway API HTTPRoute to the WebSocket port. */
    httpRoute: {
      enabled: boolean;
      parentRefs: ReadonlyArray<{ name: string; namespace?: string; sectionName?: string; port?: number }>;
      hostnames: readonly string[];
    };
    /** More settings of docs/CONFIGURATION.md by name, after the chart's own. */
    env: Readonly<Record<string, string>>;
  };
  message: {
    replicas: number;
    drainWindow: string;
    shutdownTimeout: string;
    groupMaxMembers: number;
    groupMaxPerUser: number;
    terminationGracePeriodSeconds: number;
    preStopSleepSeconds: number;
    resources: Resources;
    /** More settings of docs/CONFIGURATION.md by name, after the chart's own. */
    env: Readonly<Record<string, string>>;
  };
  logLevel: string;
  serviceMonitor: { enabled: boolean; interval: string };
  /** runbookBaseUrl: where docs/OPERATIONS.md is served; each alert's runbook_url is it plus the alert's anchor. */
  prometheusRule: { enabled: boolean; runbookBaseUrl: string };
  networkPolicy: { enabled: boolean };
}

interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export const DEFAULT_VALUES: SwitchboardValues = {
  fullname: 'switchboard',
  version: '0.1.0',
  image: { repository: 'switchboard', tag: '0.1.0', pullPolicy: 'IfNotPresent' },
  kafka: { brokers: 'kafka:9092', topic: 'switchboard.messages', partitions: 12, replicationFactor: -1, minInsyncReplicas: 2 },
  mongodb: { uri: 'mongodb://mongodb:27017/switchboard', existingSecret: '', secretKey: 'uri' },
  redis: { mode: 'standalone', url: 'redis://redis:6379', existingSecret: '', secretKey: 'url' },
  auth: { existingSecret: 'switchboard-auth', secretKey: 'jwt-secret', internalTokenSecret: '', internalTokenKey: 'token' },
  internalTls: { messageSecret: '', connectSecret: '', reloadInterval: '30s' },
  serverApi: { enabled: false, keysSecret: '', keysKey: 'keys', allowFrom: [] },
  connect: {
    replicas: 2,
    drainWindow: '10s',
    shutdownTimeout: '5s',
    minStreams: 1,
    maxConnections: 50_000,
    terminationGracePeriodSeconds: 30,
    preStopSleepSeconds: 5,
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    hpa: { enabled: true, minReplicas: 2, maxReplicas: 10, targetCPUUtilizationPercentage: 70 },
    readinessGate: true,
    demoPage: false,
    tls: { secretName: '', reloadInterval: '30s' },
    ingress: { enabled: false, className: '', annotations: {}, hosts: [{ host: 'chat.example.com', paths: [{ path: '/', pathType: 'Prefix' }] }], tls: [] },
    httpRoute: { enabled: false, parentRefs: [], hostnames: [] },
    env: {},
  },
  message: {
    replicas: 2,
    drainWindow: '5s',
    shutdownTimeout: '10s',
    groupMaxMembers: 10_000,
    groupMaxPerUser: 1000,
    terminationGracePeriodSeconds: 30,
    preStopSleepSeconds: 5,
    resources: { requests: { cpu: '100m', memory: '192Mi' }, limits: { cpu: '1', memory: '512Mi' } },
    env: {},
  },
  logLevel: 'info',
  serviceMonitor: { enabled: true, interval: '15s' },
  prometheusRule: { enabled: true, runbookBaseUrl: 'docs/OPERATIONS.md' },
  networkPolicy: { enabled: true },
};
