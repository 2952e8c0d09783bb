import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { getJson, startConnect, startMessage, type RunningConnect, type RunningMessage } from '../support/services.js';

/** The metric names of docs/PROTOCOL.md §6 are the ones the services export: none missing, none undocumented. */
describe('docs/PROTOCOL.md §6 and /metrics', () => {
  let message: RunningMessage;
  let connect: RunningConnect;
  before(async () => {
    message = await startMessage();
    connect = await startConnect(message.target);
  });
  after(async () => {
    await connect.stop();
    await message.stop();
  });

  it('documents every switchboard_* metric both services export, and exports every one it documents', async () => {
    const exported = new Set<string>();
    for (const url of [`http://127.0.0.1:${message.httpPort}/metrics`, `${connect.admin}/metrics`]) {
      for (const m of (await getJson(url)).text.matchAll(/^# TYPE (switchboard_\w+) /gm)) exported.add(m[1]!);
    }
    const protocol = readFileSync(new URL('../../docs/PROTOCOL.md', import.meta.url), 'utf8');
    const section = protocol.split('\n## 6. ')[1]!.split('\n## ')[0]!;
    const documented = new Set([...section.matchAll(/^\| `(switchboard_\w+)` \|/gm)].map((m) => m[1]!));
    assert.deepEqual([...exported].filter((n) => !documented.has(n)).sort(), [], 'exported, not in docs/PROTOCOL.md §6');
    assert.deepEqual([...documented].filter((n) => !exported.has(n)).sort(), [], 'in docs/PROTOCOL.md §6, not exported');
  });
});
