import { stopAllRealBackends } from './real-backends.js';

/** Root hooks: servers started for the run are stopped when it ends. */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(60_000);
    await stopAllRealBackends();
  },
};
