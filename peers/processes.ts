import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every peer process (Prosody, Kamailio, sipp, Stox) is started through a `Processes` group, so that
 * cleanup ends exactly those pids — after a failed test, an interrupted benchmark or a Ctrl-C in the
 * demo — and never anything else on the machine. Output is kept in memory for waits and failure messages.
 */
export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The command, for messages. */
  readonly name: string;
  /** Everything printed on stdout (the last `maxOutput` characters when the group caps output). */
  readonly stdout: string;
  readonly stderr: string;
  /** stdout then stderr. */
  output(): string;
  readonly exited: Promise<number | null>;
  readonly running: boolean;
  /** Resolves with the first stdout/stderr match of `re`; rejects on exit or timeout. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export interface ProcessesOptions {
  /**
   * Keep at most about this many characters of each stream. A benchmark's peers print for minutes; a
   * test's are kept whole so a wait can match anything printed since the start.
   */
  maxOutput?: number;
}

export class Processes {
  private readonly live = new Set<Started>();
  private readonly maxOutput: number;

  constructor(opts: ProcessesOptions = {}) {
    this.maxOutput = opts.maxOutput ?? Infinity;
  }

  start(command: string, args: string[], options: SpawnOptions = {}): Started {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    if (child.pid === undefined) throw new Error(`cannot start ${command}`);
    const max = this.maxOutput;
    let stdout = '';
    let stderr = '';
    let running = true;
    let exitCode: number | null = null;
    const watchers = new Set<() => void>();
    const keep = (s: string): string => (s.length > 2 * max ? s.slice(-max) : s);
    child.stdout?.on('data', (d: Buffer) => {
      stdout = keep(stdout + d.toString('utf8'));
      for (const w of watchers) w();
    });
    child.stderr?.on('data', (d: Buffer) => {
      stderr = keep(stderr + d.toString('utf8'));
      for (const w of watchers) w();
    });
    const exited = new Promise<number | null>((resolve) => {
      const done = (code: number | null): void => {
        if (!running) return;
        running = false;
        exitCode = code;
        this.live.delete(proc);
        resolve(code);
        for (const w of watchers) w();
      };
      child.once('exit', (code) => done(code));
      child.once('error', () => done(null));
    });
    const tail = (): string => `${stderr.slice(-2000)}${stdout.slice(-2000)}`;
    const proc: Started = {
      child,
      pid: child.pid,
      name: command,
      get stdout() {
        return stdout;
      },
      get stderr() {
        return stderr;
      },
      output: () => stdout + stderr,
      exited,
      get running() {
        return running;
      },
      waitFor(re, timeoutMs = 15_000) {
        return new Promise((resolve, reject) => {
          const finish = (): void => {
            clearTimeout(timer);
            watchers.delete(check);
          };
          const check = (): void => {
            const m = stdout.match(re) ?? stderr.match(re);
            if (m) {
              finish();
              resolve(m);
            } else if (!running) {
              finish();
              reject(new Error(`${command} exited (${String(exitCode)}) before ${re}: ${tail()}`));
            }
          };
          const timer = setTimeout(() => {
            finish();
            reject(new Error(`timed out waiting for ${re} from ${command}: ${tail()}`));
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

  /** Pids of the processes of this group still running. */
  pids(): number[] {
    return [...this.live].map((p) => p.pid);
  }

  /** Stops everything of this group still running, by pid. */
  async stopAll(graceMs = 3_000): Promise<void> {
    await Promise.all([...this.live].map((p) => p.stop('SIGTERM', graceMs)));
  }
}

/** The group of a test file (each vitest file runs in its own process) or of the demo. */
export const processes = new Processes();

export function start(command: string, args: string[], options: SpawnOptions = {}): Started {
  return processes.start(command, args, options);
}

/** Kill everything this test file started that is still running. */
export async function stopAll(): Promise<void> {
  await processes.stopAll();
}

/** A fresh directory for one run, removed by the returned function. */
export function tempDir(prefix = 'stox-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
