/**
 * The baseline for Node + ws: a bare WebSocket server (no auth, no protocol) that holds sockets and,
 * when told, writes the same frames to every client.
 */
import { WebSocketServer } from 'ws';

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
wss.on('listening', () => process.send!({ port: (wss.address() as { port: number }).port }));
wss.on('connection', (ws) => ws.on('message', () => undefined));
process.on('message', (m: { frames?: string[] }) => {
  if (!m.frames) return;
  for (const frame of m.frames) for (const ws of wss.clients) ws.send(frame);
});
