import assert from 'node:assert/strict';
import { EndpointStream, type StreamState } from '../../services/connect/upstream/endpoint-stream.js';
import { silentLogger } from '../../services/shared/logger.js';
import { startFakeMessage, type FakeMessage } from '../support/fake-message.js';
import { eventually, freePort } from '../support/services.js';

/** The stream's state machine against a stand-in pod: the states it goes through, and what each leaves behind. */
describe('EndpointStream (the state machine of one stream to a Message pod)', function () {
  this.timeout(20_000);
  let fake: FakeMessage | undefined;
  afterEach(async () => {
    await fake?.stop();
    fake = undefined;
  });

  const open = (endpoint: string) => {
    const seen: string[] = [];
    const delays: number[] = [];
    const note = (what: string) => seen.push(`${what}:${stream.state}`);
    const stream: EndpointStream = new EndpointStream({
      endpoint,
      instance: 'gw-state',
      onlineUsers: () => ['u1'],
      backoff: { initialMs: 50, multiplier: 2, jitter: 0, maxMs: 200 },
      resetAfterMs: 60_000,
      connectTimeoutMs: 2000,
      keepaliveMs: 10_000,
      keepaliveTimeoutMs: 5000,
      maxMessageBytes: 4 * 1024 * 1024,
      logger: silentLogger(),
      random: () => 0.5,
      events: {
        onAttempt: (r) => note(`attempt-${r}`),
        onUp: (_s, reconnect) => note(reconnect ? 'up-again' : 'up'),
        onDown: (_s, wasUp) => note(wasUp ? 'down' : 'failed'),
        onBackoff: (ms) => delays.push(ms),
        onPush: () => undefined,
        onRead: () => undefined,
        onTyping: () => undefined,
        onPresenceChange: () => undefined,
        onSessions: (users) => users.map(() => 0),
      },
    });
    return { stream, seen, delays };
  };

  it('goes idle → connecting → up; lost → backoff → connecting → up again; close → closed, and stays there', async () => {
    fake = await startFakeMessage({ batchMaxBytes: 64 * 1024 });
    const { stream, seen } = open(`127.0.0.1:${fake.port}`);
    const states: StreamState[] = [stream.state];
    stream.start();
    states.push(stream.state);
    await eventually('up', () => stream.state === 'up', 5000, 10);
    assert.ok(stream.upClient, 'an up stream lends its client to unary calls');
    stream.start(); // started already: nothing happens
    fake.drop();
    await eventually('in backoff', () => stream.state === 'backoff', 5000, 5);
    assert.equal(stream.upClient, undefined);
    assert.equal(stream.send({}, 1000), undefined, 'no send on a stream that is not up');
    await eventually('up again', () => seen.includes('up-again:up'), 5000, 10);
    stream.close();
    stream.close();
    states.push(stream.state);
    assert.deepEqual(states, ['idle', 'connecting', 'closed']);
    assert.deepEqual(seen, ['attempt-success:up', 'up:up', 'down:backoff', 'attempt-success:up', 'up-again:up', 'down:closed']);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(stream.state, 'closed', 'no timer of an earlier state brings it back');
  });

  it('retries a pod that is not there with growing delays, and a close in backoff cancels the retry', async () => {
    const { stream, seen, delays } = open(`127.0.0.1:${await freePort()}`);
    stream.start();
    await eventually('three failed attempts', () => delays.length >= 3, 5000, 5);
    assert.deepEqual(delays.slice(0, 3), [50, 100, 200]);
    assert.ok(
      seen.slice(0, 4).every((s) => s === 'attempt-failure:backoff' || s === 'failed:backoff'),
      seen.join(', '),
    );
    await eventually('in backoff', () => stream.state === 'backoff', 5000, 1);
    const attempts = delays.length;
    stream.close();
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(stream.state, 'closed');
    assert.equal(delays.length, attempts, 'no attempt after the close');
    assert.ok(!seen.includes('down:closed'), 'a stream never up reports no loss when closed');
  });
});
