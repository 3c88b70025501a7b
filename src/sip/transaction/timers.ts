/**
 * RFC 3261 §17 timer values (Table 4 of Appendix A) derived from T1/T2/T4, and a small holder for
 * the named timers one transaction has armed.
 */
import type { Clock, TimerHandle } from '../clock.js';

export interface BaseTimers {
  /** RTT estimate. */
  T1: number;
  /** Maximum retransmit interval for non-INVITE requests and INVITE responses. */
  T2: number;
  /** Maximum time a message may remain in the network. */
  T4: number;
}

export const DEFAULT_TIMERS: Readonly<BaseTimers> = { T1: 500, T2: 4000, T4: 5000 };

/**
 * Durations for unreliable transports; on reliable ones A, E and G are never armed and D, I, J, K
 * are zero (the machines check `reliable` themselves).
 */
export interface TimerValues extends BaseTimers {
  /** Initial INVITE retransmit interval; doubles without cap. */
  A: number;
  /** INVITE transaction timeout. */
  B: number;
  /** Wait for response retransmits; RFC 3261 says "> 32 s" and does not tie it to T1. */
  D: number;
  /** Initial non-INVITE retransmit interval; doubles up to T2. */
  E: number;
  /** Non-INVITE transaction timeout. */
  F: number;
  /** Initial INVITE final response retransmit interval; doubles up to T2. */
  G: number;
  /** Wait time for ACK receipt. */
  H: number;
  /** Wait time for ACK retransmits. */
  I: number;
  /** Wait time for non-INVITE request retransmits. */
  J: number;
  /** Wait time for response retransmits. */
  K: number;
  /** RFC 3261 §17.2.1: send 100 Trying if the TU has not answered an INVITE within this. */
  trying100: number;
}

export function resolveTimers(overrides?: Partial<BaseTimers>): TimerValues {
  const base: BaseTimers = { ...DEFAULT_TIMERS };
  for (const name of ['T1', 'T2', 'T4'] as const) {
    const v = overrides?.[name];
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v <= 0) throw new RangeError(`SIP timer ${name} must be a positive number of ms, got ${v}`);
    base[name] = v;
  }
  const { T1, T2, T4 } = base;
  return { T1, T2, T4, A: T1, B: 64 * T1, D: 32_000, E: T1, F: 64 * T1, G: T1, H: 64 * T1, I: T4, J: 64 * T1, K: T4, trying100: 200 };
}

/** The timers of one transaction by name, so a state change can stop exactly the ones it ends. */
export class TimerSet {
  private readonly handles = new Map<string, TimerHandle>();

  constructor(private readonly clock: Clock) {}

  /** (Re)arm `name`; an earlier timer of the same name is cancelled. */
  start(name: string, ms: number, fn: () => void): void {
    this.stop(name);
    const handle = this.clock.setTimer(ms, () => {
      if (this.handles.get(name) === handle) this.handles.delete(name);
      fn();
    });
    this.handles.set(name, handle);
  }

  stop(name: string): void {
    const h = this.handles.get(name);
    if (h) {
      h.cancel();
      this.handles.delete(name);
    }
  }

  stopAll(): void {
    for (const h of this.handles.values()) h.cancel();
    this.handles.clear();
  }

  has(name: string): boolean {
    return this.handles.has(name);
  }
}
