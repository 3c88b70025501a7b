import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { start, type Started } from './processes.js';

export const STOX_BIN = resolve('dist/src/cli.js');

export interface RunningStox {
  proc: Started;
  /** Bound listeners by protocol, e.g. { udp: 'udp://127.0.0.1:40123' }. */
  listen: Record<string, { host: string; port: number }>;
  configPath: string;
}

/** Start the real `stox` binary with `config` (port 0 listeners) and learn its ports from its log. */
export async function startStox(dir: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<RunningStox> {
  if (!existsSync(STOX_BIN)) throw new Error(`${STOX_BIN} missing: run 'npm run build' first (npm test does)`);
  const configPath = join(dir, 'stox.yaml');
  writeFileSync(configPath, stringify(config));
  const proc = start(process.execPath, [STOX_BIN, '--config', configPath], { env: { ...process.env, LOG_LEVEL: 'info', ...env } });
  await proc.waitFor(/"msg":"Stox started"/);
  const listen: RunningStox['listen'] = {};
  for (const line of proc.stdout.split('\n')) {
    const m = line.match(/"listen":"(udp|tcp|tls):\/\/\[?([^\]"]+?)\]?:(\d+)"/);
    if (m) listen[m[1]!] = { host: m[2]!, port: Number(m[3]) };
  }
  return { proc, listen, configPath };
}
