import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { freePort } from '../support/services.js';
import { interrupt, killAll, LOOPBACK, spawnNpm, type ServiceProcess } from '../support/processes.js';
import { Terminal } from '../support/terminal.js';
import { TestClient } from '../support/ws-client.js';

/**
 * The README's first demo, walked as a person walks it: `npm start`, then `npm run client` in
 * two terminals, typing lines; a client that leaves and comes back; the gateway restarted under
 * them; Ctrl-C to the whole process group.
 */
describe('the first five minutes (README demo in terminals)', function () {
  this.timeout(180_000);
  const procs: ServiceProcess[] = [];
  const terminals: Terminal[] = [];
  after(async () => {
    for (const t of terminals) t.kill();
    await killAll(procs);
  });

  let wsPort: number;
  /** Loopback only; every port but the gateway's free. */
  const ports = (ws: number): Record<string, string> => ({
    ...LOOPBACK,
    CONNECT_WS_PORT: String(ws),
    CONNECT_ADMIN_PORT: '0',
    MESSAGE_GRPC_PORT: '0',
    MESSAGE_HTTP_PORT: '0',
  });
  const npmStart = async (): Promise<ServiceProcess> => {
    const p = spawnNpm('start', ports(wsPort));
    procs.push(p);
    await p.waitForLog('connect service started', 60_000);
    return p;
  };
  const client = (user: string, target: string): Terminal => {
    const t = new Terminal(`npm run client -- --user ${user} --target ${target} --url ws://127.0.0.1:${wsPort}/ws`);
    terminals.push(t);
    return t;
  };

  it('two people chat, one leaves and catches up on return, and both carry on through a gateway restart', async () => {
    wsPort = await freePort();
    let gateway = await npmStart();
    assert.match(gateway.text, /Talk to yourself from two terminals/);

    const a = client('1001', '1002');
    const b = client('1002', '1001');
    await a.waitFor(/connected as 1001 .*type a line to send to 1002/);
    await b.waitFor(/connected as 1002 /);

    a.type('hello from 1001');
    await b.waitFor(/\(1001 is typing in dm:1001:1002…\)/); // the keystrokes, before the line is sent
    await b.waitFor(/\[dm:1001:1002 #1\] 1001: hello from 1001/);
    await a.waitFor(/\[dm:1001:1002\] 1001: hello from 1001/); // the sender sees its own line once accepted
    await a.waitFor(/\(1002 read dm:1001:1002 up to #1\)/); // what 1002's terminal printed is read: the receipt
    b.type('hi 1001, 1002 here');
    await a.waitFor(/\[dm:1001:1002 #2\] 1002: hi 1001, 1002 here/);

    // /quit leaves: the client closes cleanly and exits 0; 1001 sees 1002 go (after the gateway's debounce).
    await a.waitFor(/\(1002 is online\)/);
    b.type('/quit');
    assert.equal((await b.exited).code, 0);
    await a.waitFor(/\(1002 is offline\)/, 15_000);

    a.type('are you there?');
    a.type('this was sent while you were away');
    await a.waitFor(/\[dm:1001:1002\] 1001: this was sent while you were away/);

    // Joining later shows what was sent meanwhile, in order.
    const b2 = client('1002', '1001');
    const [away1] = await b2.waitFor(/\[dm:1001:1002 #3\] 1001: are you there\?/);
    const [away2] = await b2.waitFor(/\[dm:1001:1002 #4\] 1001: this was sent while you were away/);
    assert.ok(away1!.index! < away2!.index!, 'history in seq order');
    await a.waitFor(/\(1002 is online\)/, 20_000, 2);
    assert.equal(b2.count(/hello from 1001/), 1, 'the earlier history once');
    b2.type('/unread');
    await b2.waitFor(/nothing unread/);
    await a.waitFor(/\(1002 read dm:1001:1002 up to #4\)/);

    // The gateway goes away (Ctrl-C to npm start) and comes back on the same port.
    interrupt(gateway);
    assert.deepEqual(await gateway.exited, { code: 0, signal: null });
    await a.waitFor(/connection lost \(1001 server draining/);
    await b2.waitFor(/connection lost \(1001 server draining/);
    a.type('typed while the gateway was down');
    await a.waitFor(/still reconnecting .*; 1 unsent message will go out then/, 20_000);
    gateway = await npmStart();
    await a.waitFor(/reconnected as 1001/, 30_000);
    await b2.waitFor(/reconnected as 1002/, 30_000);

    // Embedded backends lost the history; the queued line went out once after the reconnect.
    await b2.waitFor(/\] 1001: typed while the gateway was down/, 30_000);
    b2.type('back again');
    await a.waitFor(/\[dm:1001:1002 #\d+\] 1002: back again/, 20_000);
    a.type('after the restart');
    await b2.waitFor(/\[dm:1001:1002 #\d+\] 1001: after the restart/);
    assert.equal(b2.count(/1001: typed while the gateway was down/), 1, 'the send made during the outage arrived exactly once');

    // End of input leaves like /quit.
    a.endInput();
    assert.equal((await a.exited).code, 0);
    b2.type('/quit');
    assert.equal((await b2.exited).code, 0);
    interrupt(gateway);
    assert.deepEqual(await gateway.exited, { code: 0, signal: null });
  });

  it('three people in a group from their terminals: /group creates it, --group joins it, /remove, /members, /title, /edit and /delete', async () => {
    wsPort = await freePort();
    const gateway = await npmStart();
    const a = client('2001', '2002');
    await a.waitFor(/connected as 2001 /);
    a.type('/group 2002 2003');
    const group = (await a.waitFor(/created (grp:[A-Za-z0-9_-]+); others join with: npm run client -- --user ID --group grp:/))[0]![1]!;
    await a.waitFor(new RegExp(`\\[${group} #1\\] 2001 created the group with 2002, 2003`));
    const join = (user: string): Terminal => {
      const t = new Terminal(`npm run client -- --user ${user} --group ${group.slice(4)} --url ws://127.0.0.1:${wsPort}/ws`);
      terminals.push(t);
      return t;
    };
    const [b, c] = [join('2002'), join('2003')];
    for (const t of [b, c]) await t.waitFor(new RegExp(`type a line to send to ${group}`));
    await b.waitFor(new RegExp(`\\[${group} #1\\] 2001 created the group with 2002, 2003`)); // history on joining
    b.type('hello group');
    await a.waitFor(new RegExp(`\\[${group} #2\\] 2002: hello group`));
    await c.waitFor(new RegExp(`\\[${group} #2\\] 2002: hello group`));
    a.type('/remove 2003');
    await c.waitFor(new RegExp(`\\[${group} #3\\] 2001 removed 2003`));
    a.type('/members');
    await a.waitFor(new RegExp(`members of ${group}: 2001, 2002`));
    // A title names the group from then on; a typo is edited, then deleted, on every terminal.
    b.type('/title Road trip');
    await a.waitFor(new RegExp(`\\[${group} #4\\] 2002 named the group "Road trip"`));
    b.type('helo');
    await a.waitFor(/\[Road trip #5\] 2002: helo/);
    b.type('/edit hello');
    for (const t of [a, b]) await t.waitFor(/\[Road trip #6\] 2002 edited #5: hello/);
    a.type('/delete #5');
    await a.waitFor(/not changed \(FORBIDDEN: the message at seq 5 is 2002's: only its sender edits or deletes it\)/);
    b.type('/delete');
    for (const t of [a, b]) await t.waitFor(/\[Road trip #7\] 2002 deleted #5/);
    c.type('can I still talk?');
    await c.waitFor(/not sent \(FORBIDDEN: 2003 is not a member of grp:/);
    for (const t of [a, b, c]) t.type('/quit');
    for (const t of [a, b, c]) assert.equal((await t.exited).code, 0);
    interrupt(gateway);
    assert.deepEqual(await gateway.exited, { code: 0, signal: null });
  });

  it('the README’s server API block as typed: npm start with a key, then its curl publishes a notice the terminal client of alice shows', async () => {
    // The README's own lines: the key, npm start with SERVER_API_KEYS, and the curl command.
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /```bash\n(export KEY=[^\n]*\n[\s\S]*?ServerApiService\/Publish)\n```/.exec(readme)?.[1];
    assert.ok(block, 'the README shows the server API block');
    const lines = block.split('\n');
    assert.match(lines[0]!, /^export KEY=\$\(openssl rand -hex 24\)/);
    assert.match(lines[1]!, /^SERVER_API_KEYS="backend \$KEY" npm start/);
    const curl = lines.slice(lines.findIndex((l) => l.startsWith('curl '))).join('\n');
    const key = execFileSync('bash', ['-c', `${lines[0]!.replace(/\s+#.*$/, '')}; echo "$KEY"`], { encoding: 'utf8' }).trim();
    wsPort = await freePort();
    const apiPort = await freePort();
    const p = spawnNpm('start', { ...ports(wsPort), MESSAGE_API_PORT: String(apiPort), SERVER_API_KEYS: `backend ${key}` });
    procs.push(p);
    await p.waitForLog('connect service started', 60_000);
    const alice = client('alice', 'bob');
    await alice.waitFor(/connected as alice /);
    const out = execFileSync('bash', ['-c', curl.replace('localhost:22006', `127.0.0.1:${apiPort}`)], {
      encoding: 'utf8',
      env: { ...process.env, KEY: key },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    assert.match(out, /"conversation":"dm:alice:system"/);
    await alice.waitFor(/\[dm:alice:system #1\] system: your order shipped/);
    alice.type('/quit');
    interrupt(p);
    assert.deepEqual(await p.exited, { code: 0, signal: null });
  });

  it('npm start in a terminal prints readable log lines (JSON elsewhere) and stops on Ctrl-C', async () => {
    const port = await freePort();
    const t = new Terminal('npm start', ports(port));
    terminals.push(t);
    await t.waitFor(/\[\d\d:\d\d:\d\d\.\d{3}\] INFO \(switchboard\): connect service started/, 60_000);
    await t.waitFor(/Chat page {3}http:\/\/localhost:\d+\//);
    assert.equal(t.count(/\{"level":/), 0, 'no JSON lines on a terminal');
    const ws = await TestClient.connect(`ws://127.0.0.1:${port}/ws`, { user: 'tty-a' });
    t.interrupt();
    assert.equal((await ws.closed).code, 1001);
    assert.equal((await t.exited).code, 0);
    await t.waitFor(/INFO \(switchboard\): stopped/);
    assert.equal(t.count(/second signal/), 0);
  });

  for (const script of ['start', 'start:connect'] as const) {
    it(`one Ctrl-C to the process group of npm ${script === 'start' ? 'start' : 'run start:connect'} drains clients with 1001 and exits 0, every time`, async () => {
      for (let round = 1; round <= 3; round++) {
        const port = await freePort();
        const p = spawnNpm(script, {
          ...ports(port),
          CONNECT_DRAIN_WINDOW: '300ms',
          ...(script === 'start:connect' ? { AUTH_MODE: 'insecure-dev', MESSAGE_DISCOVERY: `127.0.0.1:${await freePort()}` } : {}),
        });
        procs.push(p);
        await p.waitForLog('connect service started', 60_000);
        const url = `ws://127.0.0.1:${port}/ws`;
        const clients = await Promise.all([TestClient.connect(url, { user: `sig-a${round}` }), TestClient.connect(url, { user: `sig-b${round}` })]);
        interrupt(p);
        const closes = await Promise.all(clients.map((c) => c.closed));
        assert.deepEqual(
          closes.map((c) => c.code),
          [1001, 1001],
          `round ${round}: clients were drained`,
        );
        assert.deepEqual(await p.exited, { code: 0, signal: null }, `round ${round}: npm exits 0`);
        assert.equal(p.lines.filter((l) => l.msg === 'stopping').length, 1, `round ${round}: one stop`);
        assert.ok(!p.lines.some((l) => l.msg === 'second signal: exiting now'), `round ${round}: the relayed signal did not force an exit`);
        assert.ok(
          p.lines.some((l) => l.msg === 'stopped'),
          `round ${round}: the service stopped cleanly`,
        );
      }
    });
  }
});
