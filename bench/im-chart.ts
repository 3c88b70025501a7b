import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The SIP → XMPP IM chart of BENCHMARKS.md: achieved throughput and p99 one-way latency against the
 * offered rate, Stox beside its same-run sipp → sipp baseline, as a self-contained SVG (no plotting
 * dependency: two line panels are a few dozen elements). `node dist/bench/im-chart.js RESULTS.json OUT.svg`
 * draws it from a saved `bench/results/*-im.json`; `bench/im.ts` draws one after each run.
 */

/** What the chart reads of a benchmark step (a subset of `bench/im.ts`'s step records). */
export interface ChartStep {
  phase: string;
  path: string;
  offeredRate: number;
  achievedRate: number;
  zeroLoss: boolean;
  /** Zero loss with at most 1 % SIP retransmissions. */
  sustained?: boolean;
  oneWayMs?: { p99: number };
}

export interface ChartPoint {
  offered: number;
  achieved: number;
  p99Ms: number;
  /** Every step at this rate had zero loss and at most 1 % retransmissions. */
  sustained: boolean;
}

export interface ChartSeries {
  label: string;
  colour: string;
  points: ChartPoint[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** One point per offered rate (the median of repeated steps), throughput steps of one path only. */
export function seriesOf(steps: readonly ChartStep[], path: string): ChartPoint[] {
  const byRate = new Map<number, ChartStep[]>();
  for (const s of steps) {
    if (s.phase !== 'throughput' || s.path !== path || !s.oneWayMs) continue;
    const list = byRate.get(s.offeredRate) ?? [];
    list.push(s);
    byRate.set(s.offeredRate, list);
  }
  return [...byRate.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([offered, list]) => ({
      offered,
      achieved: median(list.map((s) => s.achievedRate)),
      p99Ms: median(list.map((s) => s.oneWayMs!.p99)),
      sustained: list.every((s) => s.zeroLoss && s.sustained !== false),
    }));
}

const W = 820;
const PANEL_H = 300;
const LEFT = 70;
const RIGHT = 20;
const TOP = 62;
const GAP = 70;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

interface Panel {
  top: number;
  title: string;
  yLabel: string;
  /** Maps a value to a y coordinate inside the panel. */
  y: (v: number) => number;
  yTicks: Array<{ v: number; label: string }>;
}

/** The SVG text: throughput (linear) above, p99 latency (log scale, 1 ms to the worst) below. */
export function imChartSvg(series: readonly ChartSeries[], subtitle: string): string {
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) throw new Error('no throughput steps to chart');
  const maxOffered = Math.max(...all.map((p) => p.offered));
  const xStep = niceStep(maxOffered, 7);
  const xMax = Math.ceil(maxOffered / xStep) * xStep;
  const plotW = W - LEFT - RIGHT;
  const x = (v: number): number => LEFT + (v / xMax) * plotW;

  const tpStep = niceStep(xMax, 5);
  const tpTop = TOP;
  const tp: Panel = {
    top: tpTop,
    title: 'Achieved messages/s',
    yLabel: 'messages/s',
    y: (v) => tpTop + PANEL_H - (v / xMax) * PANEL_H,
    yTicks: Array.from({ length: Math.floor(xMax / tpStep) + 1 }, (_, i) => ({ v: i * tpStep, label: (i * tpStep).toLocaleString('en-US') })),
  };
  const latTop = TOP + PANEL_H + GAP;
  const worst = Math.max(10, ...all.map((p) => p.p99Ms));
  const decades = Math.ceil(Math.log10(worst));
  const lat: Panel = {
    top: latTop,
    title: 'One-way latency p99 (ms, log scale)',
    yLabel: 'ms',
    y: (v) => latTop + PANEL_H - (Math.log10(Math.max(v, 1)) / decades) * PANEL_H,
    yTicks: Array.from({ length: decades + 1 }, (_, i) => ({ v: 10 ** i, label: String(10 ** i) })),
  };

  const out: string[] = [];
  const height = latTop + PANEL_H + 70;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${height}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="15" font-weight="bold">SIP → XMPP page-mode IM against offered load</text>`);
  out.push(`<text x="${W / 2}" y="33" text-anchor="middle" fill="#555">${esc(subtitle)}</text>`);
  for (const panel of [tp, lat]) {
    out.push(`<text x="${LEFT}" y="${panel.top - 6}" font-weight="bold">${esc(panel.title)}</text>`);
    for (const t of panel.yTicks) {
      const yy = panel.y(t.v).toFixed(1);
      out.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${yy}" y2="${yy}" stroke="#e4e4e4"/>`);
      out.push(`<text x="${LEFT - 6}" y="${yy}" text-anchor="end" dominant-baseline="middle">${esc(t.label)}</text>`);
    }
    for (let v = 0; v <= xMax; v += xStep) {
      const xx = x(v).toFixed(1);
      out.push(`<line x1="${xx}" x2="${xx}" y1="${panel.top}" y2="${panel.top + PANEL_H}" stroke="#f0f0f0"/>`);
      out.push(`<text x="${xx}" y="${panel.top + PANEL_H + 16}" text-anchor="middle">${v.toLocaleString('en-US')}</text>`);
    }
    out.push(`<rect x="${LEFT}" y="${panel.top}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#888"/>`);
    out.push(`<text x="${LEFT + plotW / 2}" y="${panel.top + PANEL_H + 34}" text-anchor="middle">offered messages/s</text>`);
  }
  // Ideal throughput: everything offered is carried.
  out.push(`<line x1="${x(0)}" y1="${tp.y(0)}" x2="${x(xMax)}" y2="${tp.y(xMax)}" stroke="#bbb" stroke-dasharray="4 4"/>`);
  for (const s of series) {
    for (const [panel, value] of [
      [tp, (p: ChartPoint) => p.achieved],
      [lat, (p: ChartPoint) => p.p99Ms],
    ] as const) {
      const pts = s.points.map((p) => `${x(p.offered).toFixed(1)},${panel.y(value(p)).toFixed(1)}`).join(' ');
      out.push(`<polyline points="${pts}" fill="none" stroke="${s.colour}" stroke-width="2"/>`);
      for (const p of s.points) {
        // Hollow markers: a step that lost messages or only delivered them through SIP retransmissions.
        out.push(`<circle cx="${x(p.offered).toFixed(1)}" cy="${panel.y(value(p)).toFixed(1)}" r="4" stroke="${s.colour}" stroke-width="2" fill="${p.sustained ? s.colour : 'white'}"><title>${esc(`${s.label} @ ${p.offered}/s: ${p.achieved}/s achieved, p99 ${p.p99Ms} ms${p.sustained ? '' : ', not sustained'}`)}</title></circle>`);
      }
    }
  }
  let lx = LEFT;
  const ly = height - 14;
  for (const s of series) {
    out.push(`<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${s.colour}"/><text x="${lx + 20}" y="${ly - 4}">${esc(s.label)}</text>`);
    lx += 34 + s.label.length * 6.5;
  }
  out.push(`<circle cx="${lx + 5}" cy="${ly - 7}" r="4" stroke="#333" stroke-width="2" fill="white"/><text x="${lx + 14}" y="${ly - 4}">not sustained (loss, or &gt; 1 % retransmissions)</text>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** The chart for a run's steps: Stox and the sipp → sipp baseline. */
export function imChartFromSteps(steps: readonly ChartStep[], subtitle: string): string {
  return imChartSvg(
    [
      { label: 'sipp → Stox → Prosody → client', colour: '#c0392b', points: seriesOf(steps, 'stox-s2x') },
      { label: 'baseline sipp → sipp', colour: '#2471a3', points: seriesOf(steps, 'sipp-sipp') },
    ].filter((s) => s.points.length > 0),
    subtitle,
  );
}

/** The machine and the date, which every figure depends on. */
export function imChartSubtitle(run = `${new Date().toISOString().slice(0, 16)} UTC`): string {
  return `${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}; run ${run}; medians per offered rate`;
}

/**
 * After a run: the chart beside its results file in bench/results. The copy BENCHMARKS.md shows,
 * `bench/charts/im-s2x.svg`, is replaced by hand with the figures it goes with, so a quick partial run
 * never overwrites it. Nothing is written when the run had no S2X throughput steps.
 */
export function writeImCharts(steps: readonly ChartStep[], files: readonly string[], subtitle: string): string[] {
  if (!steps.some((s) => s.phase === 'throughput' && s.path === 'stox-s2x')) return [];
  const svg = imChartFromSteps(steps, subtitle);
  for (const f of files) {
    mkdirSync(dirname(f), { recursive: true });
    writeFileSync(f, svg);
  }
  return [...files];
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, out] = process.argv.slice(2);
  if (!file || !out) {
    console.error('usage: node dist/bench/im-chart.js RESULTS-im.json OUT.svg');
    process.exit(2);
  }
  const results = JSON.parse(readFileSync(file, 'utf8')) as { im: { steps: ChartStep[] } };
  writeFileSync(out, imChartFromSteps(results.im.steps, imChartSubtitle(file.split('/').pop() ?? file)));
  console.log(`wrote ${out}`);
}
