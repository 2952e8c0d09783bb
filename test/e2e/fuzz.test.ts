import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { getJson, eventually } from '../support/services.js';
import { killAll, metricValue, startConnectProcess, startMessageProcess, type ConnectProcess, type ServiceProcess } from '../support/processes.js';
import { TestClient, type Frame } from '../support/ws-client.js';

/** A small seeded PRNG (mulberry32) so a failing run can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The one reply a frame must get (its type, and its code when it is an error), or the close code. */
type Expect = { reply: string; code?: string } | { close: number };
const BAD: Expect = { reply: 'error', code: 'BAD_REQUEST' };

/**
 * What docs/PROTOCOL.md §3–§4 says the gateway answers the user `fuzzer` for a parsed frame: an oracle
 * written from the protocol's rules, not from the gateway's parser.
 */
function expectedFor(f: Record<string, unknown>): Expect {
  const clientId = (v: unknown): v is string => typeof v === 'string' && /^[\x21-\x7e]{1,64}$/.test(v);
  const userId = (v: unknown): v is string => typeof v === 'string' && /^[A-Za-z0-9_.:@-]{1,64}$/.test(v);
  const count = (v: unknown, min: number, max: number) => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max;
  switch (f.type) {
    case 'ping':
      return f.id === undefined || clientId(f.id) ? { reply: 'pong' } : BAD;
    case 'conversations':
      return clientId(f.id) ? { reply: 'conversations' } : BAD;
    case 'send':
      if (!clientId(f.id) || !userId(f.to) || typeof f.body !== 'string' || f.body === '') return BAD;
      return Buffer.byteLength(f.body) > 4096 ? { reply: 'error', code: 'TOO_LARGE' } : { reply: 'accepted' };
    case 'sync': {
      const conversation = f.conversation;
      if (!clientId(f.id) || typeof conversation !== 'string' || !/^[A-Za-z0-9_.:@-]{1,132}$/.test(conversation)) return BAD;
      if (!count(f.after ?? 0, 0, Number.MAX_SAFE_INTEGER) || !count(f.limit ?? 100, 1, 500)) return BAD;
      const [prefix, a, b, ...rest] = conversation.split(':');
      const member = prefix === 'dm' && rest.length === 0 && a !== undefined && b !== undefined && a < b && (a === 'fuzzer' || b === 'fuzzer');
      return member ? { reply: 'messages' } : { reply: 'error', code: 'FORBIDDEN' };
    }
    default:
      return BAD;
  }
}
const oracle = (json: string): Expect => expectedFor(JSON.parse(json) as Record<string, unknown>);
interface Case {
  kind: string;
  data: string | Buffer;
  binary?: boolean;
  fragmented?: boolean;
  expect: Expect;
}

const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

/** Generators of hostile frames; each says what the gateway must answer. */
function makeCase(r: () => number): Case {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const str = (n: number) => Array.from({ length: n }, () => String.fromCharCode(32 + Math.floor(r() * 95))).join('');
  const weird = (): unknown =>
    pick([null, true, -0, 1e308, -1e308, 2 ** 53 + 1, 1.5, NaN, '', str(10), [], {}, [1, [2, [3]]], { a: { b: {} } }, '__proto__', 'x'.repeat(5000)]);
  const id = () => (r() < 0.8 ? `f${Math.floor(r() * 1e9)}` : weird());
  switch (Math.floor(r() * 14)) {
    case 0:
      return { kind: 'not json', data: pick(['{', '}', 'nul', '{"type":', '[', str(30), '"\\ud800"', '{"type":"send",}']), expect: BAD };
    case 1:
      return { kind: 'non-object json', data: JSON.stringify(pick([1, 'send', null, true, [1, 2], []])), expect: BAD };
    case 2:
      return {
        kind: 'unknown type',
        data: JSON.stringify({ type: pick(['explode', 'SEND', ' send', '', 'constructor', '__proto__', 'toString']), id: id() }),
        expect: BAD,
      };
    case 3: {
      const data = JSON.stringify({
        type: pick(['send', 'sync', 'conversations', 'ping']),
        id: id(),
        to: weird(),
        body: weird(),
        conversation: weird(),
        after: weird(),
        limit: weird(),
      });
      return { kind: 'wrong types', data, expect: oracle(data) };
    }
    case 4:
      return { kind: 'proto keys', data: `{"type":"ping","id":"p","__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}`, expect: { reply: 'pong' } };
    case 5: {
      const depth = 1000 + Math.floor(r() * 20_000);
      return { kind: 'deeply nested', data: `{"type":"ping","id":"n","deep":${'['.repeat(depth)}${']'.repeat(depth)}}`, expect: { reply: 'pong' } };
    }
    case 6: {
      // Valid JSON just under the 64 KiB frame limit: parsed whole, then refused for what it asks.
      const data = JSON.stringify({ type: 'sync', id: 'big', conversation: 'dm:a:b', pad: Array.from({ length: 3800 }, (_, i) => ({ [`k${i}`]: i })) });
      return { kind: 'big json under the limit', data, expect: { reply: 'error', code: 'FORBIDDEN' } };
    }
    case 7:
      return { kind: 'enormous numbers', data: `{"type":"sync","id":"num","conversation":"dm:a:b","after":1${'0'.repeat(400)},"limit":-1e999}`, expect: BAD };
    case 8:
      return { kind: 'empty frame', data: '', expect: BAD };
    case 9:
      return {
        kind: 'binary frame',
        data: Buffer.from(Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256))),
        binary: true,
        expect: BAD,
      };
    case 10:
      return {
        kind: 'valid send',
        data: JSON.stringify({ type: 'send', id: `v${Math.floor(r() * 1e9)}`, to: 'fuzz-peer', body: str(1 + Math.floor(r() * 100)) }),
        expect: { reply: 'accepted' },
      };
    case 11:
      return { kind: 'fragmented frame', data: JSON.stringify({ type: 'ping', id: 'frag', pad: str(3000) }), fragmented: true, expect: { reply: 'pong' } };
    case 12:
      return { kind: 'frame over 64 KiB', data: `{"type":"ping","pad":"${'x'.repeat(65 * 1024 + Math.floor(r() * 1024 * 1024))}"}`, expect: { close: 1009 } };
    default:
      return { kind: 'invalid UTF-8', data: Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0xff, 0xfe, 0x22, 0x7d]), expect: { close: 1007 } };
  }
}

describe('fuzzing the gateway with hostile frames', function () {
  this.timeout(240_000);
  const procs: ServiceProcess[] = [];
  let connect: ConnectProcess;
  after(() => killAll(procs));

  it('answers every frame per the protocol, never crashes, keeps serving others, and keeps memory bounded', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261121);
    const r = prng(seed);
    const message = await startMessageProcess({}, procs);
    connect = await startConnectProcess(
      `127.0.0.1:${message.grpcPort}`,
      { RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_BURST: '100000', MAX_VIOLATIONS: '100000' },
      procs,
    );
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 10_000);
    const pid = connect.proc.child.pid!;
    const peer = await TestClient.connect(connect.url, { user: 'fuzz-peer' });
    const bystanderA = await TestClient.connect(connect.url, { user: 'bystander-a' });
    const bystanderB = await TestClient.connect(connect.url, { user: 'bystander-b' });

    let fuzzer = await TestClient.connect(connect.url, { user: 'fuzzer' });
    // Warm up, then take the baseline.
    for (let i = 0; i < 200; i++) await fuzzer.request({ type: 'ping', id: `w${i}` }, 'pong');
    const rssBefore = rssKiB(pid);
    const counts = new Map<string, number>();
    // The msgIds of the sends to the peer that were accepted: each must reach it.
    const toPeer = new Set<string>();
    const N = Number(process.env.FUZZ_FRAMES ?? 3000);
    for (let i = 0; i < N; i++) {
      const c = makeCase(r);
      counts.set(c.kind, (counts.get(c.kind) ?? 0) + 1);
      const ws = fuzzer.ws;
      if (c.fragmented) {
        const s = String(c.data);
        const cut = Math.floor(s.length / 3);
        ws.send(s.slice(0, cut), { fin: false });
        ws.send(s.slice(cut, 2 * cut), { fin: false });
        ws.send(s.slice(2 * cut), { fin: true });
      } else if (Buffer.isBuffer(c.data)) {
        // Invalid UTF-8 goes out as a text frame through the low-level sender (ws validates its own text).
        if (c.binary) ws.send(c.data, { binary: true });
        else
          (ws as unknown as { _sender: { send(d: Buffer, o: object, cb?: () => void): void } })._sender.send(c.data, {
            binary: false,
            fin: true,
            mask: true,
            rsv1: false,
            opcode: 1,
            readOnly: false,
          });
      } else ws.send(c.data);

      if ('reply' in c.expect) {
        const deadline = Date.now() + 5000;
        while (fuzzer.frames.filter((f) => f.type !== 'message').length === 0) {
          if (Date.now() > deadline) throw new Error(`no answer to ${c.kind} (frame ${i}, seed ${seed})`);
          await new Promise((res) => setTimeout(res, 1));
        }
        const idx = fuzzer.frames.findIndex((f) => f.type !== 'message');
        const reply = fuzzer.frames.splice(idx, 1)[0]!;
        const what = `${c.kind} (frame ${i}, seed ${seed}): ${String(c.data).slice(0, 120)} → ${JSON.stringify(reply).slice(0, 200)}`;
        assert.deepEqual({ reply: reply.type, ...(reply.type === 'error' ? { code: reply.code } : {}) }, c.expect, what);
        if (reply.type === 'error') assert.ok(typeof reply.message === 'string' && reply.message.length > 0, what);
        if (reply.type === 'accepted' && typeof c.data === 'string' && (JSON.parse(c.data) as { to?: unknown }).to === 'fuzz-peer')
          toPeer.add(String(reply.msgId));
      } else {
        const closed = await fuzzer.closed;
        assert.equal(closed.code, c.expect.close, `${c.kind} (frame ${i}, seed ${seed})`);
        fuzzer = await TestClient.connect(connect.url, { user: 'fuzzer' });
      }
      if (i % 500 === 0) {
        await bystanderA.request({ type: 'send', id: `b${i}`, to: 'bystander-b', body: `still here ${i}` }, 'accepted');
        assert.equal((await bystanderB.next('message', 5000)).body, `still here ${i}`);
      }
    }

    // Floods of WebSocket pings and of frames from another socket.
    const clientsBefore = await metricValue(connect.admin, 'switchboard_connect_clients');
    const flood = new WebSocket(`${connect.url}?user=pinger`, 'switchboard.v1');
    await new Promise((res) => flood.once('open', res));
    let pongs = 0;
    flood.on('pong', () => pongs++);
    for (let i = 0; i < 5000; i++) flood.ping(Buffer.from(String(i)));
    // The flood ends one way or the other: every ping answered, or the connection dropped (ws
    // closes a connection flooded with pings before answering them all).
    await eventually('the flood answered or dropped', () => pongs === 5000 || flood.readyState === WebSocket.CLOSED, 20_000);
    flood.terminate();
    await eventually('the flooding socket gone', async () => (await metricValue(connect.admin, 'switchboard_connect_clients')) === clientsBefore, 10_000);

    const rssAfter = rssKiB(pid);
    assert.equal(connect.proc.child.exitCode, null, 'the gateway is still running');
    await bystanderA.request({ type: 'send', id: 'final', to: 'bystander-b', body: 'after the storm' }, 'accepted');
    assert.equal((await bystanderB.next('message')).body, 'after the storm');
    const delivered = new Set<string>();
    await eventually(
      'every accepted send to the peer delivered',
      () => {
        for (const m of peer.take('message')) delivered.add(String(m.msgId));
        return [...toPeer].every((id) => delivered.has(id));
      },
      10_000,
    );
    assert.ok(toPeer.size >= N / 40, `valid sends among the garbage: ${toPeer.size}`);
    assert.deepEqual([...delivered].sort(), [...toPeer].sort(), 'the peer got exactly the sends accepted for it');
    assert.ok(rssAfter - rssBefore < 96 * 1024, `RSS grew ${(rssAfter - rssBefore) / 1024} MiB (${rssBefore} → ${rssAfter} KiB)`);
    assert.ok(counts.size >= 14, `every kind of frame was tried: ${JSON.stringify(Object.fromEntries(counts))}`);
    assert.ok((await metricValue(connect.admin, 'switchboard_connect_rejected_frames_total', 'code="BAD_REQUEST"')) > 100);
    for (const c of [fuzzer, peer, bystanderA, bystanderB]) c.close();
  });

  it('closes a client that keeps sending garbage under the default limits with 1008, and one that floods with RATE_LIMITED then 1008', async () => {
    const message = await startMessageProcess({}, procs);
    const g = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, {}, procs);
    await eventually('ready', async () => (await getJson(`${g.admin}/readyz`)).status === 200, 10_000);
    const garbage = await TestClient.connect(g.url, { user: 'garbage' });
    for (let i = 0; i < 25; i++) garbage.send('garbage');
    assert.equal((await garbage.closed).code, 1008);
    const flooder = await TestClient.connect(g.url, { user: 'flooder' });
    for (let i = 0; i < 300; i++) flooder.send({ type: 'ping', id: `p${i}` });
    assert.equal((await flooder.closed).code, 1008);
    const errors = flooder.frames.filter((f: Frame) => f.type === 'error');
    assert.ok(errors.length > 0 && errors.every((e) => e.code === 'RATE_LIMITED'));
    const pongs = flooder.frames.filter((f: Frame) => f.type === 'pong').length;
    assert.ok(pongs >= 100 && pongs <= 110, `the burst of 100 (plus what refilled at 50/s) was served: ${pongs}`);
    assert.equal(await metricValue(g.admin, 'switchboard_connect_policy_closes_total'), 2);
  });
});
