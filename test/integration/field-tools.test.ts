import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TESTENV, tool } from '../env/servers.js';
import { grpcurl, invoke, run } from '../support/tools.js';
import { eventually, getJson, startConnect, startMessage, type RunningConnect, type RunningMessage } from '../support/services.js';

/**
 * The product as the field's own tools see it: grpcurl reads the Message API through reflection
 * alone (the descriptors it serves must be valid for protoc's readers) and calls every method;
 * promtool finds nothing to warn about in either service's /metrics.
 */
describe('third-party tools: grpcurl and promtool against the running services', function () {
  this.timeout(60_000);
  let message: RunningMessage;
  let connect: RunningConnect;
  before(async () => {
    message = await startMessage();
    connect = await startConnect(message.target);
  });
  after(async () => {
    await connect?.stop();
    await message?.stop();
  });

  it('grpcurl lists MessageService and Health', async () => {
    const r = await grpcurl(message.target, [], ['list']);
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').sort(), ['grpc.health.v1.Health', 'switchboard.v1.MessageService']);
  });

  it('grpcurl describes every service and message, reserved fields as declared', async () => {
    for (const symbol of ['switchboard.v1.MessageService', 'grpc.health.v1.Health', 'switchboard.v1.SendResponse', 'switchboard.v1.MessageStreamRequest']) {
      const r = await grpcurl(message.target, [], ['describe', symbol]);
      assert.equal(r.status, 0, `describe ${symbol}: ${r.stderr}`);
    }
    const sendResponse = (await grpcurl(message.target, [], ['describe', 'switchboard.v1.SendResponse'])).stdout;
    assert.match(sendResponse, /reserved 4;/);
    assert.match(sendResponse, /reserved "duplicate";/);
    const methods = (await grpcurl(message.target, [], ['describe', 'switchboard.v1.MessageService'])).stdout;
    for (const m of ['Send', 'Sync', 'Conversations', 'Members', 'MessageStream']) assert.match(methods, new RegExp(`rpc ${m} \\(`), m);
  });

  it('grpcurl calls every method through reflection alone', async () => {
    const target = message.target;
    assert.deepEqual(await invoke(target, 'grpc.health.v1.Health/Check', { service: 'switchboard.v1.MessageService' }), [{ status: 'SERVING' }]);
    const [sent] = (await invoke(target, 'switchboard.v1.MessageService/Send', {
      fromUser: 'tool-a',
      clientId: 't1',
      toUser: 'tool-b',
      body: 'from grpcurl',
    })) as Array<{ msgId: string; conversation: string }>;
    assert.equal(sent!.conversation, 'dm:tool-a:tool-b');
    assert.match(sent!.msgId, /^[A-Za-z0-9_-]{24}$/);
    const [group] = (await invoke(target, 'switchboard.v1.MessageService/Send', {
      fromUser: 'tool-a',
      clientId: 'g1',
      kind: 'created',
      members: ['tool-b'],
    })) as Array<{ conversation: string }>;
    assert.match(group!.conversation, /^grp:/);
    // The embedded backends store at once; the reads see what the sends wrote.
    await eventually(
      'both messages stored',
      async () => {
        const [synced] = (await invoke(target, 'switchboard.v1.MessageService/Sync', {
          user: 'tool-a',
          conversation: 'dm:tool-a:tool-b',
          afterSeq: 0,
          limit: 10,
        })) as Array<{ messages?: Array<{ body: string; seq: number }> }>;
        const [members] = (await invoke(target, 'switchboard.v1.MessageService/Members', { user: 'tool-a', conversation: group!.conversation }).catch(() => [
          {},
        ])) as Array<{ members?: string[] }>;
        return synced!.messages?.[0]?.body === 'from grpcurl' && members!.members?.join() === 'tool-a,tool-b';
      },
      10_000,
      100,
    );
    const [conversations] = (await invoke(target, 'switchboard.v1.MessageService/Conversations', { user: 'tool-a' })) as Array<{
      items: Array<{ conversation: string }>;
    }>;
    assert.deepEqual(conversations!.items.map((i) => i.conversation).sort(), [group!.conversation, 'dm:tool-a:tool-b'].sort());
    // The gateways' stream: subscribe, then the end of input ends it.
    const replies = (await invoke(target, 'switchboard.v1.MessageService/MessageStream', {
      subscribe: { connectServiceId: 'grpcurl', onlineUsers: ['tool-b'] },
    })) as Array<{ subscribed?: { messageServiceId: string } }>;
    assert.ok(
      replies.some((r) => r.subscribed?.messageServiceId === message.instance),
      JSON.stringify(replies),
    );
  });

  it('promtool check metrics finds nothing to report on either service', async () => {
    mkdirSync(TESTENV, { recursive: true });
    for (const [name, url] of [
      ['message', `http://127.0.0.1:${message.httpPort}/metrics`],
      ['connect', `${connect.admin}/metrics`],
    ] as const) {
      const text = (await getJson(url)).text;
      const file = join(TESTENV, `metrics-${name}.txt`);
      writeFileSync(file, text);
      const r = await run(tool('promtool'), ['check', 'metrics'], text);
      assert.equal(`${r.stdout}${r.stderr}`.trim(), '', `promtool check metrics on ${name} (${file})`);
      assert.equal(r.status, 0);
    }
  });
});
