import { createLogger } from '../shared/logger.js';
import { settingsFrom } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { runUntilSignal } from '../shared/lifecycle.js';
import { loadConnectConfig } from './config.js';
import { createConnectService } from './connect-service.js';

const bootLogger = createLogger('connect');
try {
  const config = loadConnectConfig(settingsFrom(process.env, process.argv.slice(2)));
  const logger = createLogger('connect', config.logLevel);
  const service = createConnectService({ config, logger });
  runUntilSignal([service], logger);
  await service.start();
} catch (err: unknown) {
  if (err instanceof ConfigError) bootLogger.fatal(err.message);
  else bootLogger.fatal({ err }, 'connect service failed to start');
  process.exit(1);
}
