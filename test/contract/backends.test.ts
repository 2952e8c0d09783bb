import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { UnavailableError } from '../../services/shared/errors.js';
import { createEmbeddedStore } from '../../services/message/adapters/embedded-store.js';
import { createEmbeddedPresence } from '../../services/message/adapters/embedded-presence.js';
import { createEmbeddedLog } from '../../services/message/adapters/embedded-log.js';
import { Collection, MongoClient, type Db } from 'mongodb';
import { Redis } from 'ioredis';
import { createMongoStore, type MongoMessageStore } from '../../services/message/adapters/mongo-store.js';
import { createRedisPresence } from '../../services/message/adapters/redis-presence.js';
import { createKafkaLog } from '../../services/message/adapters/kafka-log.js';
import type { MessageLog } from '../../services/message/adapters/log.js';
import { ferretOn, sharedRealBackends, sharedRedisCluster } from '../support/real-backends.js';
import { capturingLogger, eventually, testLogger } from '../support/services.js';
import { proxied } from '../support/tcp-proxy.js';
import { storeContract } from './store.contract.js';
import { presenceContract } from './presence.contract.js';
import { CONTRACT_PARTITIONS, hotStoreContract } from './hot-store.contract.js';
import { createEmbeddedHotStore } from '../../services/message/adapters/embedded-hot-store.js';
import { createRedisHotStore, NotReplicatedError } from '../../services/message/adapters/redis-hot-store.js';
import { HotStoreError, WrongPartitionError } from '../../services/message/adapters/hot-store.js';
import { partitionOf } from '../../services/message/adapters/partitioner.js';
import { logContract } from './log.contract.js';

const clock = () => {
  let offset = 0;
  return { now: () => Date.now() + offset, advance: (ms: number) => void (offset += ms) };
};
const tag = () => randomBytes(4).toString('hex');

storeContract('embedded', async () => {
  const store = createEmbeddedStore();
  await store.start();
  return { store, close: () => store.stop() };
});

// The MongoDB store on both storages of the stand-in (the test run uses one of them; the
// benchmark compares them), and on the run's own server when MONGODB_URI names one.
const ferret = new Map<string, Promise<{ mongodbUri: string }>>();
/** The address of FerretDB on `kind`, started once for the whole file. */
const ferretUri = async (kind: 'sqlite' | 'postgresql'): Promise<string> =>
  (await (ferret.get(kind) ?? ferret.set(kind, ferretOn(kind)).get(kind)!)).mongodbUri;
// On SQLite the activity is folded every 20 ms, so folds run between and during the suite's writes
// and reads; on PostgreSQL every second (the default), so the reads mostly merge what is not folded.
for (const kind of ['sqlite', 'postgresql'] as const) {
  storeContract(`MongoDB wire protocol (FerretDB on ${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`, async () => {
    const store = createMongoStore({
      uri: await ferretUri(kind),
      database: `contract_${tag()}`,
      logger: testLogger('mongo'),
      ...(kind === 'sqlite' ? { foldIntervalMs: 20 } : {}),
    });
    await store.start();
    return {
      store,
      settle: async () => {
        await store.foldActivity();
      },
      close: () => store.stop(),
    };
  });
}
if (process.env.MONGODB_URI) {
  storeContract('MongoDB wire protocol (MONGODB_URI)', async () => {
    const store = createMongoStore({ uri: process.env.MONGODB_URI!, database: `contract_${tag()}`, logger: testLogger('mongo') });
    await store.start();
    return {
      store,
      settle: async () => {
        await store.foldActivity();
      },
      close: () => store.stop(),
    };
  });
}

/**
 * `count` stores on one new database of FerretDB on `kind` (Message pods whose fold timers never
 * fire: the test folds), and a driver client on that database beside them; `before` runs on the
 * database before the stores start. All are closed after `fn`.
 */
async function onOneDatabase(
  kind: 'sqlite' | 'postgresql',
  count: number,
  fn: (stores: MongoMessageStore[], db: Db) => Promise<void>,
  before?: (db: Db) => Promise<unknown>,
): Promise<void> {
  const uri = await ferretUri(kind);
  const database = `index_${tag()}`;
  const client = new MongoClient(uri);
  const stores = Array.from({ length: count }, () => createMongoStore({ uri, database, logger: testLogger('mongo'), foldIntervalMs: 3_600_000 }));
  try {
    await before?.(client.db(database));
    for (const store of stores) await store.start();
    await fn(stores, client.db(database));
  } finally {
    await client.close();
    for (const store of stores) await store.stop();
  }
}

/**
 * While `fn` runs, every read (`find(…).toArray()`) of `collection` in `database` goes through
 * `around`, which gets the read to run and its filter; then `find` is itself again.
 */
async function aroundReads(
  database: string,
  collection: string,
  around: (read: () => Promise<unknown[]>, filter: unknown) => Promise<unknown[]>,
  fn: () => Promise<void>,
): Promise<void> {
  // Called with .apply(this) below, on the collection it belongs to.
  // eslint-disable-next-line @typescript-eslint/unbound-method
  const find = Collection.prototype.find;
  Collection.prototype.find = function (this: Collection, ...args: Parameters<Collection['find']>) {
    const cursor = find.apply(this, args);
    if (this.dbName !== database || this.collectionName !== collection) return cursor;
    const toArray = cursor.toArray.bind(cursor);
    cursor.toArray = () => around(toArray, args[0]) as ReturnType<typeof toArray>;
    return cursor;
  } as Collection['find'];
  try {
    await fn();
  } finally {
    Collection.prototype.find = find;
  }
}

describe('MongoDB store on FerretDB: the conversation activity and its index', function () {
  this.timeout(60_000);
  it('is folded into the index once and then deleted, also by two folds at once, with nothing lost', async () => {
    await onOneDatabase('postgresql', 2, async ([one, two]) => {
      const convs = Array.from({ length: 40 }, (_, i) => `dm:x:y${String(i).padStart(2, '0')}`);
      const members = new Map(convs.map((c) => [c, ['x', c.slice(5)]] as const));
      const message = (c: string, seq: number, i: number) => ({
        msgId: `${c}-${seq}`,
        conversation: c,
        seq,
        from: 'x',
        to: c.slice(5),
        body: 'b',
        ts: seq * 1000 + i,
        clientId: `${c}-${seq}`,
      });
      for (const seq of [1, 2])
        assert.equal(
          await one!.insertMessages(
            convs.map((c, i) => message(c, seq, i)),
            members,
          ),
          convs.length,
        );
      assert.equal(await one!.foldActivity(), 2 * convs.length, "every write's activity");
      assert.equal(await two!.foldActivity(), 0, 'deleted once folded');
      for (const seq of [3, 4])
        assert.equal(
          await two!.insertMessages(
            convs.map((c, i) => message(c, seq, i)),
            members,
          ),
          convs.length,
        );
      const folded = await Promise.all([one!.foldActivity(), two!.foldActivity()]);
      assert.ok(folded[0] + folded[1] >= 2 * convs.length, `two folds at once took it all (${folded.join(' + ')})`);
      assert.equal(await one!.foldActivity(), 0);
      const listed = await two!.listConversations('x', 100);
      assert.equal(listed.length, convs.length);
      assert.ok(
        listed.every((c) => c.lastSeq === 4),
        'every conversation at its last seq',
      );
      assert.equal(listed[0]!.conversation, convs[convs.length - 1], 'most recently active first');
      assert.deepEqual(await one!.lastSeqs(convs.slice(0, 3)), new Map(convs.slice(0, 3).map((c) => [c, 4])));
    });
  });

  for (const kind of ['sqlite', 'postgresql'] as const) {
    it(`keeps every conversation at its newest seq when two pods fold at once while writes go on (${kind === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`, async () => {
      await onOneDatabase(kind, 2, async ([one, two], db) => {
        // Every read of the index answers 15 ms late (what it read is as of when it ran): a fold's
        // look at the heads and its next step are then apart, and the other pod's fold runs between.
        const late = async (read: () => Promise<unknown[]>) => {
          const docs = await read();
          await new Promise((r) => setTimeout(r, 15));
          return docs;
        };
        await aroundReads(db.databaseName, 'conversation_heads', late, async () => {
          const convs = Array.from({ length: 8 }, (_, i) => `dm:p:q${i}`);
          const members = new Map(convs.map((c) => [c, ['p', c.slice(5)]] as const));
          const message = (c: string, seq: number) => ({
            msgId: `${c}-${seq}`,
            conversation: c,
            seq,
            from: 'p',
            to: c.slice(5),
            body: 'b',
            ts: seq,
            clientId: `${c}-${seq}`,
          });
          // Each round: one pod's fold starts on seq n; 0–4 ms into it the next message is stored and
          // the other pod's fold starts, so that two folds that read different news of the same
          // conversations write the index at the same moment.
          for (let n = 1; n < 60; n += 2) {
            assert.equal(
              await one!.insertMessages(
                convs.map((c) => message(c, n)),
                members,
              ),
              convs.length,
            );
            const first = one!.foldActivity();
            await new Promise((r) => setTimeout(r, n % 5));
            assert.equal(
              await two!.insertMessages(
                convs.map((c) => message(c, n + 1)),
                members,
              ),
              convs.length,
            );
            await Promise.all([first, two!.foldActivity()]);
            await one!.foldActivity();
            assert.deepEqual(await two!.lastSeqs(convs), new Map(convs.map((c) => [c, n + 1])), `round ${n}: lastSeqs`);
            const listed = await one!.listConversations('p', 100);
            assert.deepEqual(
              listed.map((l) => l.lastSeq),
              convs.map(() => n + 1),
              `round ${n}: listed at ${listed.map((l) => `${l.conversation}=${l.lastSeq}`).join(' ')}`,
            );
          }
          // Once the folds are done, one head per conversation and no activity left.
          assert.equal(await db.collection('conversation_activity').countDocuments(), 0, 'activity left');
          assert.equal(await db.collection('conversation_heads').countDocuments(), convs.length, 'one head per conversation');
        });
      });
    });
  }

  it('lists a conversation once, at its newest seq, while a fold has left it two heads, and still fills the limit', async () => {
    // A fold between inserting dm:a:b's newer head and deleting its older one.
    const head = (conversation: string, seq: number, lastActive: number) => ({
      _id: `${conversation}|${seq}`,
      conversation,
      seq,
      lastActive,
      members: conversation.split(':').slice(1),
    });
    const heads = [head('dm:a:b', 5, 60), head('dm:a:b', 6, 59), head('dm:a:c', 2, 55), head('dm:a:d', 1, 10)];
    await onOneDatabase(
      'postgresql',
      1,
      async ([store]) => {
        assert.deepEqual(await store!.listConversations('a', 2), [
          { conversation: 'dm:a:b', lastSeq: 6 },
          { conversation: 'dm:a:c', lastSeq: 2 },
        ]);
        assert.equal(await store!.lastSeq('dm:a:b'), 6);
      },
      (db) => db.collection<{ _id: string }>('conversation_heads').insertMany(heads),
    );
  });

  it('copies the index of earlier builds (`conversations`) into the heads once, then lists it and goes on from its seqs without reading it again', async () => {
    // As an earlier build left it: a direct conversation and a group, folded into `conversations`.
    const legacy = [
      { _id: 'dm:a:z', members: ['a', 'z'], lastSeq: 7, lastActive: 5 },
      { _id: 'grp:old', members: [], lastSeq: 3, lastActive: 9 },
    ];
    await onOneDatabase(
      'postgresql',
      2,
      async ([store], db) => {
        // Copied by the first store to start; the second found the marker and copied nothing.
        assert.deepEqual(
          (await db.collection<{ _id: string }>('conversation_heads').find({}).sort({ _id: 1 }).toArray()).map((h) => h._id),
          ['dm:a:z|7', 'grp:old|3'],
        );
        assert.deepEqual(
          (await db.collection<{ _id: string; copied: number }>('migrations').find({}).toArray()).map((m) => [m._id, m.copied]),
          [['conversations-into-conversation_heads', 2]],
        );
        // Reads never look at it again: what it holds now is not listed.
        await db
          .collection<{ _id: string }>('conversations')
          .insertOne({ _id: 'dm:a:late', members: ['a', 'late'], lastSeq: 4, lastActive: 99 } as { _id: string });
        await store!.setMembers('grp:old', ['a', 'b'], 1);
        assert.equal(await store!.lastSeq('dm:a:z'), 7);
        assert.deepEqual(
          await store!.lastSeqs(['dm:a:z', 'grp:old', 'dm:a:new']),
          new Map([
            ['dm:a:z', 7],
            ['grp:old', 3],
            ['dm:a:new', 0],
          ]),
        );
        assert.deepEqual(await store!.listConversations('a', 10), [
          { conversation: 'grp:old', lastSeq: 3 },
          { conversation: 'dm:a:z', lastSeq: 7 },
        ]);
        assert.equal(
          await store!.insertMessages(
            [{ msgId: 'l-8', conversation: 'dm:a:z', seq: 8, from: 'z', to: 'a', body: 'b', ts: 20, clientId: 'l-8' }],
            new Map([['dm:a:z', ['a', 'z']]]),
          ),
          1,
        );
        await store!.foldActivity();
        assert.deepEqual(await store!.listConversations('z', 10), [{ conversation: 'dm:a:z', lastSeq: 8 }]);
        assert.equal(await store!.lastSeq('dm:a:z'), 8);
      },
      (db) => db.collection<{ _id: string }>('conversations').insertMany(legacy),
    );
  });

  it("is read so that a fold between a read's two looks (index, then what is not folded) hides no message", async () => {
    await onOneDatabase('postgresql', 1, async ([store], db) => {
      // Every read of the unfolded activity (a find with a filter; the fold's own has none) runs only
      // after a whole fold: the worst moment for a read that looks at the index at the same time.
      const afterAFold = async (read: () => Promise<unknown[]>, filter: unknown) => {
        if (Object.keys(filter ?? {}).length > 0) await store!.foldActivity();
        return read();
      };
      await aroundReads(db.databaseName, 'conversation_activity', afterAFold, async () => {
        const g = 'grp:fold';
        const members = new Map([
          ['dm:a:b', ['a', 'b']],
          [g, []],
        ]);
        await store!.insertMessage(
          { msgId: 'f-g1', conversation: g, seq: 1, from: 'a', to: g, body: '', ts: 1, clientId: 'f-g1', kind: 'created', members: ['a', 'b'] },
          [],
        );
        await store!.setMembers(g, ['a', 'b'], 1);
        await store!.foldActivity();
        for (const seq of [2, 3]) {
          const m = (conversation: string, to: string, ts: number) => ({
            msgId: `f-${conversation}-${seq}`,
            conversation,
            seq,
            from: 'a',
            to,
            body: 'b',
            ts,
            clientId: `f-${conversation}-${seq}`,
          });
          assert.equal(await store!.insertMessages([m('dm:a:b', 'b', seq * 10), m(g, g, seq * 10 + 1)], members), 2);
          assert.equal(await store!.lastSeq('dm:a:b'), seq, 'lastSeq');
          assert.deepEqual(
            await store!.lastSeqs(['dm:a:b', g]),
            new Map([
              ['dm:a:b', seq],
              [g, seq],
            ]),
            'lastSeqs',
          );
          assert.deepEqual(
            await store!.listConversations('b', 10),
            [
              { conversation: g, lastSeq: seq },
              { conversation: 'dm:a:b', lastSeq: seq },
            ],
            'listConversations',
          );
        }
      });
    });
  });
});

presenceContract('embedded', async () => {
  const c = clock();
  const presence = createEmbeddedPresence({ now: c.now });
  await presence.start();
  return { presence, advance: c.advance, close: () => presence.stop() };
});

hotStoreContract('embedded', async () => {
  const hot = createEmbeddedHotStore();
  await hot.start();
  return { hot, close: () => hot.stop() };
});

// On one server, and on a Redis Cluster of three masters with a replica each (writes wait for it).
const redisTargets = [
  { name: 'Redis', target: async () => ({ url: (await sharedRealBackends()).redisUrl, mode: 'standalone' as const, waitReplicas: 0 }) },
  { name: 'Redis Cluster', target: async () => ({ url: await sharedRedisCluster(), mode: 'cluster' as const, waitReplicas: 1 }) },
];
for (const { name, target } of redisTargets) {
  hotStoreContract(name, async () => {
    const hot = createRedisHotStore({
      ...(await target()),
      keyPrefix: `contract-hot-${tag()}:`,
      partitions: () => CONTRACT_PARTITIONS,
      logger: testLogger('redis'),
    });
    await hot.start();
    return { hot, close: () => hot.stop() };
  });

  presenceContract(name, async () => {
    const c = clock();
    const presence = createRedisPresence({ ...(await target()), keyPrefix: `contract-${tag()}:`, logger: testLogger('redis'), now: c.now });
    await presence.start();
    return { presence, advance: c.advance, close: () => presence.stop() };
  });
}

describe('the MongoDB store behind a proxy that resets its connections', function () {
  this.timeout(400_000);
  it('is back every time the server is: the driver stops checking a server whose connections were reset mid-heartbeat, and the store reconnects it', async () => {
    const { proxy, uri } = await proxied(await ferretUri('postgresql'));
    const u = new URL(uri);
    u.pathname = `/reset_${tag()}`;
    // The driver's defaults (and the store's connect timeout of 5 s): a heartbeat that hangs is seen
    // after 5 + 10 (the heartbeat interval) + 5 s (MonitorWatchdog).
    const { logger, lines } = capturingLogger('mongo');
    const store = createMongoStore({ uri: u.toString(), database: 'unused', logger });
    await store.start();
    let ok = 0;
    let running = true;
    // Operations in flight all along, as a Message pod has them: reset with the connections.
    const loops = Array.from({ length: 20 }, async (_, k) => {
      const conversation = `dm:a:u${k}`;
      for (let seq = 1; running;) {
        try {
          const m = { msgId: `m-${k}-${seq}`, conversation, seq, from: 'a', to: `u${k}`, body: 'x', ts: seq, clientId: `c${seq}` };
          seq += await store.insertMessages([m], new Map([[conversation, ['a', `u${k}`]]]));
          await store.readMessages(conversation, Math.max(0, seq - 5), 10);
          ok++;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    });
    const recoveries: number[] = [];
    try {
      // Short outages, and one longer than a heartbeat may take (a hang then is seen while the store is still away).
      for (const [round, downMs] of [3000, 7000, 4000, 9000, 30_000].entries()) {
        proxy.setDown(true);
        await new Promise((r) => setTimeout(r, downMs));
        proxy.setDown(false);
        const from = Date.now();
        const before = ok;
        await eventually(`round ${round}: the store answers again`, () => ok > before, 30_000, 50);
        recoveries.push(Date.now() - from);
        await new Promise((r) => setTimeout(r, 3000));
      }
    } finally {
      running = false;
      await Promise.all(loops);
      await store.stop();
      await proxy.stop();
    }
    const restarts = lines.filter((l) => l.msg === 'MongoDB client reconnected').length;
    console.log(`      recovered after ${recoveries.join(', ')} ms; the driver's monitoring restarted ${restarts} times`);
  });
});

describe('the Redis hot store: its own failures', function () {
  this.timeout(30_000);
  const message = (conversation: string) => ({ msgId: `m-${tag()}`, conversation, seq: 1, from: 'a', to: 'b', body: 'x', ts: 1, clientId: 'c' });
  const none = new Map<string, { list: string[]; unlist: string[] }>();

  it("refuses a message recorded under a partition that is not its conversation's (its keys would be where no read looks)", async () => {
    const hot = createRedisHotStore({
      url: await sharedRedisCluster(),
      mode: 'cluster',
      keyPrefix: `own-${tag()}:`,
      partitions: () => 8,
      logger: testLogger('redis'),
    });
    await hot.start();
    try {
      const right = partitionOf('dm:a:b', 8);
      const wrong = (right + 1) % 8;
      await hot.claim(wrong, 'o');
      await assert.rejects(hot.record(wrong, 'o', [message('dm:a:b')], none, 60_000), WrongPartitionError);
    } finally {
      await hot.stop();
    }
  });

  it('a write fewer replicas acknowledge than asked for is a NotReplicatedError (the pipeline stores that batch first), within the timeout', async () => {
    // Each master of the test cluster has one replica: two are never reached.
    const hot = createRedisHotStore({
      url: await sharedRedisCluster(),
      mode: 'cluster',
      keyPrefix: `own-${tag()}:`,
      partitions: () => 8,
      waitReplicas: 2,
      waitTimeoutMs: 200,
      logger: testLogger('redis'),
    });
    await hot.start();
    try {
      const started = Date.now();
      await assert.rejects(
        hot.claim(0, 'o'),
        (err: unknown) => err instanceof NotReplicatedError && err instanceof HotStoreError && /reached 1 of 2 replica/.test(err.message),
      );
      assert.ok(Date.now() - started < 2000, 'answered after the timeout, not later');
    } finally {
      await hot.stop();
    }
  });

  it("a partition whose coverage key is gone while others' are not (its node restarted empty) is covered from now on, not since the deployment began", async () => {
    const env = await sharedRealBackends();
    const prefix = `own-${tag()}:`;
    const hot = createRedisHotStore({ url: env.redisUrl, keyPrefix: prefix, partitions: () => 8, logger: testLogger('redis') });
    const raw = new Redis(env.redisUrl);
    await hot.start();
    try {
      assert.equal(await hot.dedupeSince(3, async () => true), 0, 'a new deployment');
      assert.equal(await hot.dedupeSince(5, async () => false), 0, 'another partition, first asked for later');
      await raw.del(`${prefix}{p3}:since`);
      const before = Date.now();
      const since = await hot.dedupeSince(3, async () => false);
      assert.ok(since >= before, `partition 3 covered from ${since}, not from the deployment's start`);
      assert.equal(await hot.dedupeSince(5, async () => false), 0, 'the others keep theirs');
    } finally {
      raw.disconnect();
      await hot.stop();
    }
  });

  it('a Redis call that fails (the server away) is a HotStoreError, the kind of failure the pipeline stores first for', async () => {
    const env = await sharedRealBackends();
    const hot = createRedisHotStore({ url: env.redisUrl, keyPrefix: `own-${tag()}:`, partitions: () => 8, logger: testLogger('redis') });
    await hot.start();
    await hot.stop();
    await assert.rejects(hot.sequenced(0, ['x']), HotStoreError);
    await assert.rejects(hot.read('dm:a:b', 0, 10), HotStoreError);
  });
});

describe('the embedded store and presence, stopped', function () {
  it('report stopped and refuse every call with UNAVAILABLE naming the backend, until started again', async () => {
    const store = createEmbeddedStore();
    const presence = createEmbeddedPresence();
    assert.deepEqual(
      [store.health(), presence.health()],
      [
        { ok: false, detail: 'stopped' },
        { ok: false, detail: 'stopped' },
      ],
      'before start',
    );
    await Promise.all([store.start(), presence.start()]);
    assert.deepEqual(
      [store.health(), presence.health()],
      [
        { ok: true, detail: 'embedded' },
        { ok: true, detail: 'embedded' },
      ],
      'started',
    );
    await Promise.all([store.stop(), presence.stop()]);
    assert.deepEqual(
      [store.health(), presence.health()],
      [
        { ok: false, detail: 'stopped' },
        { ok: false, detail: 'stopped' },
      ],
      'stopped',
    );
    const refused =
      (what: string) =>
      (err: unknown): boolean =>
        err instanceof UnavailableError && err.message === `${what} is not running`;
    await assert.rejects(store.lastSeq('dm:a:b'), refused('store'));
    await assert.rejects(store.readMessages('dm:a:b', 0, 10), refused('store'));
    await assert.rejects(presence.lookup(['a']), refused('presence'));
    await assert.rejects(presence.refresh('gw-1', ['a'], 1000), refused('presence'));
    await presence.start();
    assert.deepEqual(await presence.lookup(['a']), new Map(), 'serves again once started');
  });
});

logContract('embedded', async () => {
  // One in-process log stands in for the external system; every "client" is a view of it.
  const shared = createEmbeddedLog({ partitions: 3, logger: testLogger('log') });
  let consumer: MessageLog | undefined;
  return {
    async open() {
      return {
        start: () => shared.start(),
        append: (e) => shared.append(e),
        consume: async (h, onAssignment) => {
          consumer = shared;
          await shared.consume(h, onAssignment);
        },
        stopConsuming: () => shared.stopConsuming(),
        stop: () => shared.stop(),
        health: () => shared.health(),
        partitions: () => shared.partitions(),
      } satisfies MessageLog;
    },
    close: async () => {
      await (consumer ?? shared).stop();
    },
  };
});

logContract('Kafka', async () => {
  const env = await sharedRealBackends();
  const t = tag();
  return {
    async open() {
      return createKafkaLog({
        brokers: env.kafkaBrokers.split(','),
        clientId: `contract-${t}`,
        topic: `contract.${t}`,
        groupId: `contract-${t}`,
        partitions: 3,
        replicationFactor: 1,
        minInsyncReplicas: 1,
        appendTimeoutMs: 10_000,
        fetchMaxWaitMs: 15,
        fetchMinBytes: 8192,
        fetchIdleWaitMs: 500,
        commitIntervalMs: 200,
        maxBatch: 100,
        logger: testLogger('kafka'),
      });
    },
    close: async () => undefined,
  };
});
