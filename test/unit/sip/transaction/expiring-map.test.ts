import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../../../src/sip/clock.js';
import { ExpiringMap } from '../../../../src/sip/transaction/expiring-map.js';

describe('ExpiringMap: fixed-lifetime records swept in coarse buckets', () => {
  it('a record lives its lifetime and goes within one step after, with one clock timer for all', () => {
    const clock = new FakeClock();
    const m = new ExpiringMap<string>(clock, 32_000, 1000);
    m.set('a', 'A');
    clock.advance(300);
    m.set('b', 'B');
    clock.advance(400);
    m.set('c', 'C');
    expect(m.size).toBe(3);
    // One sweep timer, however many records.
    expect(clock.pending()).toBe(1);
    clock.advance(32_000 - 700 - 1);
    expect(m.get('a')).toBe('A');
    clock.advance(1);
    // a, b and c all end within the step that ends at 33 000 (a at 32 000 exactly, on the step boundary).
    expect(m.get('a')).toBeUndefined();
    expect(m.size).toBe(2);
    clock.advance(999);
    expect(m.size).toBe(2);
    clock.advance(1);
    expect(m.size).toBe(0);
    expect(clock.pending()).toBe(0);
  });

  it('never drops a record before its lifetime, whatever the phase of the clock', () => {
    const clock = new FakeClock(123);
    const m = new ExpiringMap<number>(clock, 5000, 500);
    for (let i = 0; i < 50; i++) {
      m.set(`k${i}`, clock.now());
      clock.advance(37);
    }
    for (let t = 0; t < 8000; t += 10) {
      for (let i = 0; i < 50; i++) {
        const born = m.get(`k${i}`);
        if (born !== undefined) expect(clock.now() - born).toBeLessThan(5000 + 500);
      }
      const alive = [...Array(50).keys()].filter((i) => m.has(`k${i}`)).length;
      const due = [...Array(50).keys()].filter((i) => 123 + i * 37 + 5000 > clock.now()).length;
      expect(alive).toBeGreaterThanOrEqual(due);
      clock.advance(10);
    }
    expect(m.size).toBe(0);
  });

  it('a deleted and re-added key keeps its new lifetime; delete and clear forget at once', () => {
    const clock = new FakeClock();
    const m = new ExpiringMap<string>(clock, 1000, 100);
    m.set('k', 'old');
    clock.advance(500);
    m.delete('k');
    expect(m.has('k')).toBe(false);
    m.set('k', 'new');
    clock.advance(600);
    // The old slot's sweep at 1000 finds another value and leaves it alone.
    expect(m.get('k')).toBe('new');
    clock.advance(500);
    expect(m.get('k')).toBeUndefined();
    m.set('x', 'X');
    m.clear();
    expect(m.size).toBe(0);
    expect(clock.pending()).toBe(0);
  });
});
