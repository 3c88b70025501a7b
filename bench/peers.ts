import { readFileSync } from 'node:fs';
import { freePort, freeUdpPort } from '../peers/ports.js';
import { Processes as PeerProcesses, tempDir, type Started } from '../peers/processes.js';
import { startProsody as startPeerProsody } from '../peers/prosody.js';
import { startStox as startPeerStox } from '../peers/stox.js';

/**
 * The real peers the benchmarks run against (Prosody, sipp, Stox itself), started through the same
 * peers/ code as the tests and the demo, each a child process known by its pid so everything started is
 * stopped by pid, even when a step fails. Plus the CPU and memory meters the benchmarks report with.
 */

export { freeUdpPort, tempDir };
export const freeTcpPort = freePort;
export type Proc = Started;

/** Output kept per process: enough for a failure message and a final sipp screen, bounded under load. */
const MAX_OUTPUT = 256 * 1024;

/** Every process a benchmark started, so `stopAll` can end exactly those; output bounded. */
export class Processes extends PeerProcesses {
  constructor() {
    super({ maxOutput: MAX_OUTPUT });
  }
}

export interface Prosody {
  proc: Proc;
  c2sPort: number;
  componentPort: number;
  /** Registers users in parallel (prosodyctl is idempotent). */
  register(users: Array<{ name: string; password: string }>): Promise<void>;
}

/**
 * Prosody on loopback, logging to its file only: every client login is an info line, thousands of them
 * under load.
 */
export async function startProsody(procs: Processes, dir: string, domain: string, components: Array<{ domain: string; secret: string }>): Promise<Prosody> {
  const p = await startPeerProsody({ processes: procs, dir, domain, components, consoleLog: false });
  const proc = p.proc;
  if (proc === undefined) throw new Error('Prosody not running after start');
  return {
    proc,
    c2sPort: p.c2sPort,
    componentPort: p.componentPort,
    async register(users) {
      await Promise.all(users.map((u) => p.register(u.name, u.password)));
    },
  };
}

export interface Stox {
  proc: Proc;
  udpPort: number;
}

/** The built `stox` binary with a YAML config written to `dir`; resolves once every component is online. */
export async function startStox(procs: Processes, dir: string, bin: string, yaml: string, onlineComponents: number, nodeArgs: string[] = []): Promise<Stox> {
  const s = await startPeerStox(dir, yaml, {}, { processes: procs, bin, nodeArgs, onlineComponents, cwd: dir });
  const udp = s.listen.udp;
  if (udp === undefined) throw new Error(`Stox has no UDP listener: ${s.proc.output().slice(-2000)}`);
  return { proc: s.proc, udpPort: udp.port };
}

/** Polls `count` until it reaches `expected`, stops moving for `stableMs`, or `maxMs` passes. */
export async function waitCount(count: () => Promise<number> | number, expected: number, maxMs: number, stableMs = 2000): Promise<number> {
  let last = -1;
  let stableSince = performance.now();
  const deadline = performance.now() + maxMs;
  for (;;) {
    const n = await count();
    if (n >= expected || performance.now() > deadline) return n;
    if (n !== last) {
      last = n;
      stableSince = performance.now();
    } else if (performance.now() - stableSince > stableMs) return n;
    await sleep(50);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resident memory now (VmRSS), in MB; NaN once the process is gone. */
export function rssMb(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields overall.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** VmRSS of one pid every `everyMs`; `peak` covers everything since start, `mark()` opens a new window. */
export class RssSampler {
  peak = 0;
  windowPeak = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private pid: number,
    everyMs = 250,
  ) {
    this.timer = setInterval(() => this.sample(), everyMs);
    this.timer.unref();
    this.sample();
  }

  /** Follow another process (Stox restarted with another config); the overall peak is kept. */
  follow(pid: number): void {
    this.pid = pid;
    this.sample();
  }

  mark(): number {
    const w = this.windowPeak;
    this.windowPeak = 0;
    this.sample();
    return w;
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sample(): void {
    const mb = rssMb(this.pid);
    if (!Number.isFinite(mb)) return;
    this.peak = Math.max(this.peak, mb);
    this.windowPeak = Math.max(this.windowPeak, mb);
  }
}

/** CPU time the whole machine has spent busy (all cores, not idle or waiting for I/O), in seconds. */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
  const total = fields.reduce((a, b) => a + b, 0);
  return (total - (fields[3] ?? 0) - (fields[4] ?? 0)) / 100;
}

/**
 * CPU use of named processes over one step, as a percentage of one core, plus `others`: what the rest of
 * the machine used meanwhile. The cores are shared with other work, and a step measured while something
 * else was busy says so in its own figures.
 */
export class CpuMeter {
  private start = new Map<string, number>();
  private t0 = 0;
  private machine0 = 0;
  /** Length of the last measured step, in seconds. */
  seconds = 0;

  constructor(private readonly pids: () => Record<string, number | undefined>) {}

  begin(): void {
    this.t0 = performance.now();
    this.machine0 = machineBusySeconds();
    this.start = new Map(Object.entries(this.pids()).flatMap(([k, pid]) => (pid === undefined ? [] : [[k, cpuSeconds(pid)] as [string, number]])));
  }

  /** `gone`: CPU seconds of processes of ours that ran during the step and have exited since. */
  end(gone: Record<string, number> = {}): Record<string, number> {
    const seconds = (performance.now() - this.t0) / 1000;
    this.seconds = seconds;
    const out: Record<string, number> = {};
    let ours = 0;
    for (const [k, used] of Object.entries(gone)) {
      ours += used;
      out[k] = Math.round((100 * used) / seconds);
    }
    for (const [k, pid] of Object.entries(this.pids())) {
      const s = this.start.get(k);
      if (pid === undefined || s === undefined) continue;
      const used = cpuSeconds(pid) - s;
      if (!Number.isFinite(used)) continue;
      ours += used;
      out[k] = Math.round((100 * used) / seconds);
    }
    out.others = Math.max(0, Math.round((100 * (machineBusySeconds() - this.machine0 - ours)) / seconds));
    return out;
  }
}

/**
 * Waits until the machine has been nearly idle (below `maxBusyPercent` of one core, everything
 * included) for a short window, or `maxWaitMs` passed; returns the busy share last seen. Other work on
 * these 2 shared cores (builds, test runs) would otherwise be measured as the benchmark's.
 */
export async function waitForQuiet(maxBusyPercent = 30, maxWaitMs = 15_000, windowMs = 500): Promise<number> {
  const deadline = performance.now() + maxWaitMs;
  for (;;) {
    const b0 = machineBusySeconds();
    const t0 = performance.now();
    await sleep(windowMs);
    const busy = (100 * (machineBusySeconds() - b0)) / ((performance.now() - t0) / 1000);
    if (busy <= maxBusyPercent || performance.now() > deadline) return Math.round(busy);
  }
}
