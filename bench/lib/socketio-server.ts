/**
 * The peer a Node user would pick instead: a Socket.IO server, several of which share rooms through
 * the Redis Streams adapter. A client authenticates with { user } and joins its own room (and
 * any room it asks to join); "send" is acknowledged once the message is handed to the adapter and
 * emitted to the recipient's room.
 */
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { createAdapter } from '@socket.io/redis-streams-adapter';

const redis = new Redis(process.env.REDIS_URL!);
const http = createServer();
const server = new Server(http, { adapter: createAdapter(redis, { streamName: process.env.STREAM ?? 'bench-socketio' }), transports: ['websocket'] });
server.on('connection', (socket) => {
  const claimed = (socket.handshake.auth as { user?: unknown }).user;
  const user = typeof claimed === 'string' ? claimed : '';
  void socket.join(user);
  // A room of many members (the group scenario): "send" with `to` = the room emits to all of them.
  socket.on('join', (room: string, ack: () => void) => {
    void socket.join(room);
    ack();
  });
  socket.on('send', (m: { id: string; to: string; body: string }, ack: (r: { ok: boolean }) => void) => {
    server.to(m.to).emit('message', { from: user, to: m.to, body: m.body, id: m.id, ts: Date.now() });
    ack({ ok: true });
  });
  socket.emit('ready');
});
http.listen(0, '127.0.0.1', () => process.send!({ port: (http.address() as { port: number }).port }));
