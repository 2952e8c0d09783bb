/** Opens many idle WebSockets (one process, several loopback source addresses past ~25k) and keeps them open. */
import WebSocket from 'ws';

process.once('message', (m: { urls: string[] }) => {
  (async () => {
    const sockets: WebSocket[] = [];
    let open = 0;
    const batch = 200;
    for (let i = 0; i < m.urls.length; i += batch) {
      await Promise.all(
        m.urls.slice(i, i + batch).map(
          (url, j) =>
            new Promise<void>((resolve, reject) => {
              // Spread source addresses so one (address, port) pair never runs out of ephemeral ports. The
              // first 25,000 name none: binding a source address picks each socket's port by a search
              // over the ports already bound, which took 5–30 s for 5,000 sockets here against 1.5 s.
              const block = Math.floor((i + j) / 25_000);
              const ws = new WebSocket(url, 'switchboard.v1', { perMessageDeflate: false, ...(block > 0 ? { localAddress: `127.0.0.${1 + block}` } : {}) });
              ws.once('open', () => {
                open++;
                resolve();
              });
              ws.once('error', reject);
              ws.on('message', () => undefined);
              sockets.push(ws);
            }),
        ),
      );
      process.send!({ open });
    }
    process.send!({ done: true });
    setInterval(() => undefined, 1 << 30);
  })().catch((err: unknown) => process.send!({ error: err instanceof Error ? err.message : String(err) }));
});
