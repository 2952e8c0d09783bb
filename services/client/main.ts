/**
 * The Switchboard test client.
 *   npm run client -- --user 1001 --target 1002            interactive: type lines to send
 *   npm run client -- --user 1001 --target 1002 --send hi  send once, print `accepted`, exit
 *   npm run client -- --user 1002 --wait 3                 print the next 3 `message` frames, exit
 * Options: --url (default ws://localhost:21005/ws), --token JWT (instead of ?user=), --jwt-secret S
 * (mints a 10-minute HS256 token for --user with the gateway's secret), --id for --send.
 */
import { parseArgs } from 'node:util';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { SignJWT } from 'jose';

const SUBPROTOCOL = 'switchboard.v1';

interface Frame {
  type: string;
  [key: string]: unknown;
}

function usage(message: string): never {
  process.stderr.write(
    `${message}\nusage: npm run client -- --user ID [--target ID] [--send TEXT [--id ID]] [--wait N] [--url URL] [--token JWT | --jwt-secret SECRET] [--timeout S]\n`,
  );
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    user: { type: 'string' },
    target: { type: 'string' },
    url: { type: 'string', default: 'ws://localhost:21005/ws' },
    token: { type: 'string' },
    'jwt-secret': { type: 'string' },
    send: { type: 'string' },
    id: { type: 'string' },
    wait: { type: 'string' },
    timeout: { type: 'string', default: '30' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});
if (values.help) usage('Switchboard test client.');
if (!values.user && !values.token) usage('--user or --token is required');
if (values.send !== undefined && !values.target) usage('--send needs --target');
const waitFor = values.wait === undefined ? 0 : Number(values.wait);
if (!Number.isSafeInteger(waitFor) || waitFor < 0) usage('--wait takes a whole number');
const oneShot = values.send !== undefined || values.wait !== undefined;
const interactive = !oneShot;
if (interactive && !values.target) usage('interactive mode needs --target');

if (values['jwt-secret'] !== undefined && !values.user) usage('--jwt-secret needs --user (the token subject)');
const token =
  values.token ??
  (values['jwt-secret'] !== undefined
    ? await new SignJWT({ sub: values.user! }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('10m').sign(new TextEncoder().encode(values['jwt-secret']))
    : undefined);
const url = new URL(values.url!);
if (values.user && !token) url.searchParams.set('user', values.user);
const ws = new WebSocket(url, SUBPROTOCOL, token ? { headers: { authorization: `Bearer ${token}` } } : {});

let pendingSend = values.send !== undefined;
let received = 0;
const seen = new Set<string>();
const lastSeq = new Map<string, number>();
const send = (frame: Frame): void => ws.send(JSON.stringify(frame));
const out = (frame: unknown): void => void process.stdout.write(`${JSON.stringify(frame)}\n`);
const finishIfDone = (): void => {
  if (!pendingSend && received >= waitFor) ws.close(1000, 'done');
};

if (oneShot) {
  const seconds = Number(values.timeout);
  setTimeout(() => {
    process.stderr.write(`timed out after ${seconds}s (${received}/${waitFor} messages)\n`);
    process.exit(1);
  }, seconds * 1000).unref();
}

ws.on('unexpected-response', (_req, res) => {
  let body = '';
  res.on('data', (c: Buffer) => (body += c.toString()));
  res.on('end', () => {
    process.stderr.write(`connection refused: HTTP ${res.statusCode} ${body}\n`);
    process.exit(1);
  });
});
ws.on('error', (err) => {
  process.stderr.write(`connection error: ${err.message}\n`);
  process.exit(1);
});
ws.on('close', (code, reason) => {
  if (interactive || code !== 1000) process.stderr.write(`closed: ${code} ${reason.toString()}\n`);
  process.exit(code === 1000 ? 0 : 1);
});

function show(m: Frame): void {
  const msgId = String(m.msgId);
  if (seen.has(msgId)) return; // a push may repeat after faults: dedupe by msgId
  seen.add(msgId);
  const conversation = String(m.conversation);
  lastSeq.set(conversation, Math.max(lastSeq.get(conversation) ?? 0, Number(m.seq)));
  process.stdout.write(`[${conversation} #${String(m.seq)}] ${String(m.from)}: ${String(m.body)}\n`);
}

ws.on('message', (data) => {
  const frame = JSON.parse(data.toString()) as Frame;
  switch (frame.type) {
    case 'welcome':
      if (interactive) {
        process.stdout.write(`connected as ${String(frame.user)} (${String(frame.connection)} on ${String(frame.instance)}); type a line to send to ${values.target}, /quit to leave\n`);
        send({ type: 'conversations', id: 'catch-up' });
      }
      if (values.send !== undefined) send({ type: 'send', id: values.id ?? randomUUID(), to: values.target!, body: values.send });
      else finishIfDone();
      break;
    case 'accepted':
      if (oneShot) out(frame);
      pendingSend = false;
      if (oneShot) finishIfDone();
      break;
    case 'message':
      if (oneShot) {
        if (received < waitFor) {
          received++;
          out(frame);
        }
        finishIfDone();
      } else show(frame);
      break;
    case 'conversations':
      for (const item of frame.items as Array<{ conversation: string; lastSeq: number }>) {
        const have = lastSeq.get(item.conversation) ?? 0;
        if (item.lastSeq > have) send({ type: 'sync', id: `sync-${randomUUID()}`, conversation: item.conversation, after: have, limit: 100 });
      }
      break;
    case 'messages':
      for (const m of frame.messages as Frame[]) show(m);
      if (frame.hasMore) send({ type: 'conversations', id: 'catch-up' });
      break;
    case 'resync':
      if (interactive) send({ type: 'conversations', id: 'catch-up' });
      break;
    case 'error':
      process.stderr.write(`error ${String(frame.code)}${frame.id ? ` (${String(frame.id)})` : ''}: ${String(frame.message)}\n`);
      if (oneShot && frame.id === values.id) process.exit(1);
      if (oneShot && pendingSend) process.exit(1);
      break;
    default:
      break;
  }
});

if (interactive) {
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const text = line.trim();
    if (text === '') return;
    if (text === '/quit') ws.close(1000, 'bye');
    else if (ws.readyState === WebSocket.OPEN) send({ type: 'send', id: randomUUID(), to: values.target!, body: text });
  });
  rl.on('close', () => ws.close(1000, 'bye'));
}
