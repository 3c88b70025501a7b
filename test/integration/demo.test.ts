import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { packageFile } from '../../src/package-root.js';
import { start, stopAll } from '../helpers/processes.js';

// Issue 6: `npm run demo` (the README's main job) runs end to end against real Prosody, Kamailio and
// sipp, and leaves nothing running behind it, also when interrupted with Ctrl-C (SIGINT).

const DEMO = packageFile('dist/demo/demo.js');

function startDemo(): ReturnType<typeof start> {
  if (!existsSync(DEMO)) throw new Error(`${DEMO} missing: run 'npm run build' first (npm test does)`);
  // --no-install: the test must not run apt-get; .ci/run installs the packages beforehand.
  return start(process.execPath, [DEMO, '--no-install'], { cwd: packageFile('.') });
}

/** Pids of processes whose command line mentions `text` (the demo's temp dir is in every peer's). */
function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) found.push(Number(entry));
    } catch {
      // gone while we looked
    }
  }
  return found;
}

/** The temp dir and the pids the demo printed, checked gone after it exited. */
function expectNothingLeft(output: string): void {
  const dir = /in (\/\S*stox-demo-[^,\s]+),/.exec(output)?.[1];
  expect(dir, output).toBeDefined();
  expect(existsSync(dir!), `${dir} still exists`).toBe(false);
  expect(processesMentioning(dir!), `processes still running with ${dir} in their command line`).toEqual([]);
  const pids = [...output.matchAll(/\(pid (\d+)\)/g)].map((m) => Number(m[1]));
  expect(pids.length, output).toBeGreaterThan(0);
  for (const pid of pids) {
    // A pid may have been reused by an unrelated process since; a leftover peer would still name the dir.
    const cmdline = existsSync(`/proc/${pid}/cmdline`) ? readFileSync(`/proc/${pid}/cmdline`, 'utf8') : '';
    expect(cmdline.includes(dir!), `pid ${pid} still running: ${cmdline}`).toBe(false);
  }
}

describe('npm run demo', () => {
  afterAll(stopAll);

  it('shows subscriptions, presence and a message each way, then stops everything and exits 0', async () => {
    const demo = startDemo();
    const code = await demo.exited;
    const out = demo.stdout;
    expect(code, out + demo.stderr).toBe(0);
    for (const line of [
      /^1\. alice@sip\.test \(SIP\) subscribes to bob@xmpp\.test \(XMPP\)/m,
      /Subscription-State: pending/,
      /bob is asked: "alice@sip\.test wants to see your presence"\. bob approves\./,
      /alice sees bob come online: "open — Ready to chat" \(NOTIFY, Subscription-State: active\)/,
      /^3\. bob@xmpp\.test \(XMPP\) subscribes to alice@sip\.test \(SIP\)/m,
      /bob gets "subscribed"/,
      /bob sees alice come online: "available — In the office"/,
      /bob received it: "Hello from SIP" \(and alice's phone got "202 Accepted"\)/,
      /alice's phone received it: "Hello from XMPP" \(From: <sip:bob@xmpp\.test/,
      /^Done: /m,
      /Stopping everything the demo started… stopped\.$/m,
    ]) {
      expect(out).toMatch(line);
    }
    expectNothingLeft(out);
  }, 120_000);

  it('Ctrl-C (SIGINT) mid-run stops every peer it started by pid and removes its directory', async () => {
    const demo = startDemo();
    await demo.waitFor(/^1\. alice@sip\.test/m, 90_000);
    demo.child.kill('SIGINT');
    const code = await demo.exited;
    const out = demo.stdout;
    expect(code, out + demo.stderr).toBe(130);
    expect(out).toMatch(/Interrupted \(SIGINT\)\./);
    expect(out).not.toMatch(/FAILED/);
    expect(out).toMatch(/stopped\.$/m);
    expectNothingLeft(out);
  }, 120_000);
});
