import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { packageFile } from '../src/package-root.js';
import { benchOptions } from './sip-options.js';
import { benchParse } from './sip-parse.js';

/**
 * `npm run bench`: every benchmark beside a baseline measured in the same run. Prints a table and writes
 * JSON to bench/results/ so BENCHMARKS.md can quote exact figures with the command that produced them.
 */
async function main(): Promise<void> {
  const only = process.argv.slice(2);
  const want = (name: string): boolean => only.length === 0 || only.includes(name);
  const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
  const results: Record<string, unknown> = { machine, date: new Date().toISOString() };
  console.log(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, node ${machine.node}\n`);

  if (want('parse')) {
    const parse = benchParse();
    results.parse = parse;
    console.log('SIP parse + serialize, one core (messages/s)');
    console.log('| message | bytes | Stox parse+serialize | baseline: split+join lines | ratio |');
    console.log('|---|---:|---:|---:|---:|');
    for (const r of parse) {
      console.log(`| ${r.sample} | ${r.bytes} | ${Math.round(r.stoxPerSec).toLocaleString('en')} | ${Math.round(r.baselinePerSec).toLocaleString('en')} | ${(r.stoxPerSec / r.baselinePerSec).toFixed(2)} |`);
    }
    console.log();
  }

  if (want('options')) {
    const rateArg = Number(process.env.BENCH_OPTIONS_RATE ?? 15000);
    const seconds = Number(process.env.BENCH_OPTIONS_SECONDS ?? 10);
    const o = await benchOptions(rateArg, seconds);
    results.options = o;
    console.log(`OPTIONS over UDP under sipp load: ${o.calls} calls offered at ${o.offeredRate}/s`);
    console.log('| answering peer | achieved calls/s | successful | failed | retransmissions | timeouts |');
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const [name, s] of [['baseline: sipp UAS', o.baseline], ['Stox', o.stox]] as const) {
      console.log(`| ${name} | ${s.rate.toFixed(0)} | ${s.successful} | ${s.failed} | ${s.retransmissions} | ${s.timeouts} |`);
    }
    console.log(`Stox peak RSS: ${o.stoxRssMb.toFixed(1)} MB\n`);
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
