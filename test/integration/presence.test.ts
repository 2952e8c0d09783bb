import assert from 'node:assert/strict';
import { createBackends } from '../../services/message/backends.js';
import { loadMessageConfig } from '../../services/message/config.js';
import type { PresenceStore } from '../../services/message/adapters/presence.js';
import { startConnect, startMessage, getJson, eventually, testLogger, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';

/**
 * `welcome` means "you are online": a message stored after it is pushed to the client. A presence
 * store that is slow to write (a loaded Redis) must neither open a window in which the client has
 * its welcome, has caught up, and still misses the push of a message sent right then, nor hold
 * the welcome up: routing follows the gateway's announcement, the store is written behind it.
 */
describe('presence is applied before welcome', function () {
  this.timeout(30_000);
  const DELAY_MS = 400;
  let message: RunningMessage;
  let connect: RunningConnect;
  before(async () => {
    const embedded = createBackends(loadMessageConfig({}), testLogger('message'));
    // The fault is injected: presence writes for users named slow-… take DELAY_MS.
    const slowRefresh: PresenceStore['refresh'] = async (instance, users, ttlMs) => {
      if (users.some((u) => u.startsWith('slow-'))) await new Promise((r) => setTimeout(r, DELAY_MS));
      return embedded.presence.refresh(instance, users, ttlMs);
    };
    const presence = new Proxy(embedded.presence, { get: (t, p) => (p === 'refresh' ? slowRefresh : (Reflect.get(t, p, t) as unknown)) });
    message = await startMessage({}, { ...embedded, presence });
    connect = await startConnect(message.target);
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200);
  });
  after(async () => {
    await connect?.stop();
    await message?.stop();
  });

  it('pushes a message sent the moment the recipient has its welcome', async () => {
    const sender = await TestClient.connect(connect.url, { user: 'fast-sender' });
    const t0 = Date.now();
    const recipient = await TestClient.connect(connect.url, { user: 'slow-recipient' });
    const waited = Date.now() - t0;
    await sender.request({ type: 'send', id: 'right-after-welcome', to: 'slow-recipient', body: 'are you there?' }, 'accepted');
    const pushed = await recipient.next('message', 3000);
    assert.equal(pushed.body, 'are you there?');
    assert.ok(waited < DELAY_MS, `welcome did not wait for the slow presence write (${waited} ms)`);
    // A second device of a user already routed here is welcomed at once.
    const t1 = Date.now();
    const second = await TestClient.connect(connect.url, { user: 'slow-recipient' });
    assert.ok(Date.now() - t1 < DELAY_MS, `second device welcomed in ${Date.now() - t1} ms`);
    for (const c of [sender, recipient, second]) c.close();
  });
});
