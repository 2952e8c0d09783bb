import { createLogger } from '../shared/logger.js';
import { runMain, runUntilSignal } from '../shared/lifecycle.js';
import { loadConnectConfig } from './config.js';
import { createConnectService } from './connect-service.js';

await runMain('connect', async (settings) => {
  const config = loadConnectConfig(settings);
  const logger = createLogger('connect', config.logLevel, config.logFormat);
  const service = createConnectService({ config, logger });
  runUntilSignal([service], logger);
  await service.start();
});
