import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, getPriority, setPriority, totalmem } from 'node:os';
import { packageFile } from '../src/package-root.js';
import { benchOptions, type OptionsRun } from './sip-options.js';
import { benchParse } from './sip-parse.js';
import { imChartSubtitle, writeImCharts } from './im-chart.js';
import { benchIm, imOptionsFromEnv, printIm } from './im.js';
import { benchPresence, presenceReport } from './presence.js';

/**
 * `npm run bench`: every benchmark beside a baseline measured in the same run. Prints a table and writes
 * JSON to bench/results/ so BENCHMARKS.md can quote exact figures with the command that produced them.
 */
async function main(): Promise<void> {
  const only = process.argv.slice(2);
  // BENCH_NICE=-10: on a machine shared with builds and other benchmarks, run this process and every peer it
  // starts (they inherit it) at that priority, all alike, so that other work is measured less (needs root).
  if (process.env.BENCH_NICE !== undefined) setPriority(Number(process.env.BENCH_NICE));
  const want = (name: string): boolean => only.length === 0 || only.includes(name);
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, nice: getPriority() };
  const results: Record<string, unknown> = { machine, date: new Date().toISOString() };
  console.log(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, node ${machine.node}, nice ${machine.nice}\n`);

  if (want('parse')) {
    const parse = benchParse();
    results.parse = parse;
    console.log(`SIP parse + serialize, one core (messages per CPU-second, median of ${parse[0]?.rounds ?? 0} alternating rounds; wall-clock rate in brackets)`);
    console.log('| message | bytes | Stox parse+serialize | baseline: split+join lines | ratio |');
    console.log('|---|---:|---:|---:|---:|');
    const f = (n: number): string => Math.round(n).toLocaleString('en');
    for (const r of parse) {
      console.log(`| ${r.sample} | ${r.bytes} | ${f(r.stoxPerSec)} (${f(r.stoxPerWallSec)}) | ${f(r.baselinePerSec)} (${f(r.baselinePerWallSec)}) | ${(r.stoxPerSec / r.baselinePerSec).toFixed(2)} |`);
    }
    console.log();
  }

  if (want('options')) {
    const numbers = (v: string | undefined, d: number[]): number[] => (v ? v.split(',').map(Number) : d);
    const cfg = {
      rate: Number(process.env.BENCH_OPTIONS_RATE ?? 15000),
      seconds: Number(process.env.BENCH_OPTIONS_SECONDS ?? 10),
      searchRates: numbers(process.env.BENCH_OPTIONS_SEARCH, [10000, 12500, 15000, 17500]),
      searchSeconds: Number(process.env.BENCH_OPTIONS_SEARCH_SECONDS ?? 4),
    };
    const o = await benchOptions(cfg);
    results.options = o;
    const f0 = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en') : 'n/a');
    const row = (name: string, r: OptionsRun): string =>
      `| ${name} | ${f0(r.offeredRate)} (${f0(r.generatedRate)}) | ${f0(r.achievedRate)} | ${r.successful} | ${r.failed} | ${r.retransmissions} | ${r.drops.peer} / ${r.drops.uac} | ${r.latency.p50Ms} / ${r.latency.p99Ms} / ${r.latency.maxMs} | ${r.peerCpuSeconds.toFixed(2)} (${((r.peerCpuSeconds / r.calls) * 1e6).toFixed(1)} µs/call) |`;
    const header = '| answering peer | offered/s (generated) | achieved/s | successful | failed | retransmissions | drops at peer / at sipp UAC | latency ms p50 / p99 / max | peer CPU s |';
    console.log(`OPTIONS over UDP under sipp load: ${o.calls} calls offered at ${o.offeredRate}/s after a 2 s warm-up`);
    console.log('from sipp -trace_rtt: achieved = successful calls / (last call end - first call start); generated = calls / (last call start - first call start); latency per call');
    console.log(`load average before the run: ${o.loadAverage.map((l) => l.toFixed(2)).join(' ')} (other work on these ${machine.cores} cores makes every figure noisier)`);
    console.log(header);
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    console.log(row('baseline: sipp UAS', o.baseline.main));
    console.log(row('Stox', o.stox.main));
    console.log(`peak RSS: sipp UAS ${o.baseline.peakRssMb.toFixed(1)} MB, Stox ${o.stox.peakRssMb.toFixed(1)} MB\n`);
    console.log(`Highest offered rate answered with no retransmission and no failure while sipp generated ≥ 97% of it (${cfg.searchSeconds} s runs):`);
    console.log(header);
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const [name, p] of [['sipp UAS', o.baseline], ['Stox', o.stox]] as const) {
      for (const r of p.search) console.log(row(`${name}${r.clean ? '' : ' (not clean)'}`, r));
    }
    console.log(`max clean rate: sipp UAS ${f0(o.baseline.maxCleanRate)}/s, Stox ${f0(o.stox.maxCleanRate)}/s\n`);
  }

  if (want('im')) {
    const im = await benchIm(imOptionsFromEnv(), (line) => console.error(line));
    results.im = im;
    printIm(im);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const chart of writeImCharts(im.steps, [packageFile(`bench/results/${stamp}-im-s2x.svg`)], imChartSubtitle())) console.log(`chart: ${chart} (BENCHMARKS.md shows a copy: bench/charts/im-s2x.svg)`);
    console.log();
  }

  if (want('presence')) {
    const presence = await benchPresence({}, (line) => console.error(line));
    results.presence = presence;
    console.log(presenceReport(presence));
    console.log();
  }

  mkdirSync(packageFile('bench/results'), { recursive: true });
  const file = packageFile(`bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, null, 2));
  console.log(`results: ${file}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
