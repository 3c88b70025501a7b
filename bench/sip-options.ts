import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageFile } from '../src/package-root.js';
import { parseRttCsv, parseSippScreen, type RttSummary, type SippStats } from './sipp-stats.js';

/** One sipp UAC run against one answering peer. */
export interface OptionsRun extends SippStats {
  offeredRate: number;
  calls: number;
  /** Successful calls per second from the first call's start to the last call's end (sipp's own RTT trace). */
  achievedRate: number;
  /** Calls per second sipp really started (first call's start to last call's start). */
  generatedRate: number;
  latency: Pick<RttSummary, 'p50Ms' | 'p99Ms' | 'maxMs'>;
  /** CPU the answering peer used during the run (user + system), in seconds. */
  peerCpuSeconds: number;
  /**
   * Datagrams the kernel dropped because a socket's receive buffer was full: at the answering peer's socket
   * (it fell behind) and at sipp's UAC socket (the load generator fell behind). Each drop costs a
   * retransmission, so this says on which side retransmissions come from.
   */
  drops: { peer: number; uac: number };
  /**
   * Every call answered, no retransmission, and sipp really offered at least 97% of the requested rate (so
   * the rate was tried): the answering peer sustained the rate.
   */
  clean: boolean;
}

export interface PeerResult {
  main: OptionsRun;
  /** Short runs at rising offered rates; stops after the first run that is not clean. */
  search: OptionsRun[];
  /** The highest searched rate with a clean run (0 if none). */
  maxCleanRate: number;
  /** VmHWM of the answering process after the main run (warm-up included). */
  peakRssMb: number;
}

export interface OptionsResult {
  /** 1/5/15-minute load averages when the bench started: other work on the machine skews every figure. */
  loadAverage: number[];
  offeredRate: number;
  calls: number;
  baseline: PeerResult;
  stox: PeerResult;
}

/** What Stox's UDP transport asks for; sipp gets the same. */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

interface Server {
  pid: number;
  out: () => string;
  stop: () => Promise<void>;
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (code) => resolve({ code, out }));
  });
}

/**
 * Start a server and wait until `ready` matches its output, or, for a peer that prints nothing while it
 * runs (sipp without a terminal), until it has stayed up for `ready` milliseconds.
 */
function startServer(cmd: string, args: string[], ready: RegExp | number, cwd: string, started: Server[]): Promise<Server> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let exitedAlready = false;
    const exited = new Promise<void>((r) =>
      p.on('exit', () => {
        exitedAlready = true;
        r();
      }),
    );
    const server: Server = {
      pid: p.pid!,
      out: () => out,
      stop: async () => {
        if (exitedAlready) return;
        p.kill('SIGTERM');
        const t = setTimeout(() => p.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(t);
      },
    };
    started.push(server);
    const fail = (why: string): void => reject(new Error(`${cmd} ${why}: ${out.slice(-1000)}`));
    const timer = setTimeout(() => (typeof ready === 'number' ? resolve(server) : fail('not ready')), typeof ready === 'number' ? ready : 10_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (typeof ready !== 'number' && ready.test(out)) {
        clearTimeout(timer);
        resolve(server);
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', () => {
      clearTimeout(timer);
      fail('exited');
    });
  });
}

function rssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** utime + stime of a process, in seconds (USER_HZ is 100 on Linux). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Per-socket receive-buffer drops by local UDP port, from /proc/net/udp (last column). */
function udpDrops(ports: readonly number[]): number[] {
  const out = ports.map(() => 0);
  let table = '';
  try {
    table = readFileSync('/proc/net/udp', 'utf8');
  } catch {
    return out;
  }
  for (const line of table.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const local = cols[1];
    if (!local) continue;
    const port = parseInt(local.slice(local.indexOf(':') + 1), 16);
    const i = ports.indexOf(port);
    if (i >= 0) out[i] = Math.max(out[i]!, Number(cols[cols.length - 1]) || 0);
  }
  return out;
}

async function freeUdpPort(): Promise<number> {
  const { createSocket } = await import('node:dgram');
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

export interface OptionsBenchConfig {
  /** Offered rate of the main run. */
  rate: number;
  /** Length of the main run. */
  seconds: number;
  /** Offered rates for the search, ascending. */
  searchRates: number[];
  /** Length of each search run. */
  searchSeconds: number;
}

/**
 * OPTIONS answered under sipp load over UDP: the same sipp UAC against a sipp UAS (baseline: the best this
 * machine does) and against Stox, in the same run. Throughput is successful calls over the span from the
 * first call's start to the last call's end, from sipp's per-call RTT trace, so neither the tail spent
 * waiting for timed-out calls nor a slow start hides in it. Each peer gets a warm-up, a main run, then a
 * short search for the highest offered rate it answers cleanly (no retransmission, no failure).
 */
export async function benchOptions(cfg: OptionsBenchConfig): Promise<OptionsResult> {
  const loadAverage = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'stox-bench-'));
  // The integration test's scenario (it checks Allow/Accept/Supported), plus response-time measurement.
  const scenario = join(dir, 'options-uac.xml');
  writeFileSync(
    scenario,
    readFileSync(packageFile('test/integration/scenarios/options.xml'), 'utf8')
      .replace('<send retrans="500">', '<send retrans="500" start_rtd="1">')
      .replace('<recv response="200">', '<recv response="200" rtd="1">'),
  );
  let runNo = 0;
  const uac = async (port: number, peerPid: number, rate: number, seconds: number): Promise<OptionsRun> => {
    const calls = Math.round(rate * seconds);
    const cwd = join(dir, `run-${++runNo}`);
    mkdirSync(cwd);
    const uacPort = await freeUdpPort();
    const dropsBefore = udpDrops([port]);
    const cpuBefore = cpuSeconds(peerPid);
    // The socket counters vanish with the socket, so sample them while sipp runs.
    const drops = { peer: 0, uac: 0 };
    const sample = (): void => {
      const [peer = 0, uacDrops = 0] = udpDrops([port, uacPort]);
      drops.peer = Math.max(drops.peer, peer - dropsBefore[0]!);
      drops.uac = Math.max(drops.uac, uacDrops);
    };
    const sampler = setInterval(sample, 50);
    const r = await run(
      'sipp',
      [
        `127.0.0.1:${port}`,
        ...['-sf', scenario, '-i', '127.0.0.1', '-p', String(uacPort), '-m', String(calls), '-r', String(rate), '-l', '20000', '-nostdin'],
        // sipp's default 64 KB socket buffer would make the load generator the first thing to drop.
        ...['-buff_size', String(SOCKET_BUFFER_BYTES), '-timeout', `${seconds * 3 + 20}s`, '-max_recv_loops', '10000', '-trace_rtt', '-rtt_freq', '1000'],
      ],
      cwd,
    );
    clearInterval(sampler);
    sample();
    const peerCpuSeconds = cpuSeconds(peerPid) - cpuBefore;
    const screen = parseSippScreen(r.out);
    const rttFile = readdirSync(cwd).find((f) => f.endsWith('_rtt.csv'));
    const rtt = parseRttCsv(rttFile ? readFileSync(join(cwd, rttFile), 'utf8') : '');
    if (Number.isNaN(screen.successful)) throw new Error(`sipp printed no statistics (exit ${r.code}): ${r.out.slice(-1500)}`);
    const clean = screen.retransmissions === 0 && screen.failed === 0 && screen.successful === calls && rtt.generatedRate >= 0.97 * rate;
    return {
      ...screen,
      offeredRate: rate,
      calls,
      achievedRate: rtt.achievedRate,
      generatedRate: rtt.generatedRate,
      latency: { p50Ms: rtt.p50Ms, p99Ms: rtt.p99Ms, maxMs: rtt.maxMs },
      peerCpuSeconds,
      drops,
      clean,
    };
  };
  const exercise = async (server: Server, port: number): Promise<PeerResult> => {
    await uac(port, server.pid, Math.min(5000, cfg.rate), 2); // warm-up: JIT, buffers, sipp's call table
    const main = await uac(port, server.pid, cfg.rate, cfg.seconds);
    const peakRssMb = rssMb(server.pid);
    const search: OptionsRun[] = [];
    for (const rate of cfg.searchRates) {
      const r = await uac(port, server.pid, rate, cfg.searchSeconds);
      search.push(r);
      if (!r.clean) break;
    }
    const maxCleanRate = Math.max(0, ...search.filter((s) => s.clean).map((s) => s.offeredRate));
    return { main, search, maxCleanRate, peakRssMb };
  };

  const started: Server[] = [];
  try {
    const uasPort = await freeUdpPort();
    const uas = await startServer(
      'sipp',
      ['-sf', packageFile('bench/scenarios/options-uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin', '-max_recv_loops', '10000', '-buff_size', String(SOCKET_BUFFER_BYTES)],
      500,
      dir,
      started,
    );
    const baseline = await exercise(uas, uasPort);
    await uas.stop();

    // As an operator runs it: info level, which must not log per OPTIONS.
    writeFileSync(join(dir, 'stox.yaml'), 'sip:\n  listen: ["udp://127.0.0.1:0"]\n  domains: [sip.test]\nlog: { level: info }\n');
    const stox = await startServer(process.execPath, [packageFile('dist/src/cli.js'), '--config', join(dir, 'stox.yaml')], /"listen":"udp:\/\/127\.0\.0\.1:(\d+)"/, dir, started);
    const port = Number(stox.out().match(/"listen":"udp:\/\/127\.0\.0\.1:(\d+)"/)![1]);
    const stoxResult = await exercise(stox, port);
    const linesLogged = stox.out().split('\n').length;
    await stox.stop();
    if (linesLogged > 20) console.warn(`warning: Stox logged ${linesLogged} lines during the OPTIONS bench`);
    return { loadAverage, offeredRate: cfg.rate, calls: baseline.main.calls, baseline, stox: stoxResult };
  } finally {
    await Promise.all(started.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  }
}
