import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

const SERVER = fileURLToPath(new URL('./socketio-server.ts', import.meta.url));

/** The peer: two Socket.IO server processes joined by the Redis Streams adapter. */
export interface SocketIoPeer {
  /** Where senders connect (server 1) and recipients connect (server 2). */
  urls: [string, string];
  pids: number[];
  stop(): void;
}

/** `nodeArgs`: Node flags for both server processes (tuning experiments; none by default). */
export async function startSocketIoPeer(redisUrl: string, nodeArgs: readonly string[] = []): Promise<SocketIoPeer> {
  const stream = `bench-socketio-${randomBytes(3).toString('hex')}`;
  const children: ChildProcess[] = [];
  const ports: number[] = [];
  for (let i = 0; i < 2; i++) {
    const c = fork(SERVER, [], { execArgv: [...nodeArgs, '--import', 'tsx'], env: { ...process.env, REDIS_URL: redisUrl, STREAM: stream } });
    children.push(c);
    ports.push(await new Promise<number>((resolve) => c.once('message', (m: { port: number }) => resolve(m.port))));
  }
  return {
    urls: [`http://127.0.0.1:${ports[0]}`, `http://127.0.0.1:${ports[1]}`],
    pids: children.map((c) => c.pid!),
    stop: () => children.forEach((c) => c.kill()),
  };
}
