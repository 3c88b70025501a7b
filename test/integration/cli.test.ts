import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { start, stopAll, tempDir } from '../helpers/processes.js';
import { runStoxCli, STOX_BIN } from '../helpers/stox.js';

describe('the stox command', () => {
  const dir = tempDir();
  afterAll(async () => {
    await stopAll();
    dir.remove();
  });

  it('--version prints the package version', async () => {
    const r = await runStoxCli('--version');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('--help names every command', async () => {
    const r = await runStoxCli('--help');
    expect(r.code).toBe(0);
    for (const word of ['--config', 'check-config', '--version', 'LOG_LEVEL', 'subscriptions', 'sessions', 'peers']) expect(r.stdout).toContain(word);
  });

  it('check-config exits 0 on the shipped example', async () => {
    const r = await runStoxCli('check-config', 'config/stox.example.yaml');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  });

  it('check-config exits 2 and prints every problem with its key path', async () => {
    const file = join(dir.path, 'bad.yaml');
    writeFileSync(file, 'sip:\n  listen: ["udp://127.0.0.1:5060", "udp://nohost"]\n  domains: []\nlog: { level: chatty }\n');
    const r = await runStoxCli('check-config', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/sip\.listen\[1\]: expected udp:\/\/host:port, got/);
    expect(r.stderr).toMatch(/sip\.domains:/);
    expect(r.stderr).toMatch(/log\.level:/);
  });

  it('admin commands without a config are a usage error (exit 2)', async () => {
    for (const cmd of ['subscriptions', 'sessions', 'peers']) {
      const r = await runStoxCli(cmd);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`usage: stox ${cmd} --config FILE`);
    }
  });

  it('an unknown command or missing --config is a usage error (exit 2)', async () => {
    expect((await runStoxCli('frobnicate')).code).toBe(2);
    expect((await runStoxCli()).code).toBe(2);
  });

  it('--config with an invalid file exits 2 without starting', async () => {
    const file = join(dir.path, 'bad2.yaml');
    writeFileSync(file, 'sip: {}\n');
    const r = await runStoxCli('--config', file);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('sip.listen: required');
  });

  it('runs, logs JSON, and stops cleanly on SIGTERM', async () => {
    const file = join(dir.path, 'ok.yaml');
    writeFileSync(file, 'sip:\n  listen: ["udp://127.0.0.1:0"]\n  domains: [sip.test]\n');
    const p = start(process.execPath, [STOX_BIN, '--config', file]);
    await p.waitFor(/"msg":"Stox started"/);
    const code = await p.stop('SIGTERM');
    expect(code).toBe(0);
    const lines = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as { component?: string; msg: string });
    expect(lines.some((l) => l.component === 'gateway' && l.msg === 'Stox stopped')).toBe(true);
  });
});
