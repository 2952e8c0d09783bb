import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { certificateAuthority } from '../support/certificates.js';
import { expectAllAcceptedStored, dm } from '../support/traffic.js';
import { CHART } from '../k8s/support.js';
import { SWITCHBOARD_IMAGE, TRAEFIK_IMAGE } from '../env/images.js';
import { condition, helm, helmUpgrade, podsOf, sharedCluster, tokenFor, type ClusterEnv, type Json } from '../support/cluster.js';
import { launchBrowser, login, newPerson, say, TEST_OUTPUT, waitForLine } from '../support/browser.js';

const NS = 'switchboard-ingress';
const CONTROLLER_NS = 'ingress';
const HOST = 'chat.test';
const SECRET = 'ingress-secret-0123456789abcdef0123456789abcdef';
/** The Gateway API release Traefik 3.6 is built against (its go.mod). */
const GATEWAY_API_VERSION = 'v1.4.0';

/** Traefik as an ingress controller: what it may read, the controller, its Service and its IngressClass. */
const traefik = `
apiVersion: v1
kind: Namespace
metadata: { name: ${CONTROLLER_NS} }
---
apiVersion: v1
kind: ServiceAccount
metadata: { name: traefik, namespace: ${CONTROLLER_NS} }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: { name: traefik-ingress }
rules:
  - apiGroups: [""]
    resources: [namespaces]
    verbs: [list, watch]
  - apiGroups: [""]
    resources: [services, secrets, configmaps, endpoints, nodes]
    verbs: [get, list, watch]
  - apiGroups: [discovery.k8s.io]
    resources: [endpointslices]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses, ingressclasses]
    verbs: [get, list, watch]
  - apiGroups: [networking.k8s.io]
    resources: [ingresses/status]
    verbs: [update]
  - apiGroups: [gateway.networking.k8s.io]
    resources: [gatewayclasses, gateways, httproutes, grpcroutes, referencegrants, backendtlspolicies]
    verbs: [get, list, watch]
  - apiGroups: [gateway.networking.k8s.io]
    resources: [gatewayclasses/status, gateways/status, httproutes/status, grpcroutes/status, referencegrants/status, backendtlspolicies/status]
    verbs: [update]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: traefik }
spec: { controllerName: traefik.io/gateway-controller }
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: { name: traefik-ingress }
roleRef: { apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: traefik-ingress }
subjects: [{ kind: ServiceAccount, name: traefik, namespace: ${CONTROLLER_NS} }]
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: { name: traefik }
spec: { controller: traefik.io/ingress-controller }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: traefik, namespace: ${CONTROLLER_NS} }
spec:
  replicas: 1
  selector: { matchLabels: { app: traefik } }
  template:
    metadata: { labels: { app: traefik } }
    spec:
      serviceAccountName: traefik
      containers:
        - name: traefik
          image: ${TRAEFIK_IMAGE}
          imagePullPolicy: Never
          args:
            - --entryPoints.web.address=:8000
            - --entryPoints.websecure.address=:8443
            - --entryPoints.websecure.http.tls=true
            - --providers.kubernetesingress=true
            - --providers.kubernetesgateway=true
            - --ping=true
            - --ping.entryPoint=web
            - --log.level=INFO
          ports:
            - { name: web, containerPort: 8000 }
            - { name: websecure, containerPort: 8443 }
          readinessProbe:
            httpGet: { path: /ping, port: web }
            periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata: { name: traefik, namespace: ${CONTROLLER_NS} }
spec:
  selector: { app: traefik }
  ports:
    - { name: websecure, port: 443, targetPort: websecure }
`;

/**
 * The gateway reached from outside through a real ingress controller: Traefik (built from its Go
 * module, imported like the project's own image) serves the chart's Ingress over TLS with a
 * certificate made here; WebSocket clients talk through it, stay connected while idle past its
 * read timeout, and reconnect through it when Connect rolls, losing nothing.
 */
describe('through a real ingress controller (Traefik): the chart’s Ingress over wss://', function () {
  this.timeout(600_000);
  let env: ClusterEnv;
  let ca: Buffer;
  let caFile: string;
  let controllerIp: string;
  let url: string;
  const kubectl = (args: string[], input?: string): string => env.cluster.kubectl(args, input);
  const connectAs = async (user: string): Promise<TestClient> => TestClient.connect(url, { token: await tokenFor(SECRET, user), header: true, ca, host: HOST });
  /** `from` sends `body` to the user `to` connected as `recipient`, who gets it pushed; then both leave. */
  const talk = async (from: TestClient, recipient: TestClient, to: string, body: string): Promise<void> => {
    await from.request({ type: 'send', id: `${to}-${Date.now()}`, to, body }, 'accepted');
    assert.equal((await recipient.next('message', 10_000)).body, body);
    from.close();
    recipient.close();
  };
  /** Connects as `user`, again and again until it works (the route being set up, a gateway draining) or `ms` passed. */
  const connectUntil = async (user: string, ms: number): Promise<TestClient> => {
    let client: TestClient | undefined;
    await eventually(`${user} connected through the controller`, async () => (client = await connectAs(user).catch(() => undefined)) !== undefined, ms, 500);
    return client!;
  };

  before(async function () {
    this.timeout(1_800_000);
    env = await sharedCluster();
    // The Gateway API's CRDs, from the module of the version Traefik is built against.
    const gatewayApi = JSON.parse(
      execFileSync('go', ['mod', 'download', '-json', `sigs.k8s.io/gateway-api@${GATEWAY_API_VERSION}`], { encoding: 'utf8', cwd: tmpdir() }),
    ) as { Dir: string };
    const crds = join(gatewayApi.Dir, 'config', 'crd', 'standard');
    for (const f of readdirSync(crds).filter((f) => f.endsWith('.yaml'))) kubectl(['apply', '--server-side', '-f', join(crds, f)]);
    kubectl(['apply', '-f', '-'], traefik);
    kubectl(['create', 'namespace', NS]);
    kubectl(['-n', NS, 'create', 'secret', 'generic', 'switchboard-auth', `--from-literal=jwt-secret=${SECRET}`]);
    const dir = mkdtempSync(join(tmpdir(), 'ingress-tls-'));
    const made = certificateAuthority(dir, 'ingress', [HOST]);
    caFile = made.ca;
    ca = readFileSync(made.ca);
    kubectl(['-n', NS, 'create', 'secret', 'tls', 'chat-tls', `--cert=${made.cert}`, `--key=${made.key}`]);
    const values = join(dir, 'values.yaml');
    writeFileSync(
      values,
      [
        'connect:',
        '  demoPage: true',
        '  ingress:',
        '    enabled: true',
        '    className: traefik',
        '    hosts:',
        `      - host: ${HOST}`,
        '        paths: [{ path: /, pathType: Prefix }]',
        `    tls: [{ secretName: chat-tls, hosts: [${HOST}] }]`,
      ].join('\n'),
    );
    helm(env, [
      'install',
      'switchboard',
      CHART,
      '-n',
      NS,
      '-f',
      values,
      ...['--set', `image.repository=${SWITCHBOARD_IMAGE.repository}`, '--set', `image.tag=${SWITCHBOARD_IMAGE.tag}`, '--set', 'image.pullPolicy=Never'],
      ...['--set', `kafka.brokers=${env.kafka.address}`, '--set', 'kafka.topic=switchboard.ingress'],
      ...['--set', `mongodb.uri=${env.mongodb.address}switchboard_ingress`, '--set', `redis.url=${env.redis.address}`],
      // Its own consumer group and Redis keys: the suite's other releases share these backends.
      ...['--set', 'message.replicas=1', '--set', 'message.env.KAFKA_GROUP_ID=switchboard-ingress', '--set', 'message.env.REDIS_KEY_PREFIX=ingress:'],
    ]);
    await eventually(
      'Traefik and both gateways Ready',
      () =>
        podsOf(env, NS, 'connect').filter((p: Json) => condition(p, 'Ready') === 'True').length === 2 &&
        (kubectl(['-n', CONTROLLER_NS, 'get', 'deployment', 'traefik', '-o', 'jsonpath={.status.readyReplicas}']) || '0') === '1',
      240_000,
      1000,
    );
    controllerIp = kubectl(['-n', CONTROLLER_NS, 'get', 'service', 'traefik', '-o', 'jsonpath={.spec.clusterIP}']);
    url = `wss://${controllerIp}:443/ws`;
  });
  after(() => {
    try {
      helm(env, ['uninstall', 'switchboard', '-n', NS, '--wait']);
      kubectl(['delete', '-f', '-'], traefik);
    } catch {
      // the cluster goes with the run
    }
  });

  it('two clients talk through the controller over wss://, with the certificate of the Ingress’s TLS Secret', async () => {
    await talk(await connectUntil('in-a', 60_000), await connectAs('in-b'), 'in-b', 'through the ingress');
  });

  it('a connection idle for longer than the controller’s read timeout (60 s) stays up: the heartbeat keeps it alive', async () => {
    const a = await connectAs('idle-a');
    const b = await connectAs('idle-b');
    await new Promise((r) => setTimeout(r, 70_000));
    await talk(a, b, 'idle-b', 'still here');
  });

  it('a rollout of Connect behind it: clients reconnect through the controller and every accepted message is stored', async () => {
    const recipient = await connectAs('roll-b');
    let sender = await connectAs('roll-a');
    const accepted: string[] = [];
    let rolled = false;
    // Rolled once the new gateways serve and the old ones have drained and exited (terminating pods included).
    const gatewayPods = (): number =>
      kubectl(['-n', NS, 'get', 'pods', '-l', 'app.kubernetes.io/component=connect', '--no-headers']).trim().split('\n').filter(Boolean).length;
    const rollout = (async () => {
      await new Promise((r) => setTimeout(r, 2000));
      kubectl(['-n', NS, 'rollout', 'restart', 'deployment/switchboard-connect']);
      kubectl(['-n', NS, 'rollout', 'status', 'deployment/switchboard-connect', '--timeout=180s']);
      await eventually('the old gateways gone', () => gatewayPods() === 2, 120_000, 1000);
      rolled = true;
    })();
    let reconnects = 0;
    // Sends all through the rollout, and five after it.
    let after = 0;
    for (let i = 0; after < 5; i++) {
      if (rolled) after++;
      for (;;) {
        const reply = await sender.exchange({ type: 'send', id: `roll-${i}`, to: 'roll-b', body: String(i) }, 'accepted', 10_000).catch(() => undefined);
        if (reply?.type === 'accepted') {
          accepted.push(String(reply.msgId));
          break;
        }
        // Closed by its gateway's drain (1001): a new connection through the controller, the same send again.
        sender.close();
        sender = await connectUntil('roll-a', 60_000);
        reconnects++;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await rollout;
    assert.ok(reconnects >= 1, 'the sender was moved to a new gateway at least once');
    const reader = await connectAs('roll-b');
    await expectAllAcceptedStored(reader, dm('roll-a', 'roll-b'), accepted, 60_000);
    sender.close();
    recipient.close();
    reader.close();
  });

  it('the chat page in a browser through the controller: https://chat.test/ with a certificate the browser trusts, two people talk over wss://', async () => {
    // The name resolves to the controller, as a DNS record would; the test CA is in the browser's
    // trust store, as a person's would be after installing it: nothing is accepted unchecked.
    const browser = await launchBrowser({ trustCa: caFile, args: [`--host-resolver-rules=MAP ${HOST} ${controllerIp}`] });
    try {
      const sockets: string[] = [];
      const open = async (user: string, peer: string) => {
        const page = await newPerson(browser);
        const cdp = await page.createCDPSession();
        await cdp.send('Network.enable');
        cdp.on('Network.webSocketCreated', (e: { url: string }) => sockets.push(e.url));
        const res = await page.goto(`https://${HOST}/`);
        assert.equal(res?.status(), 200);
        assert.equal(res?.securityDetails()?.subjectName(), 'server', 'the page came over TLS with the Ingress’s certificate');
        await login(page, { token: await tokenFor(SECRET, user) }, peer);
        return page;
      };
      const ann = await open('page-ann', 'page-ben');
      const ben = await open('page-ben', 'page-ann');
      await say(ann, 'hello through the ingress');
      await waitForLine(ben, 'hello through the ingress');
      await say(ben, 'and back');
      await waitForLine(ann, 'and back');
      assert.ok(sockets.length >= 2 && sockets.every((s) => s.startsWith(`wss://${HOST}/ws`)), `the pages' WebSockets: ${sockets.join(', ')}`);
      await ben.screenshot({ path: `${TEST_OUTPUT}/chat-page-ingress.png` });
    } finally {
      await browser.close();
    }
  });

  it('connect.httpRoute: the chart’s HTTPRoute attached to a Gateway the controller serves (Gateway API), clients talk through it over wss://', async () => {
    // A Gateway whose HTTPS listener is the controller's websecure entry point, with the same certificate.
    kubectl(
      ['apply', '-f', '-'],
      `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: public, namespace: ${NS} }
spec:
  gatewayClassName: traefik
  listeners:
    - name: https
      protocol: HTTPS
      port: 8443
      hostname: ${HOST}
      tls: { mode: Terminate, certificateRefs: [{ name: chat-tls }] }
`,
    );
    helmUpgrade(
      env,
      NS,
      {
        'connect.ingress.enabled': 'false',
        'connect.httpRoute.enabled': 'true',
        'connect.httpRoute.parentRefs[0].name': 'public',
        'connect.httpRoute.parentRefs[0].sectionName': 'https',
        'connect.httpRoute.hostnames[0]': HOST,
      },
      false,
    );
    const route = (): Json => JSON.parse(kubectl(['-n', NS, 'get', 'httproute', 'switchboard-connect', '-o', 'json']));
    await eventually(
      'the route accepted by the Gateway',
      () => ((route().status?.parents ?? []) as Json[]).some((p) => ((p.conditions ?? []) as Json[]).some((c) => c.type === 'Accepted' && c.status === 'True')),
      60_000,
      1000,
    );
    // Both retry as clients do: the controller may still be settling its routes from the change.
    await talk(await connectUntil('route-a', 60_000), await connectUntil('route-b', 30_000), 'route-b', 'through the Gateway API');
  });
});
