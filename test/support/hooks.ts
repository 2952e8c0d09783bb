import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stopAllRealBackends } from './real-backends.js';
import { stopSharedCluster } from './cluster.js';
import { spawned } from './processes.js';
import { LOGS } from '../env/servers.js';

/** A process that exited this long before a failed test began is kept with its logs too. */
const RECENT_EXIT_MS = 30_000;

let testStarted = 0;

/**
 * Root hooks: a failed test keeps the output of every service process that ran during it (in the
 * test environment's log folder, named in the failure's output); servers started for the run are
 * stopped when it ends.
 */
export const mochaHooks = {
  beforeEach(): void {
    testStarted = Date.now();
    // Those that exited before this test are never kept: let their output go.
    for (let i = spawned.length - 1; i >= 0; i--) if (spawned[i]!.exitedAt !== undefined) spawned.splice(i, 1);
  },
  afterEach(this: Mocha.Context): void {
    const test = this.currentTest;
    if (test?.state !== 'failed') return;
    // Also those that exited shortly before it: a process's exit (a group it did not leave) may be what the test ran into.
    const during = spawned.filter((p) => p.exitedAt === undefined || p.exitedAt >= testStarted - RECENT_EXIT_MS);
    if (during.length === 0) return;
    mkdirSync(LOGS, { recursive: true });
    const slug = test
      .fullTitle()
      .replace(/[^a-z0-9]+/gi, '-')
      .slice(0, 80);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const files = during.map((p, i) => {
      const file = join(LOGS, `failed-${stamp}-${slug}-${i}-${p.child.spawnargs.slice(-1)[0]!.replace(/[^a-z0-9]+/gi, '-')}.log`);
      writeFileSync(file, `# ${p.child.spawnargs.join(' ')} (pid ${p.child.pid ?? '?'})\n${p.text}`);
      return file;
    });
    console.error(`    the service processes' output of the failed test: ${files.join(', ')}`);
  },
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await stopAllRealBackends();
    await stopSharedCluster();
  },
};
