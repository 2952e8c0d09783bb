import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { eventually, getJson, startConnect, startMessage, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { metricValue } from '../support/processes.js';
import { certificateAuthority } from '../support/certificates.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The subject of the certificate a TLS server presents now, trusting `ca`. */
function presented(port: number, ca: Buffer): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => {
      const issuer = s.getPeerCertificate().issuer.CN;
      s.end();
      resolve(String(issuer));
    });
    s.once('error', reject);
  });
}

/** The gateway terminating TLS itself: wss://, a certificate renewed on disk served without a restart, the terminal client with --ca. */
describe('the gateway over TLS (wss://)', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'switchboard-tls-'));
  const first = certificateAuthority(dir, 'first');
  const second = certificateAuthority(dir, 'second');
  // What the gateway reads: a mounted Secret's two files, rewritten on renewal.
  const certFile = join(dir, 'tls.crt');
  const keyFile = join(dir, 'tls.key');
  let message: RunningMessage;
  let connect: RunningConnect;
  let wss: string;
  const clients: TestClient[] = [];

  before(async () => {
    copyFileSync(first.cert, certFile);
    copyFileSync(first.key, keyFile);
    message = await startMessage();
    connect = await startConnect(message.target, { CONNECT_TLS_CERT_FILE: certFile, CONNECT_TLS_KEY_FILE: keyFile, CONNECT_TLS_RELOAD_INTERVAL: '200ms' });
    wss = `wss://127.0.0.1:${connect.wsPort}/ws`;
    await eventually('Connect ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 20_000);
  });
  after(async () => {
    for (const c of clients) c.close();
    await connect?.stop();
    await message?.stop();
  });

  it('serves wss:// with the certificate on disk: two users chat through it; plain ws:// and an untrusted client are refused', async () => {
    const ca = readFileSync(first.ca);
    const a = await TestClient.connect(wss, { user: 'tls-a', ca });
    const b = await TestClient.connect(wss, { user: 'tls-b', ca });
    clients.push(a, b);
    await a.request({ type: 'send', id: 't1', to: 'tls-b', body: 'over tls' }, 'accepted');
    assert.equal((await b.next('message', 10_000)).body, 'over tls');
    await assert.rejects(TestClient.connect(`ws://127.0.0.1:${connect.wsPort}/ws`, { user: 'plain' }), 'plain ws:// to the TLS port');
    await assert.rejects(TestClient.connect(wss, { user: 'untrusting' }), /self[- ]signed|unable to verify|certificate/i);
  });

  it('the terminal client connects with --ca and sends', async () => {
    // Spawned, not spawned synchronously: the gateway it talks to runs in this process.
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        'services/client/main.ts',
        '--url',
        wss,
        '--ca',
        first.ca,
        '--user',
        'tls-cli',
        '--target',
        'tls-b',
        '--send',
        'from the terminal',
        '--timeout',
        '20',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 0, out);
    assert.match(out, /"type":"accepted"/);
  });

  it('serves a renewed certificate to new connections without a restart; open ones stay; a broken pair is refused and the current one kept', async () => {
    const open = await TestClient.connect(wss, { user: 'tls-open', ca: readFileSync(first.ca) });
    clients.push(open);
    const applied = await metricValue(connect.admin, 'switchboard_connect_tls_reloads_total', 'result="applied"');
    // Renewed by a new CA (as a rotation to another issuer): both files rewritten.
    copyFileSync(second.cert, certFile);
    copyFileSync(second.key, keyFile);
    await eventually(
      'the renewed certificate presented',
      async () => (await presented(connect.wsPort, readFileSync(second.ca)).catch(() => '')) === 'second test CA',
      10_000,
      100,
    );
    assert.equal(await metricValue(connect.admin, 'switchboard_connect_tls_reloads_total', 'result="applied"'), applied + 1);
    const renewed = await TestClient.connect(wss, { user: 'tls-new', ca: readFileSync(second.ca) });
    clients.push(renewed);
    await open.request({ type: 'send', id: 'r1', to: 'tls-new', body: 'still up' }, 'accepted');
    assert.equal((await renewed.next('message', 10_000)).body, 'still up');
    // A key that does not match the certificate (a half-written renewal): refused, the current pair kept.
    const refused = await metricValue(connect.admin, 'switchboard_connect_tls_reloads_total', 'result="refused"');
    copyFileSync(first.key, keyFile);
    await eventually(
      'the broken pair refused',
      async () => (await metricValue(connect.admin, 'switchboard_connect_tls_reloads_total', 'result="refused"')) > refused,
      10_000,
      100,
    );
    assert.equal(await presented(connect.wsPort, readFileSync(second.ca)), 'second test CA');
  });
});
