import { spawn } from 'node:child_process';
import WebSocket from 'ws';
for (const [cmd, env] of [[['start'], {}], [['run','start:connect'], {AUTH_MODE:'insecure-dev', MESSAGE_DISCOVERY:'127.0.0.1:1'}]]) {
 for (let i = 0; i < 4; i++) {
  const child = spawn('npm', cmd, { detached: true, env: { ...process.env, CONNECT_WS_PORT: '23105', CONNECT_ADMIN_PORT: '0', MESSAGE_GRPC_PORT: '0', MESSAGE_HTTP_PORT: '0', CONNECT_DRAIN_WINDOW: '300ms' , LOG_LEVEL: 'debug'}, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = ''; child.stdout.on('data', d => out += d); child.stderr.on('data', d => out += d);
  const exited = new Promise(r => child.on('exit', (code, sig) => r({ code, sig })));
  while (!out.includes('connect service started')) await new Promise(r => setTimeout(r, 100));
  const ws = new WebSocket('ws://127.0.0.1:23105/ws?user=u1', 'switchboard.v1');
  const closed = new Promise(r => ws.on('close', (c) => r(c)));
  await new Promise(r => ws.on('open', r));
  process.kill(-child.pid, 'SIGINT');
  console.log(cmd.join(' '), 'client close', await closed, 'exit', await exited, out.includes('second signal') ? 'SECOND SIGNAL' : '', (out.match(/relay window/g)||[]).length);
 }
}
