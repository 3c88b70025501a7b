import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageFile } from '../src/package-root.js';
import { parseSippScreen, type SippStats } from './sipp-stats.js';

export interface OptionsResult {
  offeredRate: number;
  calls: number;
  baseline: SippStats;
  stox: SippStats;
  stoxRssMb: number;
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

function startServer(cmd: string, args: string[], ready: RegExp, cwd: string): Promise<{ pid: number; out: () => string; stop: () => Promise<void> }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const exited = new Promise<void>((r) => p.on('exit', () => r()));
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready: ${out.slice(-1000)}`)), 10_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({
          pid: p.pid!,
          out: () => out,
          stop: async () => {
            p.kill('SIGTERM');
            const t = setTimeout(() => p.kill('SIGKILL'), 3000);
            await exited;
            clearTimeout(t);
          },
        });
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', () => reject(new Error(`${cmd} exited: ${out.slice(-1000)}`)));
  });
}

function rssMb(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmHWM:\s+(\d+) kB/);
  return m ? Number(m[1]) / 1024 : NaN;
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

/**
 * OPTIONS answered under sipp load over UDP: the same sipp UAC run against a sipp UAS (baseline: the best
 * this machine does) and against Stox, in the same run. VmHWM gives Stox's peak resident memory.
 */
export async function benchOptions(offeredRate: number, seconds: number): Promise<OptionsResult> {
  const dir = mkdtempSync(join(tmpdir(), 'stox-bench-'));
  const calls = offeredRate * seconds;
  const uac = (port: number): Promise<{ code: number | null; out: string }> =>
    run(
      'sipp',
      [`127.0.0.1:${port}`, '-sf', packageFile('test/integration/scenarios/options.xml'), '-i', '127.0.0.1', '-p', '0', '-m', String(calls), '-r', String(offeredRate), '-l', '20000', '-nostdin', '-timeout', `${seconds * 3 + 20}s`, '-max_recv_loops', '10000'],
      dir,
    );
  try {
    const uasPort = await freeUdpPort();
    const uas = await startServer('sipp', ['-sf', packageFile('bench/scenarios/options-uas.xml'), '-i', '127.0.0.1', '-p', String(uasPort), '-nostdin', '-max_recv_loops', '10000'], /Scenario Screen|Resolving|UDP/, dir);
    await new Promise((r) => setTimeout(r, 300));
    const baseline = parseSippScreen((await uac(uasPort)).out);
    await uas.stop();

    writeFileSync(join(dir, 'stox.yaml'), 'sip:\n  listen: ["udp://127.0.0.1:0"]\n  domains: [sip.test]\nlog: { level: warn }\n');
    const stox = await startServer(process.execPath, [packageFile('dist/src/cli.js'), '--config', join(dir, 'stox.yaml')], /"listen":"udp:\/\/127\.0\.0\.1:(\d+)"/, dir);
    const port = Number(stox.out().match(/"listen":"udp:\/\/127\.0\.0\.1:(\d+)"/)![1]);
    const stoxStats = parseSippScreen((await uac(port)).out);
    const stoxRssMb = rssMb(stox.pid);
    await stox.stop();
    return { offeredRate, calls, baseline, stox: stoxStats, stoxRssMb };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
