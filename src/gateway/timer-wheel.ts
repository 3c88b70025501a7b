import type { Clock, TimerHandle } from '../sip/clock.js';

/**
 * Keyed timers for the core's `arm-timer` actions. With 100k subscriptions each holding a refresh or
 * expiry timer, one Node timer per key costs memory and GC time; here a key costs one map entry and one
 * entry in a min-heap, and a single clock timer fires the earliest deadline. Deadlines are rounded up to
 * `resolutionMs`; keys due in the same slot fire in the order they were armed. Re-arming a key replaces
 * its previous deadline.
 *
 * Memory is what this is shaped by (bench/presence.ts measures bytes per held subscription): the heap is
 * three parallel arrays of small integers and key references instead of an object per entry, slots are
 * counted from the wheel's creation so they stay small integers (a millisecond epoch would be a boxed
 * double per key), and a re-armed or cancelled key leaves its old heap entry behind to be skipped when it
 * reaches the top (lazy deletion), so neither operation searches the heap. Stale entries are swept out
 * when they outnumber the live ones.
 */
export class TimerWheel {
  /** key → the sequence number of its live heap entry. */
  private readonly armed = new Map<string, number>();
  private heapSlot: number[] = [];
  private heapSeq: number[] = [];
  private heapKey: string[] = [];
  private seq = 0;
  private readonly baseSlot: number;
  private armedSlot: number | undefined;
  private handle: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fire: (key: string, now: number) => void,
    private readonly resolutionMs = 100,
  ) {
    this.baseSlot = Math.floor(clock.now() / resolutionMs);
  }

  get size(): number {
    return this.armed.size;
  }

  arm(key: string, at: number): void {
    const slot = Math.ceil(at / this.resolutionMs) - this.baseSlot;
    const seq = this.seq++;
    this.armed.set(key, seq);
    this.push(slot, seq, key);
    if (this.heapKey.length > 2 * this.armed.size + 1024) this.sweep();
    if (this.armedSlot === undefined || slot < this.armedSlot) this.schedule(slot);
  }

  cancel(key: string): void {
    this.armed.delete(key);
    if (this.armed.size === 0 && this.heapKey.length > 0) this.clear();
  }

  close(): void {
    this.handle?.cancel();
    this.handle = undefined;
    this.armedSlot = undefined;
    this.armed.clear();
    this.clear();
  }

  private clear(): void {
    this.heapSlot = [];
    this.heapSeq = [];
    this.heapKey = [];
  }

  private live(i: number): boolean {
    return this.armed.get(this.heapKey[i]!) === this.heapSeq[i];
  }

  private less(i: number, j: number): boolean {
    const a = this.heapSlot[i]!;
    const b = this.heapSlot[j]!;
    return a < b || (a === b && this.heapSeq[i]! < this.heapSeq[j]!);
  }

  private swap(i: number, j: number): void {
    const s = this.heapSlot;
    const q = this.heapSeq;
    const k = this.heapKey;
    const ts = s[i]!;
    s[i] = s[j]!;
    s[j] = ts;
    const tq = q[i]!;
    q[i] = q[j]!;
    q[j] = tq;
    const tk = k[i]!;
    k[i] = k[j]!;
    k[j] = tk;
  }

  private push(slot: number, seq: number, key: string): void {
    this.heapSlot.push(slot);
    this.heapSeq.push(seq);
    this.heapKey.push(key);
    this.up(this.heapKey.length - 1);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    const n = this.heapKey.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private pop(): void {
    const last = this.heapKey.length - 1;
    if (last > 0) this.swap(0, last);
    this.heapSlot.pop();
    this.heapSeq.pop();
    this.heapKey.pop();
    if (last > 0) this.down(0);
  }

  /** Drops every stale entry and rebuilds the heap from the live ones (Floyd's heapify, linear). */
  private sweep(): void {
    const slots: number[] = [];
    const seqs: number[] = [];
    const keys: string[] = [];
    for (let i = 0; i < this.heapKey.length; i++) {
      if (!this.live(i)) continue;
      slots.push(this.heapSlot[i]!);
      seqs.push(this.heapSeq[i]!);
      keys.push(this.heapKey[i]!);
    }
    this.heapSlot = slots;
    this.heapSeq = seqs;
    this.heapKey = keys;
    for (let i = (keys.length >> 1) - 1; i >= 0; i--) this.down(i);
  }

  /** The slot of the earliest live entry, dropping stale ones on the way. */
  private earliest(): number | undefined {
    while (this.heapKey.length > 0) {
      if (this.live(0)) return this.heapSlot[0];
      this.pop();
    }
    return undefined;
  }

  private schedule(slot: number): void {
    this.handle?.cancel();
    this.armedSlot = slot;
    const at = (slot + this.baseSlot) * this.resolutionMs;
    this.handle = this.clock.setTimer(Math.max(0, at - this.clock.now()), () => this.tick());
  }

  private tick(): void {
    this.handle = undefined;
    this.armedSlot = undefined;
    const now = this.clock.now();
    const due = Math.floor(now / this.resolutionMs) - this.baseSlot;
    // Fire every entry at or before now, in (slot, arming order); a handler may arm new keys, possibly due.
    for (;;) {
      const earliest = this.earliest();
      if (earliest === undefined) return;
      if (earliest > due) return this.schedule(earliest);
      const key = this.heapKey[0]!;
      this.armed.delete(key);
      this.pop();
      this.fire(key, now);
    }
  }
}
