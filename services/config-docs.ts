/**
 * The configuration reference, docs/CONFIGURATION.md, written from the services' own schemas:
 * every setting they read, its default, what it accepts and what it does. `make docs` writes the
 * file; a unit test fails when the committed file differs from what this renders.
 */
import { fileURLToPath } from 'node:url';
import type { z } from 'zod';
import { settingInfo } from './shared/config.js';
import { MESSAGE_SCHEMA, MESSAGE_SETTING_DOCS } from './message/config.js';
import { CONNECT_SCHEMA, CONNECT_SETTING_DOCS } from './connect/config.js';

function table(schema: z.ZodObject, docs: Readonly<Record<string, string>>): string[] {
  const rows = ['| setting | default | accepts | what it does |', '|---|---|---|---|'];
  for (const [name, field] of Object.entries(schema.shape)) {
    const info = settingInfo(field as object);
    if (!info) throw new Error(`${name} is not built with setting.*: its default and range are unknown`);
    const def = info.default === undefined ? 'unset' : info.default === '' ? '(empty)' : `\`${info.default}\``;
    rows.push(`| \`${name}\` | ${def} | ${info.accepts} | ${(docs[name] ?? '').replace(/\|/g, '\\|')} |`);
  }
  return rows;
}

/** The whole of docs/CONFIGURATION.md. */
export function renderConfigurationDoc(): string {
  return [
    '# Configuration',
    '',
    "<!-- Written by `make docs` from the services' configuration schemas (services/*/config.ts); a test keeps it equal to them. -->",
    '',
    'Every setting is an environment variable and can also be given as a flag: `--message-grpc-port=0` is',
    '`MESSAGE_GRPC_PORT=0`. Settings are read once at start-up; a value that cannot work stops the process',
    'with one message naming every bad setting. Durations take `ms`, `s`, `m` or `h` (`500ms`, `5s`, `1m`);',
    'a bare number is milliseconds. In the Helm chart, a setting the chart does not set from its own values',
    'goes by name under `message.env` or `connect.env` (its schema refuses any other name).',
    '',
    '## Message',
    '',
    ...table(MESSAGE_SCHEMA, MESSAGE_SETTING_DOCS),
    '',
    'With `KAFKA_BROKERS`, `MONGODB_URI` or `REDIS_URL` unset, that backend runs in-process (embedded): not',
    'durable, and only one Message replica may run; the process logs a warning saying so.',
    '',
    '## Connect',
    '',
    ...table(CONNECT_SCHEMA, CONNECT_SETTING_DOCS),
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.stdout.write(renderConfigurationDoc());
