import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { packageFile } from '../src/package-root.js';
import { processes as defaultProcesses, type Processes, type Started } from './processes.js';

/** The built `stox` binary (`npm run build`). */
export const STOX_BIN = packageFile('dist/src/cli.js');

export interface RunningStox {
  proc: Started;
  /** Bound listeners by protocol, e.g. { udp: { host: '127.0.0.1', port: 40123 } }. */
  listen: Record<string, { host: string; port: number }>;
  configPath: string;
}

export interface StoxStartOptions {
  /** The group that starts Stox (default: the file's own). */
  processes?: Processes;
  /** Another build of the binary (a benchmark compares two). */
  bin?: string;
  /** Node flags before the script, e.g. --cpu-prof. */
  nodeArgs?: string[];
  /** Resolve only once this many XMPP components logged "online" (default 0). */
  onlineComponents?: number;
  cwd?: string;
  timeoutMs?: number;
}

/**
 * Start the real `stox` binary with `config` (an object written as YAML, or YAML text; port 0
 * listeners are fine) and learn its ports from its log.
 */
export async function startStox(dir: string, config: Record<string, unknown> | string, env: NodeJS.ProcessEnv = {}, o: StoxStartOptions = {}): Promise<RunningStox> {
  const bin = o.bin ?? STOX_BIN;
  if (!existsSync(bin)) throw new Error(`${bin} missing: run 'npm run build' first (npm test does)`);
  const configPath = join(dir, 'stox.yaml');
  writeFileSync(configPath, typeof config === 'string' ? config : stringify(config));
  const procs = o.processes ?? defaultProcesses;
  const proc = procs.start(process.execPath, [...(o.nodeArgs ?? []), bin, '--config', configPath], {
    ...(o.cwd !== undefined ? { cwd: o.cwd } : {}),
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
  });
  const timeoutMs = o.timeoutMs ?? 15_000;
  await proc.waitFor(/"msg":"Stox started"/, timeoutMs);
  const listen: RunningStox['listen'] = {};
  for (const line of proc.stdout.split('\n')) {
    const m = line.match(/"listen":"(udp|tcp|tls):\/\/\[?([^\]"]+?)\]?:(\d+)"/);
    if (m) listen[m[1]!] = { host: m[2]!, port: Number(m[3]) };
  }
  const deadline = Date.now() + timeoutMs;
  while ((proc.stdout.match(/"msg":"online"/g) ?? []).length < (o.onlineComponents ?? 0)) {
    if (!proc.running || Date.now() > deadline) throw new Error(`Stox components not online: ${proc.output().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { proc, listen, configPath };
}
