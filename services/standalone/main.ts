/**
 * `npm start`: the whole system in one process on embedded backends — a Message service and a
 * Connect gateway wired to it — for trying Switchboard on one machine.
 */
import { createLogger } from '../shared/logger.js';
import { settingsFrom } from '../shared/config.js';
import { ConfigError } from '../shared/errors.js';
import { runUntilSignal } from '../shared/lifecycle.js';
import { loadMessageConfig } from '../message/config.js';
import { createBackends } from '../message/backends.js';
import { createMessageService } from '../message/message-service.js';
import { loadConnectConfig } from '../connect/config.js';
import { createConnectService } from '../connect/connect-service.js';

const bootLogger = createLogger('switchboard');
try {
  const settings = settingsFrom(process.env, process.argv.slice(2));
  const messageConfig = loadMessageConfig(settings);
  const logger = createLogger('switchboard', messageConfig.logLevel);
  const message = createMessageService({
    config: messageConfig,
    backends: createBackends(messageConfig, logger.child({ service: 'message' })),
    logger: logger.child({ service: 'message' }),
  });
  const started = await message.start();
  const connectConfig = loadConnectConfig({
    AUTH_MODE: 'insecure-dev',
    MESSAGE_DISCOVERY: `127.0.0.1:${started.grpcPort}`,
    // Quick Ctrl-C on a developer machine; the container defaults stay as documented.
    CONNECT_DRAIN_WINDOW: '500ms',
    ...settings,
  });
  const connect = createConnectService({ config: connectConfig, logger: logger.child({ service: 'connect' }) });
  runUntilSignal([message, connect], logger);
  const { wsPort, adminPort } = await connect.start();
  const url = `ws://localhost:${wsPort}/ws`;
  process.stdout.write(
    [
      '',
      'Switchboard is running (embedded backends: nothing is stored on disk).',
      `  WebSocket   ${url}?user=<id>   (AUTH_MODE=${connectConfig.auth.mode})`,
      `  Connect     http://localhost:${adminPort}/readyz  /metrics`,
      `  Message     grpc localhost:${started.grpcPort}   http://localhost:${started.httpPort}/readyz  /metrics`,
      '',
      'Talk to yourself from two terminals:',
      `  npm run client -- --user 1001 --target 1002${wsPort === 21005 ? '' : ` --url ${url}`}`,
      `  npm run client -- --user 1002 --target 1001${wsPort === 21005 ? '' : ` --url ${url}`}`,
      '',
    ].join('\n') + '\n',
  );
} catch (err: unknown) {
  if (err instanceof ConfigError) bootLogger.fatal(err.message);
  else bootLogger.fatal({ err }, 'switchboard failed to start');
  process.exit(1);
}
