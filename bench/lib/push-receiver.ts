/** Holds N WebSockets and reports when they have received the expected number of frames in total. */
import WebSocket from 'ws';
import { nowMs } from './stats.js';

let sockets: WebSocket[] = [];
let expected = Infinity;
let received = 0;
process.on('message', (m: { urls?: string[]; expect?: number; close?: boolean }) => {
  (async () => {
    if (m.urls) {
      sockets = await Promise.all(
        m.urls.map(
          (url) =>
            new Promise<WebSocket>((resolve, reject) => {
              const ws = new WebSocket(url, 'switchboard.v1', { perMessageDeflate: false });
              let first = true;
              ws.on('message', (data) => {
                // The first frame of a Switchboard socket is its welcome; a bare server sends none.
                if (first && data.toString().startsWith('{"type":"welcome"')) {
                  first = false;
                  return;
                }
                first = false;
                if (++received === expected) process.send!({ doneAt: nowMs() });
              });
              ws.once('open', () => resolve(ws));
              ws.once('error', reject);
            }),
        ),
      );
      process.send!({ ready: true });
    } else if (m.expect !== undefined) {
      received = 0;
      expected = m.expect;
      process.send!({ armed: true });
    } else if (m.close) {
      for (const s of sockets) s.terminate();
      process.exit(0);
    }
  })().catch((err: unknown) => process.send!({ error: err instanceof Error ? err.message : String(err) }));
});
