import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { MongoClient } from 'mongodb';
import { MonitorWatchdog } from '../../services/message/adapters/mongo-monitor-watchdog.js';
import { silentLogger } from '../../services/shared/logger.js';

/** A client as the watchdog sees it: heartbeat events, its timeouts, close and connect. */
function fakeClient() {
  const calls: string[] = [];
  let refuse = 0;
  const client = Object.assign(new EventEmitter(), {
    options: { connectTimeoutMS: 5000, heartbeatFrequencyMS: 10_000 },
    close: async () => void calls.push('close'),
    connect: async () => {
      calls.push('connect');
      if (refuse-- > 0) throw new Error('connect ECONNREFUSED');
    },
  });
  return { client, calls, refuseNext: (n: number) => (refuse = n) };
}

describe('MongoDB monitor watchdog', () => {
  it('reconnects the client when a heartbeat stays outstanding past connect timeout + heartbeat interval + 5 s, and only then; until it connects', async () => {
    let clock = 0;
    const { client, calls, refuseNext } = fakeClient();
    const w = new MonitorWatchdog(client as unknown as MongoClient, silentLogger(), () => clock);
    client.emit('serverHeartbeatStarted');
    clock = 20_000;
    await w.check();
    assert.deepEqual(calls, [], 'a heartbeat may take that long');
    client.emit('serverHeartbeatFailed');
    client.emit('serverHeartbeatStarted');
    clock = 40_000;
    await w.check();
    assert.deepEqual(calls, [], 'a heartbeat that failed is not hung: the next one started at 20 s');
    clock = 40_001;
    await w.check();
    assert.deepEqual(calls, ['close', 'connect']);
    assert.equal(w.restarts, 1);
    clock = 100_000;
    await w.check();
    assert.deepEqual(calls, ['close', 'connect'], 'nothing outstanding since');
    // Overdue while the store is away: closed, and connected again at the next checks until it connects.
    client.emit('serverHeartbeatStarted');
    refuseNext(2);
    clock = 200_000;
    await w.check();
    await w.check();
    assert.deepEqual(calls.slice(2), ['close', 'connect', 'connect'], 'a closed client is connected again, never left closed');
    await w.check();
    assert.deepEqual(calls.slice(2), ['close', 'connect', 'connect', 'connect']);
    assert.equal(w.restarts, 2);
    await w.check();
    assert.equal(calls.length, 6, 'connected: nothing more to do');
    client.emit('serverHeartbeatStarted');
    w.stop();
    clock = 900_000;
    await w.check();
    assert.equal(calls.length, 6, 'not after stop');
  });
});
