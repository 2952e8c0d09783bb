/**
 * `npm start`: the whole system in one process on embedded backends — a Message service and a
 * Connect gateway wired to it — for trying Switchboard on one machine.
 */
import { createLogger } from '../shared/logger.js';
import { runMain, runUntilSignal } from '../shared/lifecycle.js';
import { loadMessageConfig } from '../message/config.js';
import { createBackends } from '../message/backends.js';
import { createMessageService } from '../message/message-service.js';
import { loadConnectConfig } from '../connect/config.js';
import { createConnectService } from '../connect/connect-service.js';

await runMain('switchboard', async (settings) => {
  // Quick Ctrl-C on a developer machine (the only gateway is in this process, so Message has no
  // one to drain for); the container defaults stay as documented.
  const messageConfig = loadMessageConfig({ MESSAGE_DRAIN_WINDOW: '0', ...settings });
  const logger = createLogger('switchboard', messageConfig.logLevel, messageConfig.logFormat);
  const message = createMessageService({
    config: messageConfig,
    backends: createBackends(messageConfig, logger.child({ service: 'message' })),
    logger: logger.child({ service: 'message' }),
  });
  const started = await message.start();
  const connectConfig = loadConnectConfig({
    AUTH_MODE: 'insecure-dev',
    MESSAGE_DISCOVERY: `127.0.0.1:${started.grpcPort}`,
    CONNECT_DRAIN_WINDOW: '500ms',
    CONNECT_DEMO_PAGE: 'true',
    ...settings,
  });
  const connect = createConnectService({ config: connectConfig, logger: logger.child({ service: 'connect' }) });
  runUntilSignal([message, connect], logger);
  const { wsPort, adminPort } = await connect.start();
  const host = `localhost:${wsPort}`;
  const urlFlag = wsPort === 21005 ? '' : ` --url ws://${host}/ws`;
  process.stdout.write(
    [
      '',
      'Switchboard is running (embedded backends: nothing is stored on disk).',
      `  WebSocket   ws://${host}/ws?user=<id>   (AUTH_MODE=${connectConfig.auth.mode})`,
      ...(connectConfig.demoPage ? [`  Chat page   http://${host}/`] : []),
      `  Connect     http://localhost:${adminPort}/readyz  /metrics`,
      `  Message     grpc localhost:${started.grpcPort}   http://localhost:${started.httpPort}/readyz  /metrics`,
      '',
      'Talk to yourself from two terminals:',
      `  npm run client -- --user 1001 --target 1002${urlFlag}`,
      `  npm run client -- --user 1002 --target 1001${urlFlag}`,
      ...(connectConfig.demoPage ? ['or open the chat page in two browser tabs.'] : []),
      '',
    ].join('\n') + '\n',
  );
});
