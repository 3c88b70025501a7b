import { parseMessage } from '../src/sip/parser.js';
import { serializeMessage } from '../src/sip/serializer.js';
import { SAMPLE_INVITE, SAMPLE_MESSAGE, SAMPLE_NOTIFY } from './samples.js';

export interface ParseResult {
  sample: string;
  bytes: number;
  /** Median over rounds of iterations per CPU-second of this process: robust when other work shares the cores. */
  stoxPerSec: number;
  baselinePerSec: number;
  /** The same rounds timed by the wall clock, which other processes on the machine slow down. */
  stoxPerWallSec: number;
  baselinePerWallSec: number;
  rounds: number;
}

interface Round {
  perCpuSec: number;
  perWallSec: number;
}

/** Runs `fn` in batches for about `ms` and returns iterations per CPU-second and per wall-second. */
function round(fn: () => void, ms: number): Round {
  let n = 0;
  const cpu0 = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 500; i++) fn();
    n += 500;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpu0);
  return { perCpuSec: n / ((cpu.user + cpu.system) / 1e6), perWallSec: n / (Number(now - start) / 1e9) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/**
 * Stox parse + serialize beside a floor baseline measured in the same run: splitting the bytes into lines
 * and joining them back, the least any parser that reads every header must do. Stox and the baseline
 * alternate in short rounds so a burst of other work hits both, and each reports its median round.
 */
export function benchParse(ms = 2000, rounds = 10): ParseResult[] {
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
    const stox = (): void => {
      const r = parseMessage(buf);
      if (r.ok) sink += serializeMessage(r.message).length;
    };
    const baseline = (): void => {
      const lines = buf.toString('utf8').split('\r\n');
      sink += Buffer.from(lines.join('\r\n'), 'utf8').length;
    };
    for (let i = 0; i < 5000; i++) {
      stox(); // warm the JIT before timing
      baseline();
    }
    const s: Round[] = [];
    const b: Round[] = [];
    for (let i = 0; i < rounds; i++) {
      s.push(round(stox, ms / rounds));
      b.push(round(baseline, ms / rounds));
    }
    if (sink === 0) throw new Error('benchmark optimised away');
    return {
      sample,
      bytes: buf.length,
      stoxPerSec: median(s.map((r) => r.perCpuSec)),
      baselinePerSec: median(b.map((r) => r.perCpuSec)),
      stoxPerWallSec: median(s.map((r) => r.perWallSec)),
      baselinePerWallSec: median(b.map((r) => r.perWallSec)),
      rounds,
    };
  });
}
