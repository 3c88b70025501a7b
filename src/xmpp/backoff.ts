/**
 * Reconnect delays: capped exponential backoff with full jitter.
 *
 * Full jitter spreads the reconnects of many gateways that lost the same XMPP server at the same moment.
 * Pure full jitter can draw a delay of almost 0, which would let a refused handshake loop as fast as the
 * server answers; so every delay is at least half the initial delay. The floor, not the jitter, is what
 * keeps a misconfigured secret from spinning.
 */

export interface BackoffOptions {
  /** Upper bound of the first delay. */
  initialMs?: number;
  /** No delay exceeds this, however many attempts failed. */
  maxMs?: number;
}

export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const;

export interface BackoffSchedule {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly floorMs: number;
}

export function backoffSchedule(opts: BackoffOptions = {}): BackoffSchedule {
  const initialMs = opts.initialMs ?? DEFAULT_BACKOFF.initialMs;
  const maxMs = opts.maxMs ?? DEFAULT_BACKOFF.maxMs;
  if (!(Number.isFinite(initialMs) && initialMs > 0)) throw new RangeError(`backoff.initialMs must be > 0, got ${initialMs}`);
  if (!(Number.isFinite(maxMs) && maxMs >= initialMs)) throw new RangeError(`backoff.maxMs must be >= initialMs, got ${maxMs}`);
  return { initialMs, maxMs, floorMs: initialMs / 2 };
}

/** The ceiling for the delay before retry number `attempt` (0 for the first retry). */
export function backoffCeiling(schedule: BackoffSchedule, attempt: number): number {
  // Exponent clamped so 2 ** attempt cannot overflow to Infinity after very long outages.
  return Math.min(schedule.maxMs, schedule.initialMs * 2 ** Math.min(attempt, 52));
}

/**
 * Delay before retry number `attempt`: uniform in [floor, ceiling). `random` is injectable so tests can pin
 * the jitter; it must return a number in [0, 1) like Math.random.
 */
export function backoffDelay(schedule: BackoffSchedule, attempt: number, random: () => number = Math.random): number {
  const ceiling = backoffCeiling(schedule, attempt);
  const drawn = random();
  // setTimeout treats NaN as 0: a broken random source must not turn into a spin.
  const r = Number.isFinite(drawn) ? Math.min(Math.max(drawn, 0), 1) : 1;
  return Math.round(schedule.floorMs + r * (ceiling - schedule.floorMs));
}
