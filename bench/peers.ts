import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The real peers the IM benchmark runs against (Prosody, sipp, Stox itself), each a child process known
 * by its pid so everything started is stopped by pid, even when a step fails. A compact cousin of
 * test/helpers/{processes,prosody}.ts: tests must not depend on bench code, and dist/ holds no test code.
 */

/** Output kept per process: enough for a failure message and a final sipp screen, bounded under load. */
const MAX_OUTPUT = 256 * 1024;

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly name: string;
  /** The last MAX_OUTPUT characters of stdout and stderr, interleaved. */
  output(): string;
  readonly exited: Promise<number | null>;
  readonly running: boolean;
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

/** Every process a benchmark started, so `stopAll` can end exactly those. */
export class Processes {
  private readonly live = new Set<Proc>();

  start(command: string, args: string[], options: SpawnOptions = {}): Proc {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    if (child.pid === undefined) throw new Error(`cannot start ${command}`);
    let out = '';
    let running = true;
    const watchers = new Set<() => void>();
    const append = (d: Buffer): void => {
      out += d.toString('utf8');
      if (out.length > 2 * MAX_OUTPUT) out = out.slice(-MAX_OUTPUT);
      for (const w of watchers) w();
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    const exited = new Promise<number | null>((resolve) => {
      child.once('exit', (code) => {
        running = false;
        this.live.delete(proc);
        resolve(code);
        for (const w of watchers) w();
      });
      child.once('error', () => {
        running = false;
        this.live.delete(proc);
        resolve(null);
      });
    });
    const proc: Proc = {
      child,
      pid: child.pid,
      name: command,
      output: () => (out.length > MAX_OUTPUT ? out.slice(-MAX_OUTPUT) : out),
      exited,
      get running() {
        return running;
      },
      waitFor(re, timeoutMs = 15_000) {
        return new Promise((resolve, reject) => {
          const done = (): void => {
            clearTimeout(timer);
            watchers.delete(check);
          };
          const check = (): void => {
            const m = out.match(re);
            if (m) {
              done();
              resolve(m);
            } else if (!running) {
              done();
              reject(new Error(`${command} exited before printing ${re}: ${out.slice(-2000)}`));
            }
          };
          const timer = setTimeout(() => {
            done();
            reject(new Error(`${command} did not print ${re} within ${timeoutMs} ms: ${out.slice(-2000)}`));
          }, timeoutMs);
          watchers.add(check);
          check();
        });
      },
      async stop(signal = 'SIGTERM', graceMs = 5_000) {
        if (!running) return exited;
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      },
    };
    this.live.add(proc);
    return proc;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.live].map((p) => p.stop('SIGTERM', 3_000)));
  }
}

export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export interface Prosody {
  proc: Proc;
  c2sPort: number;
  componentPort: number;
  /** Registers users in parallel (prosodyctl is idempotent). */
  register(users: Array<{ name: string; password: string }>): Promise<void>;
}

/**
 * Prosody on loopback with the settings peers.md found necessary for load: info log (debug costs a
 * quarter of its throughput), no mod_limits (c2s would be throttled), plain c2s for PLAIN test logins.
 */
export async function startProsody(procs: Processes, dir: string, domain: string, components: Array<{ domain: string; secret: string }>): Promise<Prosody> {
  for (const sub of ['data', 'certs']) mkdirSync(join(dir, sub), { recursive: true });
  const c2sPort = await freeTcpPort();
  const componentPort = await freeTcpPort();
  const lua = (s: string): string => JSON.stringify(s);
  const cfg = join(dir, 'prosody.cfg.lua');
  writeFileSync(
    cfg,
    `run_as_root = true
daemonize = false
pidfile = ${lua(join(dir, 'prosody.pid'))}
data_path = ${lua(join(dir, 'data'))}
certificates = ${lua(join(dir, 'certs'))}
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { ${c2sPort} }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
component_ports = { ${componentPort} }
component_interfaces = { "127.0.0.1" }
modules_enabled = { "roster"; "saslauth"; "disco"; "ping"; "posix" }
modules_disabled = { "s2s"; "s2s_auth_certs"; "http"; "tls" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
storage = "internal"
log = { { levels = { min = "info" }, to = "file", filename = ${lua(join(dir, 'prosody.log'))} } }
VirtualHost ${lua(domain)}
${components.map((c) => `Component ${lua(c.domain)}\n  component_secret = ${lua(c.secret)}`).join('\n')}
`,
  );
  const proc = procs.start('prosody', ['-F', '--config', cfg], { cwd: dir });
  const deadline = Date.now() + 20_000;
  while (!((await canConnect(c2sPort)) && (await canConnect(componentPort)))) {
    if (!proc.running || Date.now() > deadline) {
      await proc.stop('SIGKILL');
      const log = (() => {
        try {
          return readFileSync(join(dir, 'prosody.log'), 'utf8').slice(-2000);
        } catch {
          return '';
        }
      })();
      throw new Error(`Prosody not accepting on ${c2sPort}/${componentPort}: ${proc.output().slice(-2000)} ${log}`);
    }
    await sleep(50);
  }
  return {
    proc,
    c2sPort,
    componentPort,
    async register(users) {
      await Promise.all(
        users.map(async (u) => {
          const r = procs.start('prosodyctl', ['--config', cfg, 'register', u.name, domain, u.password], { cwd: dir });
          const code = await r.exited;
          if (code !== 0) throw new Error(`prosodyctl register ${u.name} failed (${String(code)}): ${r.output()}`);
        }),
      );
    },
  };
}

export interface Stox {
  proc: Proc;
  udpPort: number;
}

/** The built `stox` binary with a YAML config written to `dir`; resolves once every component is online. */
export async function startStox(procs: Processes, dir: string, bin: string, yaml: string, onlineComponents: number, nodeArgs: string[] = []): Promise<Stox> {
  const configPath = join(dir, 'stox.yaml');
  writeFileSync(configPath, yaml);
  const proc = procs.start(process.execPath, [...nodeArgs, bin, '--config', configPath], { cwd: dir, env: { ...process.env, LOG_LEVEL: 'info' } });
  const m = await proc.waitFor(/"listen":"udp:\/\/127\.0\.0\.1:(\d+)"/);
  const deadline = Date.now() + 15_000;
  while ((proc.output().match(/"msg":"online"/g) ?? []).length < onlineComponents) {
    if (!proc.running || Date.now() > deadline) throw new Error(`Stox components not online: ${proc.output().slice(-2000)}`);
    await sleep(50);
  }
  return { proc, udpPort: Number(m[1]) };
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
