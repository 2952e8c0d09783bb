import assert from 'node:assert/strict';
import kafkajs from 'kafkajs';
import { eventually } from '../support/services.js';
import { TestClient } from '../support/ws-client.js';
import { isolatedBackendSettings, privateRealBackends, type RealBackendEnv } from '../support/real-backends.js';
import { dm, expectAllAcceptedStored, oneToOneUnderTraffic, SendLoop, type OneToOne } from '../support/traffic.js';
import { partitionOf } from '../../services/message/adapters/partitioner.js';
import type { KafkaCluster } from '../env/servers.js';

/**
 * `accepted` means durable where durability is decided: on a three-node Kafka cluster with the
 * production settings (three replicas, min.insync.replicas 2, acks from all in-sync replicas), the
 * leader of the partition in use is killed under traffic and comes back; then two of the three
 * nodes go down at once.
 */
describe('Kafka with three brokers: leader failover under traffic', function () {
  this.timeout(420_000);
  let env: RealBackendEnv;
  let cluster: KafkaCluster;
  let pair: OneToOne;
  let sender: TestClient;
  let recipient: TestClient;
  let loop: SendLoop;
  let settings: Record<string, string>;
  const conversation = dm('fo-a', 'fo-b');
  /** What the first test's loop had accepted (the second test's loop goes on in the same conversation). */
  const acceptedBefore: string[] = [];

  before(async () => {
    env = await privateRealBackends({ kafkaNodes: 3 });
    cluster = env.managed.kafkaCluster!;
    settings = isolatedBackendSettings(env, {
      KAFKA_PARTITIONS: '3',
      KAFKA_REPLICATION_FACTOR: '3',
      KAFKA_MIN_INSYNC_REPLICAS: '2',
      KAFKA_APPEND_TIMEOUT: '3s',
      BACKEND_RETRY_MAX: '1s',
    });
    pair = await oneToOneUnderTraffic(settings, { from: 'fo-a', to: 'fo-b', prefix: 'fo' });
    ({ sender, recipient, loop } = pair);
  });
  after(async () => {
    await loop?.stop().catch(() => undefined);
    await pair?.stop();
    for (const s of Object.values(env?.managed ?? {})) await s.stop();
  });

  /** The node that leads the conversation's partition now, as the cluster's metadata says. */
  const leaderOfConversation = async (): Promise<number> => {
    const admin = new kafkajs.Kafka({ clientId: 'failover-test', brokers: env.kafkaBrokers.split(','), logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const topic = settings.KAFKA_TOPIC!;
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]!.partitions;
      const partition = partitionOf(conversation, partitions.length);
      const meta = partitions.find((p) => p.partitionId === partition)!;
      assert.equal(meta.replicas.length, 3, 'the topic has three replicas');
      return meta.leader;
    } finally {
      await admin.disconnect();
    }
  };

  it('the leader of the partition in use is killed (SIGKILL) and comes back: sends wait or get UNAVAILABLE, then go on; every accepted one stored once, gap-free', async () => {
    const leader = await leaderOfConversation();
    const node = cluster.nodes[leader - 1]!;
    const killedAt = Date.now();
    await node.kill();
    // The first send issued after the kill that is accepted: the other two elect a leader among the in-sync replicas.
    await loop.waitForAccepts(1, killedAt, 120_000);
    const firstAccepted = loop.events.find((e) => e.kind === 'accepted' && e.t >= killedAt)!;
    const refusedMeanwhile = loop.count('unavailable', killedAt);
    console.log(
      `      leader (node ${leader}) killed: first accepted send issued ${firstAccepted.t - killedAt} ms after the kill; ${refusedMeanwhile} sends refused (UNAVAILABLE) and resent meanwhile`,
    );
    await loop.waitForAccepts(20, killedAt);
    const restartAt = Date.now();
    await node.start();
    await loop.waitForAccepts(20, restartAt);
    // Everything accepted so far is stored, each once, with seqs 1..N.
    await loop.stop();
    await expectAllAcceptedStored(recipient, conversation, loop.accepted, 120_000);
    acceptedBefore.push(...loop.accepted);
  });

  it('with two of three nodes down, sends are refused (UNAVAILABLE), never accepted; once one is back, they are accepted again', async () => {
    loop = new SendLoop(sender, 'fo2-', { to: 'fo-b' });
    await loop.waitForAccepts(10, 0);
    const [a, b] = cluster.nodes.slice(1);
    await Promise.all([a!.stop(), b!.stop()]);
    const downAt = Date.now();
    // Kept down through several refused sends, not a fixed time.
    await eventually('ten UNAVAILABLE with two nodes down', () => loop.count('unavailable', downAt) >= 10, 120_000, 100);
    const backAt = Date.now();
    assert.equal(loop.count('accepted', downAt, backAt), 0, 'no send issued with two nodes down was accepted');
    await a!.start();
    await loop.waitForAccepts(10, backAt, 180_000);
    await b!.start();
    await loop.stop();
    await expectAllAcceptedStored(recipient, conversation, [...acceptedBefore, ...loop.accepted], 120_000);
    assert.ok(loop.accepted.size >= 20, `${loop.accepted.size} accepted`);
  });
});
