import assert from 'node:assert/strict';
import { PodLifecycle } from '../../services/message/lifecycle.js';

describe("PodLifecycle (a Message pod's phases)", () => {
  const setup = () => {
    const health: boolean[] = [];
    return { life: new PodLifecycle((serving) => health.push(serving)), health };
  };

  it('starting → serving → draining → stopping → stopped: calls, streams and health follow each phase', async () => {
    const { life, health } = setup();
    assert.equal(life.refusal, 'backends are not connected yet');
    let served: { refusal: string | undefined } | undefined;
    void life.streamsServed().then((refusal) => (served = { refusal }));
    await Promise.resolve();
    assert.equal(served, undefined, 'a stream that comes while starting is parked');
    assert.equal(life.transition(['starting'], 'serving'), true);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(served, { refusal: undefined }, 'and served once the pod serves');
    assert.equal(life.refusal, undefined);
    assert.equal(life.stopRequested, false);
    assert.equal(life.transition(['serving'], 'draining'), true);
    assert.equal(life.refusal, undefined, 'calls are still served while draining');
    assert.equal(life.stopRequested, true);
    assert.equal(await life.streamsServed(), 'message pod is draining', 'no new stream while draining');
    assert.equal(life.transition(['draining'], 'stopping'), true);
    assert.equal(life.refusal, 'message pod is shutting down');
    assert.equal(life.transition(['stopping'], 'stopped'), true);
    assert.deepEqual(health, [true, false], 'health: SERVING on serving, NOT_SERVING once, on draining');
  });

  it('a stop while starting goes to stopping, and the backends that connect after it do not make it serve', async () => {
    const { life, health } = setup();
    const parked = life.streamsServed();
    assert.equal(life.transition(['serving'], 'draining'), false, 'not serving: nothing to drain');
    assert.equal(life.transition(['starting'], 'stopping'), true);
    assert.equal(await parked, 'message pod is draining', 'the parked stream is refused');
    assert.equal(life.transition(['starting'], 'serving'), false);
    assert.equal(life.current, 'stopping');
    assert.equal(life.refusal, 'message pod is shutting down');
    assert.deepEqual(health, [false]);
  });
});
