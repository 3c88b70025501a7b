import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * One root logger per process; modules take a child with `component` set so every line says which part
 * of Stox wrote it. `LOG_LEVEL` wins over the config so an operator can raise verbosity without editing it.
 */
export function createLogger(level: string = 'info', destination?: NodeJS.WritableStream): Logger {
  const effective = (process.env.LOG_LEVEL ?? level) as LevelWithSilent;
  const opts = { level: effective, base: { pid: process.pid } };
  return destination ? pino(opts, destination) : pino(opts);
}

/** A logger that writes nothing, for unit tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
