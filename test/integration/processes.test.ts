import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { freePort, getJson, eventually } from '../support/services.js';
import { killAll, metricValue, spawnService, type ServiceProcess } from '../support/processes.js';
import { TestClient } from '../support/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LOOPBACK = { MESSAGE_GRPC_HOST: '127.0.0.1', MESSAGE_HTTP_HOST: '127.0.0.1', CONNECT_WS_HOST: '127.0.0.1', CONNECT_ADMIN_HOST: '127.0.0.1' };

/** Runs the test client CLI and resolves with its exit code and output. */
function runClient(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'services/client/main.ts', ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('services as processes', function () {
  this.timeout(60_000);
  const procs: ServiceProcess[] = [];
  after(() => killAll(procs));

  it('Connect started before Message keeps retrying, then becomes ready once Message appears; SIGTERM exits 0', async () => {
    const grpcPort = await freePort();
    const connect = spawnService('connect', {
      ...LOOPBACK,
      CONNECT_WS_PORT: '0',
      CONNECT_ADMIN_PORT: '0',
      AUTH_MODE: 'insecure-dev',
      MESSAGE_DISCOVERY: `127.0.0.1:${grpcPort}`,
      STREAM_BACKOFF_INITIAL: '200ms',
      STREAM_BACKOFF_MAX: '1s',
      CONNECT_DRAIN_WINDOW: '300ms',
    });
    procs.push(connect);
    const started = await connect.waitForLog('connect service started');
    const admin = `http://127.0.0.1:${String(started.adminPort)}`;
    const url = `ws://127.0.0.1:${String(started.wsPort)}/ws`;

    await eventually(
      'three failed attempts counted',
      async () => (await metricValue(admin, 'switchboard_connect_stream_connect_attempts_total', 'result="failure"')) >= 3,
      10_000,
    );
    assert.equal(connect.child.exitCode, null, 'Connect is still running');
    const notReady = await getJson(`${admin}/readyz`);
    assert.equal(notReady.status, 503);
    assert.equal((await getJson(`${admin}/livez`)).status, 200, 'liveness does not depend on Message');

    const message = spawnService('message', { ...LOOPBACK, MESSAGE_GRPC_PORT: String(grpcPort), MESSAGE_HTTP_PORT: '0', MESSAGE_DRAIN_WINDOW: '200ms' });
    procs.push(message);
    await message.waitForLog('message service started');
    const t0 = Date.now();
    await eventually('Connect ready', async () => (await getJson(`${admin}/readyz`)).status === 200, 5000);
    assert.ok(Date.now() - t0 <= 1500, 'ready within one backoff interval (cap 1 s)');

    const a = await TestClient.connect(url, { user: 'early-a' });
    const b = await TestClient.connect(url, { user: 'early-b' });
    await a.request({ type: 'send', id: 'e1', to: 'early-b', body: 'made it' }, 'accepted');
    assert.equal((await b.next('message')).body, 'made it');

    connect.kill('SIGTERM');
    const [ca, cb] = await Promise.all([a.closed, b.closed]);
    assert.deepEqual([ca.code, cb.code], [1001, 1001]);
    assert.deepEqual(await connect.exited, { code: 0, signal: null });
    message.kill('SIGTERM');
    assert.deepEqual(await message.exited, { code: 0, signal: null });
    assert.ok(message.lines.some((l) => l.msg === 'message service stopped'));
  });

  it('Message turns /readyz to 503 at once on SIGTERM, then exits 0', async () => {
    const message = spawnService('message', { ...LOOPBACK, MESSAGE_GRPC_PORT: '0', MESSAGE_HTTP_PORT: '0', MESSAGE_DRAIN_WINDOW: '1500ms' });
    procs.push(message);
    const started = await message.waitForLog('message service started');
    const admin = `http://127.0.0.1:${String(started.httpPort)}`;
    assert.equal((await getJson(`${admin}/readyz`)).status, 200);
    message.kill('SIGTERM');
    await eventually('/readyz 503 once SIGTERM arrives', async () => (await getJson(`${admin}/readyz`)).status === 503, 1000, 10);
    const during = await getJson(`${admin}/readyz`);
    assert.deepEqual((during.body as { checks: { draining: unknown } }).checks.draining, { ok: false, detail: 'draining' });
    assert.equal((await getJson(`${admin}/livez`)).status, 200, 'still serving during the drain window');
    assert.deepEqual(await message.exited, { code: 0, signal: null });
  });

  it('a Message process whose Kafka is unreachable still exits 0 within its deadline on SIGTERM', async () => {
    const dead = await freePort();
    const message = spawnService('message', {
      ...LOOPBACK,
      MESSAGE_GRPC_PORT: '0',
      MESSAGE_HTTP_PORT: '0',
      MESSAGE_DRAIN_WINDOW: '0',
      MESSAGE_SHUTDOWN_TIMEOUT: '1s',
      KAFKA_BROKERS: `127.0.0.1:${dead}`,
    });
    procs.push(message);
    await message.waitForLog('message service started');
    await message.waitForLog('log not reachable yet; retrying', 20_000);
    const t0 = Date.now();
    message.kill('SIGTERM');
    assert.deepEqual(await message.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 < 6000, `exited ${Date.now() - t0} ms after SIGTERM`);
  });

  it("with the chart's values and Kafka and MongoDB unreachable, a Message process exits 0 on SIGTERM before its grace period ends", async function () {
    this.timeout(90_000);
    const values = parse(readFileSync(join(ROOT, 'charts/switchboard/values.yaml'), 'utf8')) as {
      message: { drainWindow: string; shutdownTimeout: string; terminationGracePeriodSeconds: number; preStopSleepSeconds: number };
    };
    const { drainWindow, shutdownTimeout, terminationGracePeriodSeconds: grace, preStopSleepSeconds: preStop } = values.message;
    const [deadKafka, deadMongo] = [await freePort(), await freePort()];
    const message = spawnService('message', {
      ...LOOPBACK,
      MESSAGE_GRPC_PORT: '0',
      MESSAGE_HTTP_PORT: '0',
      MESSAGE_DRAIN_WINDOW: drainWindow,
      MESSAGE_SHUTDOWN_TIMEOUT: shutdownTimeout,
      KAFKA_BROKERS: `127.0.0.1:${deadKafka}`,
      MONGODB_URI: `mongodb://127.0.0.1:${deadMongo}/x`,
    });
    procs.push(message);
    await message.waitForLog('message service started');
    await message.waitForLog('store not reachable yet; retrying', 20_000);
    const t0 = Date.now();
    message.kill('SIGTERM');
    assert.deepEqual(await message.exited, { code: 0, signal: null });
    const seconds = (Date.now() - t0) / 1000;
    // The kubelet sends SIGTERM after the preStop sleep; SIGKILL comes at the end of the grace period.
    assert.ok(seconds < grace - preStop, `exited ${seconds.toFixed(1)} s after SIGTERM; the chart leaves ${grace - preStop} s`);
  });

  it('a Message process refuses bad configuration with a clear message and exit code 1', async () => {
    const bad = spawnService('message', { MESSAGE_GRPC_PORT: 'not-a-port' });
    procs.push(bad);
    const exit = await bad.exited;
    assert.equal(exit.code, 1);
    assert.match(bad.text, /MESSAGE_GRPC_PORT: expected a port number 0-65535; got \\"not-a-port\\"/);
  });

  it('npm start runs the whole system; the client CLI sends and waits', async () => {
    const all = spawnService('standalone', { MESSAGE_GRPC_PORT: '0', MESSAGE_HTTP_PORT: '0', CONNECT_WS_PORT: '0', CONNECT_ADMIN_PORT: '0', ...LOOPBACK });
    procs.push(all);
    const started = await all.waitForLog('connect service started');
    assert.match(all.text, /Switchboard is running/);
    assert.ok(all.lines.some((l) => l.level === 40 && /data is NOT durable and only ONE Message replica may run/.test(String(l.msg))));
    const url = `ws://127.0.0.1:${String(started.wsPort)}/ws`;
    await eventually('stream up', async () => (await getJson(`http://127.0.0.1:${String(started.adminPort)}/readyz`)).status === 200);

    const waiting = runClient(['--user', 'cli-b', '--wait', '2', '--url', url]);
    await eventually(
      'the waiting client is connected',
      async () => (await metricValue(`http://127.0.0.1:${String(started.adminPort)}`, 'switchboard_connect_clients')) === 1,
      10_000,
    );
    const sent1 = await runClient(['--user', 'cli-a', '--target', 'cli-b', '--send', 'one', '--id', 'cli-1', '--url', url]);
    const sent2 = await runClient(['--user', 'cli-a', '--target', 'cli-b', '--send', 'two', '--url', url]);
    assert.equal(sent1.code, 0, sent1.stderr);
    assert.equal(sent2.code, 0, sent2.stderr);
    const accepted = JSON.parse(sent1.stdout.trim()) as Record<string, unknown>;
    assert.equal(accepted.type, 'accepted');
    assert.equal(accepted.id, 'cli-1');
    const got = await waiting;
    assert.equal(got.code, 0, got.stderr);
    const lines = got.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      lines.map((l) => [l.type, l.seq, l.body, l.from]),
      [
        ['message', 1, 'one', 'cli-a'],
        ['message', 2, 'two', 'cli-a'],
      ],
    );

    // Ids and text may start with '-' (a group's id after grp: does, one time in 64): each is the
    // value of its option, not an option.
    const dashed = await runClient(['--user', '-dash', '--group', '-no-such-group', '--send', '-1', '--id', '-x', '--url', url]);
    assert.equal(dashed.code, 1, dashed.stderr);
    assert.match(dashed.stdout + dashed.stderr, /FORBIDDEN.*-dash is not a member of grp:-no-such-group/);
    const toUser = await runClient(['--user', '-dash', '--target', 'cli-c', '--send', '-1 degree', '--id', '-x', '--url', url]);
    assert.equal(toUser.code, 0, toUser.stderr);
    assert.equal((JSON.parse(toUser.stdout.trim()) as Record<string, unknown>).id, '-x');
    const unknown = await runClient(['--user', 'cli-a', '--nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^Unknown option '--nope'\nusage: npm run client -- --user ID/);

    const refused = await runClient(['--user', 'bad user', '--wait', '1', '--url', url]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /HTTP 401/);

    all.kill('SIGTERM');
    assert.deepEqual(await all.exited, { code: 0, signal: null });
  });
});
