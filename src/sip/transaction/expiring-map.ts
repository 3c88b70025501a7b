/**
 * Keyed records with one fixed lifetime (Timer J, Timer K), swept in coarse steps by a single clock timer.
 *
 * A Node timer per record costs a timer object, a closure and a heap entry, and at 15k requests/s with a
 * 32 s Timer J that is ~480k of each. Records here cost a Map entry and two slots in their bucket's array;
 * a bucket holds everything that expires within one `step`, and the whole bucket goes at once.
 */
import type { Clock, TimerHandle } from '../clock.js';
import { detached } from '../detached.js';


interface Bucket<V> {
  /** Sweep time: the end of the step in which every record of the bucket has expired. */
  until: number;
  /** Alternating key, value: the value tells a stale entry from a record re-added under the same key. */
  entries: Array<string | V>;
}

export class ExpiringMap<V> {
  private readonly records = new Map<string, V>();
  /** Oldest first; about lifetime/step of them, so shifting is cheap. */
  private readonly buckets: Array<Bucket<V>> = [];
  private timer: TimerHandle | undefined;

  /**
   * @param lifetime how long a record lives, in clock milliseconds
   * @param step sweep granularity: a record goes within `step` after its lifetime ends, never before
   */
  constructor(
    private readonly clock: Clock,
    private readonly lifetime: number,
    private readonly step: number,
  ) {
    if (!(step > 0)) throw new RangeError(`sweep step must be positive, got ${step}`);
  }

  get size(): number {
    return this.records.size;
  }

  get(key: string): V | undefined {
    return this.records.get(key);
  }

  has(key: string): boolean {
    return this.records.has(key);
  }

  /**
   * Add (or replace) a record that lives `lifetime` from now. The key is stored as a copy of its own: a
   * key built from slices of a parsed message (a branch, a sent-by) would otherwise keep the whole message
   * text alive for the record's lifetime, several times the size of the record itself.
   */
  set(key: string, value: V): void {
    key = detached(key);
    this.records.set(key, value);
    const until = Math.ceil((this.clock.now() + this.lifetime) / this.step) * this.step;
    let last = this.buckets[this.buckets.length - 1];
    // The lifetime is fixed, so records arrive in expiry order; a clock that stepped back only keeps a
    // record a little longer in the newest bucket.
    if (!last || last.until < until) {
      last = { until, entries: [] };
      this.buckets.push(last);
    }
    last.entries.push(key, value);
    this.timer ??= this.clock.setTimer(this.buckets[0]!.until - this.clock.now(), () => this.sweep());
  }

  delete(key: string): void {
    // Its bucket slot stays until the sweep, which then finds another value (or none) and skips it.
    this.records.delete(key);
  }

  /** Forget everything and stop the sweep timer. */
  clear(): void {
    this.records.clear();
    this.buckets.length = 0;
    this.timer?.cancel();
    this.timer = undefined;
  }

  private sweep(): void {
    this.timer = undefined;
    const now = this.clock.now();
    while (this.buckets.length > 0 && this.buckets[0]!.until <= now) {
      const { entries } = this.buckets.shift()!;
      for (let i = 0; i < entries.length; i += 2) {
        const key = entries[i] as string;
        if (this.records.get(key) === entries[i + 1]) this.records.delete(key);
      }
    }
    const next = this.buckets[0];
    if (next) this.timer = this.clock.setTimer(next.until - now, () => this.sweep());
  }
}
