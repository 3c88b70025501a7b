import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import xml from '@xmpp/xml';
import { stringify } from 'yaml';
import type { Element } from 'ltx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishPresence, startKamailio, startSipp, type BackgroundSipp, type KamailioInstance } from '../helpers/kamailio.js';
import { stopAll, tempDir } from '../helpers/processes.js';
import { freePort, startProsody, type ProsodyInstance } from '../helpers/prosody.js';
import { runSipp, writeWatcherScenario } from '../helpers/sipp.js';
import { startStox, type RunningStox } from '../helpers/stox.js';
import { connectClient, type TestClient } from '../helpers/xmpp-client.js';

// Issue 4's "must show": presence both ways (RFC 8048) through real Prosody, a real Kamailio presence
// server and sipp UAs, and a SIGKILL of Stox mid-way after which both directions keep working.

function onlineCount(stox: RunningStox, domain: string): number {
  return stox.proc.stdout.split('\n').filter((l) => l.includes('"msg":"online"') && l.includes(`"domain":"${domain}"`)).length;
}

async function until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const isPresence = (from: string, pred: (el: Element) => boolean = () => true) => (el: Element) =>
  el.name === 'presence' && String(el.attrs.from ?? '').split('/')[0] === from && pred(el);

describe('presence through Kamailio, Prosody and Stox (RFC 8048)', () => {
  const dir = tempDir();
  let prosody: ProsodyInstance;
  let kam: KamailioInstance;
  let stox: RunningStox;
  let romeo: TestClient;
  let stoxPort: number;
  const sipps: BackgroundSipp[] = [];

  const stoxConfig = () => ({
    sip: { listen: [`udp://127.0.0.1:${stoxPort}`], domains: ['sip.test'], outboundProxy: `sip:127.0.0.1:${kam.port};lr` },
    xmpp: { server: `tcp://127.0.0.1:${prosody.componentPort}`, components: [{ domain: 'sip.test', secret: 'sip-secret' }] },
    presence: { notifyIntervalMs: 200, resumePerSecond: 100 },
    store: { path: 'stox.db' },
  });

  beforeAll(async () => {
    prosody = await startProsody({ domain: 'xmpp.test', components: [{ domain: 'sip.test', secret: 'sip-secret' }] });
    await prosody.register('romeo', 'romeopw');
    stoxPort = await freePort();
    kam = await startKamailio({ domain: 'sip.test', xmppDomains: ['xmpp.test'], stox: { host: '127.0.0.1', port: stoxPort } });
    stox = await startStox(dir.path, stoxConfig(), process.env.STOX_TEST_LOG ? { LOG_LEVEL: 'debug' } : {});
    await until('component online', () => onlineCount(stox, 'sip.test') >= 1);
    romeo = await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'romeo', password: 'romeopw', resource: 'balcony', presence: true });
    // RFC 6121 §2.1.6: only a resource that requested the roster is "interested" and gets `subscribed`.
    await romeo.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  }, 90_000);

  afterAll(async () => {
    if (process.env.STOX_TEST_LOG) (await import('node:fs')).writeFileSync(process.env.STOX_TEST_LOG, stox?.proc.stdout ?? '');
    for (const s of sipps) await s.proc.stop('SIGTERM', 2_000);
    await romeo?.stop().catch(() => undefined);
    await kam?.dispose();
    await stopAll();
    await prosody?.dispose();
    dir.remove();
  });

  it('X2S (§3.2): an XMPP user subscribes to a SIP user who PUBLISHes to Kamailio, and sees the changes', async () => {
    const first = await publishPresence(kam.target, dir.path, { user: 'alice', domain: 'sip.test', basic: 'open', note: 'Out to lunch' });
    expect(first.code, first.stdout + first.stderr).toBe(0);

    await romeo.send(xml('presence', { to: 'alice@sip.test', type: 'subscribe' }));
    await romeo.next(isPresence('alice@sip.test', (el) => el.attrs.type === 'subscribed'), 15_000);
    const seen = await romeo.next(isPresence('alice@sip.test', (el) => el.attrs.type === undefined && el.getChildText('status') === 'Out to lunch'), 15_000);
    expect(seen.getChild('c', 'http://jabber.org/protocol/caps')?.attrs.ver).toMatch(/\S+/); // XEP-0115 caps on presence

    const second = await publishPresence(kam.target, dir.path, { user: 'alice', domain: 'sip.test', basic: 'open', note: 'In a meeting', etag: first.etag });
    expect(second.code, second.stdout + second.stderr).toBe(0);
    await romeo.next(isPresence('alice@sip.test', (el) => el.getChildText('status') === 'In a meeting'), 15_000);
  });

  it('S2X (§3.3): a SIP user subscribes via Kamailio to an XMPP user, gets pending, then show/status changes', async () => {
    const scenario = writeWatcherScenario(dir.path, 'watch-romeo', { target: 'romeo@xmpp.test', watcher: 'bob@sip.test', expires: 600, until: 'Busy with Juliet' });
    const bob = await startSipp({ scenario, target: kam.target, cwd: dir.path, keys: {}, timeoutSec: 40 });
    sipps.push(bob);
    await bob.waitForLog(/notify state=pending/, 15_000);

    // The XMPP user is asked, like for any contact, and approves.
    const ask = await romeo.next(isPresence('bob@sip.test', (el) => el.attrs.type === 'subscribe'), 15_000);
    expect(ask.attrs.to).toBe('romeo@xmpp.test');
    await romeo.send(xml('presence', { to: 'bob@sip.test', type: 'subscribed' }));
    await bob.waitForLog(/notify state=active/, 15_000);

    await romeo.send(xml('presence', {}, xml('show', {}, 'dnd'), xml('status', {}, 'Busy with Juliet')));
    const run = await bob.done;
    expect(run.code, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0);
    const notifyWithNote = bob.messages().split(/-{20,}/).find((m) => m.includes('Busy with Juliet') && /^NOTIFY sip:/m.test(m));
    expect(notifyWithNote, bob.messages().slice(-4000)).toBeDefined();
    expect(notifyWithNote).toMatch(/<(\w+:)?show[^>]*>dnd</);
    expect(notifyWithNote).toMatch(/Subscription-State: active;expires=\d+/);
  }, 60_000);

  it('Stox killed with SIGKILL mid-way and restarted: a SIP watcher keeps its dialog, an XMPP watcher is re-subscribed', async () => {
    // A SIP watcher established before the crash.
    const scenario = writeWatcherScenario(dir.path, 'watch-romeo-2', { target: 'romeo@xmpp.test', watcher: 'bob@sip.test', expires: 600, until: 'After the crash' });
    const bob = await startSipp({ scenario, target: kam.target, cwd: dir.path, keys: {}, timeoutSec: 60 });
    sipps.push(bob);
    await bob.waitForLog(/notify state=active/, 15_000); // already authorized in romeo's roster → active

    const callIdsBefore = new Set([...bob.messages().matchAll(/^Call-ID: (.+)$/gm)].map((m) => m[1]!.trim()));
    stox.proc.child.kill('SIGKILL');
    await stox.proc.exited;
    stox = await startStox(dir.path, stoxConfig());
    await until('component back online', () => onlineCount(stox, 'sip.test') >= 1);
    expect(stox.proc.stdout).toMatch(/"msg":"presence state restored"/);

    // S2X: the NOTIFY after the restart travels in the same dialog (same Call-ID) and ends the watch.
    await romeo.send(xml('presence', {}, xml('show', {}, 'away'), xml('status', {}, 'After the crash')));
    const run = await bob.done;
    expect(run.code, run.stdout.slice(-3000) + run.stderr.slice(-2000)).toBe(0);
    const callIdsAfter = new Set([...bob.messages().matchAll(/^Call-ID: (.+)$/gm)].map((m) => m[1]!.trim()));
    expect(callIdsAfter).toEqual(callIdsBefore);

    // X2S: Stox re-established romeo's subscription to alice; her next change reaches romeo.
    const again = await publishPresence(kam.target, dir.path, { user: 'alice', domain: 'sip.test', basic: 'open', note: 'Back from lunch' });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    await romeo.next(isPresence('alice@sip.test', (el) => el.getChildText('status') === 'Back from lunch'), 20_000);
  }, 90_000);
  it('issue 5: SIGHUP tightening the policy refuses new subscriptions and keeps the active one', async () => {
    const scenario = writeWatcherScenario(dir.path, 'watch-romeo-3', { target: 'romeo@xmpp.test', watcher: 'bob@sip.test', expires: 600, until: 'Policy changed' });
    const bob = await startSipp({ scenario, target: kam.target, cwd: dir.path, keys: {}, timeoutSec: 60 });
    sipps.push(bob);
    await bob.waitForLog(/notify state=active/, 15_000);

    // sip.test keeps IM but loses presence; Kamailio relays from 127.0.0.1.
    const tightened = { ...stoxConfig(), peering: { default: 'allow', domains: { 'sip.test': { protocol: 'sip', features: ['im'], sources: ['127.0.0.1/32'] } } } };
    writeFileSync(stox.configPath, stringify(tightened));
    stox.proc.child.kill('SIGHUP');
    await stox.proc.waitFor(/"msg":"configuration reloaded"/);

    const refused = join(dir.path, 'subscribe-refused.xml');
    writeFileSync(
      refused,
      `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="subscribe-refused">
  <send retrans="500"><![CDATA[
      SUBSCRIBE sip:romeo@xmpp.test SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:carol@sip.test>;tag=[pid]SIPpTagR[call_number]
      To: <sip:romeo@xmpp.test>
      Call-ID: [call_id]
      CSeq: 1 SUBSCRIBE
      Max-Forwards: 70
      Contact: <sip:carol@[local_ip]:[local_port]>
      Event: presence
      Expires: 600
      Content-Length: 0

  ]]></send>
  <recv response="403"><action><ereg regexp="Warning: 399 stox" search_in="msg" check_it="true" assign_to="w"/></action></recv>
  <Reference variables="w"/>
</scenario>
`,
    );
    const run = await runSipp({ scenario: refused, target: kam.target, transport: 'udp', cwd: dir.path });
    expect(run.code, run.stdout + run.stderr).toBe(0);

    await romeo.send(xml('presence', {}, xml('status', {}, 'Policy changed')));
    const watched = await bob.done;
    expect(watched.code, watched.stdout.slice(-3000) + watched.stderr.slice(-2000)).toBe(0);
  }, 60_000);
});
