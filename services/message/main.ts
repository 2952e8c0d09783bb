import { createLogger } from '../shared/logger.js';
import { settingsFrom } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { runUntilSignal } from '../shared/lifecycle.js';
import { loadMessageConfig } from './config.js';
import { createBackends } from './backends.js';
import { createMessageService } from './message-service.js';

const bootLogger = createLogger('message');
try {
  const config = loadMessageConfig(settingsFrom(process.env, process.argv.slice(2)));
  const logger = createLogger('message', config.logLevel);
  const service = createMessageService({ config, backends: createBackends(config, logger), logger });
  runUntilSignal([service], logger);
  await service.start();
} catch (err: unknown) {
  if (err instanceof ConfigError) bootLogger.fatal(err.message);
  else bootLogger.fatal({ err }, 'message service failed to start');
  process.exit(1);
}
