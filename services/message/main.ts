import { createLogger } from '../shared/logger.js';
import { runMain, runUntilSignal } from '../shared/lifecycle.js';
import { loadMessageConfig } from './config.js';
import { createBackends } from './backends.js';
import { createMessageService } from './message-service.js';

await runMain('message', async (settings) => {
  const config = loadMessageConfig(settings);
  const logger = createLogger('message', config.logLevel, config.logFormat);
  const service = createMessageService({ config, backends: createBackends(config, logger), logger });
  runUntilSignal([service], logger);
  await service.start();
});
