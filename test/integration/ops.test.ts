import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xmppErrorToSip } from '../../src/core/errors.js';
import { defaultErrorTables } from '../../src/mappings.js';
import { startSipp } from '../helpers/kamailio.js';
import { stopAll, tempDir } from '../helpers/processes.js';
import { freePort, startProsody, type ProsodyInstance } from '../helpers/prosody.js';
import { runSipp, startSippUas, writeMessageScenario, writeWatcherScenario, type SippUas } from '../helpers/sipp.js';
import { runStoxCli, startStox, type RunningStox } from '../helpers/stox.js';
import { connectClient, type TestClient } from '../helpers/xmpp-client.js';

// Issue 6's "must show": /health and /metrics content, the admin commands against a running instance
// and its store, and a graceful shutdown that leaves no SIP transaction unanswered, against the real
// stox binary, a real Prosody and sipp.

async function until(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function get(port: number, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, text: await res.text() };
}

/** The value of one sample in Prometheus text, labels matched whatever their order; undefined if absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = (m[2] ?? '').split(/,(?=[a-zA-Z_]\w*=")/).filter((s) => s !== '');
    if (have.length === want.length && want.every((w) => have.includes(w))) return Number(m[3]);
  }
  return undefined;
}

describe('operations: /health, /metrics, admin commands, graceful shutdown', () => {
  const dir = tempDir();
  let prosody: ProsodyInstance;
  let stox: RunningStox;
  let uas: SippUas;
  let romeo: TestClient | undefined;
  let httpPort: number;
  let n = 0;
  let stopped = false;

  const stoxConfig = (httpListenPort: number, shutdownTimeoutMs: number) => ({
    sip: { listen: ['udp://127.0.0.1:0'], domains: ['sip.test'], outboundProxy: `sip:127.0.0.1:${uas.port};lr` },
    xmpp: { server: `tcp://127.0.0.1:${prosody.componentPort}`, components: [{ domain: 'sip.test', secret: 'sip-secret' }] },
    // A barrier that never times out in these tests: a paused Prosody keeps messages in flight.
    im: { confirmTimeoutMs: 30_000 },
    presence: { notifyIntervalMs: 200 },
    store: { path: 'stox.db' },
    http: { listen: `127.0.0.1:${httpListenPort}` },
    process: { shutdownTimeoutMs },
    peering: { default: 'allow', domains: { 'blocked.test': { protocol: 'xmpp', features: [] } } },
  });

  const sipTarget = (s: RunningStox): string => `127.0.0.1:${s.listen.udp!.port}`;

  const pausedProsody = (): void => {
    process.kill(prosody.pid, 'SIGSTOP');
    stopped = true;
  };
  const resumedProsody = (): void => {
    if (stopped) process.kill(prosody.pid, 'SIGCONT');
    stopped = false;
  };

  /** `count` MESSAGEs from alice to `user`@xmpp.test; each must get `expect`. */
  async function sendMessages(s: RunningStox, user: string, count: number, expect: number, responseChecks?: string[]): Promise<{ code: number | null; out: string }> {
    const scenario = writeMessageScenario(dir.path, `uac-${++n}`, {
      requestUri: `sip:${user}@xmpp.test`,
      to: `<sip:${user}@xmpp.test>`,
      from: '<sip:alice@sip.test>',
      headers: ['Content-Type: text/plain'],
      body: `hello ${n}`,
      expect,
      responseChecks,
    });
    const run = await runSipp({ scenario, target: sipTarget(s), transport: 'udp', cwd: dir.path, calls: count, rate: 50 });
    return { code: run.code, out: run.stdout.slice(-3000) + run.stderr.slice(-2000) };
  }

  beforeAll(async () => {
    prosody = await startProsody({ domain: 'xmpp.test', components: [{ domain: 'sip.test', secret: 'sip-secret' }] });
    await prosody.register('romeo', 'romeopw');
    uas = await startSippUas(dir.path, 'uas-message.xml', await freePort());
    httpPort = await freePort();
  }, 60_000);

  afterAll(async () => {
    if (process.env.STOX_TEST_LOG) (await import('node:fs')).writeFileSync(process.env.STOX_TEST_LOG, stox?.proc.stdout ?? '');
    resumedProsody();
    await romeo?.stop().catch(() => undefined);
    await stopAll();
    await prosody?.dispose();
    dir.remove();
  });

  it('/health is 503 while the XMPP component is not connected, 200 once it is, 503 again when Prosody goes away', async () => {
    await prosody.stop();
    stox = await startStox(dir.path, stoxConfig(httpPort, 30_000), process.env.STOX_TEST_LOG ? { LOG_LEVEL: 'debug' } : {});
    const down = await get(httpPort, '/health');
    expect(down.status).toBe(503);
    const report = JSON.parse(down.text) as { status: string; components: Array<{ domain: string; connected: boolean }>; sip: Array<{ up: boolean; bound: string }> };
    expect(report.status).toBe('unavailable');
    expect(report.components).toEqual([expect.objectContaining({ domain: 'sip.test', connected: false })]);
    expect(report.sip).toEqual([expect.objectContaining({ listen: 'udp://127.0.0.1:0', up: true, bound: `udp://${sipTarget(stox)}` })]);

    await prosody.restart();
    await until('/health 200', async () => (await get(httpPort, '/health')).status === 200);
    expect(JSON.parse((await get(httpPort, '/health')).text)).toMatchObject({ status: 'ok', components: [{ domain: 'sip.test', state: 'online', connected: true }] });

    await prosody.stop();
    await until('/health 503 after Prosody stopped', async () => (await get(httpPort, '/health')).status === 503);
    await prosody.restart();
    await until('/health 200 again', async () => (await get(httpPort, '/health')).status === 200);
    const metrics = (await get(httpPort, '/metrics')).text;
    expect(sample(metrics, 'stox_component_connected', { domain: 'sip.test' })).toBe(1);
    expect(sample(metrics, 'stox_component_transitions_total', { domain: 'sip.test', state: 'online' })).toBe(2);
  }, 90_000);

  it('/metrics counts each message by direction and result, errors by mapped code, policy refusals by domain and reason', async () => {
    romeo = await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'romeo', password: 'romeopw', resource: 'balcony', presence: true });
    const bounce = xmppErrorToSip(defaultErrorTables(), 'service-unavailable', { about: { local: 'ghost', domain: 'xmpp.test' } });

    const delivered = await sendMessages(stox, 'romeo', 5, 202);
    expect(delivered.code, delivered.out).toBe(0);
    const bounced = await sendMessages(stox, 'ghost', 3, bounce.status);
    expect(bounced.code, bounced.out).toBe(0);
    const scenario = writeMessageScenario(dir.path, `uac-${++n}`, { requestUri: 'sip:eve@blocked.test', to: '<sip:eve@blocked.test>', from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'blocked', expect: 403 });
    const blocked = await runSipp({ scenario, target: sipTarget(stox), transport: 'udp', cwd: dir.path, calls: 2, rate: 50 });
    expect(blocked.code, blocked.stdout + blocked.stderr).toBe(0);

    // XMPP → SIP: two messages to a SIP user (the sipp UAS answers 200), one to sip:nobody (404).
    for (const body of ['one', 'two']) await romeo.send(xml('message', { to: 'alice@sip.test', type: 'chat' }, xml('body', {}, body)));
    await romeo.send(xml('message', { to: 'nobody@sip.test', type: 'chat' }, xml('body', {}, 'anyone?')));
    await romeo.next((el) => el.name === 'message' && el.attrs.type === 'error' && String(el.attrs.from).startsWith('nobody@sip.test'), 15_000);

    let text = '';
    await until('x2s counters', async () => {
      text = (await get(httpPort, '/metrics')).text;
      return sample(text, 'stox_messages_total', { direction: 'xmpp_to_sip', feature: 'im', result: 'delivered' }) === 2;
    });
    const im = (direction: string, result: string) => sample(text, 'stox_messages_total', { direction, feature: 'im', result });
    expect(im('sip_to_xmpp', 'delivered')).toBe(5);
    expect(im('sip_to_xmpp', 'bounced')).toBe(3);
    expect(im('sip_to_xmpp', 'refused')).toBe(2);
    expect(im('xmpp_to_sip', 'delivered')).toBe(2);
    expect(im('xmpp_to_sip', 'bounced')).toBe(1);
    // The bounce's mapped status may be 403 too (RFC 7247 maps service-unavailable per table), so sum per code.
    const sipErrors = new Map<number, number>([[403, 2]]);
    sipErrors.set(bounce.status, (sipErrors.get(bounce.status) ?? 0) + 3);
    for (const [code, count] of sipErrors) expect(sample(text, 'stox_errors_total', { side: 'sip', code: String(code) })).toBe(count);
    expect(sample(text, 'stox_errors_total', { side: 'xmpp', code: 'item-not-found' })).toBe(1);
    expect(sample(text, 'stox_policy_refusals_total', { domain: 'blocked.test', reason: 'feature-denied' })).toBe(2);
    expect(sample(text, 'stox_translation_seconds_count', { direction: 'sip_to_xmpp', feature: 'im' })).toBe(10);
    expect(sample(text, 'stox_translation_seconds_count', { direction: 'xmpp_to_sip', feature: 'im' })).toBe(3);
    expect(sample(text, 'stox_messages_in_flight', { direction: 'sip_to_xmpp' })).toBe(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(text).toMatch(/^# TYPE stox_translation_seconds histogram$/m);
  }, 60_000);

  it('stox subscriptions, sessions and peers print tables from the running instance', async () => {
    const scenario = writeWatcherScenario(dir.path, 'watch-romeo', { target: 'romeo@xmpp.test', watcher: 'bob@sip.test', expires: 600, until: 'never-matches-this' });
    const bob = await startSipp({ scenario, target: sipTarget(stox), cwd: dir.path, keys: {}, timeoutSec: 120 });
    // The 200 is enough: Stox holds the dialog and the pending subscription from then on. (Its NOTIFYs
    // go to the outbound proxy, here a MESSAGE-only sipp, so the watcher never sees them.)
    await bob.waitForLog(/subscribed/, 15_000);
    const callId = /^Call-ID: (.+)$/m.exec(bob.messages())?.[1]?.trim();
    expect(callId).toBeDefined();

    const subs = await runStoxCli('subscriptions', '--config', stox.configPath);
    expect(subs.code, subs.stderr).toBe(0);
    expect(subs.stdout).toMatch(/^1 subscription\(s\)$/m);
    expect(subs.stdout).toMatch(/^DIRECTION +XMPP +SIP +STATE +AUTHORIZATION +EXPIRES$/m);
    expect(subs.stdout).toMatch(/^sip→xmpp +romeo@xmpp\.test +sip:bob@sip\.test +pending +pending +\S+$/m);

    const sessions = await runStoxCli('sessions', '--config', stox.configPath);
    expect(sessions.code, sessions.stderr).toBe(0);
    expect(sessions.stdout).toMatch(new RegExp(`^sip\\.test +tcp://127\\.0\\.0\\.1:${prosody.componentPort} +online$`, 'm'));
    expect(sessions.stdout).toMatch(/^1 SIP subscription dialog\(s\)$/m);
    expect(sessions.stdout).toMatch(new RegExp(`^notifier +confirmed +\\S+romeo@xmpp\\.test\\S* +\\S+bob@sip\\.test\\S* +${callId!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));

    const peers = await runStoxCli('peers', '--config', stox.configPath);
    expect(peers.code, peers.stderr).toBe(0);
    expect(peers.stdout).toMatch(/^peering default: allow$/m);
    expect(peers.stdout).toMatch(/^blocked\.test +listed +xmpp +none +unlimited +- +- +0 +feature-denied=2$/m);
    expect(peers.stdout).toMatch(/^sip\.test +local +- +all +unlimited +- +- +\d+ +-$/m);

    const metrics = (await get(httpPort, '/metrics')).text;
    expect(sample(metrics, 'stox_subscriptions_active', { direction: 'sip_to_xmpp' })).toBe(1);
    expect(sample(metrics, 'stox_sip_dialogs_active')).toBe(1);
    expect(sample(metrics, 'stox_presence_events_total', { direction: 'sip_to_xmpp', result: 'accepted' })).toBe(1);
    await bob.proc.stop('SIGTERM', 2_000);
  }, 60_000);

  it('SIGTERM: new MESSAGEs get 503, the ones in flight get their real answer, then a clean exit 0', async () => {
    pausedProsody();
    const batch = writeMessageScenario(dir.path, `uac-${++n}`, { requestUri: 'sip:romeo@xmpp.test', to: '<sip:romeo@xmpp.test>', from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'in flight', expect: 202 });
    const inFlight = await startSipp({ scenario: batch, target: sipTarget(stox), cwd: dir.path, keys: {}, calls: 6, timeoutSec: 60 });
    await until('6 MESSAGEs awaiting the paused Prosody', async () => sample((await get(httpPort, '/metrics')).text, 'stox_messages_in_flight', { direction: 'sip_to_xmpp' }) === 6);

    stox.proc.child.kill('SIGTERM');
    await stox.proc.waitFor(/"msg":"draining: new requests refused/);
    const health = await get(httpPort, '/health');
    expect(health.status).toBe(503);
    expect(JSON.parse(health.text)).toMatchObject({ status: 'draining' });
    const late = await sendMessages(stox, 'romeo', 1, 503, ['Retry-After: 5']);
    expect(late.code, late.out).toBe(0);

    resumedProsody();
    const run = await inFlight.done;
    expect(run.code, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0); // all 6 answered 202
    expect(await stox.proc.exited).toBe(0);
    expect(stox.proc.stdout).toMatch(/"msg":"drained: every request in flight has its answer"/);
    expect(stox.proc.stdout).toMatch(/"component":"xmpp".*"msg":"stopped"/);
    expect(stox.proc.stdout).toMatch(/"msg":"Stox stopped"/);
  }, 90_000);

  it('without a running instance: subscriptions come from the store file, peers from the config, sessions say why not', async () => {
    const subs = await runStoxCli('subscriptions', '--config', stox.configPath);
    expect(subs.code, subs.stderr).toBe(0);
    expect(subs.stderr).toMatch(/no running instance answered at http:\/\/127\.0\.0\.1:\d+\/admin\/subscriptions/);
    expect(subs.stdout).toMatch(/read from the store file/);
    expect(subs.stdout).toMatch(/^sip→xmpp +romeo@xmpp\.test +sip:bob@sip\.test +pending +pending +\S+$/m);

    const peers = await runStoxCli('peers', '--config', stox.configPath);
    expect(peers.code).toBe(0);
    expect(peers.stdout).toMatch(/from the config file/);
    expect(peers.stdout).toMatch(/^blocked\.test +listed +xmpp +none +unlimited +- +- +- +-$/m);

    const sessions = await runStoxCli('sessions', '--config', stox.configPath);
    expect(sessions.code).toBe(1);
    expect(sessions.stderr).toMatch(/exist only in a running instance/);
  });

  it('SIGTERM with a Prosody that never answers: at the deadline every MESSAGE in flight gets 503, none is left unanswered', async () => {
    const second = join(dir.path, 'second');
    mkdirSync(second);
    const port = await freePort();
    const s = await startStox(second, stoxConfig(port, 500));
    await until('second instance healthy', async () => (await get(port, '/health')).status === 200);

    pausedProsody();
    const batch = writeMessageScenario(dir.path, `uac-${++n}`, { requestUri: 'sip:romeo@xmpp.test', to: '<sip:romeo@xmpp.test>', from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'cut', expect: 503, responseChecks: ['Retry-After: 5'] });
    const inFlight = await startSipp({ scenario: batch, target: sipTarget(s), cwd: dir.path, keys: {}, calls: 4, timeoutSec: 60 });
    await until('4 MESSAGEs awaiting the paused Prosody', async () => sample((await get(port, '/metrics')).text, 'stox_messages_in_flight', { direction: 'sip_to_xmpp' }) === 4);

    s.proc.child.kill('SIGTERM');
    const run = await inFlight.done;
    expect(run.code, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0); // all 4 answered 503
    expect(await s.proc.exited).toBe(0);
    resumedProsody();
    const cut = s.proc.stdout.split('\n').find((l) => l.includes('shutdown deadline reached'));
    expect(cut).toBeDefined();
    expect(JSON.parse(cut!)).toMatchObject({ component: 'gateway', cut: { messagesToXmpp: 4 }, answered503: { messages: 4 } });
  }, 90_000);

  it('SIGTERM while an XMPP message awaits a SIP next hop that never answers: at the deadline its sender gets <remote-server-timeout/>, not silence', async () => {
    // A next hop that takes the MESSAGE and never answers (nor does it send 100: Timer F would run 32 s).
    const hole = createSocket('udp4');
    let reached = 0;
    hole.on('message', () => reached++);
    hole.bind(0, '127.0.0.1');
    await once(hole, 'listening');
    try {
      const third = join(dir.path, 'third');
      mkdirSync(third);
      const port = await freePort();
      const config = stoxConfig(port, 500);
      config.sip.outboundProxy = `sip:127.0.0.1:${hole.address().port};lr`;
      const s = await startStox(third, config);
      await until('third instance healthy', async () => (await get(port, '/health')).status === 200);
      romeo ??= await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'romeo', password: 'romeopw', resource: 'balcony', presence: true });
      await romeo.send(xml('message', { to: 'alice@sip.test', type: 'chat', id: 'cut-x2s' }, xml('body', {}, 'into the void')));
      await until('the MESSAGE reached the silent next hop', async () => reached > 0);

      s.proc.child.kill('SIGTERM');
      const bounce = await romeo.next((el) => el.name === 'message' && el.attrs.type === 'error' && el.attrs.id === 'cut-x2s', 15_000);
      const error = bounce.getChild('error');
      expect(error?.attrs.type).toBe('wait');
      expect(error?.getChild('remote-server-timeout', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
      expect(await s.proc.exited).toBe(0);
      const cut = s.proc.stdout.split('\n').find((l) => l.includes('shutdown deadline reached'));
      expect(JSON.parse(cut!)).toMatchObject({ component: 'gateway', cut: { messagesToSip: 1 } });
    } finally {
      hole.close();
    }
  }, 90_000);
});
