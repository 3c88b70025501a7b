import { describe, expect, it } from 'vitest';
import { TimerWheel } from '../../../src/gateway/timer-wheel.js';
import { FakeClock } from '../../../src/sip/clock.js';

describe('TimerWheel: keyed timers for the core state machines', () => {
  it('fires each key once at its deadline, in deadline order', () => {
    const clock = new FakeClock(0);
    const fired: Array<[string, number]> = [];
    const w = new TimerWheel(clock, (k, now) => fired.push([k, now]), 100);
    w.arm('b', 500);
    w.arm('a', 200);
    w.arm('c', 500);
    clock.advance(199);
    expect(fired).toEqual([]);
    clock.advance(1);
    expect(fired).toEqual([['a', 200]]);
    clock.advance(300);
    expect(fired.map((f) => f[0])).toEqual(['a', 'b', 'c']);
    expect(w.size).toBe(0);
  });

  it('re-arming replaces the deadline; cancel removes it', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const w = new TimerWheel(clock, (k) => fired.push(k), 100);
    w.arm('x', 300);
    w.arm('x', 1000);
    w.arm('y', 400);
    w.cancel('y');
    clock.advance(900);
    expect(fired).toEqual([]);
    clock.advance(100);
    expect(fired).toEqual(['x']);
  });

  it('a handler may arm keys again, including one already due', () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    const w = new TimerWheel(
      clock,
      (k, now) => {
        fired.push(k);
        if (k === 'first') w.arm('second', now);
      },
      100,
    );
    w.arm('first', 100);
    clock.advance(100);
    expect(fired).toEqual(['first', 'second']);
  });

  it('holds 100k keys with one clock timer', () => {
    const clock = new FakeClock(0);
    let count = 0;
    const w = new TimerWheel(clock, () => count++, 1000);
    for (let i = 0; i < 100_000; i++) w.arm(`k${i}`, 1000 + (i % 3600) * 1000);
    expect(clock.pending()).toBe(1);
    clock.advance(3_601_000);
    expect(count).toBe(100_000);
  });
});
