import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every process a test starts goes through here so cleanup kills exactly those pids, even when the
 * test failed half-way. Output is kept in memory for assertions and failure messages.
 */
export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
  /** Resolves with the first stdout/stderr line matching `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

const live = new Set<Started>();

export function start(command: string, args: string[], options: SpawnOptions = {}): Started {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  if (child.pid === undefined) throw new Error(`cannot start ${command}`);
  let exitCode: number | null | undefined;
  const watchers: Array<() => void> = [];
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? (signal ? null : code);
      live.delete(proc);
      resolve(exitCode);
      for (const w of watchers) w();
    });
    child.once('error', () => resolve(null));
  });
  const proc: Started = {
    child,
    pid: child.pid,
    stdout: '',
    stderr: '',
    exited,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = proc.stdout.match(re) ?? proc.stderr.match(re);
          if (m) {
            cleanup();
            resolve(m);
            return true;
          }
          return false;
        };
        const onExit = (): void => {
          if (!check()) {
            cleanup();
            reject(new Error(`${command} exited (${String(exitCode)}) before ${re}: ${proc.stderr.slice(-2000)}${proc.stdout.slice(-2000)}`));
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${re} from ${command}: ${proc.stderr.slice(-2000)}${proc.stdout.slice(-2000)}`));
        }, timeoutMs);
        const onData = (): void => void check();
        const cleanup = (): void => {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          child.stderr?.off('data', onData);
          const i = watchers.indexOf(onExit);
          if (i >= 0) watchers.splice(i, 1);
        };
        if (check()) return;
        if (exitCode !== undefined) return onExit();
        child.stdout?.on('data', onData);
        child.stderr?.on('data', onData);
        watchers.push(onExit);
      });
    },
    async stop(signal = 'SIGTERM', graceMs = 5_000) {
      if (exitCode !== undefined) return exitCode;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  child.stdout?.on('data', (d: Buffer) => (proc.stdout += d.toString('utf8')));
  child.stderr?.on('data', (d: Buffer) => (proc.stderr += d.toString('utf8')));
  live.add(proc);
  return proc;
}

/** Kill everything this test file started that is still running. */
export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((p) => p.stop('SIGTERM', 3_000)));
}

/** A fresh directory for one test run, removed by the returned function. */
export function tempDir(prefix = 'stox-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
