/**
 * Time as the SIP layers see it. Everything that arms a timer (transactions, dialogs, subscriptions)
 * takes a `Clock` so RFC timer rules can be tested by moving a fake clock instead of waiting.
 */

export interface TimerHandle {
  /** Idempotent; cancelling a timer that already fired does nothing. */
  cancel(): void;
}

export interface Clock {
  /** Milliseconds; only differences are meaningful. */
  now(): number;
  setTimer(ms: number, fn: () => void): TimerHandle;
}

/** Node's setTimeout cannot take more than 2^31-1 ms; a longer delay would fire immediately. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * The real clock. Timers stay ref'd on purpose: a pending retransmission or Timer B/F is work the
 * process still owes a peer, and an unref'd timer would let a short-lived process (CLI, test harness)
 * exit before the transaction ends. The price is that shutdown must cancel them
 * (`TransactionLayer.close()`), or the process lingers up to 64*T1.
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(ms: number, fn: () => void): TimerHandle {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), MAX_TIMEOUT_MS));
    return { cancel: () => clearTimeout(t) };
  },
};

interface FakeTimer {
  due: number;
  /** Tie-breaker so timers due at the same instant fire in the order they were set. */
  seq: number;
  fn: () => void;
  live: boolean;
}

/** A manual clock for tests: time moves only through `advance`. */
export class FakeClock implements Clock {
  private current: number;
  private seq = 0;
  private timers: FakeTimer[] = [];

  constructor(start = 0) {
    this.current = start;
  }

  now(): number {
    return this.current;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: FakeTimer = { due: this.current + Math.max(0, ms), seq: this.seq++, fn, live: true };
    this.timers.push(timer);
    return {
      cancel: () => {
        timer.live = false;
      },
    };
  }

  /**
   * Move time forward by `ms`, firing every timer that falls due on the way in due order. A timer set
   * by a firing callback fires in the same call if it falls due before the end, so retransmission
   * chains behave as they would in real time. `now()` inside a callback is that timer's due time.
   */
  advance(ms: number): void {
    const end = this.current + Math.max(0, ms);
    for (;;) {
      const next = this.nextDue(end);
      if (!next) break;
      next.live = false;
      this.current = Math.max(this.current, next.due);
      next.fn();
    }
    this.current = end;
    this.timers = this.timers.filter((t) => t.live);
  }

  /** Timers set and neither fired nor cancelled. */
  pending(): number {
    let n = 0;
    for (const t of this.timers) if (t.live) n++;
    return n;
  }

  private nextDue(end: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers) {
      if (!t.live || t.due > end) continue;
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
