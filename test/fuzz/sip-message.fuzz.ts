/**
 * Mutation fuzzer for the SIP grammar. Not a vitest test: run it for N seconds with
 *   npx vite-node test/fuzz/sip-message.fuzz.ts -- 60 [seed]
 * The contract checked: parseMessage never throws; parseUri/parseVia/parseNameAddr throw nothing but
 * SipSyntaxError; a message that parses serializes and re-parses to the same meaning. Offending
 * inputs are written to fuzz-out/ and the exit code is 1.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseMessage } from '../../src/sip/parser.js';
import { serializeMessage } from '../../src/sip/serializer.js';
import { formatUri, parseUri, SipSyntaxError, uriEquals } from '../../src/sip/uri.js';
import { formatNameAddr, formatVia, parseNameAddr, parseVia } from '../../src/sip/header-values.js';
import type { SipMessage } from '../../src/sip/message.js';
import { SAMPLE_INVITE, SAMPLE_MESSAGE, SAMPLE_NOTIFY } from '../../bench/samples.js';

const args = process.argv.slice(2).filter((a) => a !== '--');
const seconds = Number(args[0] ?? 10);
let seed = Number(args[1] ?? Date.now() % 2 ** 31);
const firstSeed = seed;

/** mulberry32: a seeded generator, so that a reported run can be replayed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

const SAMPLES = [SAMPLE_MESSAGE, SAMPLE_NOTIFY, SAMPLE_INVITE].map((s) => Buffer.from(s, 'utf8'));
const TOKENS = [',', '"', '<', '>', ';', ':', '=', '@', '%', '%0', '[', ']', '\\', '\r\n', '\r\n ', ' ', '\t', '\0', '\xff', '\r\n\r\n', 'sip:', '0', '4294967296', ';branch=', 'é'];

function mutate(input: Buffer): Buffer {
  let b = input;
  const rounds = 1 + Math.floor(random() * 4);
  for (let r = 0; r < rounds; r++) {
    const at = Math.floor(random() * (b.length + 1));
    switch (Math.floor(random() * 6)) {
      case 0: // flip a byte
        if (b.length > 0) {
          b = Buffer.from(b);
          b[Math.min(at, b.length - 1)] = Math.floor(random() * 256);
        }
        break;
      case 1: // insert a token the grammar cares about
        b = Buffer.concat([b.subarray(0, at), Buffer.from(pick(TOKENS), 'latin1'), b.subarray(at)]);
        break;
      case 2: // delete a range
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + Math.floor(random() * 40))]);
        break;
      case 3: // duplicate a range (repeated headers, params)
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.max(0, at - 60), at), b.subarray(at)]);
        break;
      case 4: // truncate
        b = b.subarray(0, at);
        break;
      default: // splice in a piece of another sample
        b = Buffer.concat([b.subarray(0, at), pick(SAMPLES).subarray(at, at + Math.floor(random() * 80))]);
    }
  }
  return b;
}

function meaning(m: SipMessage): string {
  const start = m.kind === 'request' ? `${m.method} ${m.uri}` : `${m.status} ${m.reason}`;
  return JSON.stringify([start, m.headers.entries.filter(([n]) => n !== 'content-length'), m.body.toString('base64')]);
}

let tried = 0;
let accepted = 0;
const failures: Array<{ what: string; input: Buffer; error: string }> = [];

function fail(what: string, input: Buffer, e: unknown): void {
  failures.push({ what, input, error: e instanceof Error ? (e.stack ?? e.message) : String(e) });
}

/** Sub-parsers may only throw SipSyntaxError; what they accept must format and re-parse to the same value. */
function checkValue(what: string, f: (v: string) => unknown, value: string): void {
  try {
    f(value);
  } catch (e) {
    if (!(e instanceof SipSyntaxError)) fail(what, Buffer.from(value, 'utf8'), e);
    return;
  }
  try {
    let same: boolean;
    if (f === parseUri) same = uriEquals(parseUri(formatUri(parseUri(value))), parseUri(value));
    else if (f === parseVia) same = formatVia(parseVia(formatVia(parseVia(value)))) === formatVia(parseVia(value));
    else same = formatNameAddr(parseNameAddr(formatNameAddr(parseNameAddr(value)))) === formatNameAddr(parseNameAddr(value));
    if (!same) fail(`${what.replace(' threw', '')}: format/re-parse changed the value`, Buffer.from(value, 'utf8'), new Error('round trip'));
  } catch (e) {
    fail(`${what.replace(' threw', '')}: format/re-parse threw`, Buffer.from(value, 'utf8'), e);
  }
}

const deadline = Date.now() + seconds * 1000;
while (Date.now() < deadline && failures.length < 20) {
  for (let i = 0; i < 200; i++) {
    const input = mutate(pick(SAMPLES));
    tried++;
    let outcome;
    try {
      outcome = parseMessage(input, { stream: random() < 0.3 });
    } catch (e) {
      fail('parseMessage threw', input, e);
      continue;
    }
    const m = outcome.ok ? outcome.message : outcome.partial;
    if (m) {
      if (m.kind === 'request') checkValue('parseUri threw', parseUri, m.uri);
      for (const v of m.headers.getAll('via')) checkValue('parseVia threw', parseVia, v);
      for (const n of ['from', 'to', 'contact', 'route']) for (const v of m.headers.getAll(n)) checkValue('parseNameAddr threw', parseNameAddr, v);
    }
    if (!outcome.ok) continue;
    accepted++;
    try {
      const again = parseMessage(serializeMessage(outcome.message));
      if (!again.ok) fail(`re-parse failed: ${again.reason}`, input, new Error('round trip'));
      else if (meaning(again.message) !== meaning(outcome.message)) fail('re-parse changed the meaning', input, new Error('round trip'));
    } catch (e) {
      fail('serialize/re-parse threw', input, e);
    }
  }
}

console.log(`seed ${firstSeed}: ${tried} inputs in ${seconds}s, ${accepted} accepted, ${failures.length} failures`);
if (failures.length > 0) {
  mkdirSync('fuzz-out', { recursive: true });
  failures.forEach((f, i) => {
    writeFileSync(`fuzz-out/sip-${firstSeed}-${i}.bin`, f.input);
    console.log(`#${i} ${f.what} (fuzz-out/sip-${firstSeed}-${i}.bin)\n${f.error}\n`);
  });
  process.exitCode = 1;
}
