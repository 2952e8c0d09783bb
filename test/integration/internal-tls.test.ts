import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { capturingLogger, eventually, getJson, startConnect, startMessage, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { metricValue } from '../support/processes.js';
import { authority, issue } from '../support/certificates.js';
import { loadConnectConfig } from '../../services/connect/config.js';
import { loadMessageConfig } from '../../services/message/config.js';
import { ConfigError } from '../../services/shared/errors.js';

/**
 * Mutual TLS between Connect and Message (INTERNAL_TLS_*): a gateway with a certificate the
 * Message pod's CA signed gets its stream and serves; one whose certificate another CA signed, or
 * one without TLS, gets no stream, is not Ready, and says why in its log and metrics.
 */
describe('mutual TLS between Connect and Message', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'internal-tls-'));
  const link = authority(dir, 'link');
  const rogue = authority(dir, 'rogue');
  const pod = issue(link, 'message', ['switchboard-message-headless']);
  const gateway = issue(link, 'gateway');
  const stranger = issue(rogue, 'gateway');
  const tls = (cert: { cert: string; key: string }, ca: string) => ({
    INTERNAL_TLS_CERT_FILE: cert.cert,
    INTERNAL_TLS_KEY_FILE: cert.key,
    INTERNAL_TLS_CA_FILE: ca,
  });
  let message: RunningMessage;
  const gateways: RunningConnect[] = [];
  const ready = async (g: RunningConnect): Promise<boolean> => (await getJson(`${g.admin}/readyz`)).status === 200;

  before(async () => {
    message = await startMessage(tls(pod, link.ca));
  });
  after(async () => {
    for (const g of gateways) await g.stop();
    await message?.stop();
  });

  it('a gateway whose certificate the CA signed gets its stream, turns Ready, and its clients talk', async () => {
    const g = await startConnect(message.target, { ...tls(gateway, link.ca), INTERNAL_TLS_SERVER_NAME: 'switchboard-message-headless' });
    gateways.push(g);
    await eventually('ready over mutual TLS', () => ready(g), 20_000);
    const a = await TestClient.connect(g.url, { user: 'tls-a' });
    const b = await TestClient.connect(g.url, { user: 'tls-b' });
    await a.request({ type: 'send', id: 'm1', to: 'tls-b', body: 'over mutual TLS' }, 'accepted');
    assert.equal((await b.next('message', 10_000)).body, 'over mutual TLS');
    a.close();
    b.close();
    assert.equal(await metricValue(g.admin, 'switchboard_connect_stream_tls_failures_total'), 0);
  });

  for (const [what, settings, why] of [
    ['whose certificate another CA signed', { ...tls(stranger, link.ca) }, /did not accept this gateway's certificate|alert/],
    ['that does not trust the CA of the Message pod', { ...tls(gateway, rogue.ca) }, /self-signed certificate|unable to verify/],
    [
      "that checks for a name the Message pod's certificate does not carry",
      { ...tls(gateway, link.ca), INTERNAL_TLS_SERVER_NAME: 'someone-else' },
      /someone-else\. is not in the cert's altnames/,
    ],
  ] as const) {
    it(`a gateway ${what} gets no stream, is not Ready, and says why in its log and metrics`, async () => {
      const { logger, lines } = capturingLogger('connect');
      const g = await startConnect(message.target, settings, {}, logger);
      gateways.push(g);
      await eventually('TLS failures counted', async () => (await metricValue(g.admin, 'switchboard_connect_stream_tls_failures_total')) >= 2, 20_000);
      assert.equal(await ready(g), false, 'not Ready');
      assert.equal(await metricValue(g.admin, 'switchboard_connect_streams_active'), 0);
      const said = lines.find((l) => l.level === 50 && /the TLS handshake with the Message pod failed/.test(String(l.msg)));
      assert.match(String(said?.reason), why, "the reason is the handshake's own");
      assert.ok(said, `an error line says why: ${JSON.stringify(lines.filter((l) => Number(l.level) >= 40).slice(0, 3))}`);
    });
  }

  it('a gateway without TLS gets no stream from a Message pod that requires it, and is not Ready', async () => {
    const g = await startConnect(message.target, {});
    gateways.push(g);
    await eventually(
      'failed attempts',
      async () => (await metricValue(g.admin, 'switchboard_connect_stream_connect_attempts_total', 'result="failure"')) >= 2,
      20_000,
    );
    assert.equal(await ready(g), false);
  });

  it('refuses INTERNAL_TLS_* settings that do not go together, or files it cannot read, at start-up', () => {
    for (const load of [loadConnectConfig, loadMessageConfig] as const) {
      const base = load === loadConnectConfig ? { AUTH_MODE: 'insecure-dev' } : {};
      assert.throws(
        () => load({ ...base, INTERNAL_TLS_CERT_FILE: gateway.cert }),
        (e: unknown) => e instanceof ConfigError && /go together; missing INTERNAL_TLS_KEY_FILE, INTERNAL_TLS_CA_FILE/.test(e.message),
      );
      assert.throws(
        () => load({ ...base, ...tls(gateway, join(dir, 'no-such-ca.pem')) }),
        (e: unknown) => e instanceof ConfigError && /INTERNAL_TLS_CA_FILE: cannot read .*no-such-ca\.pem \(ENOENT\)/.test(e.message),
      );
    }
  });
});
