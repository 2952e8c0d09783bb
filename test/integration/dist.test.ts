import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceProcess, imageEntrypoint, killAll, metricValue } from '../support/processes.js';
import { getJson, eventually } from '../support/services.js';
import { isolatedBackendSettings, sharedRealBackends } from '../support/real-backends.js';
import { TestClient } from '../support/ws-client.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The newest modification time of the files under `dir` (0 when it does not exist). */
function newest(dir: string): number {
  if (!existsSync(dir)) return 0;
  const st = statSync(dir);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(0, ...readdirSync(dir).map((e) => newest(join(dir, e))));
}

/** Whether dist/ was compiled after the last change to what it is compiled from. */
function distIsFresh(): boolean {
  const built = newest(join(ROOT, 'dist/services/main.js'));
  const sources = Math.max(newest(join(ROOT, 'services')), newest(join(ROOT, 'tsconfig.json')), newest(join(ROOT, 'package.json')));
  return built > 0 && built >= sources;
}

/** What the container image runs: the compiled entry point, plain node, no tsx. */
describe('compiled services (the container entry point)', function () {
  this.timeout(120_000);
  const procs: ServiceProcess[] = [];
  // The image's own command line: its Node flags, then dist/services/main.js, built inside the clone
  // (git-ignored) as in /app, so that node_modules resolves as it does in the image.
  const [, ...entrypoint] = imageEntrypoint();
  const start = (args: string[], env: Record<string, string> = {}) => {
    const p = new ServiceProcess(
      spawn(process.execPath, [...entrypoint, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] }),
    );
    procs.push(p);
    return p;
  };
  before(() => {
    // `make test` compiled dist/ moments ago (its typecheck is that compile): built again only when
    // a source is newer than it, as when this file runs alone.
    if (distIsFresh()) return;
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(distIsFresh(), 'npm run build left dist/ older than the sources');
  });
  after(async () => {
    await killAll(procs);
  });

  it('the client SDK is the package’s `switchboard/client`: it imports in plain Node and its types check an application’s code', () => {
    const run = spawnSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const sdk = await import('switchboard/client'); console.log(JSON.stringify([typeof sdk.connect, typeof sdk.ChatClient, sdk.SUBPROTOCOL, sdk.DISCONNECTED_FINAL]));",
      ],
      { cwd: ROOT, encoding: 'utf8' },
    );
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), ['function', 'function', 'switchboard.v1', 4403]);
    // An application's TypeScript, inside the package so that the name resolves to it.
    const app = join(ROOT, 'dist', 'sdk-consumer.ts');
    writeFileSync(
      app,
      [
        "import { connect, type ChatEvent } from 'switchboard/client';",
        'const seen: ChatEvent[] = [];',
        "const chat = connect({ url: 'ws://localhost:21005/ws', token: async () => 'jwt', onEvent: (e) => seen.push(e) });",
        "const id: string = chat.send('alice', 'hi');",
        'chat.stop();',
        'export { id, seen };',
      ].join('\n'),
    );
    /** tsc as an application's strict NodeNext project would run it on `file`. */
    const typecheck = (file: string) =>
      spawnSync(
        'npx',
        [
          'tsc',
          '--noEmit',
          '--strict',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--target',
          'es2022',
          '--lib',
          'es2023,dom',
          '--types',
          'node',
          file,
        ],
        { cwd: ROOT, encoding: 'utf8' },
      );
    const tsc = typecheck(app);
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
    const wrong = app.replace('consumer', 'misuse');
    writeFileSync(wrong, "import { connect } from 'switchboard/client';\nconnect({ url: 'ws://x/ws', onEvent: (e) => e.kind === 'no-such-event' });\n");
    const refused = typecheck(wrong);
    assert.match(refused.stdout, /no overlap|not comparable/, 'an event kind the protocol does not have is a type error');
  });

  it('runs message and connect from one entry point and refuses an unknown command', async () => {
    const loopback = ['--message-grpc-host=127.0.0.1', '--message-http-host=127.0.0.1'];
    const message = start(['message', ...loopback, '--message-grpc-port=0', '--message-http-port=0']);
    const m = await message.waitForLog('message service started');
    const connect = start([
      'connect',
      '--connect-ws-host=127.0.0.1',
      '--connect-admin-host=127.0.0.1',
      '--connect-ws-port=0',
      '--connect-admin-port=0',
      '--auth-mode=insecure-dev',
      `--message-discovery=127.0.0.1:${String(m.grpcPort)}`,
    ]);
    const c = await connect.waitForLog('connect service started');
    await eventually('ready', async () => (await getJson(`http://127.0.0.1:${String(c.adminPort)}/readyz`)).status === 200);
    const url = `ws://127.0.0.1:${String(c.wsPort)}/ws`;
    const a = await TestClient.connect(url, { user: 'dist-a' });
    const b = await TestClient.connect(url, { user: 'dist-b' });
    await a.request({ type: 'send', id: 'd1', to: 'dist-b', body: 'compiled' }, 'accepted');
    assert.equal((await b.next('message')).body, 'compiled');
    a.close();
    b.close();
    const bad = start(['explode']);
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.text, /usage: main\.js message\|connect\|client/);
  });

  it('on Kafka, long-polls an idle log: the compiled Message can wrap its kafkajs, and fetches a few times a second', async () => {
    const env = await sharedRealBackends();
    const settings = isolatedBackendSettings(env, {
      MESSAGE_GRPC_HOST: '127.0.0.1',
      MESSAGE_GRPC_PORT: '0',
      MESSAGE_HTTP_HOST: '127.0.0.1',
      MESSAGE_HTTP_PORT: '0',
    });
    const message = start(['message'], settings);
    const m = await message.waitForLog('message service started');
    await message.waitForLog('backends connected; serving', 60_000);
    const fetches = (): Promise<number> => metricValue(`http://127.0.0.1:${String(m.httpPort)}`, 'switchboard_message_log_requests_total', 'api="Fetch"');
    await eventually('the consumer fetches', async () => (await fetches()) > 0, 30_000, 200);
    const before = await fetches();
    await new Promise((r) => setTimeout(r, 3000));
    const n = (await fetches()) - before;
    assert.doesNotMatch(message.text, /cannot long-poll/);
    // 500 ms long polls: about 6 in 3 s; fetched every 15 ms it would be 150 or more, and a
    // consumer that stopped fetching would make none.
    assert.ok(n >= 3 && n <= 12, `${n} fetches in 3 s of an idle log`);
  });
});
