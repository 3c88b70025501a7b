/**
 * The mutation engine every fuzz target shares (targets are the other files here; run.ts drives them).
 *
 * Not coverage-guided: there is no instrumentation under vite-node. The feedback is the outcome signature
 * a target returns for each input (the error reason, or the shape of what was accepted): an input with a
 * signature not seen before joins the corpus, so inputs that get past the early checks are mutated further.
 *
 * Oracles the engine applies itself, on top of each target's own (declared error class, round trip):
 *  - time: an input over SLOW_MS is timed twice more and reported if it stays slow;
 *  - hang: a watchdog thread sees the current input through shared memory; if one input runs for
 *    HANG_SECONDS it saves it and kills the process (a synchronous loop cannot be interrupted from inside);
 *  - memory: heap + array buffers after a forced GC, sampled through the run; growth beyond
 *    MEMORY_GROWTH_MB from the warmed-up baseline, not explained by the corpus, is reported.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

/** An oracle violation, thrown by a target. `what` is short and stable: it is how findings are grouped. */
export class Finding extends Error {
  constructor(
    readonly what: string,
    detail?: string,
    options?: { cause?: unknown },
  ) {
    super(detail === undefined ? what : `${what}\n${detail}`, options);
    this.name = 'Finding';
  }
}

export type Random = () => number;

export interface FuzzTarget {
  name: string;
  /** What the target covers, one line for the summary. */
  description: string;
  /** Valid and hostile samples the mutations start from. */
  seeds: readonly Buffer[];
  /** Text the grammar cares about, inserted by mutations. */
  tokens: readonly string[];
  /** Inputs are cut to this many bytes (keeps repetition from growing them without end). */
  maxInputBytes: number;
  /**
   * Runs the parser(s) on one input and checks the target's oracles, throwing Finding on a violation.
   * Returns the outcome signature ('ok…' when the input was accepted).
   */
  run(input: Buffer, random: Random): string;
  /**
   * The production entry point alone (no oracle work), timed when `run` was slow: what must stay
   * under SLOW_MS is the parsing a peer can trigger, not the round-trip checks.
   */
  parseOnly(input: Buffer): void;
  /**
   * Optional mutations that know the format (replace a value, duplicate an element) and so keep more
   * inputs past the well-formedness checks; used for about a third of the inputs.
   */
  mutateStructured?(input: Buffer, random: Random): Buffer;
}

export interface FuzzOptions {
  seconds: number;
  seed: number;
  /** Findings are saved under outDir/<target>/. */
  outDir: string;
  /** Stop after this many distinct findings. */
  maxFindings?: number;
}

export interface SavedFinding {
  what: string;
  file: string;
  detail: string;
  /** How many inputs hit this same finding. */
  count: number;
}

export interface FuzzReport {
  target: string;
  seed: number;
  seconds: number;
  tried: number;
  accepted: number;
  execsPerSecond: number;
  corpus: number;
  signatures: number;
  /** The slowest input, oracle work included (a slow-input finding times the parse alone). */
  slowestMs: number;
  heapGrowthMb: number;
  findings: SavedFinding[];
}

export const SLOW_MS = 100;
export const HANG_SECONDS = 10;
export const MEMORY_GROWTH_MB = 64;
const MAX_CORPUS_BYTES = 16 * 1024 * 1024;
const MAX_SIGNATURES = 5000;
/** Larger than any target's maxInputBytes: the watchdog's copy of the current input. */
const WATCH_BYTES = 1 << 20;

// ---------------------------------------------------------------------------------------------- random

/** mulberry32: seeded, so a reported run replays with the same seed. */
export function seededRandom(seed: number): Random {
  let s = seed | 0;
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: Random, xs: readonly T[]): T {
  if (xs.length === 0) throw new Error('pick from an empty list');
  return xs[Math.floor(random() * xs.length)] as T;
}

// ---------------------------------------------------------------------------------------------- mutations

/** Tokens every grammar here may trip on: line ends, quotes, escapes, controls, odd numbers and encodings. */
const COMMON_TOKENS = [
  '\r\n',
  '\n',
  '\r',
  '\r\n\r\n',
  '\0',
  '\t',
  ' ',
  '"',
  "'",
  '\\',
  '%',
  '%00',
  '%0D%0A',
  '%C3%A9',
  '%FF',
  '<',
  '>',
  '&',
  ';',
  ':',
  '=',
  ',',
  '@',
  '[',
  ']',
  '0',
  '-1',
  '65535',
  '65536',
  '2147483648',
  '4294967296',
  '9007199254740993',
  '99999999999999999999',
  '1e308',
  'é',
  '\u2028',
  '\ud83d\ude00',
  '\ufeff',
];
const HIGH_BYTES = [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf4, 0x90, 0x80, 0x80]), Buffer.from([0xc0, 0xaf])];
const NUMBERS = ['0', '00', '-0', '1', '-1', '007', '255', '256', '65535', '65536', '2147483647', '2147483648', '4294967296', '9007199254740993', '18446744073709551616', '1e3', '0x10', '.5'];

export class Mutator {
  private readonly tokens: Buffer[];

  constructor(
    private readonly random: Random,
    targetTokens: readonly string[],
    private readonly maxBytes: number,
  ) {
    this.tokens = [...targetTokens, ...COMMON_TOKENS].map((t) => Buffer.from(t, 'utf8')).concat(HIGH_BYTES);
  }

  private int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** Applies 1–4 mutations (sometimes up to 12), splicing with `others` when asked to. */
  mutate(input: Buffer, others: readonly Buffer[]): Buffer {
    let b = input;
    const rounds = this.random() < 0.1 ? 5 + this.int(8) : 1 + this.int(4);
    for (let r = 0; r < rounds; r++) {
      b = this.once(b, others);
      if (b.length > this.maxBytes) b = b.subarray(0, this.maxBytes);
    }
    return b;
  }

  private once(b: Buffer, others: readonly Buffer[]): Buffer {
    const at = this.int(b.length + 1);
    const len = 1 + this.int(this.random() < 0.8 ? 16 : 256);
    switch (this.int(12)) {
      case 0: {
        // overwrite a byte with any value
        if (b.length === 0) return b;
        const c = Buffer.from(b);
        c[Math.min(at, c.length - 1)] = this.int(256);
        return c;
      }
      case 1: {
        // flip one bit (case changes, CR↔LF, digit neighbours)
        if (b.length === 0) return b;
        const c = Buffer.from(b);
        const i = Math.min(at, c.length - 1);
        c[i] = (c[i] ?? 0) ^ (1 << this.int(8));
        return c;
      }
      case 2:
      case 3:
        // insert a token the grammar cares about
        return Buffer.concat([b.subarray(0, at), pick(this.random, this.tokens), b.subarray(at)]);
      case 4:
        // delete a range
        return Buffer.concat([b.subarray(0, at), b.subarray(at + len)]);
      case 5: {
        // repeat a range: repeated headers, parameters, elements; now and then many times
        const from = Math.max(0, at - len);
        const times = this.random() < 0.9 ? 1 : 2 + this.int(this.random() < 0.5 ? 10 : 500);
        const piece = b.subarray(from, at);
        return Buffer.concat([b.subarray(0, at), ...Array.from({ length: times }, () => piece), b.subarray(at)]);
      }
      case 6:
        // truncate
        return b.subarray(0, at);
      case 7: {
        // splice: our head, another input's tail (from a random point of it)
        const o = pick(this.random, others);
        return Buffer.concat([b.subarray(0, at), o.subarray(this.int(o.length + 1))]);
      }
      case 8: {
        // insert a piece of another input
        const o = pick(this.random, others);
        const from = this.int(o.length + 1);
        return Buffer.concat([b.subarray(0, at), o.subarray(from, from + len * 4), b.subarray(at)]);
      }
      case 9: {
        // duplicate or move a whole line (repeated headers, attributes, lines out of order)
        const lines = splitKeepingEnds(b);
        if (lines.length < 2) return b;
        const line = pick(this.random, lines);
        const dest = this.int(lines.length + 1);
        const copy = lines.slice();
        if (this.random() < 0.5) copy.splice(lines.indexOf(line), 1);
        copy.splice(Math.min(dest, copy.length), 0, line);
        return Buffer.concat(copy);
      }
      case 10: {
        // replace a run of digits with an interesting number
        const s = b.toString('latin1');
        const re = /[0-9]+/g;
        const runs: Array<[number, number]> = [];
        for (let m = re.exec(s); m !== null && runs.length < 64; m = re.exec(s)) runs.push([m.index, m.index + m[0].length]);
        if (runs.length === 0) return b;
        const [from, to] = pick(this.random, runs);
        return Buffer.concat([b.subarray(0, from), Buffer.from(pick(this.random, NUMBERS), 'latin1'), b.subarray(to)]);
      }
      default: {
        // a few random bytes, mostly printable ASCII
        const n = 1 + this.int(8);
        const bytes = Buffer.alloc(n);
        for (let i = 0; i < n; i++) bytes[i] = this.random() < 0.8 ? 32 + this.int(95) : this.int(256);
        return Buffer.concat([b.subarray(0, at), bytes, b.subarray(at + this.int(3))]);
      }
    }
  }
}

function splitKeepingEnds(b: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let start = 0;
  for (let i = b.indexOf(10); i >= 0 && out.length < 4096; i = b.indexOf(10, start)) {
    out.push(b.subarray(start, i + 1));
    start = i + 1;
  }
  if (start < b.length) out.push(b.subarray(start));
  return out;
}

// ---------------------------------------------------------------------------------------------- memory

let gcFunction: (() => void) | undefined;

/** A forced GC, so that heap samples measure what is retained, not what awaits collection. */
function collect(): void {
  if (!gcFunction) {
    setFlagsFromString('--expose-gc');
    gcFunction = runInNewContext('gc') as () => void;
  }
  gcFunction();
}

function retainedBytes(): number {
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

// ---------------------------------------------------------------------------------------------- watchdog

/**
 * Plain JavaScript, evaluated in a worker (no TypeScript loader there). Layout of the shared memory:
 * Int32 [0] active flag, [1] exec counter, [2] input length; bytes from 16: the current input.
 */
const WATCHDOG_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const path = require('node:path');
const ints = new Int32Array(workerData.shared, 0, 4);
const bytes = new Uint8Array(workerData.shared, 16);
let label = { target: '?', seed: 0, dir: '.' };
parentPort.on('message', (m) => { label = m; });
let last = -1;
let since = Date.now();
setInterval(() => {
  const n = Atomics.load(ints, 1);
  if (Atomics.load(ints, 0) !== 1 || n !== last) { last = n; since = Date.now(); return; }
  if (Date.now() - since < workerData.hangMs) return;
  const len = Atomics.load(ints, 2);
  const file = path.join(label.dir, 'hang-' + label.seed + '.bin');
  fs.mkdirSync(label.dir, { recursive: true });
  fs.writeFileSync(file, Buffer.from(bytes.subarray(0, len)));
  // Straight to fd 2: a worker's process.stderr goes through the main thread, which is the one stuck.
  fs.writeSync(2, '\\nFUZZ FINDING [' + label.target + '] hang: one input ran for over ' + (workerData.hangMs / 1000) + ' s (' + file + ')\\n');
  process.kill(process.pid, 'SIGKILL');
}, 500).unref();
`;

class Watchdog {
  private readonly shared = new SharedArrayBuffer(16 + WATCH_BYTES);
  private readonly ints = new Int32Array(this.shared, 0, 4);
  private readonly bytes = new Uint8Array(this.shared, 16);
  private readonly worker: Worker;

  constructor() {
    this.worker = new Worker(WATCHDOG_SOURCE, { eval: true, workerData: { shared: this.shared, hangMs: HANG_SECONDS * 1000 } });
    this.worker.unref();
  }

  label(target: string, seed: number, dir: string): void {
    this.worker.postMessage({ target, seed, dir });
  }

  /** Called before each input: cheap (one copy), and what the watchdog saves if this input never returns. */
  enter(input: Buffer): void {
    const n = Math.min(input.length, WATCH_BYTES);
    this.bytes.set(input.subarray(0, n));
    Atomics.store(this.ints, 2, n);
    Atomics.add(this.ints, 1, 1);
    Atomics.store(this.ints, 0, 1);
  }

  idle(): void {
    Atomics.store(this.ints, 0, 0);
  }

  stop(): Promise<number> {
    return this.worker.terminate();
  }
}

let watchdog: Watchdog | undefined;

export async function stopWatchdog(): Promise<void> {
  await watchdog?.stop();
  watchdog = undefined;
}

// ---------------------------------------------------------------------------------------------- loop

function firstLine(s: string): string {
  const i = s.indexOf('\n');
  return i < 0 ? s : s.slice(0, i);
}

function describeError(e: unknown): string {
  if (e instanceof Finding) return e.message + (e.cause instanceof Error ? `\ncaused by: ${e.cause.stack ?? e.cause.message}` : '');
  return e instanceof Error ? (e.stack ?? e.message) : String(e);
}

/**
 * Signatures may echo input (reasons quoting a line or naming a parameter): quoted text, digits and
 * long words are folded so that they stay few.
 */
function normalizeSignature(s: string): string {
  return s
    .replace(/"[^"]*"?/g, '"')
    .replace(/[0-9]+/g, '#')
    .split(':')
    .map((part) => part.slice(0, 32))
    .join(':')
    .slice(0, 120);
}

function timeParse(target: FuzzTarget, input: Buffer): number {
  watchdog?.enter(input);
  const t0 = performance.now();
  try {
    target.parseOnly(input);
  } catch {
    // Refusals are expected; only the time matters here.
  }
  return performance.now() - t0;
}

export function fuzz(target: FuzzTarget, opts: FuzzOptions): FuzzReport {
  const random = seededRandom(opts.seed);
  const mutator = new Mutator(random, target.tokens, target.maxInputBytes);
  const dir = join(opts.outDir, target.name);
  const maxFindings = opts.maxFindings ?? 20;
  watchdog ??= new Watchdog();
  watchdog.label(target.name, opts.seed, dir);

  const corpus: Buffer[] = target.seeds.map((s) => s.subarray(0, target.maxInputBytes));
  let corpusBytes = corpus.reduce((n, b) => n + b.length, 0);
  const signatures = new Set<string>();
  const findings = new Map<string, SavedFinding>();
  let tried = 0;
  let accepted = 0;
  let slowest = 0;

  const record = (input: Buffer, e: unknown): void => {
    const what = e instanceof Finding ? e.what : `target threw ${e instanceof Error ? e.name : typeof e}: ${firstLine(String(e instanceof Error ? e.message : e))}`;
    const known = findings.get(what);
    if (known) {
      known.count++;
      return;
    }
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${findings.size}-${opts.seed}.bin`);
    writeFileSync(file, input);
    const detail = describeError(e);
    findings.set(what, { what, file, detail, count: 1 });
    console.log(`\nFUZZ FINDING [${target.name}] ${what}\n  input: ${file} (${input.length} bytes): ${JSON.stringify(input.toString('latin1').slice(0, 300))}\n  ${detail.split('\n').slice(0, 12).join('\n  ')}`);
  };

  const runOne = (input: Buffer): { signature: string; ms: number } => {
    watchdog?.enter(input);
    const t0 = performance.now();
    let signature = 'finding';
    try {
      signature = target.run(input, random);
    } catch (e) {
      record(input, e);
    }
    return { signature, ms: performance.now() - t0 };
  };

  // Seeds first, each once: a broken seed is a finding of its own and shows the oracles are live.
  for (const seed of corpus.slice()) {
    tried++;
    const { signature } = runOne(seed);
    if (signature.startsWith('ok')) accepted++;
    signatures.add(normalizeSignature(signature));
  }

  const start = performance.now();
  const end = start + opts.seconds * 1000;
  const warmUntil = start + Math.min(5000, opts.seconds * 100);
  let baseline: number | undefined;
  let baselineCorpus = 0;
  let growth = 0;
  let nextSample = warmUntil;
  while (findings.size < maxFindings) {
    const now = performance.now();
    if (now >= end) break;
    if (now >= nextSample) {
      watchdog.idle();
      const bytes = retainedBytes();
      if (baseline === undefined) {
        baseline = bytes;
        baselineCorpus = corpusBytes;
      } else {
        growth = Math.max(growth, bytes - baseline - (corpusBytes - baselineCorpus));
      }
      nextSample = performance.now() + 10_000;
    }
    for (let i = 0; i < 100; i++) {
      const base = random() < 0.7 ? pick(random, corpus) : pick(random, target.seeds);
      const structured = target.mutateStructured !== undefined && random() < 0.35;
      const input = structured ? target.mutateStructured!(base, random).subarray(0, target.maxInputBytes) : mutator.mutate(base, corpus);
      tried++;
      const { signature, ms } = runOne(input);
      slowest = Math.max(slowest, ms);
      if (ms > SLOW_MS) {
        // One slow run may be a GC pause or the other benchmarks: the parse alone, slow three times, is the input.
        const parse = Math.min(timeParse(target, input), timeParse(target, input), timeParse(target, input));
        if (parse > SLOW_MS) record(input, new Finding(`slow input: over ${SLOW_MS} ms`, `${parse.toFixed(0)} ms for ${input.length} bytes`));
      }
      if (signature.startsWith('ok')) accepted++;
      const sig = normalizeSignature(signature);
      if (!signatures.has(sig) && signatures.size < MAX_SIGNATURES) {
        signatures.add(sig);
        const copy = Buffer.from(input);
        if (corpusBytes + copy.length <= MAX_CORPUS_BYTES) {
          corpus.push(copy);
          corpusBytes += copy.length;
        } else {
          // Full: replace a random non-seed entry, so memory stays bounded however long the run.
          const at = target.seeds.length + Math.floor(random() * Math.max(1, corpus.length - target.seeds.length));
          if (at < corpus.length) {
            corpusBytes += copy.length - (corpus[at]?.length ?? 0);
            corpus[at] = copy;
          }
        }
      }
    }
  }
  const elapsed = (performance.now() - start) / 1000;
  watchdog.idle();
  if (baseline !== undefined) growth = Math.max(growth, retainedBytes() - baseline - (corpusBytes - baselineCorpus));
  const growthMb = growth / (1024 * 1024);
  if (growthMb > MEMORY_GROWTH_MB) {
    record(Buffer.alloc(0), new Finding(`memory grew by ${growthMb.toFixed(0)} MB over the run`, `limit ${MEMORY_GROWTH_MB} MB beyond the corpus`));
  }

  return {
    target: target.name,
    seed: opts.seed,
    seconds: elapsed,
    tried,
    accepted,
    execsPerSecond: tried / Math.max(elapsed, 0.001),
    corpus: corpus.length,
    signatures: signatures.size,
    slowestMs: slowest,
    heapGrowthMb: growthMb,
    findings: [...findings.values()],
  };
}

// ---------------------------------------------------------------------------------------------- oracle helpers

function thrown(what: string, e: unknown): Finding {
  const name = e instanceof Error ? e.name : typeof e;
  return new Finding(`${what} threw ${name}`, e instanceof Error ? e.message : String(e), { cause: e });
}

/** Calls `f`; an error of class `allowed` comes back as the error, anything else thrown is a Finding. */
export function expectOnly<T, E extends Error>(
  what: string,
  allowed: abstract new (...args: never[]) => E,
  f: () => T,
): { ok: true; value: T } | { ok: false; error: E } {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof allowed) return { ok: false, error: e };
    throw thrown(what, e);
  }
}

/** Calls `f`, which may not throw at all: anything thrown is a Finding. */
export function noThrow<T>(what: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw thrown(what, e);
  }
}

/** JSON with object keys sorted, Maps as entry lists (their order kept), Buffers as base64: a comparable meaning. */
export function canonical(v: unknown): string {
  return JSON.stringify(normalize(v));
}

function normalize(v: unknown): unknown {
  if (v instanceof Map) return { $map: [...v.entries()].map(([k, x]) => [normalize(k), normalize(x)]) };
  if (Buffer.isBuffer(v)) return { $buffer: v.toString('base64') };
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) {
      const x = (v as Record<string, unknown>)[k];
      if (x !== undefined) out[k] = normalize(x);
    }
    return out;
  }
  return v;
}

/** Throws a Finding when two meanings differ, showing both. */
export function expectSame(what: string, before: unknown, after: unknown): void {
  const a = canonical(before);
  const b = canonical(after);
  if (a !== b) throw new Finding(what, `before: ${a.slice(0, 600)}\nafter:  ${b.slice(0, 600)}`);
}
