import { describe, expect, it } from 'vitest';
import { imChartFromSteps, seriesOf, type ChartStep } from '../../../bench/im-chart.js';

const step = (path: string, offeredRate: number, achievedRate: number, p99: number, zeroLoss = true, phase = 'throughput', sustained = zeroLoss): ChartStep => ({
  phase,
  path,
  offeredRate,
  achievedRate,
  zeroLoss,
  sustained,
  oneWayMs: { p99 },
});

describe('bench/im-chart: SIP → XMPP throughput and p99 against offered load', () => {
  it('takes one point per offered rate, the median of repeated throughput steps, ignoring warm-up and other paths', () => {
    const steps = [
      step('stox-s2x', 2000, 1990, 9, true, 'warmup'),
      step('stox-s2x', 8000, 7900, 50),
      step('stox-s2x', 8000, 7800, 70),
      step('stox-s2x', 8000, 7950, 90, false),
      step('stox-s2x', 4000, 3990, 20),
      step('stox-x2s', 4000, 3000, 999),
    ];
    expect(seriesOf(steps, 'stox-s2x')).toEqual([
      { offered: 4000, achieved: 3990, p99Ms: 20, sustained: true },
      { offered: 8000, achieved: 7900, p99Ms: 70, sustained: false },
    ]);
  });

  it('draws both series with a marker per point, hollow where a step lost messages or needed retransmissions', () => {
    const svg = imChartFromSteps([step('stox-s2x', 4000, 3990, 20), step('stox-s2x', 12000, 6000, 4000, true, 'throughput', false), step('sipp-sipp', 4000, 3995, 2), step('sipp-sipp', 12000, 11800, 3)], 'a <test> run');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg).toContain('a &lt;test&gt; run');
    expect(svg.match(/<polyline /g)).toHaveLength(4);
    expect(svg.match(/<circle /g)!.length).toBe(8 + 1);
    expect(svg.match(/fill="white"><title>/g)).toHaveLength(2);
    expect(svg).toContain('sipp → Stox → Prosody → client @ 12000/s: 6000/s achieved, p99 4000 ms, not sustained</title>');
  });

  it('refuses a run without throughput steps rather than drawing an empty chart', () => {
    expect(() => imChartFromSteps([step('stox-s2x', 2000, 1990, 9, true, 'warmup')], 'x')).toThrow(/no throughput steps/);
  });
});
