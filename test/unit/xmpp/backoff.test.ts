import { describe, expect, it } from 'vitest';
import { backoffCeiling, backoffDelay, backoffSchedule, DEFAULT_BACKOFF } from '../../../src/xmpp/backoff.js';

describe('reconnect backoff: capped exponential, full jitter above a floor', () => {
  const s = backoffSchedule({ initialMs: 200, maxMs: 5_000 });

  it('defaults to 500 ms initial, 30 s cap', () => {
    expect(backoffSchedule()).toEqual({ initialMs: DEFAULT_BACKOFF.initialMs, maxMs: DEFAULT_BACKOFF.maxMs, floorMs: 250 });
  });

  it('ceiling doubles per attempt and stops at maxMs, even after absurdly many attempts', () => {
    expect([0, 1, 2, 3, 4, 5, 6].map((n) => backoffCeiling(s, n))).toEqual([200, 400, 800, 1_600, 3_200, 5_000, 5_000]);
    expect(backoffCeiling(s, 10_000)).toBe(5_000);
    expect(backoffDelay(s, 1e9, () => 0.999)).toBeLessThanOrEqual(5_000);
  });

  it('jitter spans [floor, ceiling): random 0 gives the floor, random → 1 the ceiling', () => {
    for (let n = 0; n < 10; n++) {
      expect(backoffDelay(s, n, () => 0)).toBe(100);
      expect(backoffDelay(s, n, () => 0.999999)).toBe(Math.round(100 + 0.999999 * (backoffCeiling(s, n) - 100)));
      expect(backoffDelay(s, n, () => 0.5)).toBe(Math.round(100 + 0.5 * (backoffCeiling(s, n) - 100)));
    }
  });

  it('every delay is within [floor, ceiling] for any random value, including out-of-range ones', () => {
    for (const r of [-1, 0, 0.1, 0.37, 0.5, 0.99, 1, 2, Number.NaN]) {
      for (let n = 0; n < 12; n++) {
        const d = backoffDelay(s, n, () => r);
        expect(d, `r=${r} n=${n}`).toBeGreaterThanOrEqual(100);
        expect(d, `r=${r} n=${n}`).toBeLessThanOrEqual(backoffCeiling(s, n));
      }
    }
  });

  it('never spins: even with the worst jitter, retries in 2 s are bounded by the floor', () => {
    // The refused-secret case: initialMs 200, the jitter always drawing 0.
    let t = 0;
    let attempts = 0;
    while (t <= 2_000) {
      t += backoffDelay(s, attempts, () => 0);
      attempts++;
    }
    expect(attempts).toBeLessThanOrEqual(21);
    // With mid-range jitter the exponential part dominates: 150, 250, 450, 850 ms.
    t = 0;
    attempts = 0;
    while (t <= 2_000) {
      t += backoffDelay(s, attempts, () => 0.5);
      attempts++;
    }
    expect(attempts).toBe(5);
  });

  it('rejects nonsense settings', () => {
    expect(() => backoffSchedule({ initialMs: 0 })).toThrow(RangeError);
    expect(() => backoffSchedule({ initialMs: 1_000, maxMs: 500 })).toThrow(RangeError);
    expect(() => backoffSchedule({ initialMs: Number.NaN })).toThrow(RangeError);
  });
});
