import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { Logger } from '../../shared/logger.js';

/** What a key may call: one scope per group of the server API's methods. */
export type Scope = 'publish' | 'history' | 'presence' | 'disconnect' | 'groups';
export const SCOPES: readonly Scope[] = ['publish', 'history', 'presence', 'disconnect', 'groups'];

/** One API key: its name (in logs and metrics, never the key), its hash and its scopes. */
export interface ApiKey {
  name: string;
  scopes: ReadonlySet<Scope>;
}

interface StoredKey extends ApiKey {
  digest: Buffer;
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const KEY = /^[\x21-\x7e]{32,256}$/;

/**
 * Parses API keys, one per line: `<name> <key> [scope,scope…]` (scopes: publish, history,
 * presence, disconnect, groups, or `*` for all, the default); blank lines and `#` comments are
 * skipped. Throws an Error naming every bad line (never echoing a key).
 */
export function parseApiKeys(text: string): Array<ApiKey & { key: string }> {
  const keys: Array<ApiKey & { key: string }> = [];
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const [name, key, scopeList, ...extra] = line.split(/\s+/);
    const where = `line ${i + 1}`;
    if (!name || !NAME.test(name)) return problems.push(`${where}: the name must be 1-64 of A-Z a-z 0-9 _ . -`);
    if (!key || !KEY.test(key)) return problems.push(`${where} (${name}): the key must be 32-256 printable ASCII characters`);
    if (extra.length > 0) return problems.push(`${where} (${name}): expected "<name> <key> [scope,scope…]"`);
    const scopes = (scopeList ?? '*').split(',').filter(Boolean);
    const unknown = scopes.filter((s) => s !== '*' && !SCOPES.includes(s as Scope));
    if (unknown.length > 0) return problems.push(`${where} (${name}): unknown scope ${unknown.join(', ')} (known: ${SCOPES.join(', ')}, *)`);
    if (keys.some((k) => k.name === name)) return problems.push(`${where}: the name ${name} is used twice`);
    if (keys.some((k) => k.key === key)) return problems.push(`${where} (${name}): the same key as ${keys.find((k) => k.key === key)!.name}`);
    keys.push({ name, key, scopes: new Set(scopes.includes('*') ? SCOPES : (scopes as Scope[])) });
  });
  if (problems.length > 0) throw new Error(problems.join('; '));
  if (keys.length === 0) throw new Error('no key given');
  return keys;
}

const digest = (key: string): Buffer => createHash('sha256').update(key).digest();

/**
 * The server API's keys: checks a presented key against every one in constant time (hashes of
 * equal length compared, all of them each time), and, when read from a file (a mounted Secret),
 * reads it again when it changes, so a key is added or retired without a restart.
 */
export class ApiKeys {
  private keys: StoredKey[] = [];
  private timer: NodeJS.Timeout | undefined;
  private fileVersion = '';

  private constructor(
    private readonly source: { inline: string } | { file: string },
    private readonly logger: Logger,
  ) {}

  /** Keys from SERVER_API_KEYS (inline) or SERVER_API_KEYS_FILE; throws when they cannot be used. */
  static load(source: { inline: string } | { file: string }, logger: Logger): ApiKeys {
    const keys = new ApiKeys(source, logger);
    keys.read();
    return keys;
  }

  /** The names of the keys in use. */
  get names(): string[] {
    return this.keys.map((k) => k.name);
  }

  /** The key whose secret `presented` is, or undefined. Every key is compared, whichever matches. */
  match(presented: string): ApiKey | undefined {
    const d = digest(presented);
    let found: StoredKey | undefined;
    for (const k of this.keys) if (timingSafeEqual(d, k.digest) && !found) found = k;
    return found ? { name: found.name, scopes: found.scopes } : undefined;
  }

  /** Reads the file again every `intervalMs` while it changes (a Secret's mount is replaced on update). */
  watch(intervalMs: number): void {
    if (!('file' in this.source) || this.timer) return;
    this.timer = setInterval(() => {
      try {
        if (this.read()) this.logger.info({ keys: this.names }, 'server API keys read again');
      } catch (err: unknown) {
        this.logger.error({ err, file: (this.source as { file: string }).file }, 'the server API key file cannot be used; the keys read before stay in use');
      }
    }, intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads the keys; false when the file did not change since the last read. */
  private read(): boolean {
    let text = 'inline' in this.source ? this.source.inline : '';
    let version = '';
    if ('file' in this.source) {
      const st = statSync(this.source.file);
      version = `${st.mtimeMs}:${st.size}:${st.ino}`;
      if (version === this.fileVersion) return false;
      text = readFileSync(this.source.file, 'utf8');
    }
    this.keys = parseApiKeys(text).map(({ key, ...k }) => ({ ...k, digest: digest(key) }));
    this.fileVersion = version;
    return true;
  }
}
