import assert from 'node:assert/strict';
import { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { eventually } from '../support/services.js';
import { TestClient, type Frame } from '../support/ws-client.js';
import { isolatedBackendSettings, privateRealBackends, type RealBackendEnv } from '../support/real-backends.js';
import { dm, expectAllAcceptedStored, oneToOneUnderTraffic, SendLoop, type OneToOne } from '../support/traffic.js';
import { metricValue } from '../support/processes.js';
import { partitionOf } from '../../services/message/adapters/partitioner.js';
import { createRedisPresence } from '../../services/message/adapters/redis-presence.js';
import { HOT_RETRY_MS } from '../../services/message/domain/pipeline.js';
import { silentLogger } from '../../services/shared/logger.js';
import type { ManagedServer, RedisCluster } from '../env/servers.js';

const PARTITIONS = 6;

/**
 * Redis as a Redis Cluster (3 masters, a replica each, node timeout 2 s): the master holding the
 * slot of the conversation's partition is killed (SIGKILL) under traffic and its replica takes
 * over. Sends go on being accepted; every one is pushed (stored first while the partition's node
 * fails over, through the hot store again after) or covered by a `resync`; every accepted message
 * is stored once with gap-free seqs; the presence directory is written again.
 */
describe('Redis Cluster: a master killed under traffic, its replica takes over', function () {
  this.timeout(300_000);
  let env: RealBackendEnv;
  let cluster: RedisCluster;
  let pair: OneToOne;
  let recipient: TestClient;
  let loop: SendLoop;
  let settings: Record<string, string>;
  let admin: string;
  const conversation = dm('rc-a', 'rc-b');

  before(async () => {
    env = await privateRealBackends({ redisCluster: true });
    cluster = env.managed.redisCluster!;
    settings = isolatedBackendSettings(env, { KAFKA_PARTITIONS: String(PARTITIONS), KAFKA_APPEND_TIMEOUT: '3s', BACKEND_RETRY_MAX: '1s' });
    assert.equal(settings.REDIS_MODE, 'cluster');
    pair = await oneToOneUnderTraffic(settings, { from: 'rc-a', to: 'rc-b', prefix: 'rc' });
    ({ recipient, loop } = pair);
    admin = `http://127.0.0.1:${pair.message.httpPort}`;
  });
  after(async () => {
    await pair?.stop();
    for (const s of Object.values(env?.managed ?? {})) await s.stop();
  });

  /** A client of the test's own, to ask the cluster which node serves a slot now. */
  const withCluster = async <T>(f: (c: Cluster) => Promise<T>): Promise<T> => {
    const c = new Cluster(
      cluster.nodes.filter((n) => n.running).map((n) => ({ host: '127.0.0.1', port: Number(new URL(n.address).port) })),
      { redisOptions: { maxRetriesPerRequest: 1 } },
    );
    c.on('error', () => undefined);
    try {
      await c.ping();
      return await f(c);
    } finally {
      c.disconnect();
    }
  };
  /** The node serving the master copy of a slot, as the cluster says now. */
  const masterOf = (slot: number): Promise<ManagedServer> =>
    withCluster(async (c) => {
      await new Promise<void>((resolve, reject) => c.refreshSlotsCache((err) => (err ? reject(err) : resolve())));
      const key = c.slots[slot]![0]!;
      return cluster.nodes.find((n) => n.address === `redis://${key}`)!;
    });
  /** Whether a node is a replica whose link to its master is up. */
  const replicaInSync = async (node: ManagedServer): Promise<boolean> => {
    const r = new Redis(node.address, { maxRetriesPerRequest: 1, lazyConnect: true });
    r.on('error', () => undefined);
    try {
      await r.connect();
      const info = await r.info('replication');
      return info.includes('role:slave') && info.includes('master_link_status:up');
    } catch {
      return false;
    } finally {
      r.disconnect();
    }
  };
  const storeFirst = (): Promise<number> => metricValue(admin, 'switchboard_message_store_first_batches_total', 'reason="hot_store_failed"');

  it('sends go on being accepted and pushed (stored first while the node fails over, through the hot store after); the directory is written again', async () => {
    // The slot of the conversation's partition: every hot-store key of that partition is in it.
    const slot = calculateSlot(`${settings.REDIS_KEY_PREFIX!}{p${partitionOf(conversation, PARTITIONS)}}:o`);
    const master = await masterOf(slot);
    const pushed = new Set(recipient.take('message').map((f) => String(f.msgId)));
    const acceptedBefore = new Set(loop.accepted);
    const resetsBefore = await metricValue(admin, 'switchboard_message_presence_rewrites_total', 'reason="store_reset"');
    const killedAt = Date.now();
    await master.kill();
    // When the push of the first send issued after the kill came (sends issued since go through
    // the failing node, not a batch it had taken before).
    const issuedAfter = (id: string): boolean => loop.events.some((e) => e.msgId === id && e.t >= killedAt);
    const first = await recipient.next('message', 60_000, (f: Frame) => issuedAfter(String(f.msgId)));
    const firstPushMs = Date.now() - killedAt;
    await eventually('a replica serves the slot', async () => (await masterOf(slot).catch(() => master)) !== master, 60_000, 250);
    const promotedMs = Date.now() - killedAt;
    await loop.waitForAccepts(20, Date.now());
    const fellBack = await storeFirst();
    console.log(
      `      master ${master.name} killed: first push after ${firstPushMs} ms, replica serving the slot after ${promotedMs} ms; ` +
        `${fellBack} batches stored before their push meanwhile; ${loop.count('unavailable', killedAt)} sends refused (UNAVAILABLE) and resent`,
    );
    assert.ok(fellBack > 0, 'batches were stored before their push while the slot had no master');
    assert.ok(firstPushMs < 5000, `pushes resumed ${firstPushMs} ms after the kill (bound: 5 s)`);
    pushed.add(String(first.msgId));
    // Every send accepted since the kill reached the recipient, or the recipient was told to resync.
    const owed = [...loop.accepted].filter((id) => !acceptedBefore.has(id));
    await eventually(
      'every send accepted since the kill pushed or covered by a resync',
      () => {
        for (const f of recipient.frames) if (f.type === 'message') pushed.add(String(f.msgId));
        return recipient.frames.some((f) => f.type === 'resync') || owed.every((id) => pushed.has(id));
      },
      30_000,
      100,
    ).catch((err: unknown) => {
      const missing = owed.filter((id) => !pushed.has(id));
      throw new Error(
        `${missing.length} of ${owed.length} accepted since the kill neither pushed nor covered by a resync (${missing.slice(0, 5).join(', ')})`,
        {
          cause: err,
        },
      );
    });
    // The killed node comes back, as a replica of the one that took over. Until then the new
    // master has no replica to acknowledge a write (REDIS_WAIT_REPLICAS=1): the partition's batches
    // go on being stored before their push. Once it has one again, and the partition's cool-down is
    // over, they are pushed first again: no more fall back.
    await master.start();
    await eventually('the returning node synced as a replica', async () => await replicaInSync(master), 60_000, 250);
    await new Promise((r) => setTimeout(r, HOT_RETRY_MS + 500));
    const settled = await storeFirst();
    await loop.waitForAccepts(20, Date.now());
    assert.equal(await storeFirst(), settled, 'through the hot store again once the shard has a replica');
    // The directory, whose entries on the lost master may have missed writes, was written again.
    assert.ok(
      (await metricValue(admin, 'switchboard_message_presence_rewrites_total', 'reason="store_reset"')) > resetsBefore,
      'the presence directory written again',
    );
    const directory = createRedisPresence({ url: env.redisUrl, mode: 'cluster', keyPrefix: settings.REDIS_KEY_PREFIX!, logger: silentLogger() });
    await directory.start();
    try {
      const found = await directory.lookup(['rc-a', 'rc-b']);
      assert.deepEqual([...found.keys()].sort(), ['rc-a', 'rc-b'], 'both users found in the directory after the failover');
    } finally {
      await directory.stop();
    }
  });

  it('has stored every accepted message exactly once, with gap-free seqs', async () => {
    await loop.waitForAccepts(20, 0);
    await loop.stop();
    await expectAllAcceptedStored(recipient, conversation, loop.accepted, 120_000);
    assert.ok(loop.accepted.size >= 60, `${loop.accepted.size} accepted`);
  });
});
