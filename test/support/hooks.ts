import { stopAllRealBackends } from './real-backends.js';
import { stopSharedCluster } from './cluster.js';

/** Root hooks: servers started for the run are stopped when it ends. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(120_000);
    await stopAllRealBackends();
    await stopSharedCluster();
  },
};
