import { pino, type Logger, type LevelWithSilent, type LogFn } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** How log lines are written: JSON (the default everywhere but a terminal) or human-readable. */
export type LogFormat = 'auto' | 'json' | 'pretty';

export interface LoggerOptions {
  /**
   * Repeats of one warning or error (same text, same component) within this window are counted,
   * not written: the first is written at once and the count once the window ends. 0 turns it off.
   */
  repeatWindowMs?: number;
  /** Where JSON lines go (tests); stdout by default. */
  destination?: pino.DestinationStream;
  now?: () => number;
}

/** The default window of repeated warnings: an outage writes a few lines a minute, not one per message. */
export const REPEAT_WINDOW_MS = 10_000;

/**
 * The structured logger of a process; services get children of it. `auto` prints readable lines
 * when stdout is a terminal (a developer running `npm start`) and JSON otherwise (containers,
 * pipes, log collectors). Warnings and errors are rate-limited per text (see LoggerOptions).
 */
export function createLogger(name: string, level: LevelWithSilent = 'info', format: LogFormat = 'json', opts: LoggerOptions = {}): Logger {
  const windowMs = opts.repeatWindowMs ?? REPEAT_WINDOW_MS;
  const options: pino.LoggerOptions = { name, level, base: { pid: process.pid } };
  if (windowMs > 0) options.hooks = { logMethod: repeatLimiter(windowMs, opts.now ?? Date.now) };
  const readable = format === 'pretty' || (format === 'auto' && process.stdout.isTTY);
  if (opts.destination) return pino(options, opts.destination);
  if (!readable) return pino(options);
  // Synchronous so that a line logged right before process.exit() is not lost.
  return pino(options, pretty({ sync: true, colorize: process.stdout.isTTY, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }));
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

const WARN = 40;

interface Repeats {
  /** Lines counted, not written, in the current window. */
  suppressed: number;
  /** The arguments of the last repeat (its fields go on the count's line). */
  lastArgs?: Parameters<LogFn>;
  timer: NodeJS.Timeout;
}

/**
 * pino's logMethod hook that writes the first warning or error of a kind and counts its repeats:
 * when the window ends with repeats, one line says how many (`repeated`, `windowMs`) with the
 * fields of the last one. A kind is the text with the logger's component bindings, so the same
 * failure from two components is two kinds. Below warn nothing is limited.
 */
function repeatLimiter(windowMs: number, now: () => number) {
  const kinds = new Map<string, Repeats>();
  return function logMethod(this: Logger, args: Parameters<LogFn>, method: LogFn, level: number): void {
    if (level < WARN) return method.apply(this, args);
    const text = typeof args[0] === 'string' ? args[0] : typeof args[1] === 'string' ? args[1] : '';
    const key = `${level}\u0000${this.bindings().component ?? ''}\u0000${this.bindings().backend ?? ''}\u0000${text}`;
    const seen = kinds.get(key);
    if (seen) {
      seen.suppressed++;
      seen.lastArgs = args;
      return;
    }
    method.apply(this, args);
    const started = now();
    const entry: Repeats = {
      suppressed: 0,
      timer: setTimeout(() => {
        kinds.delete(key);
        const repeatArgs = entry.lastArgs;
        if (entry.suppressed === 0 || !repeatArgs) return;
        const fields = typeof repeatArgs[0] === 'object' && repeatArgs[0] !== null ? repeatArgs[0] : {};
        method.call(this, { ...fields, repeated: entry.suppressed, windowMs: now() - started }, `${text} (repeated ${entry.suppressed} times)`);
      }, windowMs),
    };
    entry.timer.unref();
    kinds.set(key, entry);
  };
}
