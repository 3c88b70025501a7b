/**
 * Runs the fuzz targets: `npm run fuzz -- [target|all] [seconds-per-target] [seed]`
 * (e.g. `npm run fuzz`, `npm run fuzz -- sdp 120`, `npm run fuzz -- 30`, `npm run fuzz -- cpim 60 1234`).
 * Defaults: every target, 60 s each, a seed from the clock (printed, so a run can be replayed).
 * Findings are saved to fuzz-out/<target>/ and printed; the exit code is 1 when there was any.
 * `npm run fuzz -- <target> replay <file>…` runs saved inputs through the target's oracles again.
 */
import { readFileSync } from 'node:fs';
import { fuzz, seededRandom, stopWatchdog, type FuzzReport, type FuzzTarget } from './engine.js';
import { target as sipMessage } from './sip-message.fuzz.js';
import { target as sipUri } from './sip-uri.fuzz.js';
import { target as cpim } from './cpim.fuzz.js';
import { target as pidf } from './pidf.fuzz.js';
import { target as sdp } from './sdp.fuzz.js';
import { target as xhtmlIm } from './xhtml-im.fuzz.js';

const TARGETS: readonly FuzzTarget[] = [sipMessage, sipUri, cpim, pidf, sdp, xhtmlIm];

/**
 * `npm run fuzz -- <target> replay <file>…`: each saved input through the target's oracles again, with
 * 16 seeds, since targets draw options from the generator (bytes or string, stream or datagram, limits).
 */
function replay(name: string, files: string[]): never {
  const t = TARGETS.find((x) => x.name === name);
  if (!t || files.length === 0) usage('replay needs a target and at least one file');
  let failed = false;
  for (const file of files) {
    const input = readFileSync(file);
    const outcomes = new Set<string>();
    for (let seed = 0; seed < 16; seed++) {
      try {
        outcomes.add(t.run(input, seededRandom(seed)));
      } catch (e) {
        failed = true;
        outcomes.add(`FINDING (seed ${seed}): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      }
    }
    console.log(`${file}:\n  ${[...outcomes].join('\n  ')}`);
  }
  process.exit(failed ? 1 : 0);
}

function usage(message: string): never {
  const names = TARGETS.map((t) => t.name).join('|');
  console.error(`${message}\nusage: npm run fuzz -- [${names}|all] [seconds per target, default 60] [seed]\n       npm run fuzz -- <${names}> replay <file>…`);
  process.exit(2);
}

const args = process.argv.slice(2).filter((a) => a !== '--');
if (args[1] === 'replay') replay(args[0] ?? '', args.slice(2));
let name = 'all';
if (args[0] !== undefined && !/^\d+$/.test(args[0])) name = args.shift() ?? 'all';
const seconds = Number(args[0] ?? 60);
const seed = Number(args[1] ?? Date.now() % 2 ** 31);
if (!Number.isFinite(seconds) || seconds <= 0) usage(`bad seconds: ${args[0]}`);
if (!Number.isInteger(seed)) usage(`bad seed: ${args[1]}`);
const chosen = name === 'all' ? TARGETS : TARGETS.filter((t) => t.name === name);
if (chosen.length === 0) usage(`unknown target: ${name}`);

const reports: FuzzReport[] = [];
for (const t of chosen) {
  console.log(`fuzz ${t.name}: ${t.description}; ${seconds} s, seed ${seed}, ${t.seeds.length} seeds`);
  const r = fuzz(t, { seconds, seed, outDir: 'fuzz-out' });
  reports.push(r);
  console.log(
    `  ${r.tried} inputs in ${r.seconds.toFixed(1)} s (${Math.round(r.execsPerSecond)}/s), ${r.accepted} accepted, ` +
      `corpus ${r.corpus}, ${r.signatures} outcomes, slowest input ${r.slowestMs.toFixed(1)} ms (with oracles), heap growth ${r.heapGrowthMb.toFixed(1)} MB, ` +
      `${r.findings.length === 0 ? 'no findings' : `${r.findings.length} findings`}`,
  );
}
await stopWatchdog();

console.log('\ntarget        inputs    execs/s  accepted  findings');
for (const r of reports) {
  console.log(`${r.target.padEnd(12)} ${String(r.tried).padStart(8)} ${String(Math.round(r.execsPerSecond)).padStart(10)} ${String(r.accepted).padStart(9)} ${String(r.findings.length).padStart(9)}`);
}
const findings = reports.flatMap((r) => r.findings.map((f) => ({ target: r.target, ...f })));
if (findings.length > 0) {
  console.log('\nfindings:');
  for (const f of findings) console.log(`  [${f.target}] ${f.what} (${f.count} inputs; first saved as ${f.file})`);
  process.exitCode = 1;
}
