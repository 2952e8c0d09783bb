/**
 * The load worker for the Socket.IO peer: the same commands and open-loop schedule as
 * load-worker.ts, over socket.io-client. Senders emit "send" with an acknowledgement; recipients
 * get "message".
 */
import { io, type Socket } from 'socket.io-client';
import { serveWorker } from './open-loop.js';

function open(url: string, user: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], auth: { user }, reconnection: false });
    s.once('ready', () => resolve(s));
    s.once('connect_error', reject);
  });
}

serveWorker(async (c) => {
  const pairs: Array<{ sender: Socket; recipient: Socket; to: string }> = [];
  for (const [a, b] of c.pairs) pairs.push({ sender: await open(c.url, a), recipient: await open(c.recipientUrl ?? c.url, b), to: b });
  let onBody: ((body: string) => void) | undefined;
  for (const p of pairs) p.recipient.on('message', (m: { body: string }) => onBody?.(m.body));
  return {
    pairs: pairs.length,
    send(i, id, body, done) {
      const p = pairs[i]!;
      p.sender.emit('send', { id, to: p.to, body }, (ack: { ok: boolean }) => done(ack.ok, ack.ok ? undefined : 'REJECTED'));
    },
    receive: (fn) => void (onBody = fn),
    close() {
      for (const p of pairs) {
        p.sender.disconnect();
        p.recipient.disconnect();
      }
    },
  };
});
