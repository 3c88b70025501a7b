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

const LEVEL_METHODS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const noop = (): void => undefined;

interface LazyTarget {
  parent: Logger;
  bindings: Record<string, unknown>;
  child?: Logger;
}

const lazyHandler: ProxyHandler<LazyTarget> = {
  get(target, prop) {
    // A disabled level writes nothing, so it needs no child (the debug line on every successful message).
    if (typeof prop === 'string' && LEVEL_METHODS.has(prop) && !target.parent.isLevelEnabled(prop)) return noop;
    const child = (target.child ??= target.parent.child(target.bindings));
    const value: unknown = Reflect.get(child, prop, child);
    return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(child) : value;
  },
};

/**
 * `parent.child(bindings)`, built only when something is logged through it. pino serializes the bindings
 * when a child is made, which for a logger per SIP request cost more than the request's own parsing under
 * load, while most requests log nothing.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new Proxy<LazyTarget>({ parent, bindings }, lazyHandler) as unknown as Logger;
}
