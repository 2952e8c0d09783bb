import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';

/** What a process holds after a full collection (bytes; process.memoryUsage()). */
export interface LiveMemory {
  /** The V8 heap's live objects. */
  heapUsed: number;
  /** Memory of C++ objects bound to JavaScript ones, ArrayBuffers and Buffers included. */
  external: number;
  rss: number;
}

/**
 * Reads another Node process's live memory through its inspector (the process runs with
 * `--inspect=127.0.0.1:<port>`): a full, compacting collection first, so that the figure is what
 * the process retains, not when it last collected.
 */
export class HeapProbe {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (r: unknown) => void; reject: (e: Error) => void }>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (m.error) w.reject(new Error(`inspector: ${m.error.message}`));
      else w.resolve(m.result);
    });
    ws.on('close', () => {
      for (const w of this.waiting.values()) w.reject(new Error('inspector connection closed'));
      this.waiting.clear();
    });
  }

  /** Attaches to the inspector listening on `port` (retried while the process starts). */
  static async open(port: number, timeoutMs = 15_000): Promise<HeapProbe> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const targets = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as Array<{ webSocketDebuggerUrl: string }>;
        const ws = new WebSocket(targets[0]!.webSocketDebuggerUrl);
        await once(ws, 'open');
        return new HeapProbe(ws);
      } catch (err: unknown) {
        if (Date.now() > deadline) throw new Error(`no inspector on 127.0.0.1:${port}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
        await sleep(200);
      }
    }
  }

  private call(method: string, params: Record<string, unknown> = {}): Promise<unknown> {
    const id = ++this.nextId;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** A full collection, then the process's memory. */
  async live(): Promise<LiveMemory> {
    await this.call('HeapProfiler.collectGarbage');
    const r = (await this.call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as {
      result: { value: string };
    };
    const { heapUsed, external, rss } = JSON.parse(r.result.value) as LiveMemory;
    return { heapUsed, external, rss };
  }

  close(): void {
    this.ws.close();
  }
}
