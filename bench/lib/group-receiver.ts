/**
 * Holds the online members of a group (Switchboard WebSockets, or Socket.IO sockets joined to a
 * room) and records, per message, how many members got it and when the last one did.
 */
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { nowMs } from './stats.js';

export type GroupReceiverCommand =
  | { cmd: 'connect'; protocol: 'switchboard' | 'socket.io'; url: string; users: string[]; room?: string }
  | { cmd: 'arm'; tag: string }
  | { cmd: 'collect' }
  | { cmd: 'close' };

export type GroupReceiverEvent =
  | { ev: 'ready' }
  | { ev: 'armed' }
  | { ev: 'collected'; perMessage: Array<{ count: number; lastMs: number }>; deliveries: number }
  | { ev: 'error'; message: string };

const report = (e: GroupReceiverEvent): void => void process.send!(e);

let closeAll: () => void = () => undefined;
let tag = '';
/** Per message index of the armed run: members that got it, and the latest arrival (ms after its intended send time). */
let got = new Map<number, { count: number; lastMs: number }>();
let deliveries = 0;

/** A body is `<tag>|<index>|<intended send time>`. */
function onBody(body: string): void {
  const [t, k, intended] = body.split('|');
  if (t !== tag) return;
  deliveries++;
  const latency = nowMs() - Number(intended);
  const index = Number(k);
  const g = got.get(index);
  if (g) {
    g.count++;
    g.lastMs = Math.max(g.lastMs, latency);
  } else got.set(index, { count: 1, lastMs: latency });
}

async function connectSwitchboard(url: string, users: string[]): Promise<void> {
  const sockets: WebSocket[] = [];
  for (let i = 0; i < users.length; i += 100) {
    sockets.push(
      ...(await Promise.all(
        users.slice(i, i + 100).map(
          (user) =>
            new Promise<WebSocket>((resolve, reject) => {
              const ws = new WebSocket(`${url}?user=${encodeURIComponent(user)}`, 'switchboard.v1', { perMessageDeflate: false });
              ws.on('message', (data) => {
                const f = JSON.parse(data.toString()) as { type: string; body?: string };
                if (f.type === 'welcome') resolve(ws);
                else if (f.type === 'message' && f.body) onBody(f.body);
              });
              ws.once('error', reject);
              ws.once('unexpected-response', (_q, res) => reject(new Error(`HTTP ${res.statusCode}`)));
            }),
        ),
      )),
    );
  }
  closeAll = () => sockets.forEach((s) => s.terminate());
}

async function connectSocketIo(url: string, users: string[], room: string): Promise<void> {
  const sockets: Socket[] = [];
  for (let i = 0; i < users.length; i += 100) {
    sockets.push(
      ...(await Promise.all(
        users.slice(i, i + 100).map(
          (user) =>
            new Promise<Socket>((resolve, reject) => {
              const s = io(url, { transports: ['websocket'], auth: { user }, reconnection: false });
              s.on('message', (m: { body: string }) => onBody(m.body));
              s.once('ready', () => s.emit('join', room, () => resolve(s)));
              s.once('connect_error', reject);
            }),
        ),
      )),
    );
  }
  closeAll = () => sockets.forEach((s) => s.disconnect());
}

process.on('message', (c: GroupReceiverCommand) => {
  (async () => {
    if (c.cmd === 'connect') {
      if (c.protocol === 'switchboard') await connectSwitchboard(c.url, c.users);
      else await connectSocketIo(c.url, c.users, c.room!);
      report({ ev: 'ready' });
    } else if (c.cmd === 'arm') {
      tag = c.tag;
      got = new Map();
      deliveries = 0;
      report({ ev: 'armed' });
    } else if (c.cmd === 'collect') {
      const perMessage = [...got.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
      report({ ev: 'collected', perMessage, deliveries });
    } else {
      closeAll();
      process.exit(0);
    }
  })().catch((err: unknown) => report({ ev: 'error', message: err instanceof Error ? err.message : String(err) }));
});
