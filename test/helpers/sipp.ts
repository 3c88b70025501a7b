import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { start } from './processes.js';

export const SCENARIOS = join(dirname(fileURLToPath(import.meta.url)), '..', 'integration', 'scenarios');

export interface SippRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface SippOptions {
  scenario: string;
  target: string;
  transport: 'udp' | 'tcp';
  calls?: number;
  rate?: number;
  timeoutSec?: number;
  cwd: string;
  extra?: string[];
}

/** Run sipp as a UAC to completion; exit code 0 means every call passed its scenario. */
export async function runSipp(o: SippOptions): Promise<SippRun> {
  const args = [
    o.target,
    '-sf', join(SCENARIOS, o.scenario),
    '-t', o.transport === 'udp' ? 'u1' : 't1',
    '-i', '127.0.0.1',
    '-p', '0',
    '-m', String(o.calls ?? 1),
    '-r', String(o.rate ?? 10),
    '-timeout', `${o.timeoutSec ?? 15}s`,
    '-timeout_error',
    '-nostdin',
    '-trace_err',
    ...(o.extra ?? []),
  ];
  const p = start('sipp', args, { cwd: o.cwd });
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}
