import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import { startConnect, startMessage, getJson, eventually, TEST_JWT_SECRET, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient, upgradeStatus } from '../support/ws-client.js';

const sign = (sub: string) => new SignJWT({ sub }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('5m').sign(new TextEncoder().encode(TEST_JWT_SECRET));

describe('gateway edge: authentication and limits', () => {
  let message: RunningMessage;
  let jwtGateway: RunningConnect;
  let limited: RunningConnect;

  before(async () => {
    message = await startMessage();
    jwtGateway = await startConnect(message.target, { AUTH_MODE: 'jwt' });
    limited = await startConnect(message.target, { RATE_LIMIT_PER_SECOND: '5', RATE_LIMIT_BURST: '5', MAX_VIOLATIONS: '3' });
    await eventually(
      'gateways ready',
      async () => (await getJson(`${jwtGateway.admin}/readyz`)).status === 200 && (await getJson(`${limited.admin}/readyz`)).status === 200,
    );
  });
  after(async () => {
    await jwtGateway?.stop();
    await limited?.stop();
    await message?.stop();
  });

  it('refuses the upgrade with 401 without credentials, with a bad token, or with ?user= in jwt mode', async () => {
    const none = await upgradeStatus(jwtGateway.url);
    assert.equal(none.status, 401);
    assert.match(none.body, /missing credentials/);
    assert.equal((await upgradeStatus(`${jwtGateway.url}?user=1001`)).status, 401);
    assert.equal((await upgradeStatus(`${jwtGateway.url}?token=abc.def.ghi`)).status, 401);
    assert.equal((await upgradeStatus(jwtGateway.url, { authorization: 'Bearer nope' })).status, 401);
  });

  it('accepts a valid JWT by header and by query; the user is its sub', async () => {
    const byHeader = await TestClient.connect(jwtGateway.url, { token: await sign('jwt-user'), header: true });
    const byQuery = await TestClient.connect(jwtGateway.url, { token: await sign('jwt-user-2') });
    const acc = await byHeader.request({ type: 'send', id: 'j1', to: 'jwt-user-2', body: 'signed' }, 'accepted');
    const m = await byQuery.next('message');
    assert.equal(m.from, 'jwt-user');
    assert.equal(m.msgId, acc.msgId);
    byHeader.close();
    byQuery.close();
  });

  it('answers 404 off /ws', async () => {
    assert.equal((await upgradeStatus(jwtGateway.url.replace('/ws', '/other'))).status, 404);
  });

  it('rate-limits at the configured rate and closes a persistent offender with 1008', async () => {
    const c = await TestClient.connect(limited.url, { user: 'flooder' });
    for (let i = 0; i < 5; i++) c.send({ type: 'ping', id: `p${i}` });
    c.send({ type: 'ping', id: 'over' });
    for (let i = 0; i < 5; i++) await c.next('pong');
    const err = await c.next('error');
    assert.equal(err.code, 'RATE_LIMITED');
    assert.equal(err.id, 'over', 'the refusal names the request, which the client resends');
    for (let i = 0; i < 10; i++) c.send({ type: 'ping', id: `more${i}` });
    const closed = await c.closed;
    assert.equal(closed.code, 1008);
  });
});

describe('gateway without a reachable Message service', () => {
  it('stays up, reports 503 on /readyz, and answers UNAVAILABLE at once', async () => {
    const gateway = await startConnect('127.0.0.1:1'); // nothing listens on port 1
    try {
      const ready = await getJson(`${gateway.admin}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal((ready.body as { checks: { streams: { ok: boolean } } }).checks.streams.ok, false);
      const c = await TestClient.connect(gateway.url, { user: 'lonely' });
      const t0 = Date.now();
      const res = await c.request({ type: 'send', id: 'u1', to: 'other', body: 'anyone?' }, 'error');
      assert.equal(res.type, 'error');
      assert.equal(res.code, 'UNAVAILABLE');
      assert.ok(Date.now() - t0 < 1000, 'answered at once');
      const sync = await c.request({ type: 'conversations', id: 'c1' }, 'error');
      assert.equal(sync.code, 'UNAVAILABLE');
      c.close();
      await eventually('failed attempts counted', async () =>
        /switchboard_connect_stream_connect_attempts_total\{result="failure",service="connect"\} [2-9]/.test((await getJson(`${gateway.admin}/metrics`)).text),
      );
    } finally {
      await gateway.stop();
    }
  });
});
