import assert from 'node:assert/strict';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { SignJWT, UnsecuredJWT } from 'jose';
import { loadSwitchboardProto } from '../../services/shared/proto.js';
import {
  startConnect,
  startMessage,
  getJson,
  eventually,
  capturingLogger,
  TEST_JWT_SECRET,
  type RunningConnect,
  type RunningMessage,
} from '../support/services.js';
import { TestClient, upgradeStatus } from '../support/ws-client.js';
import { metricValue } from '../support/processes.js';

const key = new TextEncoder().encode(TEST_JWT_SECRET);
const token = (claims: Record<string, unknown>, exp: string | number = '5m') =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(exp).sign(key);

describe('security at the gateway edge', function () {
  this.timeout(30_000);
  let message: RunningMessage;
  const gateways: RunningConnect[] = [];
  const gateway = async (settings: Record<string, string>): Promise<RunningConnect> => {
    const g = await startConnect(message.target, settings);
    gateways.push(g);
    await eventually('ready', async () => (await getJson(`${g.admin}/readyz`)).status === 200);
    return g;
  };
  before(async () => {
    message = await startMessage();
  });
  after(async () => {
    for (const g of gateways) await g.stop();
    await message?.stop();
  });

  it('refuses expired, wrongly signed, alg:none, wrong-audience and wrong-issuer tokens with 401', async () => {
    const g = await gateway({ AUTH_MODE: 'jwt', AUTH_JWT_AUDIENCE: 'switchboard', AUTH_JWT_ISSUER: 'https://issuer.test' });
    const good = { sub: 'sec-user', aud: 'switchboard', iss: 'https://issuer.test' };
    assert.equal((await upgradeStatus(`${g.url}?token=${await token(good)}`)).status, 101);
    const cases: Array<[string, string]> = [
      ['expired', await token(good, Math.floor(Date.now() / 1000) - 3600)],
      [
        'wrong key',
        await new SignJWT(good)
          .setProtectedHeader({ alg: 'HS256' })
          .setExpirationTime('5m')
          .sign(new TextEncoder().encode('another-key-0123456789abcdef0123456789')),
      ],
      ['alg none', new UnsecuredJWT(good).setExpirationTime('5m').encode()],
      ['wrong audience', await token({ ...good, aud: 'someone-else' })],
      ['wrong issuer', await token({ ...good, iss: 'https://evil.test' })],
      ['bad subject', await token({ ...good, sub: 'no spaces allowed' })],
    ];
    for (const [what, t] of cases) assert.equal((await upgradeStatus(`${g.url}?token=${t}`)).status, 401, what);
    assert.equal(await metricValue(g.admin, 'switchboard_connect_refused_upgrades_total', 'reason="unauthorized"'), cases.length);
  });

  it('allows only listed browser origins (non-browser clients send none)', async () => {
    const g = await gateway({ CONNECT_ALLOWED_ORIGINS: 'https://app.example.com,http://localhost:3000' });
    assert.equal((await upgradeStatus(`${g.url}?user=o1`, { origin: 'https://app.example.com' })).status, 101);
    assert.equal((await upgradeStatus(`${g.url}?user=o1`, { origin: 'http://localhost:3000' })).status, 101);
    assert.equal((await upgradeStatus(`${g.url}?user=o1`)).status, 101);
    const evil = await upgradeStatus(`${g.url}?user=o1`, { origin: 'https://evil.example.com' });
    assert.equal(evil.status, 403);
    assert.match(evil.body, /origin https:\/\/evil\.example\.com is not allowed/);
    assert.equal(await metricValue(g.admin, 'switchboard_connect_refused_upgrades_total', 'reason="origin"'), 1);
  });

  it('caps connections per user (429) and per process (503) at the configured values', async () => {
    const g = await gateway({ CONNECT_MAX_CONNECTIONS_PER_USER: '2', CONNECT_MAX_CONNECTIONS: '4' });
    const held = [await TestClient.connect(g.url, { user: 'cap-a' }), await TestClient.connect(g.url, { user: 'cap-a' })];
    const third = await upgradeStatus(`${g.url}?user=cap-a`);
    assert.equal(third.status, 429);
    assert.match(third.body, /2 connections/);
    held.push(await TestClient.connect(g.url, { user: 'cap-b' }), await TestClient.connect(g.url, { user: 'cap-c' }));
    assert.equal((await upgradeStatus(`${g.url}?user=cap-d`)).status, 503);
    held.pop()!.close();
    await eventually('a place is free', async () => (await upgradeStatus(`${g.url}?user=cap-d`)).status === 101);
    assert.equal(await metricValue(g.admin, 'switchboard_connect_refused_upgrades_total', 'reason="user_cap"'), 1);
    assert.ok((await metricValue(g.admin, 'switchboard_connect_refused_upgrades_total', 'reason="capacity"')) >= 1);
    for (const c of held) c.close();
  });

  it('takes no more connections than its process may open files (one each, some kept for the rest): 503 beyond, not a failed accept', async () => {
    const g = await startConnect(message.target, {}, { openFilesLimit: () => 3 });
    gateways.push(g);
    const held = [];
    for (let i = 0; i < 3; i++) held.push(await TestClient.connect(g.url, { user: `fd-${i}` }));
    const refused = await upgradeStatus(`${g.url}?user=fd-3`);
    assert.equal(refused.status, 503);
    assert.match(refused.body, /gateway is full/);
    for (const c of held) c.close();
  });

  it('limits the handshake rate with 503 instead of queueing', async () => {
    const g = await gateway({ CONNECT_HANDSHAKE_RATE: '1', CONNECT_HANDSHAKE_BURST: '3' });
    const statuses = await Promise.all(Array.from({ length: 6 }, (_, i) => upgradeStatus(`${g.url}?user=hs${i}`).then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 101).length, 3);
    assert.equal(statuses.filter((s) => s === 503).length, 3);
    assert.equal(await metricValue(g.admin, 'switchboard_connect_refused_upgrades_total', 'reason="handshake_rate"'), 3);
  });
});

describe('shared secret between Connect and Message', function () {
  this.timeout(30_000);
  const SECRET = 'internal-secret-0123456789';
  let message: RunningMessage;
  before(async () => {
    message = await startMessage({ INTERNAL_AUTH_TOKEN: SECRET });
  });
  after(() => message?.stop());

  it('refuses calls and streams without it (UNAUTHENTICATED), serves a gateway that has it', async () => {
    const { grpc } = loadSwitchboardProto();
    const client = new grpc.switchboard.v1.MessageService(message.target, credentials.createInsecure());
    const err = await new Promise<ServiceError | null>((resolve) => client.conversations({ user: 'x' }, (e) => resolve(e)));
    assert.equal(err?.code, status.UNAUTHENTICATED);
    client.close();

    const logs = capturingLogger('connect');
    const without = await startConnect(message.target, {}, {}, logs.logger);
    const withIt = await startConnect(message.target, { INTERNAL_AUTH_TOKEN: SECRET });
    try {
      await eventually('gateway with the secret ready', async () => (await getJson(`${withIt.admin}/readyz`)).status === 200);
      // Refused, retried and refused again: it has tried as the other one succeeded, and got no stream.
      await eventually(
        'two refused attempts',
        async () => (await metricValue(without.admin, 'switchboard_connect_stream_connect_attempts_total', 'result="failure"')) >= 2,
        10_000,
      );
      assert.equal((await getJson(`${without.admin}/readyz`)).status, 503, 'a gateway without the secret never gets a stream');
      assert.equal(await metricValue(without.admin, 'switchboard_connect_stream_connect_attempts_total', 'result="success"'), 0);
      // The operator reads why at error level, with what to change (a passing fault would be debug).
      const refused = logs.lines.filter((l) => l.level === 50 && /UNAUTHENTICATED.*INTERNAL_AUTH_TOKEN/.test(String(l.msg)));
      assert.ok(refused.length >= 1, `an error line names the token: ${JSON.stringify(logs.lines.map((l) => l.msg))}`);
      const a = await TestClient.connect(withIt.url, { user: 'int-a' });
      const b = await TestClient.connect(withIt.url, { user: 'int-b' });
      await a.request({ type: 'send', id: 'i1', to: 'int-b', body: 'trusted' }, 'accepted');
      assert.equal((await b.next('message')).body, 'trusted');
      a.close();
      b.close();
    } finally {
      await without.stop();
      await withIt.stop();
    }
  });
});
