import type { Server } from 'node:net';
import type { AddressInfo } from 'node:net';

/** Starts `server` on host:port (0 = a free port) and resolves with the port it bound, or rejects (e.g. EADDRINUSE). */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
