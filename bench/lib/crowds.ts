import { fork, type ChildProcess } from 'node:child_process';
import { connectionCap, openFilesLimit } from '../../services/connect/transport/open-files.js';
import { fileURLToPath } from 'node:url';
import type { CrowdCommand, CrowdEvent } from './crowd.js';

const CROWD = fileURLToPath(new URL('./crowd.ts', import.meta.url));

/** Connections one crowd process holds at most (each is a descriptor of that process). */
export const PER_CROWD = 15_000;

/**
 * Fails with what to do when one gateway process cannot hold `connections` sockets here: each is
 * one of its open files, and the gateway takes no more than its limit allows (connectionCap; a
 * pod's limit comes from its container runtime, 1,048,576 with containerd's defaults).
 */
export function checkOpenFiles(connections: number, scenario: string): void {
  const limit = openFilesLimit();
  const cap = connectionCap(connections, limit);
  if (cap.capped) {
    throw new Error(
      `${scenario}: ${connections.toLocaleString('en-US')} connections on one gateway need as many open files in its process; this machine allows ${limit!.toLocaleString('en-US')} (ulimit -n; raising the hard limit needs root with CAP_SYS_RESOURCE), so one gateway takes at most ${cap.max.toLocaleString('en-US')}`,
    );
  }
}

/** One crowd process (bench/lib/crowd.ts). */
export class Crowd {
  private constructor(readonly child: ChildProcess) {}

  static start(): Crowd {
    return new Crowd(fork(CROWD, [], { execArgv: ['--import', 'tsx'] }));
  }

  ask<E extends CrowdEvent['ev']>(
    c: CrowdCommand,
    until: E,
    onProgress?: (e: Extract<CrowdEvent, { ev: 'progress' }>) => void,
  ): Promise<Extract<CrowdEvent, { ev: E }>> {
    return new Promise((resolve, reject) => {
      const exit = (code: number | null): void => reject(new Error(`a crowd process exited (${code}) while asked to ${c.cmd}`));
      const on = (e: CrowdEvent): void => {
        if (e.ev === 'progress') onProgress?.(e);
        if (e.ev !== until && e.ev !== 'error') return;
        this.child.off('message', on);
        this.child.off('exit', exit);
        if (e.ev === 'error') reject(new Error(e.message));
        else resolve(e as Extract<CrowdEvent, { ev: E }>);
      };
      this.child.on('message', on);
      this.child.once('exit', exit);
      this.child.send(c);
    });
  }

  stop(): void {
    this.child.kill();
  }
}

/**
 * Opens `users.length` connections to `url` from as many crowd processes as they need, all at
 * once; resolves with when the first handshake began and the last ended.
 */
export async function openCrowds(
  url: string,
  users: string[],
  crowds: Crowd[],
  progress: (open: number) => void,
  reconnect?: { jitter: number },
): Promise<{ firstAt: number; lastAt: number }> {
  const shares: string[][] = [];
  for (let i = 0; i < users.length; i += PER_CROWD) shares.push(users.slice(i, i + PER_CROWD));
  const opened = new Map<number, number>();
  const results = await Promise.all(
    shares.map((share, k) => {
      const crowd = Crowd.start();
      crowds.push(crowd);
      return crowd.ask({ cmd: 'open', url, users: share, base: k * PER_CROWD, ...(reconnect ? { reconnect } : {}) }, 'opened', (e) => {
        opened.set(k, e.open);
        progress([...opened.values()].reduce((a, b) => a + b, 0));
      });
    }),
  );
  return { firstAt: Math.min(...results.map((r) => r.firstAt)), lastAt: Math.max(...results.map((r) => r.lastAt)) };
}

/** Every crowd's counts, summed. */
export async function crowdStatus(
  crowds: Crowd[],
): Promise<{ open: number; drops: number; refusals: number; attempts: number; lastOpenAt: number; received: number }> {
  const all = await Promise.all(crowds.map((c) => c.ask({ cmd: 'status' }, 'status')));
  return {
    open: all.reduce((a, s) => a + s.open, 0),
    drops: all.reduce((a, s) => a + s.drops, 0),
    refusals: all.reduce((a, s) => a + s.refusals, 0),
    attempts: all.reduce((a, s) => a + s.attempts, 0),
    lastOpenAt: Math.max(...all.map((s) => s.lastOpenAt)),
    received: all.reduce((a, s) => a + s.received, 0),
  };
}
