import { parseMessage } from '../src/sip/parser.js';
import { serializeMessage } from '../src/sip/serializer.js';
import { SAMPLE_INVITE, SAMPLE_MESSAGE, SAMPLE_NOTIFY } from './samples.js';

export interface ParseResult {
  sample: string;
  bytes: number;
  stoxPerSec: number;
  baselinePerSec: number;
}

/** Runs `fn` in batches until `ms` have passed and returns iterations per second. */
function rate(fn: () => void, ms: number): number {
  for (let i = 0; i < 2000; i++) fn(); // warm the JIT before timing
  let n = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) fn();
    n += 1000;
    now = process.hrtime.bigint();
  }
  return n / (Number(now - start) / 1e9);
}

/**
 * Stox parse + serialize beside a floor baseline measured in the same run: splitting the bytes into lines
 * and joining them back, the least any parser that reads every header must do.
 */
export function benchParse(ms = 2000): ParseResult[] {
  const samples: Array<[string, string]> = [
    ['MESSAGE', SAMPLE_MESSAGE],
    ['NOTIFY (PIDF)', SAMPLE_NOTIFY],
    ['INVITE (SDP)', SAMPLE_INVITE],
  ];
  return samples.map(([sample, text]) => {
    const buf = Buffer.from(text, 'utf8');
    const check = parseMessage(buf);
    if (!check.ok) throw new Error(`sample ${sample} does not parse: ${check.reason}`);
    let sink = 0;
    const stoxPerSec = rate(() => {
      const r = parseMessage(buf);
      if (r.ok) sink += serializeMessage(r.message).length;
    }, ms);
    const baselinePerSec = rate(() => {
      const lines = buf.toString('utf8').split('\r\n');
      sink += Buffer.from(lines.join('\r\n'), 'utf8').length;
    }, ms);
    if (sink === 0) throw new Error('benchmark optimised away');
    return { sample, bytes: buf.length, stoxPerSec, baselinePerSec };
  });
}
