import { accessSync, constants } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { isUserId } from './ids.js';

/** Raw settings: env vars, possibly overridden by command-line flags. */
export type RawSettings = Readonly<Record<string, string | undefined>>;

/**
 * Turns `--message-grpc-port=0` / `--message-grpc-port 0` flags into `MESSAGE_GRPC_PORT`
 * settings, layered over the environment. Every setting can thus be given either way.
 */
export function settingsFrom(env: NodeJS.ProcessEnv, argv: readonly string[]): RawSettings {
  const out: Record<string, string | undefined> = { ...env };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (!arg.startsWith('--')) throw new ConfigError([`unexpected argument "${arg}" (settings are --name=value)`]);
    const eq = arg.indexOf('=');
    const name = (eq === -1 ? arg.slice(2) : arg.slice(2, eq)).replace(/-/g, '_').toUpperCase();
    let value: string | undefined;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
      if (value === undefined) throw new ConfigError([`flag ${arg} needs a value`]);
    }
    out[name] = value;
  }
  return out;
}

/** What a setting accepts and its default: the configuration reference is written from these (config-docs.ts). */
export interface SettingInfo {
  /** The default as written in the environment; undefined: none (unset unless given). */
  default: string | undefined;
  accepts: string;
}

const infos = new WeakMap<object, SettingInfo>();

/** Records what a setting's schema accepts, for the reference. */
function documented<S extends object>(schema: S, info: SettingInfo): S {
  infos.set(schema, info);
  return schema;
}

/** What the schema of one setting accepts (undefined for a schema not built by `setting`). */
export function settingInfo(schema: object): SettingInfo | undefined {
  return infos.get(schema);
}

/** Field builders that parse env strings with precise messages. */
export const setting = {
  port: (def: number) => numeric(def, { min: 0, max: 65535, integer: true, what: 'a port number 0-65535', accepts: 'port 0–65535 (0: any free port)' }),
  int: (def: number, min: number, max: number) => numeric(def, { min, max, integer: true }),
  /** A number in [min, max] (or [min, max) when `maxExclusive`). */
  number: (def: number, min: number, max: number, maxExclusive = false) => numeric(def, { min, max, maxExclusive }),
  /** A duration in milliseconds: "1500", "1500ms", "2s", "1m", "24h". */
  duration: (def: string, minMs = 0, maxMs = Number.POSITIVE_INFINITY) =>
    documented(
      z
        .string()
        .default(def)
        .transform((v, ctx) => {
          const ms = parseDuration(v);
          if (ms === undefined || ms < minMs || ms > maxMs) {
            const range = Number.isFinite(maxMs) ? `of ${minMs}-${maxMs} ms` : `≥ ${minMs} ms`;
            ctx.addIssue({ code: 'custom', message: `expected a duration ${range} like 500ms, 5s, 1m, 24h; got "${v}"` });
            return z.NEVER;
          }
          return ms;
        }),
      { default: def, accepts: `duration${Number.isFinite(maxMs) ? ` ${fmtMs(minMs)}–${fmtMs(maxMs)}` : minMs > 0 ? ` ≥ ${fmtMs(minMs)}` : ''}` },
    ),
  text: (def: string) => documented(z.string().default(def), { default: def, accepts: 'text' }),
  optionalText: (accepts = 'text') =>
    documented(
      z
        .string()
        .optional()
        .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim())),
      { default: undefined, accepts },
    ),
  oneOf: <const T extends readonly [string, ...string[]]>(values: T, def: T[number]) =>
    documented(
      z
        .string()
        .default(def)
        .transform((v, ctx): T[number] => {
          if ((values as readonly string[]).includes(v)) return v;
          ctx.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}; got "${v}"` });
          return z.NEVER;
        }),
      { default: def, accepts: values.map((x) => `\`${x}\``).join(', ') },
    ),
  bool: (def: boolean) =>
    documented(
      z
        .string()
        .default(String(def))
        .transform((v, ctx) => {
          if (/^(1|true|yes|on)$/i.test(v)) return true;
          if (/^(0|false|no|off)$/i.test(v)) return false;
          ctx.addIssue({ code: 'custom', message: `expected true or false; got "${v}"` });
          return z.NEVER;
        }),
      { default: String(def), accepts: '`true` or `false`' },
    ),
};

/**
 * The one numeric setting: a number (an integer when `integer`) in [min, max], or [min, max) when
 * `maxExclusive`; `what` names it in the error, `accepts` in the reference.
 */
function numeric(def: number, o: { min: number; max: number; integer?: boolean; maxExclusive?: boolean; what?: string; accepts?: string }) {
  const range = o.maxExclusive ? `in [${o.min}, ${o.max})` : `${o.min}-${o.max}`;
  const what = o.what ?? `${o.integer ? 'an integer' : 'a number'} ${range}`;
  return documented(
    z
      .string()
      .default(String(def))
      .transform((v, ctx) => {
        const t = v.trim();
        const n = o.integer ? (/^-?\d+$/.test(t) ? Number(t) : Number.NaN) : t === '' ? Number.NaN : Number(t);
        const ok = (o.integer ? Number.isSafeInteger(n) : Number.isFinite(n)) && n >= o.min && (o.maxExclusive ? n < o.max : n <= o.max);
        if (!ok) {
          ctx.addIssue({ code: 'custom', message: `expected ${what}; got "${v}"` });
          return z.NEVER;
        }
        return n;
      }),
    { default: String(def), accepts: o.accepts ?? `${o.integer ? 'integer' : 'number'} ${o.maxExclusive ? `in [${o.min}, ${o.max})` : `${o.min}–${o.max}`}` },
  );
}

/** 1500 → "1.5s", 100 → "100ms", 300000 → "5m". */
function fmtMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses "250", "250ms", "5s", "1.5m", "24h" into milliseconds. */
export function parseDuration(v: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!);
}

/**
 * Parses settings with a zod object schema whose keys are env var names, and returns a frozen
 * object. Fails with a ConfigError naming every bad setting at once.
 */
export function parseSettings<S extends z.ZodObject>(schema: S, raw: RawSettings): Readonly<z.output<S>> {
  const picked: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const v = raw[key];
    if (v !== undefined && v !== '') picked[key] = v;
  }
  const result = schema.safeParse(picked);
  if (!result.success) {
    throw new ConfigError(result.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`));
  }
  return Object.freeze(result.data);
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Settings every service shares (LOG_LEVEL, LOG_FORMAT), spread into each service's schema. */
export const logSettings = {
  LOG_LEVEL: setting.oneOf(LOG_LEVELS, 'info'),
  LOG_FORMAT: setting.oneOf(['auto', 'json', 'pretty'], 'auto'),
};

/** What the settings both services read do. */
export const SHARED_SETTING_DOCS = {
  LOG_LEVEL: 'least severe log level written',
  LOG_FORMAT: '`json`: one JSON object per line; `pretty`: readable lines; `auto`: pretty when stdout is a terminal, else JSON',
  INTERNAL_AUTH_TOKEN:
    'shared secret (≥ 16 bytes) every Connect call and stream carries and Message checks (`UNAUTHENTICATED` otherwise); set it on both services, or on neither (chart: `auth.internalTokenSecret`)',
  INTERNAL_TLS_CERT_FILE:
    "this process's certificate (PEM) on the gRPC link between Connect and Message: Message serves with it, Connect presents it as its client certificate. With `INTERNAL_TLS_KEY_FILE` and `INTERNAL_TLS_CA_FILE` on both services, the link is mutual TLS (chart: `internalTls.secretName`)",
  INTERNAL_TLS_KEY_FILE: 'the private key (PEM) of `INTERNAL_TLS_CERT_FILE`',
  INTERNAL_TLS_CA_FILE:
    "the CA (PEM) the peer's certificate must be signed by: Message refuses a gateway whose certificate it does not sign, Connect a Message pod's",
  INTERNAL_TLS_RELOAD_INTERVAL: 'the three files are read again this often: renewed certificates are used for new connections without a restart',
  SYSTEM_USER:
    'the system account: the sender of what the server API publishes without a `from_user`; Connect refuses a client logging in as it (401) and Message refuses messages to it (`FORBIDDEN`). Set it equal on both services',
};

/** SYSTEM_USER, the account the server API publishes as, which no client may log in as; checked by `systemUserProblems`. */
export const systemUserSettings = { SYSTEM_USER: setting.text('system') };

/** What is wrong with SYSTEM_USER, if anything. */
export function systemUserProblems(user: string): string[] {
  return isUserId(user) ? [] : [`SYSTEM_USER: must be a user id (1-64 characters of A-Z a-z 0-9 _ . : @ -); got "${user}"`];
}

/** INTERNAL_AUTH_TOKEN, the secret both services share; checked by `internalTokenProblems`. */
export const internalTokenSettings = { INTERNAL_AUTH_TOKEN: setting.optionalText() };

/** What is wrong with an INTERNAL_AUTH_TOKEN, if anything. */
export function internalTokenProblems(token: string | undefined): string[] {
  return token && Buffer.byteLength(token) < 16 ? ['INTERNAL_AUTH_TOKEN: must be at least 16 bytes'] : [];
}

/** Mutual TLS on the gRPC link between the services (INTERNAL_TLS_*); checked by `internalTlsProblems`. */
export const internalTlsSettings = {
  INTERNAL_TLS_CERT_FILE: setting.optionalText('a file path'),
  INTERNAL_TLS_KEY_FILE: setting.optionalText('a file path'),
  INTERNAL_TLS_CA_FILE: setting.optionalText('a file path'),
  INTERNAL_TLS_RELOAD_INTERVAL: setting.duration('30s', 1000),
};

/** The internal link's TLS files, and how often they are read again; undefined: plaintext. */
export interface InternalTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  reloadIntervalMs: number;
}

/** What is wrong with the INTERNAL_TLS_* settings: the three files go together, and each must be readable now. */
export function internalTlsProblems(s: { INTERNAL_TLS_CERT_FILE?: string; INTERNAL_TLS_KEY_FILE?: string; INTERNAL_TLS_CA_FILE?: string }): string[] {
  const files = [
    ['INTERNAL_TLS_CERT_FILE', s.INTERNAL_TLS_CERT_FILE],
    ['INTERNAL_TLS_KEY_FILE', s.INTERNAL_TLS_KEY_FILE],
    ['INTERNAL_TLS_CA_FILE', s.INTERNAL_TLS_CA_FILE],
  ] as const;
  const given = files.filter(([, v]) => v !== undefined);
  if (given.length === 0) return [];
  if (given.length < files.length)
    return [
      `INTERNAL_TLS_CERT_FILE, INTERNAL_TLS_KEY_FILE and INTERNAL_TLS_CA_FILE go together; missing ${files
        .filter(([, v]) => v === undefined)
        .map(([n]) => n)
        .join(', ')}`,
    ];
  return given.flatMap(([name, file]) => {
    try {
      accessSync(file!, constants.R_OK);
      return [];
    } catch (err: unknown) {
      return [`${name}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`];
    }
  });
}

/** The INTERNAL_TLS_* settings as one value (after `internalTlsProblems` found none). */
export function internalTlsOf(s: {
  INTERNAL_TLS_CERT_FILE?: string;
  INTERNAL_TLS_KEY_FILE?: string;
  INTERNAL_TLS_CA_FILE?: string;
  INTERNAL_TLS_RELOAD_INTERVAL: number;
}): InternalTls | undefined {
  if (!s.INTERNAL_TLS_CERT_FILE || !s.INTERNAL_TLS_KEY_FILE || !s.INTERNAL_TLS_CA_FILE) return undefined;
  return Object.freeze({
    certFile: s.INTERNAL_TLS_CERT_FILE,
    keyFile: s.INTERNAL_TLS_KEY_FILE,
    caFile: s.INTERNAL_TLS_CA_FILE,
    reloadIntervalMs: s.INTERNAL_TLS_RELOAD_INTERVAL,
  });
}

/** The instance id of a process when none is configured: service, host name, a random suffix. */
export function defaultInstanceId(service: 'message' | 'connect'): string {
  return `${service}-${hostname()}-${randomBytes(3).toString('hex')}`;
}
