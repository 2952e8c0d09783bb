import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { FrameBatcher, MAX_BATCH_FRAMES, encodedBound } from '../../services/shared/frame-batcher.js';
import { loadSwitchboardProto, type MessageStreamResponse } from '../../services/shared/proto.js';

const { responseSerialize } = loadSwitchboardProto().grpc.switchboard.v1.MessageService.service.MessageStream;
/** This side's own send limit in the tests (above every budget they announce). */
const LIMIT = 4 * 1024 * 1024;
const wrap = (responses: MessageStreamResponse[]): MessageStreamResponse => ({ batch: { responses } });

/** A stream stand-in: what was written, and a way to let it take the writes (their callbacks). */
function sink() {
  const written: MessageStreamResponse[] = [];
  const callbacks: Array<() => void> = [];
  return {
    written,
    take: () => callbacks.splice(0).forEach((cb) => cb()),
    write(frame: MessageStreamResponse, done: () => void) {
      written.push(frame);
      callbacks.push(done);
    },
  };
}

const push = (i: number, body = `message ${i}`, recipients = ['u2']): MessageStreamResponse => ({
  push: {
    message: { msgId: `m-${i}`, conversation: 'dm:u1:u2', seq: i, fromUser: 'u1', toUser: 'u2', body, ts: 1_700_000_000_000 + i, clientId: `c-${i}` },
    recipients,
    excludeConnection: '',
  },
});
/** The frames a written frame carries, in order. */
const unbatched = (written: MessageStreamResponse[]) => written.flatMap((f) => (f.batch ? f.batch.responses! : [f]));

describe('FrameBatcher (MessageStream batches)', () => {
  it("bounds a frame's encoding from above, for any text", () => {
    const texts = ['', 'a', 'ascii only text', 'é'.repeat(50), '中文消息'.repeat(40), '😀'.repeat(30), 'x'.repeat(4096), 'mixé中😀'.repeat(100)];
    let i = 0;
    for (const body of texts) {
      for (const recipients of [[], ['u2'], Array.from({ length: 500 }, (_, k) => `user-${k}-${body.slice(0, 3)}`)]) {
        for (const frame of [
          push(++i, body, recipients),
          { sendResult: { requestId: 4_000_000_000, accepted: { msgId: body, conversation: `g:${body}`, ts: Date.now() } } },
          { heartbeat: { ts: Date.now() } },
        ] as MessageStreamResponse[]) {
          const real = responseSerialize(frame).length;
          assert.ok(encodedBound(frame) >= real, `bound ${encodedBound(frame)} < ${real} bytes`);
          const batch = wrap([frame, frame, frame]);
          assert.ok(encodedBound(frame) * 3 + 6 >= responseSerialize(batch).length, 'three frames in a batch');
        }
      }
    }
  });

  it('writes one frame per message until the other side reads batches', async () => {
    const s = sink();
    const b = new FrameBatcher(s, wrap, LIMIT);
    for (let i = 1; i <= 5; i++) b.write(push(i));
    assert.equal(s.written.length, 5, 'written at once, each alone');
    await nextTurn();
    assert.equal(s.written.length, 5);
    assert.ok(s.written.every((f) => f.push));
  });

  it('gathers the frames of one turn into one batch, in order, and a lone frame goes as itself', async () => {
    const s = sink();
    const b = new FrameBatcher(s, wrap, LIMIT);
    b.enable(64 * 1024);
    for (let i = 1; i <= 10; i++) b.write(push(i));
    assert.equal(s.written.length, 0, 'held until the turn ends');
    await nextTurn();
    assert.equal(s.written.length, 1);
    assert.deepEqual(
      unbatched(s.written).map((f) => f.push!.message!.seq),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    b.write(push(11));
    await nextTurn();
    assert.deepEqual(s.written[1], push(11), 'one frame is not wrapped');
  });

  it('keeps every batch within the byte budget and the frame cap; a frame over the budget goes alone, after the ones before it', async () => {
    const s = sink();
    const b = new FrameBatcher(s, wrap, LIMIT);
    const budget = 2000;
    b.enable(budget);
    const frames = Array.from({ length: 40 }, (_, i) => push(i + 1, 'é'.repeat(i * 7)));
    const big = push(41, 'x'.repeat(3000));
    for (const f of frames.slice(0, 30)) b.write(f);
    b.write(big);
    for (const f of frames.slice(30)) b.write(f);
    await nextTurn();
    assert.deepEqual(
      unbatched(s.written).map((f) => f.push!.message!.seq),
      Array.from({ length: 41 }, (_, i) => (i < 30 ? i + 1 : i === 30 ? 41 : i)),
    );
    for (const f of s.written) if (f.batch) assert.ok(responseSerialize(f).length <= budget, `${responseSerialize(f).length} bytes`);
    assert.ok(s.written.includes(big), 'the big frame alone');
    assert.ok(s.written.length < 30, `${s.written.length} messages for 41 frames`);

    const many = sink();
    const c = new FrameBatcher(many, wrap, 1024 * 1024 * 1024 * 2);
    c.enable(1024 * 1024 * 1024);
    for (let i = 0; i < MAX_BATCH_FRAMES * 2 + 1; i++) c.write({ presenceApplied: { ackId: i } });
    await nextTurn();
    assert.deepEqual(
      many.written.map((f) => (f.batch ? f.batch.responses!.length : 1)),
      [MAX_BATCH_FRAMES, MAX_BATCH_FRAMES, 1],
    );
  });

  it('stays under its own send limit whatever the other side announces', async () => {
    const s = sink();
    const b = new FrameBatcher(s, wrap, 3000);
    b.enable(0xffffffff);
    for (let i = 1; i <= 100; i++) b.write(push(i, 'y'.repeat(200)));
    await nextTurn();
    assert.ok(s.written.length > 1, 'more than one message');
    for (const f of s.written) assert.ok(responseSerialize(f).length <= 3000 - 1024, `${responseSerialize(f).length} bytes`);
    assert.deepEqual(
      unbatched(s.written).map((f) => f.push!.message!.seq),
      Array.from({ length: 100 }, (_, i) => i + 1),
    );
  });

  it('counts the frames the stream has not taken yet, and drops what is gathered when discarded', async () => {
    const s = sink();
    const b = new FrameBatcher(s, wrap, LIMIT);
    b.write(push(1));
    b.enable(64 * 1024);
    b.write(push(2));
    b.write(push(3));
    assert.equal(b.queued, 3, 'one in the stream, two gathered');
    await nextTurn();
    assert.equal(b.queued, 3, 'all three in the stream');
    s.take();
    assert.equal(b.queued, 0);
    b.write(push(4));
    b.discard();
    await nextTurn();
    assert.equal(b.queued, 0);
    assert.equal(s.written.length, 2, 'the discarded frame was never written');
  });
});
