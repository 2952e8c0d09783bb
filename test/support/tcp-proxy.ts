import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy on loopback in front of a server (the store), to make its faults the way they
 * happen: every reply delayed, the server unreachable, or a connection cut after the server got
 * a command and before its reply came back (the command applied, its reply lost).
 */
export class TcpProxy {
  private readonly server: Server;
  private readonly pairs = new Set<{ client: Socket; upstream: Socket }>();
  /** Added to every reply from the server, ms (see `delayOnly`). */
  delayMs = 0;
  /** When set, only replies to commands whose bytes contain this are delayed (a slow write, reads as fast as ever). */
  delayOnly: Buffer | undefined;
  /** Refuse new connections and cut the open ones (the server "down"). */
  private down = false;
  /** Cuts left to make: a connection whose client sent a command matching `cutMatch` is cut when that command's reply arrives. */
  private cutsLeft = 0;
  private cutMatch: Buffer | undefined;
  /** Replies dropped so far by `cutAfterApply`. */
  cuts = 0;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {
    this.server = createServer((client) => this.accept(client));
  }

  /** Listens on a free loopback port. */
  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }

  async stop(): Promise<void> {
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The server unreachable (true) or back (false): open connections are cut, new ones refused. */
  setDown(down: boolean): void {
    this.down = down;
    if (down) this.cutAll();
  }

  /**
   * The next `count` commands whose bytes contain `match` reach the server, which applies them;
   * the connection is then cut when the reply comes back, so the client never sees it.
   */
  cutAfterApply(match: Buffer, count: number): void {
    this.cutMatch = match;
    this.cutsLeft = count;
  }

  private cutAll(): void {
    for (const p of this.pairs) {
      p.client.destroy();
      p.upstream.destroy();
    }
    this.pairs.clear();
  }

  private accept(client: Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const upstream = createConnection({ host: this.targetHost, port: this.targetPort });
    const pair = { client, upstream };
    this.pairs.add(pair);
    let cutOnReply = false;
    let delayReply = false;
    const close = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    client.on('data', (chunk: Buffer) => {
      if (this.cutsLeft > 0 && this.cutMatch && chunk.includes(this.cutMatch)) {
        this.cutsLeft--;
        cutOnReply = true;
      }
      delayReply = this.delayMs > 0 && (!this.delayOnly || chunk.includes(this.delayOnly));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (cutOnReply) {
        this.cuts++;
        close();
        return;
      }
      if (!delayReply) client.write(chunk);
      else {
        // Paused meanwhile, so that replies keep their order.
        upstream.pause();
        setTimeout(() => {
          client.write(chunk);
          upstream.resume();
        }, this.delayMs);
      }
    });
  }
}

/** What the bytes of a MongoDB command `name` on `collection` contain (the OP_MSG body's first element), to match it. */
export function mongoCommand(name: string, collection: string): Buffer {
  const len = Buffer.alloc(4);
  len.writeInt32LE(collection.length + 1);
  return Buffer.concat([Buffer.from(`\x02${name}\x00`, 'latin1'), len, Buffer.from(`${collection}\x00`, 'latin1')]);
}

/** A proxy in front of the server of a one-host URI (mongodb://host:port/…), and the URI through it. */
export async function proxied(uri: string): Promise<{ proxy: TcpProxy; uri: string }> {
  const u = new URL(uri);
  const proxy = new TcpProxy(u.hostname, Number(u.port));
  u.hostname = '127.0.0.1';
  u.port = String(await proxy.start());
  return { proxy, uri: u.toString() };
}
