import assert from 'node:assert/strict';
import { createClient, ConnectError, Code, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { ServerApiService } from '../../services/shared/gen-es/switchboard/v1/server_api_pb.js';
import { TestClient, upgradeStatus } from '../support/ws-client.js';
import { eventually, freePort } from '../support/services.js';
import { killAll, metricValue, startConnectProcess, startMessageProcess, type MessageProcess, type ServiceProcess } from '../support/processes.js';
import { isolatedBackendSettings, sharedRealBackends } from '../support/real-backends.js';
import { grpcurl, invoke, run } from '../support/tools.js';
import { launchBrowser, login, newPerson, TEST_OUTPUT, waitForLine } from '../support/browser.js';

const FULL_KEY = 'full-key-0123456789abcdef0123456789abcdef';
const READER_KEY = 'reader-key-0123456789abcdef0123456789abcdef';
const KEYS = [`backend ${FULL_KEY}`, `# a read-only key for a reporting job`, `reporting ${READER_KEY} history,presence`].join('\n');
const SERVICE = 'switchboard.v1.ServerApiService';

/**
 * The server API as an application backend uses it: through grpcurl with reflection alone, through
 * plain HTTP/JSON with curl, and through a typed gRPC client; against a Message pod on real
 * backends with a gateway and WebSocket users, as in production.
 */
describe('the server API for application backends (gRPC and HTTP/JSON on one port, API keys)', function () {
  this.timeout(120_000);
  const procs: ServiceProcess[] = [];
  let settings: Record<string, string>;
  let message: MessageProcess;
  let gateway: string;
  let apiPort: number;
  let api: Client<typeof ServerApiService>;
  const clients: TestClient[] = [];

  const base = (): string => `127.0.0.1:${apiPort}`;
  const connect = async (user: string): Promise<TestClient> => {
    const c = await TestClient.connect(gateway, { user });
    clients.push(c);
    return c;
  };
  /** `curl` POSTing JSON to a method, as the Connect protocol's HTTP/JSON mapping has it. */
  const curl = async (method: string, body: object, key: string | null = FULL_KEY): Promise<{ status: number; body: Record<string, unknown> }> => {
    const r = await run(
      'curl',
      [
        '-s',
        '-X',
        'POST',
        '-H',
        'content-type: application/json',
        ...(key ? ['-H', `authorization: Bearer ${key}`] : []),
        '--data-binary',
        '@-',
        '-w',
        '\n%{http_code}',
        `http://${base()}/${SERVICE}/${method}`,
      ],
      JSON.stringify(body),
    );
    const lines = r.stdout.trimEnd().split('\n');
    const status = Number(lines.pop());
    return { status, body: JSON.parse(lines.join('\n') || '{}') as Record<string, unknown> };
  };
  const startPod = async (): Promise<MessageProcess> => {
    const pod = await startMessageProcess(settings, procs);
    assert.equal(pod.apiPort, apiPort);
    return pod;
  };

  before(async () => {
    const env = await sharedRealBackends();
    apiPort = await freePort();
    settings = isolatedBackendSettings(env, { SERVER_API_KEYS: KEYS, MESSAGE_API_PORT: String(apiPort), MESSAGE_GRPC_PORT: String(await freePort()) });
    message = await startPod();
    ({ url: gateway } = await startConnectProcess(`127.0.0.1:${message.grpcPort}`, { CONNECT_DEMO_PAGE: 'true' }, procs));
    await eventually(
      'the gateway ready',
      async () =>
        await TestClient.connect(gateway, { user: 'probe' })
          .then((c) => (c.close(), true))
          .catch(() => false),
      20_000,
      200,
    );
    api = createClient(
      ServerApiService,
      createGrpcTransport({
        baseUrl: `http://${base()}`,
        interceptors: [
          (next) => (req) => {
            req.header.set('authorization', `Bearer ${FULL_KEY}`);
            return next(req);
          },
        ],
      }),
    );
  });
  after(async () => {
    for (const c of clients) c.close();
    await killAll(procs);
  });

  it('grpcurl finds the API by reflection alone and publishes a notice from the system account that every connection of the user receives, once', async () => {
    const listed = await grpcurl(base(), [], ['list']);
    assert.deepEqual(listed.stdout.trim().split('\n').sort(), ['grpc.reflection.v1.ServerReflection', SERVICE], listed.stderr);
    const described = await grpcurl(base(), [], ['describe', 'switchboard.v1.HistoryResponse']);
    assert.match(described.stdout, /repeated \.switchboard\.v1\.ChatMessage messages = 1;/, described.stderr);

    const tab1 = await connect('alice');
    const tab2 = await connect('alice');
    const auth = ['-H', `authorization: Bearer ${FULL_KEY}`];
    const publish = { client_id: 'order-42-shipped', to_user: 'alice', body: 'your order shipped' };
    const [first] = (await invoke(base(), `${SERVICE}/Publish`, publish, auth)) as Array<{ msgId: string; conversation: string }>;
    assert.equal(first!.conversation, 'dm:alice:system');
    for (const tab of [tab1, tab2]) {
      const pushed = await tab.next('message', 10_000);
      assert.deepEqual([pushed.from, pushed.body, pushed.msgId], ['system', 'your order shipped', first!.msgId]);
    }
    const [again] = (await invoke(base(), `${SERVICE}/Publish`, publish, auth)) as Array<{ msgId: string }>;
    assert.equal(again!.msgId, first!.msgId, 'a repeat names the same message');
    await eventually('the notice stored', async () => (await api.history({ conversation: 'dm:alice:system' })).messages.length > 0, 10_000, 100);
    await new Promise((r) => setTimeout(r, 1000));
    const history = await api.history({ conversation: 'dm:alice:system' });
    assert.deepEqual(
      history.messages.map((m) => [m.seq, m.fromUser, m.body]),
      [[1n, 'system', 'your order shipped']],
      'stored once',
    );
  });

  it('plain HTTP/JSON with curl: a titled team group made by the system account, notices and texts in it, members added and removed, a new title, the history and a user’s conversations', async () => {
    const ann = await connect('ann');
    const created = await curl('CreateGroup', { clientId: 'team-7', members: ['ann', 'ben'], title: 'Team 7' });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    const group = String(created.body.conversation);
    assert.match(group, /^grp:/);
    const first = await ann.next('message', 10_000, (f) => f.kind === 'created');
    assert.deepEqual([first.conversation, first.body], [group, 'Team 7']);
    assert.deepEqual((await curl('ListMembers', { conversation: group })).body, { members: ['ann', 'ben'] }, 'the system account is not a member');

    assert.equal((await curl('Publish', { clientId: 'welcome', conversation: group, body: 'welcome to team 7' })).status, 200);
    assert.equal((await ann.next('message', 10_000, (f) => f.body === 'welcome to team 7')).from, 'system');
    assert.equal((await curl('Publish', { clientId: 'hi', fromUser: 'ann', conversation: group, body: 'hi all' })).status, 200);
    assert.equal((await curl('AddMembers', { clientId: 'add-cat', conversation: group, members: ['cat'] })).status, 200);
    assert.equal((await curl('RemoveMembers', { clientId: 'rm-ben', fromUser: 'ann', conversation: group, members: ['ben'] })).status, 200);
    assert.equal((await curl('SetGroupTitle', { clientId: 'rename', conversation: group, title: 'Team Seven' })).status, 200);
    assert.equal((await ann.next('message', 10_000, (f) => f.kind === 'titled')).body, 'Team Seven');
    const untitled = await curl('SetGroupTitle', { clientId: 'rename-2', conversation: group, title: ' ' });
    assert.deepEqual([untitled.status, untitled.body.code, untitled.body.message], [400, 'invalid_argument', 'title must not be empty']);
    await eventually(
      'the changes stored',
      async () => ((await curl('History', { conversation: group })).body.messages as unknown[] | undefined)?.length === 6,
      10_000,
      100,
    );
    const history = (await curl('History', { conversation: group })).body.messages as Array<{ seq: string; fromUser: string; kind?: string; body?: string }>;
    assert.deepEqual(
      history.map((m) => [m.seq, m.fromUser, m.kind ?? m.body]),
      [
        ['1', 'system', 'created'],
        ['2', 'system', 'welcome to team 7'],
        ['3', 'ann', 'hi all'],
        ['4', 'system', 'added'],
        ['5', 'ann', 'removed'],
        ['6', 'system', 'titled'],
      ],
    );
    assert.deepEqual((await curl('ListMembers', { conversation: group })).body, { members: ['ann', 'cat'] });
    const conversations = (await curl('ListConversations', { user: 'ann' })).body.items as Array<{ conversation: string; lastSeq: string; title?: string }>;
    assert.ok(
      conversations.some((c) => c.conversation === group && c.lastSeq === '6' && c.title === 'Team Seven'),
      JSON.stringify(conversations),
    );
    // Paged: after a seq, at most `limit`.
    const page = (await curl('History', { conversation: group, afterSeq: '2', limit: 2 })).body;
    assert.deepEqual([(page.messages as Array<{ seq: string }>).map((m) => m.seq), page.hasMore], [['3', '4'], true]);
  });

  it('presence counts each user’s connections across gateways; a disconnect closes them all with 4403 (or 4000 to reconnect) and the reason', async () => {
    const dan = [await connect('dan'), await connect('dan')];
    const eve = await connect('eve');
    const presence = await api.getPresence({ users: ['dan', 'eve', 'nobody'] });
    assert.deepEqual(
      presence.users.map((u) => [u.user, u.online, u.connections]),
      [
        ['dan', true, 2],
        ['eve', true, 1],
        ['nobody', false, 0],
      ],
    );
    const banned = await api.disconnect({ user: 'dan', reason: 'banned for spam' });
    assert.equal(banned.connections, 2);
    for (const c of dan) assert.deepEqual(await c.closed, { code: 4403, reason: 'banned for spam' });
    const moved = await curl('Disconnect', { user: 'eve', reconnect: true });
    assert.deepEqual(moved.body, { connections: 1 });
    assert.deepEqual(await eve.closed, { code: 4000, reason: 'disconnected by the application' });
    await eventually(
      'dan and eve offline',
      async () => (await api.getPresence({ users: ['dan', 'eve'] })).users.every((u) => !u.online && u.connections === 0),
      5000,
      100,
    );
  });

  it('refuses a missing or unknown key (UNAUTHENTICATED), a key without the scope (PERMISSION_DENIED), bad input, a non-member, and a client posing as the system account; every call counted', async () => {
    const noKey = await curl('History', { conversation: 'dm:alice:system' }, null);
    assert.deepEqual([noKey.status, noKey.body.code], [401, 'unauthenticated']);
    const wrongKey = await curl('History', { conversation: 'dm:alice:system' }, 'x'.repeat(40));
    assert.deepEqual([wrongKey.status, wrongKey.body.code], [401, 'unauthenticated']);
    const reader = await curl('Publish', { clientId: 'r1', toUser: 'alice', body: 'no' }, READER_KEY);
    assert.deepEqual([reader.status, reader.body.code, reader.body.message], [403, 'permission_denied', 'the key reporting lacks the scope publish']);
    assert.equal((await curl('History', { conversation: 'dm:alice:system' }, READER_KEY)).status, 200, 'within its scopes');
    const viaGrpc = await grpcurl(base(), ['-d', '{}'], [`${SERVICE}/GetPresence`]);
    assert.match(viaGrpc.stderr, /Code: Unauthenticated/);

    const refused = async (call: Promise<unknown>, code: Code, message: RegExp): Promise<void> => {
      await assert.rejects(call, (e: unknown) => e instanceof ConnectError && e.code === code && message.test(e.rawMessage));
    };
    await refused(api.publish({ clientId: 'b1', toUser: 'bad user', body: 'x' }), Code.InvalidArgument, /to must be a user id/);
    await refused(api.publish({ clientId: 'b2', toUser: 'alice', body: '' }), Code.InvalidArgument, /body must be a non-empty string/);
    await refused(api.publish({ clientId: 'b3', toUser: 'alice', conversation: 'grp:x', body: 'x' }), Code.InvalidArgument, /not both/);
    await refused(api.publish({ clientId: '', toUser: 'alice', body: 'x' }), Code.InvalidArgument, /id must be 1-64/);
    await refused(api.getPresence({ users: [] }), Code.InvalidArgument, /1-1000 users/);
    await refused(api.disconnect({ user: 'dan', reason: 'x'.repeat(101) }), Code.InvalidArgument, /at most 100/);
    await refused(api.history({ conversation: 'dm:alice:system', limit: 100_000 }), Code.InvalidArgument, /limit must be/);
    await refused(api.listMembers({ conversation: 'grp:nosuchgroup' }), Code.NotFound, /no group/);
    const notMember = await curl('Publish', { clientId: 'nm', fromUser: 'mallory', conversation: 'grp:nosuchgroup', body: 'x' });
    assert.deepEqual([notMember.status, notMember.body.code], [403, 'permission_denied']);

    // Clients cannot speak as the system account, nor write to it.
    assert.equal((await upgradeStatus(`${gateway}?user=system`)).status, 401);
    const frank = await connect('frank');
    const reply = await frank.exchange({ type: 'send', id: 'to-sys', to: 'system', body: 'hello?' }, 'error');
    assert.equal(reply.code, 'FORBIDDEN');

    assert.ok((await metricValue(message.admin, 'switchboard_server_api_calls_total', 'method="Publish",code="PermissionDenied"')) >= 2);
    assert.ok((await metricValue(message.admin, 'switchboard_server_api_calls_total', 'method="History",code="Unauthenticated"')) >= 2);
    assert.ok((await metricValue(message.admin, 'switchboard_server_api_calls_total', 'method="GetPresence",code="OK"')) >= 1);
    assert.ok(
      message.proc.lines.some((l) => l.msg === 'server API call refused' && l.key === 'reporting' && l.code === 'PermissionDenied'),
      'the refusal is logged with the key’s name',
    );
    assert.ok(!message.proc.text.includes(FULL_KEY) && !message.proc.text.includes(READER_KEY), 'no key is ever logged');
  });

  it('an application as the docs describe it: a system notice two browser tabs show, its history read back, who is online, and one of the two disconnected', async () => {
    const group = (await api.createGroup({ clientId: 'ops-room', members: ['pia', 'quinn'] })).conversation;
    const browser = await launchBrowser();
    try {
      const page = new URL(gateway.replace(/^ws/, 'http')).origin + '/';
      const tabs = [];
      for (const user of ['pia', 'quinn']) {
        const tab = await newPerson(browser);
        await tab.goto(page);
        await login(tab, { user }, group);
        tabs.push(tab);
      }
      const [pia, quinn] = tabs as [(typeof tabs)[0], (typeof tabs)[0]];
      await api.publish({ clientId: 'maintenance-1', conversation: group, body: 'maintenance at 22:00' });
      for (const tab of [pia, quinn]) await waitForLine(tab, 'maintenance at 22:00');
      await eventually(
        'the notice in the history',
        async () => (await api.history({ conversation: group })).messages.some((m) => m.body === 'maintenance at 22:00'),
        10_000,
        100,
      );
      assert.deepEqual(
        (await api.history({ conversation: group })).messages.map((m) => [m.fromUser, m.kind || m.body]),
        [
          ['system', 'created'],
          ['system', 'maintenance at 22:00'],
        ],
      );
      assert.deepEqual(
        (await api.getPresence({ users: ['pia', 'quinn'] })).users.map((u) => [u.user, u.online, u.connections]),
        [
          ['pia', true, 1],
          ['quinn', true, 1],
        ],
      );
      assert.equal((await api.disconnect({ user: 'quinn', reason: 'account suspended' })).connections, 1);
      await quinn.waitForSelector('#status[data-state="refused"]');
      assert.match(
        await quinn.$eval('#messages li.note:last-child', (e) => e.textContent ?? ''),
        /disconnected by the server \(4403 account suspended\); not reconnecting/,
      );
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal(await quinn.$eval('#status', (e) => e.getAttribute('data-state')), 'refused', 'the tab does not reconnect by itself');
      assert.equal(await pia.$eval('#status', (e) => e.getAttribute('data-state')), 'connected', 'the other tab carries on');
      assert.deepEqual(
        (await api.getPresence({ users: ['pia', 'quinn'] })).users.map((u) => u.online),
        [true, false],
      );
      await quinn.screenshot({ path: `${TEST_OUTPUT}/server-api-disconnected.png` });
    } finally {
      await browser.close();
    }
  });

  it('a publish during a Message restart is neither lost nor doubled: the caller resends with the same id until it is accepted', async () => {
    const reader = await connect('grace');
    const bodies: string[] = [];
    let resends = 0;
    let restarted = false;
    const restart = (async () => {
      await new Promise((r) => setTimeout(r, 1500));
      message.proc.kill('SIGKILL');
      await message.proc.exited;
      message = await startPod();
      restarted = true;
    })();
    for (let i = 0; !restarted || i < 60; i++) {
      const body = `notice ${i}`;
      for (;;) {
        try {
          await api.publish({ clientId: `restart-${i}`, toUser: 'grace', body }, { timeoutMs: 5000 });
          break;
        } catch (err: unknown) {
          // The pod is gone (the connection reset or refused) or not serving yet: the same id
          // again, as the API's contract says. A refusal of the publish itself would be a fault.
          assert.ok(
            err instanceof ConnectError && ![Code.InvalidArgument, Code.PermissionDenied, Code.Unauthenticated, Code.NotFound].includes(err.code),
            String(err),
          );
          resends++;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      bodies.push(body);
      await new Promise((r) => setTimeout(r, 50));
    }
    await restart;
    assert.ok(resends >= 1, 'some publishes met the restart and were sent again');
    await eventually(
      'every publish stored',
      async () => (await api.history({ conversation: 'dm:grace:system', limit: 500 })).messages.length >= bodies.length,
      30_000,
      250,
    );
    const stored = (await api.history({ conversation: 'dm:grace:system', limit: 500 })).messages;
    assert.deepEqual(
      stored.map((m) => m.body),
      bodies,
      'each publish stored once, in order',
    );
    assert.deepEqual(
      stored.map((m) => Number(m.seq)),
      bodies.map((_, i) => i + 1),
      'gap-free seqs',
    );
    reader.close();
  });
});
