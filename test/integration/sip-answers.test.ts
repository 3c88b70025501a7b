import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runSipp } from '../helpers/sipp.js';
import { startStox, type RunningStox } from '../helpers/stox.js';
import { stopAll, tempDir } from '../helpers/processes.js';

// Real sipp against the real `stox` binary, over UDP and TCP (issue 2's "must show").
describe('Stox answers real sipp over UDP and TCP', () => {
  const dir = tempDir();
  let stox: RunningStox;

  beforeAll(async () => {
    stox = await startStox(dir.path, {
      sip: { listen: ['udp://127.0.0.1:0', 'tcp://127.0.0.1:0'], domains: ['sip.test'] },
      log: { level: 'info' },
    });
  });

  afterAll(async () => {
    await stopAll();
    dir.remove();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    const target = (): string => `127.0.0.1:${stox.listen[transport]!.port}`;

    it(`RFC 3261 §11: OPTIONS → 200 with Allow, Accept, Supported (${transport})`, async () => {
      const run = await runSipp({ scenario: 'options.xml', target: target(), transport, calls: 20, rate: 50, cwd: dir.path });
      expect(run.code, run.stderr + run.stdout).toBe(0);
    });

    it(`RFC 3428: MESSAGE for a user with no route → 404 (${transport})`, async () => {
      const run = await runSipp({ scenario: 'message-no-route.xml', target: target(), transport, calls: 20, rate: 50, cwd: dir.path });
      expect(run.code, run.stderr + run.stdout).toBe(0);
    });

    it(`RFC 3261 §8.2.1: unknown method → 405 with Allow (${transport})`, async () => {
      const run = await runSipp({ scenario: 'unknown-method.xml', target: target(), transport, calls: 5, cwd: dir.path });
      expect(run.code, run.stderr + run.stdout).toBe(0);
    });

    it(`RFC 3261 §21.4.1: malformed request → 400 naming the problem (${transport})`, async () => {
      const run = await runSipp({ scenario: 'bad-request.xml', target: target(), transport, calls: 5, cwd: dir.path });
      expect(run.code, run.stderr + run.stdout).toBe(0);
    });
  }

  it('logs each SIP request with its Call-ID as pino JSON', () => {
    const lines = stox.proc.stdout.split('\n').filter((l) => l.includes('"component":"sip"') && l.includes('no route'));
    expect(lines.length).toBeGreaterThan(0);
    const entry = JSON.parse(lines[0]!) as { callId?: string; level: number };
    expect(entry.callId).toMatch(/\S+/);
  });
});
