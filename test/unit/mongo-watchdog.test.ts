import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type { MongoClient } from 'mongodb';
import { MonitorWatchdog } from '../../services/message/adapters/mongo-monitor-watchdog.js';
import { silentLogger } from '../../services/shared/logger.js';

/** A client as the watchdog sees it: heartbeat events, its timeouts, close and connect. */
function fakeClient() {
  const calls: string[] = [];
  const client = Object.assign(new EventEmitter(), {
    options: { connectTimeoutMS: 5000, heartbeatFrequencyMS: 10_000 },
    close: async () => void calls.push('close'),
    connect: async () => void calls.push('connect'),
  });
  return { client, calls };
}

describe('MongoDB monitor watchdog', () => {
  it('reconnects the client when a heartbeat stays outstanding past connect timeout + heartbeat interval + 5 s, and only then', async () => {
    let clock = 0;
    const { client, calls } = fakeClient();
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
    client.emit('serverHeartbeatStarted');
    w.stop();
    clock = 200_000;
    await w.check();
    assert.deepEqual(calls, ['close', 'connect'], 'not after stop');
  });
});
