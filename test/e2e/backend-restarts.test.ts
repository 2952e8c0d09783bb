import assert from 'node:assert/strict';
import { getJson, eventually, startConnect, startMessage, type RunningConnect, type RunningMessage } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { isolatedBackendSettings, privateRealBackends, type RealBackendEnv } from '../support/real-backends.js';
import { dm, expectAllAcceptedStored } from '../support/traffic.js';
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
  const acceptedIds = new Set<string>();
  const events: Array<{ t: number; kind: 'accepted' | 'unavailable' }> = [];
  let running = true;
  let loop: Promise<void>;
  const pushedAfter = new Set<string>();
  let groupSender: TestClient;
  let group: string;
  const groupAccepted = new Set<string>();
  const groupEvents: typeof events = [];
  let groupLoop: Promise<void>;

  /**
   * One send at a time, resent with the same id until accepted (UNAVAILABLE only), ~20/s; once the
   * traffic stops, a send not yet accepted is given up (it was never accepted, so nothing is owed).
   */
  const sendLoop = async (
    client: TestClient,
    prefix: string,
    target: { to: string } | { conversation: string },
    accepted: Set<string>,
    log: typeof events,
  ): Promise<void> => {
    for (let i = 0; running; i++) {
      const id = `${prefix}${i}`;
      while (running) {
        const sentAt = Date.now();
        const reply = await client.exchange({ type: 'send', id, ...target, body: id }, 'accepted', 20_000).catch(() => undefined);
        if (reply?.type === 'accepted') {
          log.push({ t: sentAt, kind: 'accepted' });
          accepted.add(String(reply.msgId));
          break;
        }
        log.push({ t: sentAt, kind: 'unavailable' });
        if (reply && reply.code !== 'UNAVAILABLE') throw new Error(`unexpected reply ${JSON.stringify(reply)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    env = await privateRealBackends();
    message = await startMessage({ ...isolatedBackendSettings(env), KAFKA_APPEND_TIMEOUT: '3s', BACKEND_RETRY_MAX: '1s' });
    await eventually('Message ready', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 60_000);
    connect = await startConnect(message.target, { RPC_TIMEOUT: '5s' });
    await eventually('Connect ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    sender = await TestClient.connect(connect.url, { user: 'chaos-a' });
    recipient = await TestClient.connect(connect.url, { user: 'chaos-b' });
    groupSender = await TestClient.connect(connect.url, { user: 'chaos-c' });
    const created = await sender.request({ type: 'group.create', id: 'chaos-group', members: ['chaos-b', 'chaos-c'] }, 'accepted');
    group = String(created.conversation);
    groupAccepted.add(String(created.msgId)); // the created message is the group's seq 1
    await groupSender.next('message', 30_000, (f) => f.conversation === group && f.kind === 'created');
    loop = sendLoop(sender, 'c', { to: 'chaos-b' }, acceptedIds, events);
    groupLoop = sendLoop(groupSender, 'g', { conversation: group }, groupAccepted, groupEvents);
  });
  after(async () => {
    running = false;
    await loop?.catch(() => undefined);
    await groupLoop?.catch(() => undefined);
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
  const acceptedSince = (t: number, log = events) => log.filter((e) => e.kind === 'accepted' && e.t >= t).length;
  const waitForAccepts = (count: number, since: number, log = events) =>
    eventually(`${count} accepted sends`, () => acceptedSince(since, log) >= count, 120_000, 100);

  it('keeps accepting before any restart', async () => {
    await waitForAccepts(20, 0);
  });

  it('Kafka down: sends fail with UNAVAILABLE, never a false accepted; after restart they are accepted again', async () => {
    const kafka = env.managed.kafka!;
    await kafka.stop();
    const downAt = Date.now();
    // Kept down through several refused sends (each a fresh attempt at the log), not a fixed time.
    await eventually('five UNAVAILABLE while the log is down', () => events.filter((e) => e.kind === 'unavailable' && e.t >= downAt).length >= 5, 60_000, 100);
    // Down until the log consumer has crashed too, so that what consumes again below is the
    // consumer started in its place (kafkajs restarts none by itself).
    await eventually('the log consumer crashed and a new one is starting', async () => (await consumerRestarts()) >= 1, 90_000, 500);
    const restartAt = Date.now();
    assert.equal(events.filter((e) => e.kind === 'accepted' && e.t >= downAt && e.t < restartAt).length, 0, 'no send issued while Kafka was down was accepted');
    assert.equal(groupEvents.filter((e) => e.kind === 'accepted' && e.t >= downAt && e.t < restartAt).length, 0, 'nor a group send');
    await kafka.start();
    await waitForAccepts(20, restartAt);
    await waitForAccepts(10, restartAt, groupEvents);
  });

  it('MongoDB down: sends are still accepted (durable in Kafka) and pushed (their seqs recorded in Redis); stored once it is back', async () => {
    const mongo = env.managed.mongodb!;
    recipient.take('message');
    await mongo.stop();
    try {
      const downAt = Date.now();
      // The send path asks no database: accepted means durable in the log.
      await waitForAccepts(20, downAt);
      // A group send is checked against the membership last read, and is accepted too.
      await waitForAccepts(10, downAt, groupEvents);
      const acceptedWhileDown = [...acceptedIds].slice(-20);
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
    const acceptedBefore = new Set(acceptedIds);
    // Pushes received so far count too: a push can reach its recipient before the sender hears
    // `accepted` (both leave the same process), so a send owed below may be among them.
    const pushed = new Set(recipient.take('message').map((f) => String(f.msgId)));
    const admin = `http://127.0.0.1:${message.httpPort}`;
    const rewritesBefore = await metricTotal(admin, 'switchboard_message_presence_rewrites_total');
    await redis.stop();
    const downAt = Date.now();
    await waitForAccepts(10, downAt);
    await eventually('pushes while Redis is down', () => recipient.frames.filter((f) => f.type === 'message').length >= 5, 30_000);
    const restartAt = Date.now();
    await redis.start();
    await waitForAccepts(10, restartAt);
    await eventually('presence healthy again', async () => (await getJson(`http://127.0.0.1:${message.httpPort}/readyz`)).status === 200, 30_000);
    // Every send accepted during the outage and after it reached the recipient.
    const owed = [...acceptedIds].filter((id) => !acceptedBefore.has(id));
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
    await waitForAccepts(20, 0);
    await waitForAccepts(10, 0, groupEvents);
    running = false;
    await loop;
    await groupLoop;
    await expectAllAcceptedStored(recipient, dm('chaos-a', 'chaos-b'), acceptedIds, 120_000);
    await expectAllAcceptedStored(recipient, group, groupAccepted, 120_000);
    assert.ok(acceptedIds.size >= 20, `${acceptedIds.size} accepted`);
    assert.ok(groupAccepted.size >= 11, `${groupAccepted.size} accepted in the group`);
  });
});
