import { describe, expect, it } from 'vitest';
import { TimerWheel } from '../../../src/gateway/timer-wheel.js';
import { FakeClock } from '../../../src/sip/clock.js';

// The wheel keeps one heap entry per arm and skips the superseded ones lazily: re-arming, cancelling and
// sweeping must never fire a key twice, late, or after it was cancelled.

describe('TimerWheel: lazy heap entries', () => {
  it('a key re-armed into the same slot fires once', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const w = new TimerWheel(clock, (k) => fired.push(k), 100);
    w.arm('x', 250);
    w.arm('x', 260);
    w.arm('x', 300);
    clock.advance(1000);
    expect(fired).toEqual(['x']);
  });

  it('re-armed keys fire in the order of their last arming within a slot', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const w = new TimerWheel(clock, (k) => fired.push(k), 100);
    w.arm('a', 500);
    w.arm('b', 500);
    w.arm('a', 450);
    clock.advance(500);
    expect(fired).toEqual(['b', 'a']);
  });

  it('stays exact through many re-arms (stale entries swept) and cancels', () => {
    const clock = new FakeClock(1_000_000);
    const fired = new Map<string, number>();
    const w = new TimerWheel(clock, (k, now) => fired.set(k, now), 100);
    const want = new Map<string, number>();
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) {
        const at = 1_000_000 + 1_000 + ((i * 7919 + round * 104_729) % 60_000);
        w.arm(`k${i}`, at);
        want.set(`k${i}`, at);
      }
    }
    for (let i = 0; i < 500; i += 5) {
      w.cancel(`k${i}`);
      want.delete(`k${i}`);
    }
    expect(w.size).toBe(want.size);
    clock.advance(70_000);
    expect(fired.size).toBe(want.size);
    for (const [k, at] of want) {
      const t = fired.get(k)!;
      expect(t).toBeGreaterThanOrEqual(at);
      expect(t - at).toBeLessThan(100);
    }
    expect(w.size).toBe(0);
  });

  it('cancelling every key leaves nothing to fire; arming again works', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const w = new TimerWheel(clock, (k) => fired.push(k), 100);
    w.arm('a', 100);
    w.arm('b', 200);
    w.cancel('a');
    w.cancel('b');
    clock.advance(300);
    expect(fired).toEqual([]);
    w.arm('a', 400);
    clock.advance(100);
    expect(fired).toEqual(['a']);
  });

  it('a deadline in the past fires on the next turn, also before the wheel was created', () => {
    const clock = new FakeClock(5_000_000);
    const fired: Array<[string, number]> = [];
    const w = new TimerWheel(clock, (k, now) => fired.push([k, now]), 100);
    w.arm('old', 1_000);
    w.arm('now', 5_000_000);
    clock.advance(0);
    expect(fired).toEqual([
      ['old', 5_000_000],
      ['now', 5_000_000],
    ]);
  });
});
