import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/** The structured logger of a process; services get children of it. */
export function createLogger(name: string, level: LevelWithSilent = 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}

/** A logger that drops everything (tests, library defaults). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
