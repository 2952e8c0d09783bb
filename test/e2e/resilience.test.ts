import assert from 'node:assert/strict';
import { getJson, eventually, freePort } from '../support/services.js';
import { killAll, metricValue, startConnectProcess, startMessageProcess, type ServiceProcess } from '../support/processes.js';
import { TestClient, upgradeStatus } from '../support/ws-client.js';
import { isolatedBackendSettings, sharedRealBackends } from '../support/real-backends.js';
import { startDnsServer, type TestDnsServer } from '../support/dns-server.js';
import { dm, expectAllAcceptedStored, sendReliably } from '../support/traffic.js';

const ready = async (admin: string): Promise<boolean> => (await getJson(`${admin}/readyz`)).status === 200;
const streams = (admin: string) => metricValue(admin, 'switchboard_connect_streams_active');

/** Connect ↔ Message under every start order, restart, scale change and dead peer (real processes). */
describe('Connect ↔ Message resilience', function () {
  this.timeout(180_000);
  const procs: ServiceProcess[] = [];
  const clients: TestClient[] = [];
  const open = async (url: string, user: string): Promise<TestClient> => {
    const c = await TestClient.connect(url, { user });
    clients.push(c);
    return c;
  };
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await killAll(procs.splice(0));
  });

  it('Connect started long before Message (five failed attempts): no crash, 503, growing retry delays; ready within one backoff interval', async () => {
    const grpcPort = await freePort();
    // The default backoff's shape (× 1.6, ±20 %, cap 30 s) from 300 ms (the unit tests cover the
    // exact delays with an injected clock); debug logs show every retry delay.
    const connect = await startConnectProcess(
      `127.0.0.1:${grpcPort}`,
      { STREAM_BACKOFF_INITIAL: '300ms', STREAM_BACKOFF_MAX: '30s', LOG_LEVEL: 'debug' },
      procs,
    );
    // The fifth failure comes about 3 s in; the next attempt is then ≥ 1.5 s away, so the figures below hold still.
    await eventually(
      'five failed attempts',
      async () => (await metricValue(connect.admin, 'switchboard_connect_stream_connect_attempts_total', 'result="failure"')) >= 5,
      30_000,
      100,
    );
    const failures = () => connect.proc.lines.filter((l) => l.msg === 'message stream attempt failed');
    await eventually('their log lines', () => failures().length >= 5, 5000);
    assert.equal(connect.proc.child.exitCode, null, 'no crash');
    assert.equal((await getJson(`${connect.admin}/readyz`)).status, 503);
    const delays = failures().map((l) => Number(l.retryInMs));
    assert.ok(delays.length >= 5, `attempts: ${delays.join(', ')}`);
    for (let i = 1; i < delays.length; i++) assert.ok(delays[i]! > delays[i - 1]!, `delays grow: ${delays.join(', ')}`);
    assert.ok(delays[0]! >= 240 && delays[0]! <= 360, `first delay ≈ 300 ms: ${delays[0]}`);
    assert.equal(await metricValue(connect.admin, 'switchboard_connect_stream_connect_attempts_total', 'result="failure"'), delays.length);
    assert.equal(await metricValue(connect.admin, 'switchboard_connect_stream_backoff_seconds_count'), delays.length);

    await startMessageProcess({ MESSAGE_GRPC_PORT: String(grpcPort) }, procs);
    const t0 = Date.now();
    // The backoff pending when Message began to serve: the delay of the last failure before then
    // (Message's own start-up may have taken longer than the delay read above, and another attempt
    // failed meanwhile).
    const current = Number(
      failures()
        .filter((l) => Number(l.time) <= t0)
        .at(-1)!.retryInMs,
    );
    await eventually('Connect ready', () => ready(connect.admin), current + 5000, 100);
    assert.ok(Date.now() - t0 <= current + 500, `ready ${Date.now() - t0} ms after Message, within the pending ${current} ms backoff`);
    assert.equal(await metricValue(connect.admin, 'switchboard_connect_stream_connect_attempts_total', 'result="success"'), 1);
  });

  it('a frozen Message pod (SIGSTOP) is detected by keepalive within the bound; SIGCONT recovers', async () => {
    const message = await startMessageProcess({}, procs);
    const connect = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, { GRPC_KEEPALIVE_TIME: '1s', GRPC_KEEPALIVE_TIMEOUT: '1s' }, procs);
    await eventually('stream up', () => ready(connect.admin), 10_000);
    const c = await open(connect.url, 'frozen-a');
    message.proc.kill('SIGSTOP');
    const t0 = Date.now();
    await eventually('stream loss detected', async () => (await streams(connect.admin)) === 0, 10_000, 100);
    const detectedMs = Date.now() - t0;
    assert.ok(detectedMs <= 3500, `detected after ${detectedMs} ms (keepalive 1 s + timeout 1 s)`);
    assert.equal((await getJson(`${connect.admin}/readyz`)).status, 503);
    const res = await c.request({ type: 'send', id: 'f1', to: 'frozen-b', body: 'x' }, 'error');
    assert.equal(res.code, 'UNAVAILABLE');
    message.proc.kill('SIGCONT');
    await eventually('stream back', () => ready(connect.admin), 15_000, 100);
    await c.next('resync', 5000);
    assert.equal(await metricValue(connect.admin, 'switchboard_connect_stream_reconnects_total'), 1);
    assert.equal((await sendReliably(c, { id: 'f2', to: 'frozen-b', body: 'after' })).type, 'accepted');
  });

  it('SIGTERM of Connect: /readyz 503 and new upgrades refused at once, 1001 closes spread over the drain window, exit 0', async () => {
    const message = await startMessageProcess({}, procs);
    const connect = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, { CONNECT_DRAIN_WINDOW: '2s' }, procs);
    await eventually('ready', () => ready(connect.admin), 10_000);
    const cs = await Promise.all(Array.from({ length: 10 }, (_, i) => open(connect.url, `drain-${i}`)));
    const closedAt: number[] = [];
    const closes = cs.map((c) => c.closed.then((r) => (closedAt.push(Date.now()), r.code)));
    connect.proc.kill('SIGTERM');
    await eventually('/readyz 503 once SIGTERM arrives', async () => (await getJson(`${connect.admin}/readyz`)).status === 503, 1000, 10);
    assert.equal((await upgradeStatus(`${connect.url}?user=late`)).status, 503);
    assert.deepEqual(await Promise.all(closes), Array(10).fill(1001));
    const spread = Math.max(...closedAt) - Math.min(...closedAt);
    assert.ok(spread >= 1200 && spread <= 3000, `closes spread over ${spread} ms of a 2 s window`);
    assert.deepEqual(await connect.proc.exited, { code: 0, signal: null });
  });

  describe('with real backends', () => {
    let backendSettings: Record<string, string>;
    before(async () => {
      backendSettings = isolatedBackendSettings(await sharedRealBackends());
    });

    it('Message SIGKILL and restart during traffic: stream back, resync, reconnect counted, nothing accepted lost', async () => {
      const grpcPort = await freePort();
      const settings = { ...backendSettings, MESSAGE_GRPC_PORT: String(grpcPort) };
      const message = await startMessageProcess(settings, procs);
      const connect = await startConnectProcess(`127.0.0.1:${grpcPort}`, {}, procs);
      await eventually('ready', () => ready(connect.admin), 10_000);
      const a = await open(connect.url, 'kill-a');
      const b = await open(connect.url, 'kill-b');
      const accepted: string[] = [];
      let sending = true;
      const traffic = (async () => {
        for (let n = 0; sending; n++) accepted.push(String((await sendReliably(a, { id: `k${n}`, to: 'kill-b', body: `${n}` }, { retryMs: 100 })).msgId));
      })();
      await eventually('traffic flowing', () => accepted.length >= 20, 20_000);
      message.proc.kill('SIGKILL');
      await message.proc.exited;
      await eventually('stream lost', async () => (await streams(connect.admin)) === 0, 10_000, 50);
      await startMessageProcess(settings, procs);
      await eventually('stream back', () => ready(connect.admin), 15_000, 100);
      await a.next('resync', 5000);
      await b.next('resync', 5000);
      assert.equal(await metricValue(connect.admin, 'switchboard_connect_stream_reconnects_total'), 1);
      const before = accepted.length;
      await eventually('traffic flowing again', () => accepted.length >= before + 20, 60_000);
      sending = false;
      await traffic;
      await expectAllAcceptedStored(b, dm('kill-a', 'kill-b'), accepted);
    });

    it('scales 1 → 3 → 1 by DNS: streams open and close to match without a restart, nothing lost', async () => {
      const dns: TestDnsServer = await startDnsServer();
      try {
        const port = await freePort();
        const hosts = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
        const ms = [];
        for (const h of hosts) ms.push(await startMessageProcess({ ...backendSettings, MESSAGE_GRPC_HOST: h, MESSAGE_GRPC_PORT: String(port) }, procs));
        dns.set('message.switchboard.test', hosts.slice(0, 1));
        const connect = await startConnectProcess(
          `dns:message.switchboard.test:${port}`,
          { MESSAGE_DNS_SERVER: dns.address, DISCOVERY_INTERVAL: '300ms' },
          procs,
        );
        const pid = connect.proc.child.pid;
        await eventually('1 stream', async () => (await streams(connect.admin)) === 1, 10_000);
        const a = await open(connect.url, 'scale-a');
        const b = await open(connect.url, 'scale-b');
        const accepted: string[] = [];
        let sending = true;
        const traffic = (async () => {
          for (let n = 0; sending; n++) accepted.push(String((await sendReliably(a, { id: `s${n}`, to: 'scale-b', body: `${n}` }, { retryMs: 100 })).msgId));
        })();

        dns.set('message.switchboard.test', hosts);
        await eventually(
          '3 endpoints, 3 streams',
          async () => (await metricValue(connect.admin, 'switchboard_connect_message_endpoints')) === 3 && (await streams(connect.admin)) === 3,
          15_000,
          100,
        );
        await Promise.all(
          ms.map((m) =>
            eventually('each Message pod holds the gateway', async () => (await metricValue(m.admin, 'switchboard_message_subscribers')) === 1, 10_000),
          ),
        );
        const mid = accepted.length;
        await eventually('traffic on 3', () => accepted.length >= mid + 20, 30_000);

        dns.set('message.switchboard.test', hosts.slice(0, 1));
        await eventually(
          'back to 1 endpoint and 1 stream',
          async () => (await metricValue(connect.admin, 'switchboard_connect_message_endpoints')) === 1 && (await streams(connect.admin)) === 1,
          15_000,
          100,
        );
        for (const m of ms.slice(1)) {
          await eventually('scaled-in pods lose the gateway', async () => (await metricValue(m.admin, 'switchboard_message_subscribers')) === 0, 10_000);
          m.proc.kill('SIGTERM');
          assert.deepEqual(await m.proc.exited, { code: 0, signal: null });
        }
        const late = accepted.length;
        await eventually('traffic on 1', () => accepted.length >= late + 20, 60_000);
        sending = false;
        await traffic;
        assert.equal(connect.proc.child.pid, pid);
        assert.equal(connect.proc.child.exitCode, null, 'Connect was never restarted');
        await expectAllAcceptedStored(b, dm('scale-a', 'scale-b'), accepted);
      } finally {
        await dns.close();
      }
    });

    it('SIGTERM of a Message pod ends its streams so gateways move to the others at once; it leaves the group; exit 0', async () => {
      const ports = [await freePort(), await freePort()];
      const ms: Awaited<ReturnType<typeof startMessageProcess>>[] = [];
      for (const p of ports) ms.push(await startMessageProcess({ ...backendSettings, MESSAGE_GRPC_PORT: String(p), MESSAGE_DRAIN_WINDOW: '1s' }, procs));
      const connect = await startConnectProcess(
        ports.map((p) => `127.0.0.1:${p}`).join(','),
        { STREAM_BACKOFF_INITIAL: '5s', STREAM_BACKOFF_MAX: '10s' },
        procs,
      );
      await eventually('2 streams', async () => (await streams(connect.admin)) === 2, 10_000);
      const a = await open(connect.url, 'term-a');
      const b = await open(connect.url, 'term-b');
      for (let n = 0; n < 5; n++) await sendReliably(a, { id: `pre${n}`, to: 'term-b', body: `pre${n}` });
      ms[0]!.proc.kill('SIGTERM');
      await eventually('the pod reports draining', async () => (await getJson(`${ms[0]!.admin}/readyz`)).status === 503, 1000, 10);
      const t0 = Date.now();
      await eventually('stream to the draining pod ended', async () => (await streams(connect.admin)) === 1, 10_000, 50);
      assert.ok(Date.now() - t0 <= 3000, `streams ended ${Date.now() - t0} ms into a 1 s drain window`);
      assert.deepEqual(await ms[0]!.proc.exited, { code: 0, signal: null });
      assert.ok(ms[0]!.proc.text.includes('message service stopped'));
      // The other pod took over the partitions without waiting for a session timeout.
      b.take('message');
      const t1 = Date.now();
      for (let n = 0; n < 10; n++) await sendReliably(a, { id: `post${n}`, to: 'term-b', body: `post${n}` });
      await eventually('pushes after the hand-over', () => b.frames.filter((f) => f.type === 'message').length >= 10, 8000, 50);
      assert.ok(Date.now() - t1 < 8000);
      assert.equal(await ready(connect.admin), true);
    });
  });
});
