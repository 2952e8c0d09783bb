import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { eventually } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { dm, expectAllAcceptedStored, sendReliably } from '../support/traffic.js';
import { Terminal } from '../support/terminal.js';
import { certificateAuthority } from '../support/certificates.js';
import { CHART, ROOT } from '../k8s/support.js';
import { TESTENV, tool } from '../env/servers.js';
import { SWITCHBOARD_IMAGE } from '../env/images.js';
import {
  condition,
  getJson,
  helm,
  helmUpgrade,
  podMetric,
  podsOf,
  PortForward,
  sharedCluster,
  watchObjects,
  startPrometheus,
  tokenFor,
  type ClusterEnv,
  type Json,
} from '../support/cluster.js';

const GATE = 'switchboard.dev/message-streams';
const NS = 'switchboard-e2e';
const SECRET = 'e2e-secret-0123456789abcdef0123456789abcdef';
const CONNECT_ADMIN = 22005;

/**
 * What an operator does, on a real single-node cluster: helm install, port-forward and the test
 * client, scaling, killing and rolling pods under traffic, Prometheus scraping the reconnect
 * metrics. One release, its steps in order (each builds on the state the previous one left).
 */
describe('Switchboard on a real cluster (the operator’s path)', function () {
  this.timeout(300_000);
  let env: ClusterEnv;
  let prometheus: Awaited<ReturnType<typeof startPrometheus>>;
  const forwards: PortForward[] = [];
  const terminals: Terminal[] = [];
  const kubectl = (args: string[], input?: string): string => env.cluster.kubectl(args, input);
  const connectPods = (): Json[] => podsOf(env, NS, 'connect');
  const messagePods = (): Json[] => podsOf(env, NS, 'message');
  /** The Connect Service's endpoints: pod name → ready. */
  const connectEndpoints = (): Map<string, boolean> => {
    const slices = getJson(env, ['-n', NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=switchboard-connect']).items as Json[];
    return new Map(slices.flatMap((s) => (s.endpoints ?? []) as Json[]).map((e) => [String(e.targetRef?.name), e.conditions?.ready === true]));
  };
  /** Clients reach the gateways as a load balancer would: the Connect Service's ClusterIP, which kube-proxy routes from the host too. */
  const serviceUrl = (): string => `ws://${kubectl(['-n', NS, 'get', 'service', 'switchboard-connect', '-o', 'jsonpath={.spec.clusterIP}'])}:21005/ws`;
  const connectAs = async (url: string, user: string): Promise<TestClient> => TestClient.connect(url, { token: await tokenFor(SECRET, user), header: true });

  before(async function () {
    this.timeout(1_800_000);
    env = await sharedCluster();
    // The chart's alert rules, as a Prometheus without the Operator loads them.
    const rendered = helm(env, ['template', 'switchboard', CHART, '--api-versions', 'monitoring.coreos.com/v1', '--show-only', 'templates/monitoring.yaml']);
    const rule = parseAllDocuments(rendered)
      .map((d) => d.toJS())
      .find((o) => o?.kind === 'PrometheusRule');
    const rules = join(TESTENV, 'switchboard-rules.yaml');
    writeFileSync(rules, JSON.stringify({ groups: rule.spec.groups }));
    prometheus = await startPrometheus(env, [rules]);
  });
  // A failed test keeps what every pod of the release logged (and its previous container's, after
  // a restart) beside the other logs, for whoever reads the failure later.
  afterEach(function () {
    if (this.currentTest?.state !== 'failed') return;
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const title = this.currentTest.title.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60);
    for (const pod of (getJson(env, ['-n', NS, 'get', 'pods']).items as Json[]).map((p) => String(p.metadata.name))) {
      for (const previous of [false, true]) {
        const r = spawnSync(
          tool('kubectl'),
          ['--kubeconfig', env.cluster.kubeconfig, '-n', NS, 'logs', pod, '--all-containers', '--timestamps', ...(previous ? ['--previous'] : [])],
          {
            encoding: 'utf8',
          },
        );
        if (r.status === 0 && r.stdout) writeFileSync(join(TESTENV, 'logs', `failed-${stamp}-${title}-${pod}${previous ? '-previous' : ''}.log`), r.stdout);
      }
    }
  });
  after(async () => {
    for (const t of terminals) t.kill();
    for (const f of forwards) f.stop();
    await prometheus?.stop();
  });

  it('helm install with default values and real backends: every pod runs, Connect turns Ready through its own readiness gate, the Service lists only Ready gateways', async () => {
    kubectl(['create', 'namespace', NS]);
    kubectl(['-n', NS, 'create', 'secret', 'generic', 'switchboard-auth', `--from-literal=jwt-secret=${SECRET}`]);
    const out = helm(env, [
      'install',
      'switchboard',
      CHART,
      '-n',
      NS,
      '--set',
      `image.repository=${SWITCHBOARD_IMAGE.repository}`,
      '--set',
      `image.tag=${SWITCHBOARD_IMAGE.tag}`,
      '--set',
      'image.pullPolicy=Never',
      '--set',
      `kafka.brokers=${env.kafka.address}`,
      '--set',
      `mongodb.uri=${env.mongodb.address}switchboard`,
      '--set',
      `redis.url=${env.redis.address}`,
    ]);
    assert.match(out, /STATUS: deployed/);
    assert.match(out, /no ServiceMonitor or PrometheusRule was created/, 'a cluster without the Operator gets no monitoring objects');
    await eventually(
      '2 Connect and 2 Message pods Ready',
      () => [...connectPods(), ...messagePods()].filter((p) => condition(p, 'Ready') === 'True').length === 4,
      180_000,
      1000,
    );
    for (const pod of connectPods()) {
      const gate = (pod.status.conditions as Json[]).find((c) => c.type === GATE);
      const ready = (pod.status.conditions as Json[]).find((c) => c.type === 'Ready');
      assert.equal(gate?.status, 'True', `${pod.metadata.name}: gate set`);
      assert.ok(Date.parse(ready.lastTransitionTime) >= Date.parse(gate.lastTransitionTime), `${pod.metadata.name}: Ready only after the gate`);
      assert.ok(
        (await podMetric(pod, CONNECT_ADMIN, 'switchboard_connect_readiness_gate_updates_total', 'result="success"')) >= 1,
        `${pod.metadata.name} set its own gate`,
      );
      assert.equal(pod.status.containerStatuses[0].restartCount, 0);
    }
    // The gate is Connect's own doing: only its ServiceAccount may patch pod status here.
    const sa = `system:serviceaccount:${NS}:switchboard-connect`;
    assert.equal(kubectl(['auth', 'can-i', 'patch', 'pods', '--subresource=status', '-n', NS, '--as', sa]).trim(), 'yes');
    const endpoints = connectEndpoints();
    assert.deepEqual(
      [...endpoints.keys()].sort(),
      connectPods()
        .map((p) => p.metadata.name)
        .sort(),
    );
    assert.ok([...endpoints.values()].every(Boolean), 'both gateways in the Service');
    // Prometheus found every pod through the Kubernetes API (pod annotations) and scrapes it.
    const pods = [...connectPods(), ...messagePods()].map((p) => String(p.metadata.name)).sort();
    await eventually(
      'Prometheus scrapes all 4 pods',
      async () =>
        (await prometheus.query(`up{namespace="${NS}"} == 1`))
          .map((r) => String(r.metric.pod))
          .sort()
          .join() === pods.join(),
      60_000,
      1000,
    );
  });

  it('kubectl port-forward svc/switchboard-connect and the test client (one-shot and interactive) deliver with the chart’s JWT secret', async () => {
    const pf = new PortForward(env, NS, 'svc/switchboard-connect', 21005);
    forwards.push(pf);
    const url = `ws://127.0.0.1:${await pf.port}/ws`;
    const receiver = new Terminal(`npm run client -- --user 1002 --wait 1 --url ${url} --jwt-secret ${SECRET}`);
    terminals.push(receiver);
    await receiver.waitFor(/connected as 1002; waiting for 1 message/, 30_000);
    const sender = spawnSync(
      'npm',
      ['run', 'client', '--', '--user', '1001', '--target', '1002', '--send', 'hello through the cluster', '--url', url, '--jwt-secret', SECRET],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(sender.status, 0, sender.stderr);
    assert.match(sender.stdout, /"type":"accepted"/);
    await receiver.waitFor(/"body":"hello through the cluster"/, 30_000);
    assert.equal((await receiver.exited).code, 0);

    const a = new Terminal(`npm run client -- --user 1001 --target 1002 --url ${url} --jwt-secret ${SECRET}`);
    const b = new Terminal(`npm run client -- --user 1002 --target 1001 --url ${url} --jwt-secret ${SECRET}`);
    terminals.push(a, b);
    await a.waitFor(/connected as 1001/);
    await b.waitFor(/\[dm:1001:1002 #1\] 1001: hello through the cluster/); // history on joining
    a.type('typed in a terminal');
    await b.waitFor(/\[dm:1001:1002 #2\] 1001: typed in a terminal/);
    b.type('/quit');
    a.type('/quit');
    assert.equal((await b.exited).code, 0);
    assert.equal((await a.exited).code, 0);
  });

  it('helm test passes (a client pod sends and receives through the Service and cluster DNS)', () => {
    const out = helm(env, ['test', 'switchboard', '-n', NS, '--timeout', '120s']);
    assert.match(out, /Phase:\s+Succeeded/);
  });

  it('serverApi: a helm upgrade with a keys Secret serves the server API behind svc/switchboard-api; helm test publishes through it; curl through a port-forward publishes and reads the history back', async () => {
    const key = randomBytes(24).toString('hex');
    kubectl(['-n', NS, 'create', 'secret', 'generic', 'switchboard-api-keys', `--from-literal=keys=backend ${key}`]);
    helmUpgrade(env, NS, { 'serverApi.enabled': 'true', 'serverApi.keysSecret': 'switchboard-api-keys' });
    await eventually('2 Message pods Ready after the rollout', () => messagePods().filter((p) => condition(p, 'Ready') === 'True').length === 2, 180_000, 1000);
    const tested = helm(env, ['test', 'switchboard', '-n', NS, '--timeout', '120s']);
    assert.match(tested, /Phase:\s+Succeeded/);
    const pf = new PortForward(env, NS, 'svc/switchboard-api', 22006);
    forwards.push(pf);
    const call = (method: string, body: object): Record<string, unknown> => {
      const r = spawnSync(
        'curl',
        [
          '-sf',
          '-X',
          'POST',
          '-H',
          'content-type: application/json',
          '-H',
          `authorization: Bearer ${key}`,
          '-d',
          JSON.stringify(body),
          `http://127.0.0.1:${port}/switchboard.v1.ServerApiService/${method}`,
        ],
        { encoding: 'utf8', timeout: 20_000 },
      );
      assert.equal(r.status, 0, `${method}: ${r.stdout}${r.stderr}`);
      return JSON.parse(r.stdout) as Record<string, unknown>;
    };
    const port = await pf.port;
    const published = call('Publish', { clientId: 'cluster-notice-1', toUser: 'api-user', body: 'from the cluster’s server API' });
    assert.equal(published.conversation, 'dm:api-user:system');
    await eventually(
      'the notice in the history',
      () =>
        ((call('History', { conversation: 'dm:api-user:system' }).messages as Array<{ body: string }> | undefined) ?? []).some(
          (m) => m.body === 'from the cluster’s server API',
        ),
      30_000,
      500,
    );
  });

  it('connect.tls.secretName: a helm upgrade with a TLS Secret rolls the gateways onto wss://; helm test passes over wss://, and so does the test client through a port-forward with --ca; then back to ws://', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cluster-tls-'));
    const service = 'switchboard-connect';
    const { ca, cert, key } = certificateAuthority(dir, 'gateway', [service, `${service}.${NS}.svc`, `${service}.${NS}.svc.cluster.local`]);
    kubectl([
      '-n',
      NS,
      'create',
      'secret',
      'generic',
      'gateway-tls',
      '--type=kubernetes.io/tls',
      `--from-file=tls.crt=${cert}`,
      `--from-file=tls.key=${key}`,
      `--from-file=ca.crt=${ca}`,
    ]);
    /** Every Ready Connect pod serves TLS (or none does), and there are two. */
    const rolled = (tls: boolean): boolean => {
      const ready = connectPods().filter((p) => condition(p, 'Ready') === 'True' && !p.metadata.deletionTimestamp);
      const serves = (p: Json): boolean => ((p.spec.containers[0].env ?? []) as Json[]).some((e) => e.name === 'CONNECT_TLS_CERT_FILE');
      return ready.length === 2 && ready.every((p) => serves(p) === tls) && connectPods().length === 2;
    };
    helmUpgrade(env, NS, { 'connect.tls.secretName': 'gateway-tls' });
    await eventually('both gateways on wss://', () => rolled(true), 240_000, 1000);
    const tested = helm(env, ['test', 'switchboard', '-n', NS, '--timeout', '120s']);
    assert.match(tested, /Phase:\s+Succeeded/);
    const pf = new PortForward(env, NS, `svc/${service}`, 21005);
    forwards.push(pf);
    const url = `wss://127.0.0.1:${await pf.port}/ws`;
    const client = (extra: string[]) =>
      spawnSync(
        'npm',
        ['run', 'client', '--', '--user', '1001', '--target', '1002', '--send', 'over wss', '--url', url, '--jwt-secret', SECRET, '--timeout', '20', ...extra],
        {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 60_000,
        },
      );
    const sent = client(['--ca', ca]);
    assert.equal(sent.status, 0, sent.stderr);
    assert.match(sent.stdout, /"type":"accepted"/);
    const untrusted = client([]);
    assert.notEqual(untrusted.status, 0, 'a client that does not trust the CA is refused');
    pf.stop();
    helmUpgrade(env, NS, { 'connect.tls.secretName': '' });
    await eventually('both gateways back on ws://', () => rolled(false), 240_000, 1000);
  });

  it('discovery: scaling Message 2 → 3 → 1 opens and closes streams in every Connect pod, through the headless Service and cluster DNS, without a restart', async () => {
    const streams = async (n: number): Promise<boolean> => {
      for (const pod of connectPods()) {
        if ((await podMetric(pod, CONNECT_ADMIN, 'switchboard_connect_streams_active')) !== n) return false;
        if ((await podMetric(pod, CONNECT_ADMIN, 'switchboard_connect_message_endpoints')) !== n) return false;
      }
      return true;
    };
    assert.ok(await streams(2));
    kubectl(['-n', NS, 'scale', 'deployment/switchboard-message', '--replicas=3']);
    await eventually('3 streams in every Connect pod', streams.bind(null, 3), 120_000, 1000);
    kubectl(['-n', NS, 'scale', 'deployment/switchboard-message', '--replicas=1']);
    await eventually('1 stream in every Connect pod', streams.bind(null, 1), 120_000, 1000);
    for (const pod of connectPods()) assert.equal(pod.status.containerStatuses[0].restartCount, 0, `${pod.metadata.name} never restarted`);
  });

  it('the only Message pod force-deleted under traffic: nothing accepted is lost; the gate and the EndpointSlice go not-ready and come back; Prometheus sees the reconnects', async () => {
    const url = serviceUrl();
    const a = await connectAs(url, 'kill-a');
    const b = await connectAs(url, 'kill-b');
    const accepted: string[] = [];
    let stop = false;
    let n = 0;
    const traffic = (async () => {
      while (!stop) {
        const reply = await sendReliably(a, { id: `k-${n++}`, to: 'kill-b', body: `m${n}` }, { deadlineMs: 120_000 });
        accepted.push(String(reply.msgId));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await eventually('traffic flowing', () => accepted.length >= 20, 30_000);
    // Every transition is recorded by watches, so a short outage cannot slip between two polls.
    const gateFalse = new Set<string>();
    const notReadyEndpoints = new Set<string>();
    const stopPods = await watchObjects(env, `/api/v1/namespaces/${NS}/pods`, 'Pod', (pod) => {
      if (pod.metadata.labels?.['app.kubernetes.io/component'] === 'connect' && condition(pod, GATE) === 'False') gateFalse.add(String(pod.metadata.name));
    });
    const stopSlices = await watchObjects(env, `/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices`, 'EndpointSlice', (slice) => {
      if (slice.metadata.labels?.['kubernetes.io/service-name'] !== 'switchboard-connect') return;
      for (const e of (slice.endpoints ?? []) as Json[]) if (e.conditions?.ready === false) notReadyEndpoints.add(String(e.targetRef?.name));
    });
    const gateways = connectPods()
      .map((p) => String(p.metadata.name))
      .sort();
    const [victim] = messagePods();
    kubectl(['-n', NS, 'delete', 'pod', victim.metadata.name, '--grace-period=0', '--force']);
    try {
      await eventually(
        'every Connect pod: gate False, and not ready in the EndpointSlice',
        () => [...gateFalse].sort().join() === gateways.join() && [...notReadyEndpoints].sort().join() === gateways.join(),
        60_000,
        200,
      );
    } finally {
      stopPods();
      stopSlices();
    }
    await eventually(
      'a new Message pod serves and both gateways are Ready again',
      () => connectPods().every((p) => condition(p, GATE) === 'True' && condition(p, 'Ready') === 'True') && [...connectEndpoints().values()].every(Boolean),
      120_000,
      500,
    );
    const after = accepted.length;
    await eventually('traffic flows again', () => accepted.length >= after + 20, 60_000);
    stop = true;
    await traffic;
    await expectAllAcceptedStored(b, dm('kill-a', 'kill-b'), accepted, 120_000);
    a.close();
    b.close();
    await eventually(
      'Prometheus: switchboard_connect_stream_reconnects_total ≥ 1 for the Connect pods',
      async () => (await prometheus.query(`switchboard_connect_stream_reconnects_total{namespace="${NS}"} >= 1`)).length === connectPods().length,
      60_000,
      1000,
    );
  });

  it('Redis stopped under traffic: the Message pod goes not Ready yet stays in the headless Service (cluster DNS); every Connect pod keeps its stream and its gate; messages are still pushed; nothing accepted is lost', async () => {
    const url = serviceUrl();
    const a = await connectAs(url, 'blip-a');
    const b = await connectAs(url, 'blip-b');
    const accepted: string[] = [];
    const headless = (): Map<string, boolean> => {
      const slices = getJson(env, ['-n', NS, 'get', 'endpointslices', '-l', 'kubernetes.io/service-name=switchboard-message-headless']).items as Json[];
      return new Map(slices.flatMap((x) => (x.endpoints ?? []) as Json[]).map((e) => [String(e.targetRef?.name), e.conditions?.ready === true]));
    };
    const gatewaysHold = async (): Promise<void> => {
      for (const pod of connectPods()) {
        assert.equal(condition(pod, GATE), 'True', `${pod.metadata.name}: gate`);
        assert.equal(await podMetric(pod, CONNECT_ADMIN, 'switchboard_connect_streams_active'), messagePods().length, `${pod.metadata.name}: streams`);
      }
    };
    // Every gate transition is recorded by a watch, so a short drop cannot slip between two polls.
    const gateFalse = new Set<string>();
    const stopPods = await watchObjects(env, `/api/v1/namespaces/${NS}/pods`, 'Pod', (pod) => {
      if (pod.metadata.labels?.['app.kubernetes.io/component'] === 'connect' && condition(pod, GATE) === 'False') gateFalse.add(String(pod.metadata.name));
    });
    // Redis goes away while the Message pod holds its partitions: a partition handed over during
    // the outage (here, from the pod the earlier test force-deleted, once its group session
    // expires) waits for Redis by design (docs/OPERATIONS.md, faults), which is not this test.
    await eventually(
      'the Message pod owns all 12 partitions (the consumer group settled)',
      async () => {
        const [pod] = messagePods();
        const ready = await (await fetch(`http://${pod.status.podIP}:21004/readyz`, { signal: AbortSignal.timeout(3000) })).text();
        const assigned = /\[([0-9,]*)\] assigned/.exec(ready)?.[1]?.split(',').filter(Boolean) ?? [];
        return messagePods().length === 1 && new Set(assigned).size === 12;
      },
      90_000,
      500,
    );
    await env.redis.stop();
    try {
      await eventually(
        'every Message pod not Ready (its readiness reports Redis)',
        () => messagePods().every((p) => condition(p, 'Ready') === 'False'),
        90_000,
        500,
      );
      const listed = headless();
      // With publishNotReadyAddresses the EndpointSlice marks the not-Ready pod's endpoint ready, which
      // is what cluster DNS serves (without it the endpoint would be ready: false and out of DNS).
      for (const pod of messagePods()) assert.equal(listed.get(pod.metadata.name), true, `${pod.metadata.name} still served by the headless Service`);
      // Messages flow while the pods stay not Ready for longer than a gateway's discovery interval
      // (5 s) plus the cluster DNS TTL (2 s): a gateway that followed readiness would drop its stream.
      const until = Date.now() + 12_000;
      for (let i = 0; Date.now() < until || i < 20; i++) {
        const reply = await sendReliably(a, { id: `blip-${i}`, to: 'blip-b', body: `while Redis is down ${i}` }, { deadlineMs: 30_000 });
        accepted.push(String(reply.msgId));
        await b.next('message', 15_000, (f) => f.msgId === reply.msgId);
        await gatewaysHold();
        await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(
        messagePods().every((p) => condition(p, 'Ready') === 'False'),
        'Redis was still down throughout',
      );
    } finally {
      stopPods();
      await env.redis.start();
    }
    assert.deepEqual([...gateFalse], [], 'no gate went False while Redis was down');
    await eventually('the Message pod Ready again once Redis is back', () => messagePods().every((p) => condition(p, 'Ready') === 'True'), 90_000, 500);
    await expectAllAcceptedStored(b, dm('blip-a', 'blip-b'), accepted, 60_000);
    for (const pod of connectPods()) assert.equal(pod.status.containerStatuses[0].restartCount, 0, `${pod.metadata.name} never restarted`);
    a.close();
    b.close();
  });

  it('rollout restart of Connect, then of Message, under traffic with clients connected: 1001 and reconnect, nothing lost, every old container exits 0 within its grace period', async () => {
    // Old pods are held by a finalizer of the test, so that each one's final status (how its
    // container ended) can be read after the rollout, however quickly the kubelet finishes.
    const FINALIZER = 'switchboard.dev/held-by-test';
    const hold = (name: string, on: boolean): void =>
      void kubectl(['-n', NS, 'patch', 'pod', name, '--type=merge', '-p', JSON.stringify({ metadata: { finalizers: on ? [FINALIZER] : null } })]);
    try {
      const url = serviceUrl();
      const closes: number[] = [];
      const accepted: string[] = [];
      let stop = false;
      // A client that behaves as the chat client does: reconnects after a close and keeps sending.
      const sender = (async () => {
        let n = 0;
        while (!stop) {
          const c = await connectAs(url, 'roll-a').catch(() => undefined);
          if (!c) {
            await new Promise((r) => setTimeout(r, 300));
            continue;
          }
          void c.closed.then((x) => closes.push(x.code));
          while (!stop && c.ws.readyState === c.ws.OPEN) {
            const id = `r-${n}`;
            const reply = await sendReliably(c, { id, to: 'roll-b', body: `r${n}` }, { deadlineMs: 5000 }).catch(() => undefined);
            if (reply) {
              accepted.push(String(reply.msgId));
              n++;
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      })();
      const listeners: TestClient[] = [];
      for (let i = 0; i < 4; i++) listeners.push(await connectAs(url, `roll-listener-${i}`));
      const before = new Set([...connectPods(), ...messagePods()].map((p) => String(p.metadata.name)));
      for (const name of before) hold(name, true);
      for (const component of ['connect', 'message'] as const) {
        kubectl(['-n', NS, 'rollout', 'restart', `deployment/switchboard-${component}`]);
        kubectl(['-n', NS, 'rollout', 'status', `deployment/switchboard-${component}`, '--timeout=240s']);
      }
      const ended = (): Map<string, Json> =>
        new Map(
          (getJson(env, ['-n', NS, 'get', 'pods']).items as Json[])
            .filter((p) => before.has(String(p.metadata.name)))
            .map((p) => [String(p.metadata.name), p.status?.containerStatuses?.[0]?.state?.terminated]),
        );
      await eventually('every old pod’s container ended', () => [...ended().values()].every(Boolean), 120_000, 1000);
      // Exit code 0 and reason Completed: the process ended by itself. Past the grace period the
      // kubelet would have sent SIGKILL (exit code 137, reason Error).
      for (const [name, t] of ended()) {
        assert.deepEqual(
          { name, exitCode: t.exitCode, reason: t.reason },
          { name, exitCode: 0, reason: 'Completed' },
          `${name} exited 0 before its grace period ended`,
        );
      }
      const listenerCloses = await Promise.all(listeners.map((l) => l.closed));
      assert.deepEqual(
        listenerCloses.map((c) => c.code),
        [1001, 1001, 1001, 1001],
        'clients of a draining gateway get 1001',
      );
      const n0 = accepted.length;
      await eventually('the reconnected client sends again', () => accepted.length >= n0 + 10, 60_000);
      stop = true;
      await sender;
      assert.ok(closes.length >= 1 && closes.every((c) => c === 1001), `the sender was closed with 1001 (got ${closes.join(',')})`);
      const reader = await connectAs(url, 'roll-b');
      await expectAllAcceptedStored(reader, dm('roll-a', 'roll-b'), accepted, 120_000);
      reader.close();
    } finally {
      for (const p of getJson(env, ['-n', NS, 'get', 'pods']).items as Json[])
        if (p.metadata.finalizers?.includes(FINALIZER)) hold(String(p.metadata.name), false);
    }
  });

  it('the chart’s alert rules load into Prometheus, evaluate without error over metrics the release’s pods export, and pass promtool test rules', async () => {
    const groups = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as Json;
    const rules = (groups.data.groups as Json[]).flatMap((g) => g.rules as Json[]);
    assert.deepEqual(rules.map((r) => String(r.name)).sort(), [
      'SwitchboardConnectNoMessageStreams',
      'SwitchboardConnectReconnectRateHigh',
      'SwitchboardConnectStreamFailures',
      'SwitchboardGatewayStreamOverflow',
      'SwitchboardMessageLogConsumerRestarting',
      'SwitchboardMessageLogRecordsUnreadable',
      'SwitchboardMessageNoSubscribers',
      'SwitchboardMessagePersistLagging',
      'SwitchboardMessagesNotStored',
    ]);
    for (const r of rules) assert.equal(r.health, 'ok', `${r.name}: ${r.health} ${r.lastError ?? ''}`);
    // A misspelt metric would leave its alert silent forever: every metric an alert reads is scraped
    // from this release's pods (the traffic of the tests before has made each labelled one appear).
    const named = [...new Set(rules.flatMap((r) => String(r.query).match(/switchboard_[a-z_]+/g) ?? []))].sort();
    const scraped = (await prometheus.query(`count by (__name__) ({__name__=~"${named.join('|')}", namespace="${NS}"})`))
      .map((x) => String(x.metric.__name__))
      .sort();
    assert.deepEqual(scraped, named);
    // The unit tests name the rule file that the suite rendered from the chart, beside them.
    const tests = join(TESTENV, 'alerts.promtool.yaml');
    copyFileSync(join(ROOT, 'test/cluster/alerts.promtool.yaml'), tests);
    const r = spawnSync(tool('promtool'), ['test', 'rules', tests], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  it('start order: installed with Message at 0 replicas, Connect pods run but stay not Ready and liveness never restarts them; scaling Message up makes them Ready', async () => {
    const ns = 'switchboard-order';
    kubectl(['create', 'namespace', ns]);
    kubectl(['-n', ns, 'create', 'secret', 'generic', 'switchboard-auth', `--from-literal=jwt-secret=${SECRET}`]);
    // This release also runs with the shared token on Connect's calls (Message refuses a stream
    // without it, so Connect turns Ready below only if both got it) and a setting given by name.
    kubectl(['-n', ns, 'create', 'secret', 'generic', 'switchboard-internal', `--from-literal=token=${randomBytes(24).toString('hex')}`]);
    helm(env, [
      'install',
      'switchboard',
      CHART,
      '-n',
      ns,
      '--set',
      'message.replicas=0',
      '--set',
      `image.repository=${SWITCHBOARD_IMAGE.repository}`,
      '--set',
      `image.tag=${SWITCHBOARD_IMAGE.tag}`,
      '--set',
      'image.pullPolicy=Never',
      '--set',
      `kafka.brokers=${env.kafka.address}`,
      '--set',
      `mongodb.uri=${env.mongodb.address}switchboard_order`,
      '--set',
      `redis.url=${env.redis.address}`,
      '--set',
      'kafka.topic=switchboard.order',
      '--set',
      'auth.internalTokenSecret=switchboard-internal',
      '--set',
      'connect.env.STREAM_BACKOFF_MAX=3s',
    ]);
    const pods = (): Json[] => podsOf(env, ns, 'connect');
    await eventually(
      'Connect running, its gate set False by Connect itself',
      () => pods().length === 2 && pods().every((p) => p.status.containerStatuses?.[0]?.state?.running && condition(p, GATE) === 'False'),
      120_000,
      1000,
    );
    // Longer than the startup probe's and the liveness probe's failure budgets together.
    const until = Date.now() + 45_000;
    while (Date.now() < until) {
      for (const p of pods()) {
        assert.equal(condition(p, 'Ready'), 'False', `${p.metadata.name} not Ready without Message`);
        assert.equal(condition(p, GATE), 'False', `${p.metadata.name}: gate False`);
        assert.equal(p.status.containerStatuses[0].restartCount, 0, `${p.metadata.name} never restarted`);
      }
      await new Promise((r) => setTimeout(r, 3000));
    }
    kubectl(['-n', ns, 'scale', 'deployment/switchboard-message', '--replicas=1']);
    await eventually(
      'Connect Ready once Message serves',
      () => pods().every((p) => condition(p, 'Ready') === 'True' && condition(p, GATE) === 'True'),
      120_000,
      1000,
    );
    for (const p of pods()) {
      assert.equal(p.status.containerStatuses[0].restartCount, 0);
      assert.equal(
        await podMetric(p, CONNECT_ADMIN, 'switchboard_connect_streams_active'),
        1,
        `${p.metadata.name}: its stream to the Message pod is up, token and all`,
      );
      assert.deepEqual(
        (p.spec.containers[0].env as Json[]).find((e) => e.name === 'STREAM_BACKOFF_MAX'),
        { name: 'STREAM_BACKOFF_MAX', value: '3s' },
      );
    }
    helm(env, ['uninstall', 'switchboard', '-n', ns, '--wait']);
  });

  it('quickstart: helm install --set quickstart=true needs nothing else in the cluster, warns loudly, and a client talks through port-forward', async () => {
    const ns = 'switchboard-quickstart';
    kubectl(['create', 'namespace', ns]);
    const out = helm(env, [
      'install',
      'switchboard',
      CHART,
      '-n',
      ns,
      '--set',
      'quickstart=true',
      '--set',
      `image.repository=${SWITCHBOARD_IMAGE.repository}`,
      '--set',
      `image.tag=${SWITCHBOARD_IMAGE.tag}`,
      '--set',
      'image.pullPolicy=Never',
    ]);
    assert.match(out, /WARNING: quickstart=true\. ONE Message pod on EMBEDDED in-process backends: nothing is/);
    assert.match(out, /The chart generated it \(quickstart\)/);
    const pods = (): Json[] => [...podsOf(env, ns, 'connect'), ...podsOf(env, ns, 'message')];
    await eventually('quickstart pods Ready', () => pods().length === 3 && pods().every((p) => condition(p, 'Ready') === 'True'), 180_000, 1000);
    const message = podsOf(env, ns, 'message')[0];
    assert.match(kubectl(['-n', ns, 'logs', message.metadata.name]), /data is NOT durable and only ONE Message replica may run/);
    const secret = Buffer.from(kubectl(['-n', ns, 'get', 'secret', 'switchboard-auth', '-o', 'jsonpath={.data.jwt-secret}']), 'base64').toString();
    assert.ok(secret.length >= 32);
    const pf = new PortForward(env, ns, 'svc/switchboard-connect', 21005);
    forwards.push(pf);
    const url = `ws://127.0.0.1:${await pf.port}/ws`;
    const b = await TestClient.connect(url, { token: await tokenFor(secret, 'qs-b'), header: true });
    const sent = spawnSync(
      'npm',
      ['run', 'client', '--', '--user', 'qs-a', '--target', 'qs-b', '--send', 'quick hello', '--url', url, '--jwt-secret', secret],
      { cwd: ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(sent.status, 0, sent.stderr);
    assert.equal((await b.next('message', 20_000)).body, 'quick hello');
    b.close();
    pf.stop();
    helm(env, ['uninstall', 'switchboard', '-n', ns, '--wait']);
  });
});
