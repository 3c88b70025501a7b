import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeClock, systemClock } from '../../../src/sip/clock.js';

describe('FakeClock', () => {
  it('fires due timers in due order, ties in the order they were set, with now() at the due time', () => {
    const clock = new FakeClock();
    const fired: Array<[string, number]> = [];
    clock.setTimer(300, () => fired.push(['c', clock.now()]));
    clock.setTimer(100, () => fired.push(['a', clock.now()]));
    clock.setTimer(100, () => fired.push(['b', clock.now()]));
    clock.advance(250);
    expect(fired).toEqual([
      ['a', 100],
      ['b', 100],
    ]);
    expect(clock.now()).toBe(250);
    clock.advance(50);
    expect(fired.at(-1)).toEqual(['c', 300]);
  });

  it('fires timers set by firing timers within the same advance', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    const chain = (ms: number): void => {
      clock.setTimer(ms, () => {
        at.push(clock.now());
        chain(ms * 2);
      });
    };
    chain(500);
    clock.advance(4000);
    expect(at).toEqual([500, 1500, 3500]);
    expect(clock.pending()).toBe(1);
  });

  it('does not fire cancelled timers and pending() counts only live ones', () => {
    const clock = new FakeClock(1000);
    const fn = vi.fn();
    const h = clock.setTimer(10, fn);
    clock.setTimer(20, () => undefined);
    expect(clock.pending()).toBe(2);
    h.cancel();
    h.cancel();
    expect(clock.pending()).toBe(1);
    clock.advance(100);
    expect(fn).not.toHaveBeenCalled();
    expect(clock.pending()).toBe(0);
    expect(clock.now()).toBe(1100);
  });

  it('advance(0) fires zero-delay timers, including ones they set', () => {
    const clock = new FakeClock();
    const fn = vi.fn();
    clock.setTimer(0, () => clock.setTimer(0, fn));
    clock.advance(0);
    expect(fn).toHaveBeenCalledOnce();
  });
});

describe('systemClock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('runs and cancels timers through setTimeout', () => {
    vi.useFakeTimers();
    const fired = vi.fn();
    const cancelled = vi.fn();
    systemClock.setTimer(50, fired);
    systemClock.setTimer(50, cancelled).cancel();
    vi.advanceTimersByTime(49);
    expect(fired).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fired).toHaveBeenCalledOnce();
    expect(cancelled).not.toHaveBeenCalled();
    expect(typeof systemClock.now()).toBe('number');
  });
});
