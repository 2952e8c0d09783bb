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

type Expect = 'reply' | { close: number };
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
      return { kind: 'not json', data: pick(['{', '}', 'nul', '{"type":', '[', str(30), '"\\ud800"', '{"type":"send",}']), expect: 'reply' };
    case 1:
      return { kind: 'non-object json', data: JSON.stringify(pick([1, 'send', null, true, [1, 2], []])), expect: 'reply' };
    case 2:
      return { kind: 'unknown type', data: JSON.stringify({ type: pick(['explode', 'SEND', ' send', '', 'constructor', '__proto__', 'toString']), id: id() }), expect: 'reply' };
    case 3:
      return { kind: 'wrong types', data: JSON.stringify({ type: pick(['send', 'sync', 'conversations', 'ping']), id: id(), to: weird(), body: weird(), conversation: weird(), after: weird(), limit: weird() }), expect: 'reply' };
    case 4:
      return { kind: 'proto keys', data: `{"type":"ping","id":"p","__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}`, expect: 'reply' };
    case 5: {
      const depth = 1000 + Math.floor(r() * 20_000);
      return { kind: 'deeply nested', data: `{"type":"ping","id":"n","deep":${'['.repeat(depth)}${']'.repeat(depth)}}`, expect: 'reply' };
    }
    case 6:
      return { kind: 'big json under the limit', data: JSON.stringify({ type: 'sync', id: 'big', conversation: 'dm:a:b', pad: Array.from({ length: 3000 }, (_, i) => ({ [`k${i}`]: i })) }).slice(0, 60_000).replace(/,?[^,]*$/, '') + '}', expect: 'reply' };
    case 7:
      return { kind: 'enormous numbers', data: `{"type":"sync","id":"num","conversation":"dm:a:b","after":1${'0'.repeat(400)},"limit":-1e999}`, expect: 'reply' };
    case 8:
      return { kind: 'empty frame', data: '', expect: 'reply' };
    case 9:
      return { kind: 'binary frame', data: Buffer.from(Array.from({ length: 1 + Math.floor(r() * 200) }, () => Math.floor(r() * 256))), binary: true, expect: 'reply' };
    case 10:
      return { kind: 'valid send', data: JSON.stringify({ type: 'send', id: `v${Math.floor(r() * 1e9)}`, to: 'fuzz-peer', body: str(1 + Math.floor(r() * 100)) }), expect: 'reply' };
    case 11:
      return { kind: 'fragmented frame', data: JSON.stringify({ type: 'ping', id: 'frag', pad: str(3000) }), fragmented: true, expect: 'reply' };
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
    connect = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, { RATE_LIMIT_PER_SECOND: '100000', RATE_LIMIT_BURST: '100000', MAX_VIOLATIONS: '100000' }, procs);
    await eventually('ready', async () => (await getJson(`${connect.admin}/readyz`)).status === 200, 10_000);
    const pid = connect.proc.child.pid!;
    const peer = await TestClient.connect(connect.url, { user: 'fuzz-peer' });
    const bystanderA = await TestClient.connect(connect.url, { user: 'bystander-a' });
    const bystanderB = await TestClient.connect(connect.url, { user: 'bystander-b' });

    let fuzzer = await TestClient.connect(connect.url, { user: 'fuzzer' });
    // Warm up, then take the baseline.
    for (let i = 0; i < 200; i++) await fuzzer.request({ type: 'ping', id: `w${i}` }, 'pong');
    global.gc?.();
    const rssBefore = rssKiB(pid);
    const counts = new Map<string, number>();
    const codes = new Set(['BAD_REQUEST', 'TOO_LARGE', 'RATE_LIMITED', 'FORBIDDEN', 'UNAVAILABLE', 'INTERNAL']);
    const types = new Set(['error', 'pong', 'accepted', 'messages', 'conversations']);
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
        else (ws as unknown as { _sender: { send(d: Buffer, o: object, cb?: () => void): void } })._sender.send(c.data, { binary: false, fin: true, mask: true, rsv1: false, opcode: 1, readOnly: false });
      } else ws.send(c.data);

      if (c.expect === 'reply') {
        const deadline = Date.now() + 5000;
        while (fuzzer.frames.filter((f) => f.type !== 'message').length === 0) {
          if (Date.now() > deadline) throw new Error(`no answer to ${c.kind} (frame ${i}, seed ${seed})`);
          await new Promise((res) => setTimeout(res, 1));
        }
        const idx = fuzzer.frames.findIndex((f) => f.type !== 'message');
        const reply = fuzzer.frames.splice(idx, 1)[0]!;
        assert.ok(types.has(reply.type), `${c.kind}: unexpected ${JSON.stringify(reply).slice(0, 200)}`);
        if (reply.type === 'error') assert.ok(codes.has(String(reply.code)) && typeof reply.message === 'string', `${c.kind}: ${JSON.stringify(reply)}`);
        if (c.kind === 'valid send') assert.equal(reply.type, 'accepted');
        if (c.kind === 'binary frame' || c.kind === 'not json' || c.kind === 'unknown type' || c.kind === 'empty frame') assert.equal(reply.code, 'BAD_REQUEST', c.kind);
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
    const flood = new WebSocket(`${connect.url}?user=pinger`, 'switchboard.v1');
    await new Promise((res) => flood.once('open', res));
    for (let i = 0; i < 5000; i++) flood.ping(Buffer.from(String(i)));
    await new Promise((res) => setTimeout(res, 500));
    flood.terminate();

    global.gc?.();
    await new Promise((res) => setTimeout(res, 1000));
    const rssAfter = rssKiB(pid);
    assert.equal(connect.proc.child.exitCode, null, 'the gateway is still running');
    await bystanderA.request({ type: 'send', id: 'final', to: 'bystander-b', body: 'after the storm' }, 'accepted');
    assert.equal((await bystanderB.next('message')).body, 'after the storm');
    assert.ok(peer.take('message').length > 0, 'valid sends among the garbage were delivered');
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
