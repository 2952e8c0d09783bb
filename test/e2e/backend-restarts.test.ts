import assert from 'node:assert/strict';
import { getJson, eventually, startConnect, startMessage, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { isolatedBackendSettings, privateRealBackends, type RealBackendEnv } from '../support/real-backends.js';
import { dm, expectAllAcceptedStored, SendLoop } from '../support/traffic.js';
import { metricTotal } from '../support/processes.js';

/**
 * Kafka, then the MongoDB-compatible server, then Redis are restarted while clients keep sending,
 * one to a user and one to a group: no `accepted` while the log is down; while the store is down
 * sends are accepted into the log (group sends checked against the membership last read), pushed,
 * and stored when it returns; nothing accepted is lost.
 */
describe('backend restarts during traffic', function () {
  this.timeout(300_000);
  let env: RealBackendEnv;
  let message: RunningMessage;
  let connect: RunningConnect;
  let sender: TestClient;
  let recipient: TestClient;
  let groupSender: TestClient;
  let direct: SendLoop;
  let group: string;
  let groupLoop: SendLoop;
  /** The msgId of the group's creation: its seq 1, accepted before the loop. */
  let created: string;
  const pushedAfter = new Set<string>();

  before(async () => {
    env = await privateRealBackends();
    message = await startMessage({ ...isolatedBackendSettings(env), KAFKA_APPEND_TIMEOUT: '3s', BACKEND_RETRY_MAX: '1s' });
    await eventually('Message ready', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 60_000);
    connect = await startConnect(message.target, { RPC_TIMEOUT: '5s' });
    await eventually('Connect ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    sender = await TestClient.connect(connect.url, { user: 'chaos-a' });
    recipient = await TestClient.connect(connect.url, { user: 'chaos-b' });
    groupSender = await TestClient.connect(connect.url, { user: 'chaos-c' });
    const creation = await sender.request({ type: 'group.create', id: 'chaos-group', members: ['chaos-b', 'chaos-c'] }, 'accepted');
    group = String(creation.conversation);
    created = String(creation.msgId);
    await groupSender.next('message', 30_000, (f) => f.conversation === group && f.kind === 'created');
    direct = new SendLoop(sender, 'c', { to: 'chaos-b' });
    groupLoop = new SendLoop(groupSender, 'g', { conversation: group });
  });
  after(async () => {
    await direct?.stop().catch(() => undefined);
    await groupLoop?.stop().catch(() => undefined);
    groupSender?.close();
    sender?.close();
    recipient?.close();
    await connect?.stop();
    await message?.stop();
    for (const s of Object.values(env?.managed ?? {})) await s.stop();
  });

  const consumerRestarts = async (): Promise<number> => {
    const metrics = (await getJson(`http://127.0.0.1:${message.httpPort}/metrics`)).text;
    return Number(/^switchboard_message_log_consumer_restarts_total(?:\{[^}]*\})? (\d+)$/m.exec(metrics)?.[1] ?? Number.NaN);
  };

  it('keeps accepting before any restart', async () => {
    await direct.waitForAccepts(20, 0);
  });

  it('Kafka down: sends fail with UNAVAILABLE, never a false accepted; after restart they are accepted again', async () => {
    const kafka = env.managed.kafka!;
    await kafka.stop();
    const downAt = Date.now();
    // Kept down through several refused sends (each a fresh attempt at the log), not a fixed time.
    await eventually('five UNAVAILABLE while the log is down', () => direct.count('unavailable', downAt) >= 5, 60_000, 100);
    // Down until the log consumer has crashed too, so that what consumes again below is the
    // consumer started in its place (kafkajs restarts none by itself).
    await eventually('the log consumer crashed and a new one is starting', async () => (await consumerRestarts()) >= 1, 90_000, 500);
    const restartAt = Date.now();
    assert.equal(direct.count('accepted', downAt, restartAt), 0, 'no send issued while Kafka was down was accepted');
    assert.equal(groupLoop.count('accepted', downAt, restartAt), 0, 'nor a group send');
    await kafka.start();
    await direct.waitForAccepts(20, restartAt);
    await groupLoop.waitForAccepts(10, restartAt);
  });

  it('MongoDB down: sends are still accepted (durable in Kafka) and pushed (their seqs recorded in Redis); stored once it is back', async () => {
    const mongo = env.managed.mongodb!;
    recipient.take('message');
    await mongo.stop();
    try {
      const downAt = Date.now();
      // The send path asks no database: accepted means durable in the log.
      await direct.waitForAccepts(20, downAt);
      // A group send is checked against the membership last read, and is accepted too.
      await groupLoop.waitForAccepts(10, downAt);
      const acceptedWhileDown = [...direct.accepted].slice(-20);
      // Delivery waits for the log and the seq, not for the store.
      await eventually(
        'the sends accepted while the store is down are pushed while it is down',
        () => {
          for (const m of recipient.take('message')) pushedAfter.add(String(m.msgId));
          return acceptedWhileDown.every((id) => pushedAfter.has(id));
        },
        30_000,
        100,
      );
      assert.equal(mongo.running, false, 'still down');
    } finally {
      await mongo.start();
    }
  });

  it('Redis down: sends are still accepted and pushed (routing needs no Redis); it comes back, and the directory is written again', async () => {
    const redis = env.managed.redis!;
    const acceptedBefore = new Set(direct.accepted);
    // Pushes received so far count too: a push can reach its recipient before the sender hears
    // `accepted` (both leave the same process), so a send owed below may be among them.
    const pushed = new Set(recipient.take('message').map((f) => String(f.msgId)));
    const admin = `http://127.0.0.1:${message.httpPort}`;
    const rewritesBefore = await metricTotal(admin, 'switchboard_message_presence_rewrites_total');
    await redis.stop();
    const downAt = Date.now();
    await direct.waitForAccepts(10, downAt);
    await eventually('pushes while Redis is down', () => recipient.frames.filter((f) => f.type === 'message').length >= 5, 30_000);
    const restartAt = Date.now();
    await redis.start();
    await direct.waitForAccepts(10, restartAt);
    await eventually('presence healthy again', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 30_000);
    // Every send accepted during the outage and after it reached the recipient.
    const owed = [...direct.accepted].filter((id) => !acceptedBefore.has(id));
    await eventually(
      'every send accepted since Redis went down pushed',
      () => {
        for (const f of recipient.frames) if (f.type === 'message') pushed.add(String(f.msgId));
        return owed.every((id) => pushed.has(id));
      },
      30_000,
    ).catch((err: unknown) => {
      // Which ones, and what the recipient got instead (a resync would cover them), for the reader of a failure.
      const missing = owed.filter((id) => !pushed.has(id));
      const others = recipient.frames.filter((f) => f.type !== 'message').map((f) => f.type);
      throw new Error(`${missing.length} of ${owed.length} not pushed (${missing.slice(0, 5).join(', ')}); other frames: ${others.join(', ') || 'none'}`, {
        cause: err,
      });
    });
    assert.ok(owed.length >= 20, `${owed.length} accepted since Redis went down`);
    // The directory Redis keeps was written again from the gateways' announcements once it was back.
    assert.ok((await metricTotal(admin, 'switchboard_message_presence_rewrites_total')) > rewritesBefore, 'the presence directory was written again');
  });

  it('has stored every accepted message exactly once, with gap-free seqs', async () => {
    // Every send accepted so far (through the restarts above when the whole file runs; at least
    // some traffic of its own when this test runs alone with --grep).
    await direct.waitForAccepts(20, 0);
    await groupLoop.waitForAccepts(10, 0);
    await direct.stop();
    await groupLoop.stop();
    await expectAllAcceptedStored(recipient, dm('chaos-a', 'chaos-b'), direct.accepted, 120_000);
    // The group's creation is its seq 1, accepted before the loop.
    await expectAllAcceptedStored(recipient, group, [created, ...groupLoop.accepted], 120_000);
    assert.ok(direct.accepted.size >= 20, `${direct.accepted.size} accepted`);
    assert.ok(groupLoop.accepted.size >= 10, `${groupLoop.accepted.size + 1} accepted in the group`);
  });
});
