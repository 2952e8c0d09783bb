import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { getJson, eventually } from '../../test/support/services.js';
import { killAll, stopGracefully, startConnectProcess, startMessageProcess, type ServiceProcess } from '../../test/support/processes.js';
import { sharedRealBackends } from '../../test/support/real-backends.js';
import { TestClient } from '../../test/support/ws-client.js';
import type { GroupReceiverCommand, GroupReceiverEvent } from '../lib/group-receiver.js';
import { startSocketIoPeer } from '../lib/socketio-peer.js';
import type { ScenarioResult } from '../lib/report.js';
import { formatSpread, nowMs, spread, summarize } from '../lib/stats.js';
import { coresBetween, cpuSnapshot, type CpuCores } from '../lib/cpu.js';

const RECEIVER = fileURLToPath(new URL('../lib/group-receiver.ts', import.meta.url));

export interface GroupOptions {
  /** Group sizes to measure (members in all). */
  sizes: number[];
  /** Members online during the run. */
  online: number;
  /** Messages per second sent to the group. */
  rate: number;
  durationMs: number;
  warmupMs: number;
  reps: number;
  /** Where Message and Connect write V8 CPU profiles (one directory per group size and service). */
  cpuProfDir?: string;
  progress: (line: string) => void;
}

/** What one run of one system at one group size measured. */
interface GroupRun {
  deliveriesPerSec: number;
  /** Per measured message: ms from its intended send time until its last online member had it. */
  toLastMs: number[];
  /** Deliveries missing when the run ended (online members × messages − deliveries). */
  missing: number;
  /** Where the machine's CPU went while the messages were sent (cores). */
  cores: CpuCores;
}

/** A receiver process holding the online members. */
class Receiver {
  private constructor(private readonly child: ChildProcess) {}

  static async start(c: Extract<GroupReceiverCommand, { cmd: 'connect' }>): Promise<Receiver> {
    const r = new Receiver(fork(RECEIVER, [], { execArgv: ['--import', 'tsx'] }));
    await r.ask(c, 'ready');
    return r;
  }

  ask<E extends GroupReceiverEvent['ev']>(c: GroupReceiverCommand, until: E): Promise<Extract<GroupReceiverEvent, { ev: E }>> {
    return new Promise((resolve, reject) => {
      const on = (e: GroupReceiverEvent): void => {
        if (e.ev === until) {
          this.child.off('message', on);
          resolve(e as Extract<GroupReceiverEvent, { ev: E }>);
        } else if (e.ev === 'error') {
          this.child.off('message', on);
          reject(new Error(e.message));
        }
      };
      this.child.on('message', on);
      this.child.send(c);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  stop(): void {
    this.child.kill();
  }
}

/**
 * Sends `rate` messages per second for warm-up + duration, open-loop (each at its intended time,
 * whatever the system does), then measures what reached the online members.
 */
async function run(o: GroupOptions, receiver: Receiver, online: number, systemPids: number[], send: (body: string) => void): Promise<GroupRun> {
  const tag = randomBytes(3).toString('hex');
  await receiver.ask({ cmd: 'arm', tag }, 'armed');
  const total = Math.round(((o.warmupMs + o.durationMs) * o.rate) / 1000);
  const warm = Math.round((o.warmupMs * o.rate) / 1000);
  // The receiver counts as the load generator; the sender runs in this process.
  const cpuBefore = cpuSnapshot(systemPids, [receiver.pid]);
  const start = nowMs();
  for (let k = 0; k < total; k++) {
    const intended = start + (k * 1000) / o.rate;
    const wait = intended - nowMs();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    send(`${tag}|${k}|${intended}`);
  }
  const cores = coresBetween(cpuBefore, cpuSnapshot(systemPids, [receiver.pid]));
  // Let the last messages arrive (bounded).
  const until = nowMs() + 5000;
  let collected = await receiver.ask({ cmd: 'collect' }, 'collected');
  while (collected.deliveries < total * online && nowMs() < until) {
    await new Promise((r) => setTimeout(r, 100));
    collected = await receiver.ask({ cmd: 'collect' }, 'collected');
  }
  const measured = collected.perMessage.slice(warm);
  const delivered = measured.reduce((a, m) => a + m.count, 0);
  return {
    deliveriesPerSec: (delivered * 1000) / o.durationMs,
    toLastMs: measured.filter((m) => m.count === online).map((m) => m.lastMs),
    missing: (total - warm) * online - delivered,
    cores,
  };
}

/** A system set up for the scenario at one group size: measured once per repetition, then stopped. */
interface GroupSystem {
  measure(): Promise<GroupRun>;
  stop(): Promise<void>;
}

/**
 * Switchboard on embedded backends (one Message, one Connect process): a group of `size`, `online`
 * of them connected. Set up once per size (processes, the group's membership, the connections);
 * each repetition sends to the same group.
 */
async function switchboardGroup(o: GroupOptions, size: number): Promise<GroupSystem> {
  const procs: ServiceProcess[] = [];
  let receiver: Receiver | undefined;
  let creator: TestClient | undefined;
  const stop = async (): Promise<void> => {
    receiver?.stop();
    creator?.close();
    // A profile is written when the process exits by itself: stop them gracefully first.
    if (o.cpuProfDir) await stopGracefully(procs);
    await killAll(procs);
  };
  const profile = (service: string): string[] => (o.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${join(o.cpuProfDir, `group-${size}-${service}`)}`] : []);
  try {
    const message = await startMessageProcess({ GROUP_MAX_MEMBERS: String(size) }, procs, profile('message'));
    const connect = await startConnectProcess(
      `127.0.0.1:${message.grpcPort}`,
      { CONNECT_HANDSHAKE_RATE: '100000', CONNECT_HANDSHAKE_BURST: '100000', RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_BURST: '100000' },
      procs,
      profile('connect'),
    );
    await eventually('Connect ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 30_000);
    const tag = randomBytes(2).toString('hex');
    const users = Array.from({ length: size - 1 }, (_, i) => `g${tag}-${i}`);
    creator = await TestClient.connect(connect.url, { user: `g${tag}-creator` });
    const created = await creator.request({ type: 'group.create', id: 'bench', members: users.slice(0, 999) }, 'accepted');
    const conversation = String(created.conversation);
    await creator.next('message', 30_000, (f) => f.kind === 'created');
    for (let i = 999; i < users.length; i += 1000)
      await creator.request({ type: 'group.add', id: `add-${i}`, conversation, members: users.slice(i, i + 1000) }, 'accepted');
    const c = creator;
    await eventually(
      `${size} members`,
      async () =>
        ((await c.request({ type: 'group.members', id: `m-${Date.now()}`, conversation }, 'members')).members as string[] | undefined)?.length === size,
      60_000,
    );
    const r = (receiver = await Receiver.start({ cmd: 'connect', protocol: 'switchboard', url: connect.url, users: users.slice(0, o.online) }));
    const pids = [message.proc.child.pid!, connect.proc.child.pid!];
    let n = 0;
    return {
      measure: () => {
        o.progress(`group: switchboard, ${size} members, ${o.online} online, ${o.rate} msg/s`);
        return run(o, r, o.online, pids, (body) => c.send({ type: 'send', id: `s${n++}`, conversation, body }));
      },
      stop,
    };
  } catch (err: unknown) {
    await stop();
    throw err;
  }
}

/**
 * The Socket.IO peer (two processes joined by the Redis Streams adapter): a room of `online`
 * members, the sender on the other process. Set up once; each repetition sends to the same room.
 */
async function socketIoRoom(o: GroupOptions): Promise<GroupSystem> {
  const peer = await startSocketIoPeer((await sharedRealBackends()).redisUrl);
  let receiver: Receiver | undefined;
  let sender: Socket | undefined;
  const stop = async (): Promise<void> => {
    sender?.disconnect();
    receiver?.stop();
    peer.stop();
  };
  try {
    const room = `room-${randomBytes(3).toString('hex')}`;
    const users = Array.from({ length: o.online }, (_, i) => `${room}-${i}`);
    const r = (receiver = await Receiver.start({ cmd: 'connect', protocol: 'socket.io', url: peer.urls[1], users, room }));
    const s = io(peer.urls[0], { transports: ['websocket'], auth: { user: `${room}-sender` }, reconnection: false });
    sender = s;
    await new Promise<void>((resolve, reject) => {
      s.once('ready', () => resolve());
      s.once('connect_error', reject);
    });
    let n = 0;
    return {
      measure: () => {
        o.progress(`group: socket.io room, ${o.online} online, ${o.rate} msg/s`);
        return run(o, r, o.online, peer.pids, (body) => s.emit('send', { id: `s${n++}`, to: room, body }, () => undefined));
      },
      stop,
    };
  } catch (err: unknown) {
    await stop();
    throw err;
  }
}

/**
 * Scenario: a group conversation of N members (Switchboard stores the membership; only M are
 * online) against a Socket.IO room holding the same M online members, at the same send rate.
 */
export async function groupScenario(o: GroupOptions): Promise<ScenarioResult> {
  const figures: Record<string, number | string> = {};
  const ratios: Record<string, number> = {};
  const notes = [
    '"to the last member" is the time from a message\'s intended send time until the last of the online members had it; its p99 is over the messages of the measured window.',
    'The Socket.IO room holds only the online members (Socket.IO keeps no membership of offline users); Switchboard checks membership, stores every message with its seq, and looks the online members up per consumer batch.',
  ];
  for (const size of o.sizes) {
    const runs: { sb: GroupRun[]; sio: GroupRun[] } = { sb: [], sio: [] };
    // Both set up once per size (a group of 10,000 and 500 connections take longer than a
    // measurement), then measured in turn, so that both see the host's drift alike.
    o.progress(`group: setting up a group of ${size} (${o.online} online) and a Socket.IO room`);
    const sb = await switchboardGroup(o, size);
    try {
      const sio = await socketIoRoom(o);
      try {
        for (let rep = 1; rep <= o.reps; rep++) {
          runs.sb.push(await sb.measure());
          runs.sio.push(await sio.measure());
        }
      } finally {
        await sio.stop();
      }
    } finally {
      await sb.stop();
    }
    for (const [label, rs] of [
      [`switchboard group of ${size}`, runs.sb],
      [`socket.io room (${size} for comparison)`, runs.sio],
    ] as const) {
      figures[`${label}: deliveries / s, median [range]`] = formatSpread(spread(rs.map((r) => Math.round(r.deliveriesPerSec))));
      figures[`${label}: p99 to the last member (ms), median [range]`] = formatSpread(spread(rs.map((r) => summarize(r.toLastMs).p99)), 1);
      figures[`${label}: deliveries missing, most`] = Math.max(...rs.map((r) => r.missing));
      const cores = (pick: (c: CpuCores) => number) => formatSpread(spread(rs.map((r) => pick(r.cores))), 2);
      figures[`${label}: cores while sending, median [range]: the system's processes (each) / the receiver / the machine`] =
        `${cores((c) => c.system)} (${rs[0]!.cores.processes.map((_, i) => cores((c) => c.processes[i]!)).join(' + ')}) / ${cores((c) => c.loadgen)} / ${cores((c) => c.machine)}`;
    }
    const per = runs.sb.map((r, i) => r.deliveriesPerSec / runs.sio[i]!.deliveriesPerSec);
    ratios[`group of ${size} / socket.io room: deliveries per second`] = spread(per).median;
    const p99 = runs.sb.map((r, i) => summarize(r.toLastMs).p99 / summarize(runs.sio[i]!.toLastMs).p99);
    ratios[`group of ${size} / socket.io room: p99 to the last member`] = spread(p99).median;
  }
  return {
    name: 'Group fan-out',
    description: `One group, ${o.online} of its members online on one Connect (Switchboard on embedded backends: one Message and one Connect process), one sender posting ${o.rate} messages/s to it; the Socket.IO peer emits to a room of the same ${o.online} sockets. Receivers run in another process.`,
    settings: { sizes: o.sizes.join('/'), online: o.online, ratePerSec: o.rate, seconds: o.durationMs / 1000, reps: o.reps },
    figures,
    ratios,
    notes,
  };
}
