import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

/** How log lines are written: JSON (the default everywhere but a terminal) or human-readable. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/**
 * The structured logger of a process; services get children of it. `auto` prints readable lines
 * when stdout is a terminal (a developer running `npm start`) and JSON otherwise (containers,
 * pipes, log collectors).
 */
export function createLogger(name: string, level: LevelWithSilent = 'info', format: LogFormat = 'json'): Logger {
  const options = { name, level, base: { pid: process.pid } };
  const readable = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true);
  if (!readable) return pino(options);
  // Synchronous so that a line logged right before process.exit() is not lost.
  return pino(
    options,
    pretty({ sync: true, colorize: process.stdout.isTTY === true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname', singleLine: true }),
  );
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
