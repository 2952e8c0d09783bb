import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKeys, parseApiKeys } from '../../services/message/api/api-keys.js';
import { silentLogger } from '../../services/shared/logger.js';

const K1 = 'a'.repeat(32);
const K2 = 'b'.repeat(40);

describe('server API keys', () => {
  it('reads one key per line with its scopes (all by default), skipping blanks and comments', () => {
    const keys = parseApiKeys(`# the backend\nbackend ${K1}\n\n  reporting ${K2} history,presence  \n`);
    assert.deepEqual(
      keys.map((k) => [k.name, [...k.scopes].sort()]),
      [
        ['backend', ['disconnect', 'groups', 'history', 'presence', 'publish']],
        ['reporting', ['history', 'presence']],
      ],
    );
  });

  it('refuses short keys, bad names, unknown scopes, a name or key used twice and an empty list, naming the line and never the key', () => {
    const refused = (text: string, why: RegExp): void => {
      assert.throws(
        () => parseApiKeys(text),
        (e: Error) => why.test(e.message) && !e.message.includes(K1) && !e.message.includes('short'),
      );
    };
    refused('backend short', /line 1 \(backend\): the key must be 32-256/);
    refused(`bad/name ${K1}`, /line 1: the name must be/);
    refused(`backend ${K1} publish,admin`, /unknown scope admin/);
    refused(`a ${K1}\na ${K2}`, /line 2: the name a is used twice/);
    refused(`a ${K1}\nb ${K1}`, /line 2 \(b\): the same key as a/);
    refused('# nothing\n', /no key given/);
  });

  it('matches a presented key to its name and scopes, and nothing else', () => {
    const keys = ApiKeys.load({ inline: `backend ${K1}\nreporting ${K2} history` }, silentLogger());
    assert.equal(keys.match(K1)?.name, 'backend');
    assert.deepEqual([...keys.match(K2)!.scopes], ['history']);
    assert.equal(keys.match(K1.slice(1)), undefined);
    assert.equal(keys.match(''), undefined);
  });

  it('reads a key file again when it changes (a rotated Secret), and keeps the last good keys when the new file is bad', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'api-keys-')), 'keys');
    writeFileSync(file, `old ${K1}\n`);
    const keys = ApiKeys.load({ file }, silentLogger());
    keys.watch(20);
    try {
      writeFileSync(file, `old ${K1}\nnew ${K2}\n`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(keys.match(K2)?.name, 'new', 'the new key works without a restart');
      writeFileSync(file, `new ${K2}\nbroken\n`);
      await new Promise((r) => setTimeout(r, 100));
      assert.deepEqual(keys.names, ['old', 'new'], 'a bad file changes nothing');
      writeFileSync(file, `new ${K2}\n`);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(keys.match(K1), undefined, 'the retired key is refused');
    } finally {
      keys.stop();
    }
  });
});
