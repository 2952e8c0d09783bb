/**
 * Real backend servers for tests, on free loopback ports: Kafka (KRaft, one node or a cluster of nodes each broker and controller),
 * FerretDB (MongoDB wire protocol on SQLite or on PostgreSQL) and Redis. Binaries come from test/env/provision.sh;
 * logs go to one folder (SWITCHBOARD_TESTENV_DIR/logs, default ~/.cache/switchboard/testenv/logs).
 * Each server can be stopped, killed and started again on the same port with the same data.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createConnection, createServer } from 'node:net';
import { mkdirSync, openSync, closeSync, rmSync, writeFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CACHE = process.env.SWITCHBOARD_CACHE ?? join(homedir(), '.cache', 'switchboard');
export const TESTENV = process.env.SWITCHBOARD_TESTENV_DIR ?? join(CACHE, 'testenv');
export const LOGS = join(TESTENV, 'logs');
const KAFKA_VERSION = process.env.KAFKA_VERSION ?? '3.9.2';
const FERRETDB_VERSION = process.env.FERRETDB_VERSION ?? 'v1.24.0';

export interface ManagedServer {
  readonly name: string;
  /** What the Message service is given: broker list, MongoDB URI or Redis URL. */
  readonly address: string;
  readonly logFile: string;
  /** Starts (or restarts) the server on its port with its data; resolves when it is healthy. */
  start(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  readonly running: boolean;
}

/** Whether a loopback listener can bind `port` now (0: the kernel picks; resolves with the port). */
function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });
}

/** The lowest port of the kernel's ephemeral range (what `listen(0)` and outgoing connections get). */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 0 ? low : 32768;
  } catch {
    return 32768;
  }
}

const handedOut = new Set<number>();
/**
 * A loopback port that was free a moment ago, below the kernel's ephemeral range: a port the
 * kernel hands out for `listen(0)` or an outgoing connection can never take it between this call
 * and its server's bind (nor while that server restarts). Below 30000 too, Kubernetes' NodePort
 * range on the test cluster's node. Never the same port twice in a process.
 */
export async function freePort(): Promise<number> {
  const low = 10_000;
  const high = Math.min(29_999, ephemeralLow() - 1);
  for (let attempt = 0; high - low > 1000 && attempt < 100; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port)) continue;
    if ((await tryListen(port)) === port) {
      handedOut.add(port);
      return port;
    }
  }
  const port = await tryListen(0);
  if (port === undefined) throw new Error('no free loopback port');
  return port;
}

/**
 * A free loopback port whose partner `offset` above is free too (a Redis Cluster node listens on
 * its port and, for its cluster bus, on port + 10000), both below the ephemeral range, so that no
 * outgoing connection takes the partner meanwhile.
 */
async function freePortWithPartner(offset: number): Promise<number> {
  const low = 10_000;
  const high = ephemeralLow() - 1 - offset;
  for (let attempt = 0; high - low > 100 && attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low + 1));
    if (handedOut.has(port) || handedOut.has(port + offset)) continue;
    if ((await tryListen(port)) === port && (await tryListen(port + offset)) === port + offset) {
      handedOut.add(port);
      handedOut.add(port + offset);
      return port;
    }
  }
  throw new Error(`no free loopback port with a free partner ${offset} above it`);
}

/** Sends `payload` to host:port and resolves with the first reply (or rejects). */
function ask(port: number, payload: string | Buffer, timeoutMs = 1000, host = '127.0.0.1'): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host, port });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error('timeout'));
    }, timeoutMs);
    sock.once('connect', () => sock.write(payload));
    sock.once('data', (d) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(d);
    });
    sock.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
  child: () => ChildProcess | undefined,
  logFile: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe().catch(() => false)) return;
    const c = child();
    if (!c || c.exitCode !== null) throw new Error(`${what} exited during start-up (code ${c?.exitCode}); see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`${what} did not become healthy within ${timeoutMs / 1000} s; see ${logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// Servers must not outlive the process that started them, even when it dies on an error.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** A server process this run starts and stops; its output goes to LOGS/<name>.log. */
export function managed(
  name: string,
  address: string,
  launch: () => { cmd: string; args: string[]; env?: NodeJS.ProcessEnv },
  probe: () => Promise<boolean>,
  timeoutMs: number,
): ManagedServer {
  const logFile = join(LOGS, `${name}.log`);
  let child: ChildProcess | undefined;
  const exit = async (signal: NodeJS.Signals): Promise<void> => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(t);
  };
  return {
    name,
    address,
    logFile,
    get running() {
      return !!child && child.exitCode === null && child.signalCode === null;
    },
    async start() {
      if (this.running) return;
      mkdirSync(LOGS, { recursive: true });
      const { cmd, args, env } = launch();
      const fd = openSync(logFile, 'a');
      const c = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
      closeSync(fd);
      c.unref();
      live.add(c);
      c.once('exit', () => live.delete(c));
      child = c;
      await waitUntil(name, probe, timeoutMs, () => child, logFile);
    },
    stop: () => exit('SIGTERM'),
    kill: () => exit('SIGKILL'),
  };
}

/** Redis from Debian's redis-server, no persistence. */
export async function createRedisServer(dataDir: string, host = '127.0.0.1', name = 'redis'): Promise<ManagedServer> {
  const port = await freePort();
  mkdirSync(dataDir, { recursive: true });
  return managed(
    name,
    `redis://${host}:${port}`,
    () => ({
      cmd: 'redis-server',
      args: ['--port', String(port), '--bind', host, '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dataDir],
    }),
    async () => (await ask(port, 'PING\r\n', 1000, host)).toString().startsWith('+PONG'),
    20_000,
  );
}

/** A Redis Cluster: its nodes and the URL of its seed nodes. */
export interface RedisCluster {
  nodes: ManagedServer[];
  /** `redis://host:port,host:port,…` of every node (any of them is a seed; REDIS_MODE=cluster). */
  url: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A Redis Cluster on loopback: `masters` masters with `replicasEach` replicas each (3 and 1: the
 * smallest cluster whose master can fail over), created once with `redis-cli --cluster create`.
 * A node keeps its cluster state in its data folder (nodes.conf), so a node stopped and started
 * again rejoins as what it was; a master killed for good is replaced by its replica.
 */
export async function createRedisCluster(dataDir: string, masters = 3, replicasEach = 1, name = 'redis-cluster'): Promise<RedisCluster> {
  const count = masters * (1 + replicasEach);
  const ports: number[] = [];
  // Each node's cluster bus is its port + 10000.
  for (let i = 0; i < count; i++) ports.push(await freePortWithPartner(10_000));
  const nodes = ports.map((port, i) => {
    const dir = join(dataDir, `node-${i + 1}`);
    mkdirSync(dir, { recursive: true });
    return managed(
      `${name}-${i + 1}`,
      `redis://127.0.0.1:${port}`,
      () => ({
        cmd: 'redis-server',
        args: [
          ...['--port', String(port), '--bind', '127.0.0.1', '--protected-mode', 'no', '--save', '', '--appendonly', 'no', '--dir', dir],
          ...['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, 'nodes.conf'), '--cluster-node-timeout', '2000'],
        ],
      }),
      async () => (await ask(port, 'PING\r\n', 1000)).toString().startsWith('+PONG'),
      20_000,
    );
  });
  let created = false;
  const clusterState = async (port: number): Promise<string> => (await ask(port, 'CLUSTER INFO\r\n', 1000)).toString();
  return {
    nodes,
    url: `redis://${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    async start() {
      await Promise.all(nodes.map((n) => n.start()));
      if (!created) {
        const r = spawnSync(
          'redis-cli',
          ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', String(replicasEach), '--cluster-yes'],
          { encoding: 'utf8', timeout: 60_000 },
        );
        if (r.status !== 0) throw new Error(`redis-cli --cluster create failed: ${r.stderr || r.stdout}`);
        created = true;
      }
      // Every node sees all slots served, and every replica has synced with its master, before
      // anyone uses it (a write that waits for its replica would wait in vain before that).
      const deadline = Date.now() + 30_000;
      const replication = async (port: number): Promise<string> => (await ask(port, 'INFO replication\r\n', 1000)).toString();
      for (const port of ports) {
        const ready = async (): Promise<boolean> => {
          if (!(await clusterState(port)).includes('cluster_state:ok')) return false;
          const info = await replication(port);
          return !info.includes('role:slave') || info.includes('master_link_status:up');
        };
        while (!(await ready().catch(() => false))) {
          if (Date.now() > deadline) throw new Error(`Redis Cluster node 127.0.0.1:${port} not ok (or its replica not synced) within 30 s`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/** Where FerretDB keeps its data: SQLite files in its data folder, or a PostgreSQL database. */
export type FerretStorage = { kind: 'sqlite' } | { kind: 'postgresql'; url: string };

/**
 * The storage of the test environment's FerretDB: SWITCHBOARD_FERRETDB_STORAGE=postgresql|sqlite.
 * PostgreSQL by default: the faster of the two in the benchmark (bench/NOTES.md).
 */
export function ferretStorageKind(): FerretStorage['kind'] {
  const v = process.env.SWITCHBOARD_FERRETDB_STORAGE ?? 'postgresql';
  if (v !== 'sqlite' && v !== 'postgresql') throw new Error(`SWITCHBOARD_FERRETDB_STORAGE must be sqlite or postgresql; got "${v}"`);
  return v;
}

/** FerretDB 1.x on SQLite files in `dataDir` or on a PostgreSQL database. */
export async function createFerretServer(
  dataDir: string,
  host = '127.0.0.1',
  name = 'ferretdb',
  storage: FerretStorage = { kind: 'sqlite' },
): Promise<ManagedServer> {
  const port = await freePort();
  const bin = join(CACHE, 'bin', `ferretdb-${FERRETDB_VERSION}`);
  if (!existsSync(bin)) throw new Error(`FerretDB is not provisioned (${bin}); run test/env/provision.sh`);
  mkdirSync(join(dataDir, 'sqlite'), { recursive: true });
  mkdirSync(join(dataDir, 'state'), { recursive: true });
  // An OP_MSG hello, answered by any MongoDB-compatible server once it is ready.
  const hello = (() => {
    const doc = Buffer.concat([
      Buffer.from([0x10]),
      Buffer.from('hello\0'),
      Buffer.from([1, 0, 0, 0]),
      Buffer.from([0x02]),
      Buffer.from('$db\0'),
      Buffer.from([6, 0, 0, 0]),
      Buffer.from('admin\0'),
      Buffer.from([0]),
    ]);
    const bson = Buffer.alloc(4 + doc.length);
    bson.writeInt32LE(bson.length, 0);
    doc.copy(bson, 4);
    const msg = Buffer.alloc(16 + 4 + 1 + bson.length);
    msg.writeInt32LE(msg.length, 0);
    msg.writeInt32LE(1, 4);
    msg.writeInt32LE(0, 8);
    msg.writeInt32LE(2013, 12);
    msg.writeInt32LE(0, 16);
    msg.writeUInt8(0, 20);
    bson.copy(msg, 21);
    return msg;
  })();
  return managed(
    name,
    `mongodb://${host}:${port}/`,
    () => ({
      cmd: bin,
      args: [
        ...(storage.kind === 'sqlite'
          ? ['--handler=sqlite', `--sqlite-url=file:${join(dataDir, 'sqlite')}/`]
          : ['--handler=postgresql', `--postgresql-url=${storage.url}`]),
        `--state-dir=${join(dataDir, 'state')}`,
        `--listen-addr=${host}:${port}`,
        '--telemetry=disable',
        '--debug-addr=-',
        '--log-level=warn',
      ],
    }),
    async () => (await ask(port, hello, 1000, host)).length > 16,
    30_000,
  );
}

/** Debian's PostgreSQL binaries (the newest major version installed). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))) : [];
  const newest = majors.sort((a, b) => Number(b) - Number(a))[0];
  if (!newest) throw new Error(`PostgreSQL is not provisioned (no ${root}/<version>/bin/postgres); run test/env/provision.sh`);
  return join(root, newest, 'bin');
}

/**
 * PostgreSQL from Debian, one cluster for FerretDB. PostgreSQL refuses to run as root, so as
 * root the cluster belongs to the `postgres` user (made by Debian's package) and lives under /var/tmp
 * (the cache under root's home is closed to that user). Durable as configured by default (fsync,
 * synchronous commit). Resolves with the server and the URL FerretDB takes, with its connection
 * pool: FerretDB 1.x holds a pool connection per statement of an update command on existing
 * documents and never answers once the pool runs dry, so the pool exceeds what the consumer can
 * ask at once (8 partitions consumed concurrently × the store's update slice of 64); idle ones
 * cost PostgreSQL little.
 */
export async function createPostgresServer(name = 'postgres', poolMaxConns = 600): Promise<{ server: ManagedServer; ferretUrl: string }> {
  const port = await freePort();
  const PG_BIN = postgresBin();
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? 'postgres' : (process.env.USER ?? 'postgres');
  const drop = (cmd: string, args: string[]) =>
    asRoot ? { cmd: 'setpriv', args: ['--reuid=postgres', '--regid=postgres', '--init-groups', '--', cmd, ...args] } : { cmd, args };
  const dir = asRoot ? dataDir(`switchboard-${name}`, '/var/tmp') : dataDir(name);
  if (asRoot) spawnSync('chown', ['-R', 'postgres:postgres', dir]);
  const data = join(dir, 'data');
  const init = drop(join(PG_BIN, 'initdb'), ['-D', data, '-U', user, '--auth=trust', '--encoding=UTF8', '--no-instructions']);
  const r = spawnSync(init.cmd, init.args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`initdb failed: ${r.stderr || r.stdout}`);
  const settings = [
    'listen_addresses=127.0.0.1',
    `port=${port}`,
    `unix_socket_directories=${dir}`,
    'max_connections=650',
    'shared_buffers=256MB',
    'logging_collector=off',
  ];
  const server = managed(
    name,
    `postgres://${user}@127.0.0.1:${port}/postgres`,
    () => drop(join(PG_BIN, 'postgres'), ['-D', data, ...settings.flatMap((x) => ['-c', x])]),
    async () => spawnSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port), '-q']).status === 0,
    30_000,
  );
  return { server, ferretUrl: `postgres://${user}@127.0.0.1:${port}/postgres?pool_max_conns=${poolMaxConns}` };
}

/** Kafka 3.9 from Apache's jars: one KRaft node (broker + controller), small heap. */
export async function createKafkaServer(dataDir: string, host = '127.0.0.1', name = 'kafka'): Promise<ManagedServer> {
  return (await createKafkaCluster(dataDir, 1, host, name)).nodes[0]!;
}

/** A Kafka cluster: its nodes (each a broker and a voter of the controller quorum) and the broker list. */
export interface KafkaCluster {
  nodes: ManagedServer[];
  /** `host:port,…` of every broker. */
  address: string;
  /** Starts every node that is not running, at once (a node waits for a quorum of voters to serve). */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Kafka 3.9 from Apache's jars, `count` KRaft nodes, each a broker and a controller (one quorum of
 * `count` voters), small heaps. With three nodes, topics and the offsets topic get three replicas
 * and `min.insync.replicas` 2, as the chart sets them for production: one node may go, two may not.
 */
export async function createKafkaCluster(dataDir: string, count: number, host = '127.0.0.1', name = 'kafka'): Promise<KafkaCluster> {
  const libs = join(CACHE, 'kafka', KAFKA_VERSION, 'libs');
  if (!existsSync(join(CACHE, 'kafka', KAFKA_VERSION, '.complete')))
    throw new Error(`Kafka ${KAFKA_VERSION} is not provisioned (${libs}); run test/env/provision.sh`);
  const ports: Array<{ port: number; controllerPort: number }> = [];
  for (let i = 0; i < count; i++) ports.push({ port: await freePort(), controllerPort: await freePort() });
  const voters = ports.map((p, i) => `${i + 1}@127.0.0.1:${p.controllerPort}`).join(',');
  const replicas = Math.min(3, count);
  const minInsync = replicas > 1 ? 2 : 1;
  // One cluster id for every node: written into each one's storage when it is formatted.
  let clusterId = randomBytes(16).toString('base64url');
  // Like Kafka's Uuid.randomUuid: never starting with '-', which a command line reads as an option.
  while (clusterId.startsWith('-')) clusterId = randomBytes(16).toString('base64url');
  const nodes = ports.map(({ port, controllerPort }, i) => {
    const nodeName = count === 1 ? name : `${name}-${i + 1}`;
    const dir = count === 1 ? dataDir : join(dataDir, `node-${i + 1}`);
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'server.properties');
    const logs = join(dir, 'kraft-logs');
    writeFileSync(
      config,
      [
        'process.roles=broker,controller',
        `node.id=${i + 1}`,
        `controller.quorum.voters=${voters}`,
        `listeners=PLAINTEXT://${host}:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
        `advertised.listeners=PLAINTEXT://${host}:${port}`,
        'controller.listener.names=CONTROLLER',
        'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
        'inter.broker.listener.name=PLAINTEXT',
        `log.dirs=${logs}`,
        'num.partitions=1',
        `default.replication.factor=${replicas}`,
        `min.insync.replicas=${minInsync}`,
        `offsets.topic.replication.factor=${replicas}`,
        'offsets.topic.num.partitions=4',
        `transaction.state.log.replication.factor=${replicas}`,
        `transaction.state.log.min.isr=${minInsync}`,
        'group.initial.rebalance.delay.ms=0',
        'auto.create.topics.enable=false',
        // A node that comes back catches up and takes its partitions' leadership back soon.
        'leader.imbalance.check.interval.seconds=10',
        '',
      ].join('\n'),
    );
    const log4j = join(dir, 'log4j.properties');
    writeFileSync(
      log4j,
      [
        'log4j.rootLogger=WARN, stdout',
        'log4j.appender.stdout=org.apache.log4j.ConsoleAppender',
        'log4j.appender.stdout.layout=org.apache.log4j.PatternLayout',
        'log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n',
        'log4j.logger.kafka.server.KafkaServer=INFO',
        'log4j.logger.kafka.server.KafkaRaftServer=INFO',
        '',
      ].join('\n'),
    );
    // C1 only (no C2): on 2 shared cores the C2 compiler threads took 0.14–0.41 of a core for the
    // first minute or more of load, so the broker used 0.69–0.84 of a core at 500–1,000 msg/s in a
    // bench's first repetition against 0.34–0.55 in its second; with C1 only, 0.32–0.42 in both
    // (its request handlers' own CPU unchanged, 0.17–0.28). Several nodes share the machine: smaller heaps.
    const java = [
      '-Xms128m',
      count === 1 ? '-Xmx512m' : '-Xmx320m',
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${log4j}`,
      '-cp',
      `${libs}/*`,
    ];
    const formatted = join(logs, 'meta.properties');
    return managed(
      nodeName,
      `${host}:${port}`,
      () => {
        if (!existsSync(formatted)) {
          const r = spawnSync('java', [...java, 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, `--config=${config}`], { encoding: 'utf8' });
          if (r.status !== 0) throw new Error(`formatting Kafka storage failed: ${r.stderr || r.stdout}`);
        }
        return { cmd: 'java', args: [...java, 'kafka.Kafka', config] };
      },
      async () => {
        // An ApiVersions request (v0) answered by a broker that is up.
        const req = Buffer.alloc(4 + 2 + 2 + 4 + 2 + 4);
        req.writeInt32BE(req.length - 4, 0);
        req.writeInt16BE(18, 4); // ApiVersions
        req.writeInt16BE(0, 6);
        req.writeInt32BE(7, 8); // correlation id
        req.writeInt16BE(4, 12); // client id "test"
        req.write('test', 14);
        const res = await ask(port, req, 1000, host);
        return res.length >= 10 && res.readInt32BE(4) === 7 && res.readInt16BE(8) === 0;
      },
      90_000,
    );
  });
  return {
    nodes,
    address: nodes.map((n) => n.address).join(','),
    start: async () => {
      await Promise.all(nodes.map((n) => n.start()));
    },
    stop: async () => {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
}

/**
 * A fresh data folder for a server of this run, under the test environment's data folder or
 * `root`; folders of runs whose process is gone are removed (under `root`, only those of `name`).
 */
export function dataDir(name: string, root?: string): string {
  const base = root ?? join(TESTENV, 'data');
  for (const d of existsSync(base) ? readdirSync(base) : []) {
    if (root && !d.startsWith(`${name}-`)) continue;
    const pid = Number(/-(\d+)-[0-9a-f]+$/.exec(d)?.[1]);
    if (pid && pid !== process.pid && !alive(pid)) rmSync(join(base, d), { recursive: true, force: true });
  }
  const dir = join(base, `${name}-${process.pid}-${randomBytes(3).toString('hex')}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err: unknown) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export const KUBE_VERSION = process.env.KUBE_VERSION ?? 'v1.32.3';
export const HELM_VERSION = process.env.HELM_VERSION ?? 'v3.17.3';
/** The versions provision.sh builds each tool at, and its target that builds it. */
const TOOLS = {
  'kube-apiserver': [KUBE_VERSION, 'kube'],
  kubectl: [KUBE_VERSION, 'kube'],
  helm: [HELM_VERSION, 'helm'],
  grpcurl: [process.env.GRPCURL_VERSION ?? 'v1.9.3', 'tools'],
  promtool: [process.env.PROMETHEUS_MODULE_VERSION ?? 'v0.316.0', 'cluster'],
} as const;
/** Path of a tool built by provision.sh. */
export function tool(name: keyof typeof TOOLS): string {
  const [version, target] = TOOLS[name];
  const bin = join(CACHE, 'bin', `${name}-${version}`);
  if (!existsSync(bin)) throw new Error(`${name} is not provisioned (${bin}); run test/env/provision.sh ${target}`);
  return bin;
}

export interface KubeControlPlane {
  /** A kubeconfig with cluster-admin rights (token of user "admin" in system:masters). */
  kubeconfig: string;
  server: string;
  /** Writes a kubeconfig that authenticates with `token` (e.g. a ServiceAccount's). */
  kubeconfigFor(token: string, name: string): string;
  stop(): Promise<void>;
}

/**
 * A Kubernetes control plane without nodes (the envtest approach): etcd and kube-apiserver on
 * loopback, RBAC on, ServiceAccount tokens signed with a key of our own. Objects can be created,
 * validated and patched; nothing is scheduled.
 */
export async function startKubeControlPlane(dir: string): Promise<KubeControlPlane> {
  const { generateKeyPairSync } = await import('node:crypto');
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  mkdirSync(join(dir, 'certs'), { recursive: true });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const adminToken = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`);
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfigFor = (token: string, name: string): string => {
    const file = join(dir, `${name}.kubeconfig`);
    writeFileSync(
      file,
      [
        'apiVersion: v1',
        'kind: Config',
        `clusters: [{name: test, cluster: {server: "${server}", insecure-skip-tls-verify: true}}]`,
        `users: [{name: ${name}, user: {token: "${token}"}}]`,
        `contexts: [{name: test, context: {cluster: test, user: ${name}, namespace: default}}]`,
        'current-context: test',
        '',
      ].join('\n'),
    );
    return file;
  };
  const etcd = etcdServer(join(dir, 'etcd'), etcdPort, peerPort);
  const apiserver = managed(
    'kube-apiserver',
    server,
    () => ({
      cmd: tool('kube-apiserver'),
      args: kubeApiServerArgs({ dir, etcdPort, port: apiPort, address: '127.0.0.1', serviceCidr: '10.0.0.0/24' }),
    }),
    () => apiServerReady(server, adminToken),
    120_000,
  );
  await etcd.start();
  try {
    await apiserver.start();
  } catch (err: unknown) {
    await etcd.stop();
    throw err;
  }
  return {
    kubeconfig: kubeconfigFor(adminToken, 'admin'),
    server,
    kubeconfigFor,
    async stop() {
      await apiserver.stop();
      await etcd.stop();
    },
  };
}

/** etcd for a test control plane: loopback only, no fsync (its data is thrown away). */
export function etcdServer(dataDir: string, port: number, peerPort: number): ManagedServer {
  return managed(
    'etcd',
    `http://127.0.0.1:${port}`,
    () => ({
      cmd: 'etcd',
      args: [
        `--data-dir=${dataDir}`,
        `--listen-client-urls=http://127.0.0.1:${port}`,
        `--advertise-client-urls=http://127.0.0.1:${port}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
        '--unsafe-no-fsync',
      ],
    }),
    async () => (await fetch(`http://127.0.0.1:${port}/health`)).ok,
    30_000,
  );
}

/** True when a kube-apiserver (self-signed certificate) answers /readyz with 200 to `token`. */
export async function apiServerReady(server: string, token: string): Promise<boolean> {
  const { request } = await import('node:https');
  return new Promise<boolean>((resolve) => {
    const req = request(`${server}/readyz`, { rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * kube-apiserver's flags for a test control plane in `dir` (certs/, tokens.csv, sa.key, sa.pub):
 * static tokens, RBAC, ServiceAccount tokens signed with our key; `extra` for what differs.
 */
export function kubeApiServerArgs(o: { dir: string; etcdPort: number; port: number; address: string; serviceCidr: string; extra?: string[] }): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${o.etcdPort}`,
    `--cert-dir=${join(o.dir, 'certs')}`,
    `--secure-port=${o.port}`,
    `--bind-address=${o.address}`,
    `--advertise-address=${o.address}`,
    `--service-cluster-ip-range=${o.serviceCidr}`,
    '--authorization-mode=RBAC',
    `--token-auth-file=${join(o.dir, 'tokens.csv')}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${join(o.dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(o.dir, 'sa.key')}`,
    '--allow-privileged=true',
    '--enable-priority-and-fairness=false',
    ...(o.extra ?? []),
  ];
}
