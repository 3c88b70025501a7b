import type { Clock, TimerHandle } from '../sip/clock.js';

/**
 * Keyed timers for the core's `arm-timer` actions. With 100k subscriptions each holding a refresh or
 * expiry timer, one Node timer per key costs memory and GC time; here every key is an entry in a map and
 * a bucket per `resolutionMs` slot, and a single clock timer fires the earliest bucket. Re-arming a key
 * replaces its previous deadline.
 */
export class TimerWheel {
  private readonly deadlines = new Map<string, number>();
  private readonly buckets = new Map<number, Set<string>>();
  /** Min-heap of slots that have a bucket; emptied buckets are dropped lazily when they reach the top. */
  private readonly slots: number[] = [];
  private armedSlot: number | undefined;
  private handle: TimerHandle | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly fire: (key: string, now: number) => void,
    private readonly resolutionMs = 100,
  ) {}

  get size(): number {
    return this.deadlines.size;
  }

  arm(key: string, at: number): void {
    this.cancel(key);
    const slot = Math.ceil(at / this.resolutionMs);
    this.deadlines.set(key, slot);
    let bucket = this.buckets.get(slot);
    if (!bucket) {
      bucket = new Set();
      this.buckets.set(slot, bucket);
      this.push(slot);
    }
    bucket.add(key);
    if (this.armedSlot === undefined || slot < this.armedSlot) this.schedule(slot);
  }

  cancel(key: string): void {
    const slot = this.deadlines.get(key);
    if (slot === undefined) return;
    this.deadlines.delete(key);
    const bucket = this.buckets.get(slot);
    bucket?.delete(key);
    if (bucket && bucket.size === 0) this.buckets.delete(slot);
  }

  close(): void {
    this.handle?.cancel();
    this.handle = undefined;
    this.armedSlot = undefined;
    this.deadlines.clear();
    this.buckets.clear();
    this.slots.length = 0;
  }

  private push(slot: number): void {
    const h = this.slots;
    h.push(slot);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]! <= h[i]!) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.slots;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l]! < h[m]!) m = l;
      if (r < h.length && h[r]! < h[m]!) m = r;
      if (m === i) return;
      [h[m], h[i]] = [h[i]!, h[m]!];
      i = m;
    }
  }

  /** The earliest slot that still has keys. */
  private earliest(): number | undefined {
    while (this.slots.length > 0) {
      const top = this.slots[0]!;
      if (this.buckets.has(top)) return top;
      this.pop();
    }
    return undefined;
  }

  private schedule(slot: number): void {
    this.handle?.cancel();
    this.armedSlot = slot;
    this.handle = this.clock.setTimer(Math.max(0, slot * this.resolutionMs - this.clock.now()), () => this.tick());
  }

  private tick(): void {
    this.handle = undefined;
    this.armedSlot = undefined;
    const now = this.clock.now();
    const due = Math.floor(now / this.resolutionMs);
    // Fire every bucket at or before now; a handler may arm new keys, possibly in a due slot.
    for (;;) {
      const earliest = this.earliest();
      if (earliest === undefined) return;
      if (earliest > due) return this.schedule(earliest);
      const keys = [...this.buckets.get(earliest)!];
      this.buckets.delete(earliest);
      this.pop();
      for (const key of keys) {
        if (this.deadlines.get(key) !== earliest) continue;
        this.deadlines.delete(key);
        this.fire(key, now);
      }
    }
  }
}
