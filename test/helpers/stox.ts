// The peer-starting code lives in peers/ so the demo and the benchmarks share it with the tests.
import { STOX_BIN } from '../../peers/stox.js';
import { start } from './processes.js';

export * from '../../peers/stox.js';

/** Runs the `stox` command to its end (the CLI, not a gateway kept running): exit code and output. */
export async function runStoxCli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = start(process.execPath, [STOX_BIN, ...args]);
  const code = await p.exited;
  return { code, stdout: p.stdout, stderr: p.stderr };
}
