import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageFile } from '../src/package-root.js';
import { imChartSubtitle, writeImCharts } from './im-chart.js';
import { summarize, type ClientCommand, type LatencySummary, type StepCounts } from './im-clients.js';
import { LoadClients } from './xmpp-load-clients.js';
import { CpuMeter, Processes, cpuSeconds, waitCount, waitForQuiet, RssSampler, freeUdpPort, sleep, startProsody, startStox, tempDir, type Proc, type Stox } from './peers.js';

/**
 * Page-mode IM through Stox both ways, beside same-run baselines without Stox (issue 3's "must show").
 *
 *   S2X: sipp UAC ─MESSAGE→ Stox ─component→ Prosody ─c2s→ XMPP users      baseline: sipp UAC → sipp UAS
 *   X2S: XMPP users ─c2s→ Prosody ─component→ Stox ─MESSAGE→ sipp UAS      baseline: XMPP user → Prosody → XMPP user
 *
 * Zero loss means: S2X, every MESSAGE got Stox's 2xx (sipp: no failed call) and every message reached a
 * client; X2S, the UAS got every message and no client got an error stanza. Retransmissions are
 * reported, not failed on.
 *
 * Latency is one-way, from a wall-clock send stamp in the body (sipp's <gettimeofday/>, the clients'
 * calibrated clock) to arrival. Every path through Stox crosses Prosody once and one UDP hop, so "Stox
 * adds" is the Stox path minus the client → Prosody → client path at the same rate and in the same run;
 * the UDP hop's own cost (sipp → sipp one-way, also reported) is left in Stox's share.
 */

export interface ImBenchOptions {
  /** Offered rates for the zero-loss search, messages/s, ascending. */
  s2xRates: number[];
  x2sRates: number[];
  /** Length of one throughput step. */
  seconds: number;
  /** The rate the latency comparison runs at. */
  latencyRate: number;
  latencySeconds: number;
  /** Latency steps are repeated and the medians reported: this machine's 2 cores are shared. */
  repeats: number;
  users: number;
  /** The zero-loss search starts no new rate after this many seconds (the rest of the bench needs ~2 min). */
  throughputBudgetSeconds: number;
  /** When set, Stox runs under `node --cpu-prof` and writes its profiles here. */
  cpuProfileDir?: string;
  /** More options for the node running Stox (e.g. --heapsnapshot-signal=SIGUSR2 to look at its memory). */
  stoxNodeArgs?: string[];
  /**
   * Scheduling priority (nice, -20..19) for the benchmark and everything it starts, all alike. On a
   * machine shared with builds and test runs a negative value keeps them from being measured as Stox's
   * (needs root). Unset: the priority the benchmark was started with.
   */
  nice?: number;
}

export const DEFAULT_IM_OPTIONS: ImBenchOptions = {
  // Low rates too, so the chart shows the whole curve up to where Stox stops keeping up.
  s2xRates: [2000, 4000, 6000, 8000, 10000, 12000, 14000],
  x2sRates: [6000, 9000, 12000, 14000],
  seconds: 5,
  latencyRate: 8000,
  latencySeconds: 4,
  repeats: 3,
  users: 8,
  throughputBudgetSeconds: 300,
};

/** One run of one path at one offered rate. */
export interface ImStep {
  /** Warm-up steps (JIT, pools) are kept in the JSON for completeness but never counted. */
  phase: 'warmup' | 'throughput' | 'latency' | 'confirmation';
  path: 'stox-s2x' | 'stox-x2s' | 'sipp-sipp' | 'client-client';
  offeredRate: number;
  offered: number;
  /** Messages that reached the far end (clients or UAS). */
  delivered: number;
  /** S2X and sipp → sipp: calls answered 2xx, and failed calls, as sipp counted them. */
  answered?: number;
  failed?: number;
  /** MESSAGE retransmissions seen by sipp (UAC: sent; UAS: received). */
  retransmissions: number;
  /** XMPP error stanzas the clients received. */
  errorStanzas: number;
  errorSamples?: string[];
  zeroLoss: boolean;
  /**
   * Zero loss without leaning on retransmissions (at most 1 % of the messages): past its capacity Stox
   * still loses nothing over UDP, but only because sipp resends what waited too long in the socket buffer.
   */
  sustained: boolean;
  /** Rate at which the sender really offered the messages. */
  achievedRate: number;
  oneWayMs: LatencySummary;
  /** sipp UAC: MESSAGE sent → 2xx received. */
  roundTripMs?: LatencySummary;
  cpuPercent: Record<string, number>;
  /**
   * Stox's CPU time per message offered, in µs: what caps its throughput, and much less sensitive than
   * rates and latencies to other work sharing the machine.
   */
  stoxCpuUsPerMessage?: number;
  /** The machine's busy share (% of one core) just before the step: what else was running. */
  busyBeforePercent: number;
  stoxRssPeakMb?: number;
  confirmTimeoutMs?: number;
}

export interface ImResult {
  options: ImBenchOptions;
  steps: ImStep[];
  s2x: { maxZeroLossRate: number | null; maxSustainedRate: number | null; baselineSippMaxZeroLossRate: number | null };
  x2s: { maxZeroLossRate: number | null; maxSustainedRate: number | null; baselineClientMaxZeroLossRate: number | null };
  latency: {
    rate: number;
    /** Medians over the repeats. */
    s2x: { stox: { p50: number; p99: number }; baseline: { p50: number; p99: number }; addedP50: number; addedP99: number };
    x2s: { stox: { p50: number; p99: number }; baseline: { p50: number; p99: number }; addedP50: number; addedP99: number };
    udpHop: { p50: number; p99: number };
    /** Median Stox CPU per message in the latency runs, µs. */
    stoxCpuUsPerMessage: { s2x: number; x2s: number };
  };
  confirmation: {
    rate: number;
    /** sipp's MESSAGE → 2xx with the barrier (default confirmTimeoutMs) and with confirmTimeoutMs 0; medians. */
    withBarrier: { rttP50: number; rttP99: number; oneWayP50: number; oneWayP99: number };
    withoutBarrier: { rttP50: number; rttP99: number; oneWayP50: number; oneWayP99: number };
    sippBaseline: { rttP50: number; rttP99: number };
  };
  stoxRssPeakMb: number;
  durationSeconds: number;
}

const DOMAIN = 'xmpp.test';
const SIP_DOMAIN = 'sip.test';
const SECRET = 'bench-secret';
/** sipp's socket buffers, like Stox's UDP listener: a burst must not overflow a default 208 kB buffer. */
const SIPP_BUFFER = String(4 * 1024 * 1024);
const STOX_BIN = () => packageFile('dist/src/cli.js');

function median(xs: number[]): number {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

const round2 = (x: number): number => Math.round(x * 100) / 100;

/** Message rows of a sipp final screen, both orientations (UAC "MESSAGE ---->", UAS "----> MESSAGE"). */
function sippRows(screen: string): Map<string, { messages: number; retrans: number; timeouts: number }> {
  const rows = new Map<string, { messages: number; retrans: number; timeouts: number }>();
  for (const m of screen.matchAll(/^\s+(?:(\S+)\s+(?:-+>|<-+)|(?:-+>|<-+)\s+(\S+))\s+(\d+)\s+(\d+)(?:\s+(\d+))?/gm)) {
    rows.set((m[1] ?? m[2])!, { messages: Number(m[3]), retrans: Number(m[4]), timeouts: Number(m[5] ?? 0) });
  }
  return rows;
}

function sippCounter(screen: string, name: string): number {
  const m = screen.match(new RegExp(`${name}\\s+\\|\\s+\\d+\\s+\\|\\s+(\\d+)`));
  return m ? Number(m[1]) : NaN;
}

function readLines(file: string): string[] {
  return existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : [];
}


export async function benchIm(options: Partial<ImBenchOptions> = {}, progress: (line: string) => void = () => {}): Promise<ImResult> {
  const o: ImBenchOptions = { ...DEFAULT_IM_OPTIONS, ...options };
  const began = performance.now();
  // Children inherit the priority, so setting it here covers Prosody, Stox, sipp and the clients alike.
  const priorityBefore = getPriority();
  if (o.nice !== undefined) setPriority(o.nice);
  const procs = new Processes();
  const dir = tempDir('stox-bench-im-');
  let rss: RssSampler | undefined;
  // Interrupted (Ctrl-C, a timeout's SIGTERM): stop what was started and remove the temp dir, then die of
  // the same signal, the handler being gone by then.
  const onSignal = (signal: NodeJS.Signals): void => {
    rss?.stop();
    void procs.stopAll().finally(() => {
      dir.remove();
      process.kill(process.pid, signal);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const users = Array.from({ length: o.users }, (_, i) => ({ name: `u${i}`, password: `pw${i}` }));
    const prosody = await startProsody(procs, join(dir.path, 'prosody'), DOMAIN, [{ domain: SIP_DOMAIN, secret: SECRET }]);
    await prosody.register(users);
    const uasPort = await freeUdpPort();

    const clients = new LoadClients<ClientCommand>(procs.start(process.execPath, [packageFile('dist/bench/im-clients.js')], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] }));
    await clients.call({ cmd: 'login', service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: DOMAIN, users });

    writeFileSync(join(dir.path, 'users.csv'), ['SEQUENTIAL', ...users.map((u) => `${u.name};${DOMAIN};alice@${SIP_DOMAIN};`)].join('\n') + '\n');

    let stox: Stox | undefined;
    // A CPU profile is written at exit and takes a while for a long run.
    const stopGraceMs = o.cpuProfileDir ? 30_000 : 5_000;
    const launchStox = async (confirmTimeoutMs: number, tag: string): Promise<Stox> => {
      if (stox) await stox.proc.stop('SIGTERM', stopGraceMs);
      const sdir = join(dir.path, `stox-${tag}`);
      mkdirSync(sdir, { recursive: true });
      const yaml = [
        'sip:',
        '  listen: ["udp://127.0.0.1:0"]',
        `  domains: [${SIP_DOMAIN}]`,
        `  outboundProxy: "sip:127.0.0.1:${uasPort};lr"`,
        'log: { level: info }',
        'xmpp:',
        `  server: "tcp://127.0.0.1:${prosody.componentPort}"`,
        `  components: [{ domain: ${SIP_DOMAIN}, secret: ${SECRET} }]`,
        // 200 rather than the default 202 so one sipp scenario serves Stox and the sipp baseline.
        `im: { successCode: 200, confirmTimeoutMs: ${confirmTimeoutMs} }`,
        '',
      ].join('\n');
      const profile = o.cpuProfileDir ? ['--cpu-prof', '--cpu-prof-dir', o.cpuProfileDir, '--cpu-prof-name', `stox-${tag}.cpuprofile`] : [];
      stox = await startStox(procs, sdir, STOX_BIN(), yaml, 1, [...profile, ...(o.stoxNodeArgs ?? [])]);
      if (rss) rss.follow(stox.proc.pid);
      else rss = new RssSampler(stox.proc.pid, 250);
      return stox;
    };
    // The default of im.confirmTimeoutMs.
    let confirmTimeoutMs = 400;
    await launchStox(confirmTimeoutMs, 'default');

    const steps: ImStep[] = [];
    let stepSeq = 0;
    let phase: ImStep['phase'] = 'warmup';
    let sipp: Proc | undefined;
    const cpu = new CpuMeter(() => ({ stox: stox?.proc.pid, prosody: prosody.proc.pid, clients: clients.proc.pid, sipp: sipp?.pid }));

    // waitCount waits out a backlog too (a lossy step can leave thousands in flight), so the next step starts clean.

    const startUas = async (step: number): Promise<{ proc: Proc; log: string }> => {
      const log = join(dir.path, `uas-${step}.log`);
      const proc = procs.start('sipp', ['-sf', packageFile('bench/scenarios/im-uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin', '-trace_logs', '-log_file', log, '-max_recv_loops', '10000', '-buff_size', SIPP_BUFFER], { cwd: dir.path });
      sipp = proc;
      await sleep(400);
      if (!proc.running) throw new Error(`sipp UAS exited: ${proc.output().slice(-2000)}`);
      return { proc, log };
    };
    const uasResult = (log: string, step: number): { lines: number; oneWay: number[] } => {
      const oneWay: number[] = [];
      for (const l of readLines(log)) {
        const [s, t0, t1] = l.split(' ');
        if (Number(s) !== step) continue;
        oneWay.push((Number(t1) - Number(t0)) / 1000);
      }
      return { lines: oneWay.length, oneWay };
    };

    const runUac = async (port: number, rate: number, count: number, step: number): Promise<{ screen: string; log: string; code: number | null; elapsedMs: number; cpuSeconds: number }> => {
      const log = join(dir.path, `uac-${step}.log`);
      const t0 = performance.now();
      const p = procs.start(
        'sipp',
        [
          `127.0.0.1:${port}`,
          '-sf', packageFile('bench/scenarios/im-uac.xml'),
          '-inf', join(dir.path, 'users.csv'),
          '-key', 'step', String(step),
          '-i', '127.0.0.1', '-p', '0',
          '-m', String(count), '-r', String(rate), '-l', '30000',
          '-nostdin', '-max_recv_loops', '10000', '-buff_size', SIPP_BUFFER,
          '-trace_logs', '-log_file', log,
          '-timeout', `${Math.ceil(count / rate) + 40}s`,
        ],
        { cwd: dir.path },
      );
      // sipp's CPU time can only be read while it runs: the last reading stands for its total.
      let used = 0;
      const poll = setInterval(() => {
        const c = cpuSeconds(p.pid);
        if (Number.isFinite(c)) used = c;
      }, 200);
      const code = await p.exited;
      clearInterval(poll);
      return { screen: p.output(), log, code, elapsedMs: performance.now() - t0, cpuSeconds: used };
    };

    const uacRtt = (log: string): number[] =>
      readLines(log).map((l) => {
        const [a, b] = l.split(' ');
        return (Number(b) - Number(a)) / 1000;
      });

    const record = (step: Omit<ImStep, 'phase' | 'sustained'>): ImStep => {
      const s: ImStep = { phase, ...step, sustained: step.zeroLoss && !(step.retransmissions > step.offered / 100) };
      const stoxCpu = step.cpuPercent.stox;
      if (step.path.startsWith('stox-') && stoxCpu !== undefined) s.stoxCpuUsPerMessage = Math.round((stoxCpu * 1e4 * cpu.seconds) / step.offered);
      steps.push(s);
      const lat = `one-way p50 ${s.oneWayMs.p50} p99 ${s.oneWayMs.p99} ms${s.roundTripMs ? `, rtt p50 ${s.roundTripMs.p50} p99 ${s.roundTripMs.p99}` : ''}`;
      progress(
        `${s.path} @${s.offeredRate}/s: ${s.delivered}/${s.offered} delivered, ${s.failed ?? 0} failed, ${s.retransmissions} retrans, ${s.errorStanzas} errors → ${s.zeroLoss ? 'zero loss' : 'LOSS'}; ${lat}; cpu ${JSON.stringify(s.cpuPercent)}${s.stoxCpuUsPerMessage !== undefined ? `, Stox ${s.stoxCpuUsPerMessage} µs CPU/message` : ''}`,
      );
      return s;
    };

    /** sipp UAC → Stox → Prosody → clients. */
    const stoxS2x = async (rate: number, seconds: number): Promise<ImStep> => {
      const step = ++stepSeq;
      const busyBefore = await waitForQuiet(30, 3000);
      const count = Math.round(rate * seconds);
      await clients.call({ cmd: 'calibrate' });
      rss!.mark();
      cpu.begin();
      const uac = await runUac(stox!.udpPort, rate, count, step);
      const delivered = await waitCount(async () => (await clients.call<StepCounts>({ cmd: 'stats', step })).received, count, 15_000);
      const cpuPercent = cpu.end({ sipp: uac.cpuSeconds });
      const st = await clients.call<StepCounts>({ cmd: 'stats', step });
      const rows = sippRows(uac.screen);
      const answered = sippCounter(uac.screen, 'Successful call');
      const failed = sippCounter(uac.screen, 'Failed call');
      return record({
        path: 'stox-s2x',
        offeredRate: rate,
        offered: count,
        delivered,
        answered,
        failed,
        retransmissions: rows.get('MESSAGE')?.retrans ?? NaN,
        errorStanzas: st.errors,
        zeroLoss: uac.code === 0 && answered === count && failed === 0 && delivered === count,
        achievedRate: Math.round(count / (uac.elapsedMs / 1000)),
        oneWayMs: st.latencyMs,
        roundTripMs: summarize(uacRtt(uac.log)),
        cpuPercent,
        busyBeforePercent: busyBefore,
        stoxRssPeakMb: round2(rss!.mark()),
        confirmTimeoutMs,
      });
    };

    /** sipp UAC → sipp UAS: the SIP side without Stox. */
    const sippSipp = async (rate: number, seconds: number): Promise<ImStep> => {
      const step = ++stepSeq;
      const busyBefore = await waitForQuiet(30, 3000);
      const count = Math.round(rate * seconds);
      const uas = await startUas(step);
      cpu.begin();
      const uac = await runUac(uasPort, rate, count, step);
      const delivered = await waitCount(() => uasResult(uas.log, step).lines, count, 3000);
      const cpuPercent = cpu.end({ sippUac: uac.cpuSeconds });
      await uas.proc.stop();
      const r = uasResult(uas.log, step);
      const answered = sippCounter(uac.screen, 'Successful call');
      const failed = sippCounter(uac.screen, 'Failed call');
      return record({
        path: 'sipp-sipp',
        offeredRate: rate,
        offered: count,
        delivered,
        answered,
        failed,
        retransmissions: sippRows(uac.screen).get('MESSAGE')?.retrans ?? NaN,
        errorStanzas: 0,
        zeroLoss: uac.code === 0 && answered === count && failed === 0 && delivered === count,
        achievedRate: Math.round(count / (uac.elapsedMs / 1000)),
        oneWayMs: summarize(r.oneWay),
        roundTripMs: summarize(uacRtt(uac.log)),
        cpuPercent,
        busyBeforePercent: busyBefore,
      });
    };

    /** Clients → Prosody → Stox → sipp UAS. */
    const stoxX2s = async (rate: number, seconds: number): Promise<ImStep> => {
      const step = ++stepSeq;
      const busyBefore = await waitForQuiet(30, 3000);
      const count = Math.round(rate * seconds);
      const uas = await startUas(step);
      rss!.mark();
      cpu.begin();
      const routes = users.map((_, i) => ({ from: i, to: `bob${i}@${SIP_DOMAIN}` }));
      const sent = await clients.call<{ sent: number; elapsedMs: number }>({ cmd: 'send', step, rate, count, routes });
      const delivered = await waitCount(() => uasResult(uas.log, step).lines, count, 15_000);
      await sleep(300); // error stanzas, if any, come back after the UAS answered
      const cpuPercent = cpu.end();
      await uas.proc.stop();
      const rows = sippRows(uas.proc.output());
      const st = await clients.call<StepCounts>({ cmd: 'stats', step });
      const r = uasResult(uas.log, step);
      return record({
        path: 'stox-x2s',
        offeredRate: rate,
        offered: count,
        delivered: r.lines,
        retransmissions: rows.get('MESSAGE')?.retrans ?? NaN,
        errorStanzas: st.errors,
        errorSamples: st.errorSamples,
        zeroLoss: delivered === count && r.lines === count && st.errors === 0,
        achievedRate: Math.round(sent.sent / (sent.elapsedMs / 1000)),
        oneWayMs: summarize(r.oneWay),
        cpuPercent,
        busyBeforePercent: busyBefore,
        stoxRssPeakMb: round2(rss!.mark()),
        confirmTimeoutMs,
      });
    };

    /** Client → Prosody → client: the XMPP side without Stox. */
    const clientClient = async (rate: number, seconds: number): Promise<ImStep> => {
      const step = ++stepSeq;
      const busyBefore = await waitForQuiet(30, 3000);
      const count = Math.round(rate * seconds);
      sipp = undefined;
      cpu.begin();
      const routes = users.map((_, i) => ({ from: i, to: `u${(i + 1) % users.length}@${DOMAIN}` }));
      const sent = await clients.call<{ sent: number; elapsedMs: number }>({ cmd: 'send', step, rate, count, routes });
      const delivered = await waitCount(async () => (await clients.call<StepCounts>({ cmd: 'stats', step })).received, count, 15_000);
      const cpuPercent = cpu.end();
      const st = await clients.call<StepCounts>({ cmd: 'stats', step });
      return record({
        path: 'client-client',
        offeredRate: rate,
        offered: count,
        delivered,
        retransmissions: 0,
        errorStanzas: st.errors,
        errorSamples: st.errorSamples,
        zeroLoss: delivered === count && st.errors === 0,
        achievedRate: Math.round(sent.sent / (sent.elapsedMs / 1000)),
        oneWayMs: st.latencyMs,
        cpuPercent,
        busyBeforePercent: busyBefore,
      });
    };

    // A cold Stox (unoptimized code, empty pools) answers the first seconds far slower than it runs.
    await stoxS2x(2000, 2);
    await stoxX2s(2000, 2);
    await clientClient(2000, 1);
    phase = 'throughput';

    // A step that needed retransmissions on a shared machine may have met someone else's build: it gets one
    // more try. The search goes on while the rate has zero loss (the issue's criterion).
    const tryTwice = async (run: () => Promise<ImStep>): Promise<boolean> => {
      const first = await run();
      if (first.sustained) return true;
      return (await run()).zeroLoss || first.zeroLoss;
    };

    // --- Throughput: each rate through Stox beside the same rate through each side's baseline.
    const rates = [...new Set([...o.s2xRates, ...o.x2sRates])].sort((a, b) => a - b);
    let s2xFailed = false;
    let x2sFailed = false;
    for (const rate of rates) {
      // Overloaded steps drain slowly; the latency and confirmation runs must still fit the time budget.
      if (performance.now() - began > o.throughputBudgetSeconds * 1000) {
        progress(`throughput search stopped before ${rate}/s: its ${o.throughputBudgetSeconds} s budget is spent`);
        break;
      }
      const doS2x = o.s2xRates.includes(rate) && !s2xFailed;
      const doX2s = o.x2sRates.includes(rate) && !x2sFailed;
      if (!doS2x && !doX2s) continue;
      if (doS2x) {
        await sippSipp(rate, o.seconds);
        if (!(await tryTwice(() => stoxS2x(rate, o.seconds)))) s2xFailed = true;
      }
      await clientClient(rate, o.seconds);
      if (doX2s && !(await tryTwice(() => stoxX2s(rate, o.seconds)))) x2sFailed = true;
    }

    // --- Latency at one rate, repeated; medians reported. A fresh Stox, as for the no-barrier runs below:
    // one that has just been through the overloaded steps of the search is still slow for half a minute
    // (32 s of Timer J records and a grown heap to collect), which is recovery, not latency at this rate.
    await launchStox(confirmTimeoutMs, 'latency');
    phase = 'warmup';
    await stoxS2x(2000, 2);
    phase = 'latency';
    const lat = { s2x: [] as ImStep[], x2s: [] as ImStep[], c2c: [] as ImStep[], sip: [] as ImStep[] };
    for (let i = 0; i < o.repeats; i++) {
      lat.c2c.push(await clientClient(o.latencyRate, o.latencySeconds));
      lat.sip.push(await sippSipp(o.latencyRate, o.latencySeconds));
      lat.s2x.push(await stoxS2x(o.latencyRate, o.latencySeconds));
      lat.x2s.push(await stoxX2s(o.latencyRate, o.latencySeconds));
    }

    // --- What "no false success" costs: the same S2X load with the barrier off.
    const noBarrier: ImStep[] = [];
    if (o.repeats > 0) {
      confirmTimeoutMs = 0;
      await launchStox(0, 'no-barrier');
      phase = 'warmup';
      await stoxS2x(2000, 2);
      phase = 'confirmation';
      for (let i = 0; i < o.repeats; i++) noBarrier.push(await stoxS2x(o.latencyRate, o.latencySeconds));
    }
    if (stox) await stox.proc.stop('SIGTERM', stopGraceMs);
    rss?.stop();

    const med = (xs: ImStep[], f: (s: ImStep) => number | undefined): number => round2(median(xs.map((s) => f(s) ?? NaN)));
    const pair = (xs: ImStep[]): { p50: number; p99: number } => ({ p50: med(xs, (s) => s.oneWayMs.p50), p99: med(xs, (s) => s.oneWayMs.p99) });
    // A rate passes when one of its tries had zero loss; the search stopped at the first rate that did not.
    const maxZero = (path: ImStep['path'], ok: (s: ImStep) => boolean = (s) => s.zeroLoss): number | null => {
      const good = steps.filter((s) => s.phase === 'throughput' && s.path === path && ok(s)).map((s) => s.offeredRate);
      return good.length ? Math.max(...good) : null;
    };
    const s2xStox = pair(lat.s2x);
    const x2sStox = pair(lat.x2s);
    const base = pair(lat.c2c);
    const rtt = (xs: ImStep[]): { rttP50: number; rttP99: number } => ({ rttP50: med(xs, (s) => s.roundTripMs?.p50), rttP99: med(xs, (s) => s.roundTripMs?.p99) });
    return {
      options: o,
      steps,
      s2x: { maxZeroLossRate: maxZero('stox-s2x'), maxSustainedRate: maxZero('stox-s2x', (s) => s.sustained), baselineSippMaxZeroLossRate: maxZero('sipp-sipp') },
      x2s: { maxZeroLossRate: maxZero('stox-x2s'), maxSustainedRate: maxZero('stox-x2s', (s) => s.sustained), baselineClientMaxZeroLossRate: maxZero('client-client') },
      latency: {
        rate: o.latencyRate,
        s2x: { stox: s2xStox, baseline: base, addedP50: round2(s2xStox.p50 - base.p50), addedP99: round2(s2xStox.p99 - base.p99) },
        x2s: { stox: x2sStox, baseline: base, addedP50: round2(x2sStox.p50 - base.p50), addedP99: round2(x2sStox.p99 - base.p99) },
        udpHop: pair(lat.sip),
        stoxCpuUsPerMessage: { s2x: med(lat.s2x, (s) => s.stoxCpuUsPerMessage), x2s: med(lat.x2s, (s) => s.stoxCpuUsPerMessage) },
      },
      confirmation: {
        rate: o.latencyRate,
        withBarrier: { ...rtt(lat.s2x), oneWayP50: s2xStox.p50, oneWayP99: s2xStox.p99 },
        withoutBarrier: { ...rtt(noBarrier), oneWayP50: pair(noBarrier).p50, oneWayP99: pair(noBarrier).p99 },
        sippBaseline: rtt(lat.sip),
      },
      stoxRssPeakMb: round2(rss?.peak ?? NaN),
      durationSeconds: Math.round((performance.now() - began) / 1000),
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    rss?.stop();
    await procs.stopAll();
    dir.remove();
    if (o.nice !== undefined) setPriority(priorityBefore);
  }
}

/** The markdown tables `npm run bench` prints. */
export function printIm(r: ImResult, log: (line: string) => void = console.log): void {
  const fmt = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '–' : n.toLocaleString('en'));
  const name: Record<ImStep['path'], string> = {
    'stox-s2x': 'SIP → XMPP through Stox',
    'sipp-sipp': 'baseline: sipp → sipp',
    'stox-x2s': 'XMPP → SIP through Stox',
    'client-client': 'baseline: client → Prosody → client',
  };
  log(`Page-mode IM, ${r.options.users} XMPP users, ${r.options.seconds} s per step. Zero loss: every MESSAGE answered 2xx, every message delivered, no error stanza; sustained: zero loss with retransmissions ≤ 1 %.`);
  log('| path | offered/s | achieved/s | delivered | failed | retrans | error stanzas | zero loss | sustained | one-way p50 / p99 ms | CPU % stox / prosody / clients / sipp | Stox µs CPU/msg | CPU % others (busy before) |');
  log('|---|---:|---:|---:|---:|---:|---:|:---:|:---:|---:|---|---:|---|');
  for (const s of r.steps.filter((x) => x.phase === 'throughput')) {
    const c = s.cpuPercent;
    const sipp = (c.sipp ?? 0) + (c.sippUac ?? 0);
    log(
      `| ${name[s.path]} | ${fmt(s.offeredRate)} | ${fmt(s.achievedRate)} | ${fmt(s.delivered)}/${fmt(s.offered)} | ${fmt(s.failed ?? 0)} | ${fmt(s.retransmissions)} | ${s.errorStanzas} | ${s.zeroLoss ? 'yes' : 'no'} | ${s.sustained ? 'yes' : 'no'} | ${s.oneWayMs.p50} / ${s.oneWayMs.p99} | ${[c.stox, c.prosody, c.clients].map((x) => x ?? '–').join(' / ')} / ${sipp || '–'} | ${s.stoxCpuUsPerMessage ?? '–'} | ${c.others ?? '–'} (${s.busyBeforePercent}) |`,
    );
  }
  log('');
  const rate = (n: number | null): string => (n === null ? 'none' : `${fmt(n)}/s`);
  log(
    `Highest zero-loss rate: SIP → XMPP ${rate(r.s2x.maxZeroLossRate)} (sustained ${rate(r.s2x.maxSustainedRate)}; sipp → sipp ${rate(r.s2x.baselineSippMaxZeroLossRate)}); XMPP → SIP ${rate(r.x2s.maxZeroLossRate)} (sustained ${rate(r.x2s.maxSustainedRate)}; client → client ${rate(r.x2s.baselineClientMaxZeroLossRate)})`,
  );
  log('');
  const L = r.latency;
  log(`One-way latency at ${fmt(L.rate)} messages/s, median of ${r.options.repeats} runs (ms)`);
  log('| direction | through Stox p50 | p99 | baseline client → Prosody → client p50 | p99 | Stox adds p50 | Stox adds p99 |');
  log('|---|---:|---:|---:|---:|---:|---:|');
  log(`| SIP → XMPP | ${L.s2x.stox.p50} | ${L.s2x.stox.p99} | ${L.s2x.baseline.p50} | ${L.s2x.baseline.p99} | ${L.s2x.addedP50} | ${L.s2x.addedP99} |`);
  log(`| XMPP → SIP | ${L.x2s.stox.p50} | ${L.x2s.stox.p99} | ${L.x2s.baseline.p50} | ${L.x2s.baseline.p99} | ${L.x2s.addedP50} | ${L.x2s.addedP99} |`);
  log(`(the UDP hop, counted in Stox's share: sipp → sipp one-way p50 ${L.udpHop.p50} ms, p99 ${L.udpHop.p99} ms)`);
  log(`Stox CPU per message at this rate: SIP → XMPP ${L.stoxCpuUsPerMessage.s2x} µs, XMPP → SIP ${L.stoxCpuUsPerMessage.x2s} µs`);
  log('');
  const C = r.confirmation;
  log(`What "no false success" costs, SIP → XMPP at ${fmt(C.rate)}/s (sipp's MESSAGE → 2xx, and one-way to the client; ms, medians)`);
  log('| Stox setting | MESSAGE → 2xx p50 | p99 | one-way p50 | p99 |');
  log('|---|---:|---:|---:|---:|');
  log(`| ping barrier (default) | ${C.withBarrier.rttP50} | ${C.withBarrier.rttP99} | ${C.withBarrier.oneWayP50} | ${C.withBarrier.oneWayP99} |`);
  log(`| im.confirmTimeoutMs: 0 | ${C.withoutBarrier.rttP50} | ${C.withoutBarrier.rttP99} | ${C.withoutBarrier.oneWayP50} | ${C.withoutBarrier.oneWayP99} |`);
  log(`| baseline sipp → sipp | ${C.sippBaseline.rttP50} | ${C.sippBaseline.rttP99} | | |`);
  log('');
  log(`Stox peak RSS (VmRSS every 250 ms): ${r.stoxRssPeakMb} MB; IM bench took ${r.durationSeconds} s`);
}

/**
 * `node dist/bench/im.js`: the IM benchmark alone. BENCH_IM_SECONDS, BENCH_IM_S2X_RATES and
 * BENCH_IM_X2S_RATES (comma-separated) override the defaults; BENCH_IM_PROFILE=DIR runs Stox under
 * --cpu-prof and keeps its profiles in DIR; BENCH_IM_STOX_NODE_ARGS adds node options for Stox;
 * BENCH_NICE=-10 runs everything at a higher priority than other work on the machine (as bench/run.ts).
 */
export function imOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): Partial<ImBenchOptions> {
  const rates = (v: string | undefined): number[] | undefined => (v === 'none' ? [] : v ? v.split(',').map(Number) : undefined);
  const o: Partial<ImBenchOptions> = {};
  if (env.BENCH_IM_SECONDS) o.seconds = Number(env.BENCH_IM_SECONDS);
  const s2x = rates(env.BENCH_IM_S2X_RATES);
  if (s2x) o.s2xRates = s2x;
  const x2s = rates(env.BENCH_IM_X2S_RATES);
  if (x2s) o.x2sRates = x2s;
  if (env.BENCH_IM_REPEATS) o.repeats = Number(env.BENCH_IM_REPEATS);
  if (env.BENCH_IM_PROFILE) o.cpuProfileDir = env.BENCH_IM_PROFILE;
  if (env.BENCH_NICE) o.nice = Number(env.BENCH_NICE);
  if (env.BENCH_IM_STOX_NODE_ARGS) o.stoxNodeArgs = env.BENCH_IM_STOX_NODE_ARGS.split(' ').filter((a) => a !== '');
  return o;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchIm(imOptionsFromEnv(), (line) => console.error(line))
    .then((r) => {
      printIm(r);
      mkdirSync(packageFile('bench/results'), { recursive: true });
      const file = packageFile(`bench/results/${new Date().toISOString().replace(/[:.]/g, '-')}-im.json`);
      writeFileSync(file, JSON.stringify({ im: r }, null, 2));
      console.log(`results: ${file}`);
      for (const chart of writeImCharts(r.steps, [file.replace(/\.json$/, '-s2x.svg')], imChartSubtitle())) console.log(`chart: ${chart} (BENCHMARKS.md shows a copy: bench/charts/im-s2x.svg)`);
    })
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    });
}
