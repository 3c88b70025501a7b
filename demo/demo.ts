import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { presenceModulesInstalled, registerContact, publishPresence, startKamailio, startSipp, type BackgroundSipp, type KamailioInstance } from '../peers/kamailio.js';
import { freeUdpTcpPort } from '../peers/ports.js';
import { processes, tempDir } from '../peers/processes.js';
import { startProsody, type ProsodyInstance } from '../peers/prosody.js';
import { runSipp, startSippUas, writeMessageScenario, writeWatcherScenario, type SippUas } from '../peers/sipp.js';
import { startStox, type RunningStox } from '../peers/stox.js';
import { connectClient, type TestClient } from '../peers/xmpp-client.js';

/**
 * `npm run demo`: the gateway's main job shown end to end on one machine. A SIP user (alice, on a SIP
 * domain served by Kamailio) and an XMPP user (bob, on Prosody) subscribe to each other, see each other
 * come online and exchange a message each way, all through Stox. Every line it prints about what
 * happened is printed after the event was observed on the wire (a NOTIFY sipp received, a stanza the
 * XMPP client received, a SIP answer sipp checked), so a broken gateway makes the demo fail, not lie.
 *
 * Options: --no-install  never run apt-get (fail when something is missing; used by the tests).
 * Everything it starts runs on 127.0.0.1 in a temp directory and is stopped by pid on exit, on failure
 * and on SIGINT/SIGTERM.
 */

const SIP_DOMAIN = 'sip.test';
const XMPP_DOMAIN = 'xmpp.test';
const ALICE = `alice@${SIP_DOMAIN}`;
const BOB = `bob@${XMPP_DOMAIN}`;
const COMPONENT_SECRET = 'demo-secret';
const STEP_TIMEOUT_MS = 20_000;

const say = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

class StepFailed extends Error {}

// ---------------------------------------------------------------------------------------------------
// What must be installed, and installing it.

function onPath(command: string): boolean {
  // Kamailio lives in /usr/sbin, which a non-root PATH may lack.
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  return dirs.some((d) => {
    try {
      accessSync(join(d, command), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const NEEDED: Array<{ pkg: string; what: string; installed: () => boolean }> = [
  { pkg: 'sip-tester', what: 'sipp', installed: () => onPath('sipp') },
  { pkg: 'prosody', what: 'Prosody', installed: () => onPath('prosody') && onPath('prosodyctl') },
  { pkg: 'kamailio', what: 'Kamailio', installed: () => onPath('kamailio') },
  { pkg: 'kamailio-presence-modules', what: "Kamailio's presence modules", installed: presenceModulesInstalled },
];

function ensureInstalled(allowInstall: boolean): void {
  process.stdout.write('Checking for Prosody, Kamailio with its presence modules, and sipp… ');
  const missing = NEEDED.filter((n) => !n.installed());
  if (missing.length === 0) {
    say('all installed.');
    return;
  }
  const pkgs = missing.map((m) => m.pkg);
  const command = `apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${pkgs.join(' ')}`;
  say(`missing: ${missing.map((m) => m.what).join(', ')}.`);
  const root = process.getuid?.() === 0;
  if (!allowInstall || !root) {
    throw new StepFailed(`${allowInstall ? 'Not running as root, so not installing them' : 'Not installing them (--no-install)'}. Install them with:\n  sudo sh -c '${command}'`);
  }
  say(`Installing the Debian packages ${pkgs.join(', ')} (apt-get)…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', '--no-install-recommends', ...pkgs]]) {
    const r = spawnSync('apt-get', args, { stdio: 'inherit', env });
    if (r.status !== 0) throw new StepFailed(`apt-get ${args[0]} failed (exit ${String(r.status ?? r.signal)}); try by hand:\n  ${command}`);
  }
  const still = NEEDED.filter((n) => !n.installed());
  if (still.length > 0) throw new StepFailed(`still missing after apt-get: ${still.map((m) => m.what).join(', ')}`);
  say('Installed.');
}

// ---------------------------------------------------------------------------------------------------
// Waiting for what really happened.

async function poll<T>(what: string, probe: () => T | undefined, timeoutMs = STEP_TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new StepFailed(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function expectStanza(client: TestClient, what: string, predicate: (el: Element) => boolean): Promise<Element> {
  try {
    return await client.next(predicate, STEP_TIMEOUT_MS);
  } catch (err) {
    throw new StepFailed(`timed out waiting for ${what}: ${(err as Error).message}`);
  }
}

const bare = (jid: unknown): string => String(jid ?? '').split('/')[0] ?? '';
const fromIs = (el: Element, jid: string): boolean => bare(el.attrs.from) === jid;

/** The SIP messages in a sipp -trace_msg file, one string each. */
function sippMessages(trace: string): string[] {
  return trace.split(/-{20,}/).map((m) => m.trim());
}

/** basic status and note of a PIDF body, wherever its prefixes put them. */
function pidfSummary(message: string): string {
  const basic = /<(?:[\w-]+:)?basic>\s*([^<\s]+)\s*</.exec(message)?.[1] ?? '?';
  const note = /<(?:[\w-]+:)?note[^>]*>([^<]*)</.exec(message)?.[1];
  return note === undefined ? basic : `${basic} — ${note}`;
}

/** The XMPP availability of a <presence/> as a person would say it. */
function presenceSummary(el: Element): string {
  if (el.attrs.type === 'unavailable') return 'offline';
  const show = el.getChildText('show');
  const status = el.getChildText('status');
  const state = show === null ? 'available' : ({ away: 'away', chat: 'free for chat', dnd: 'busy (do not disturb)', xa: 'away for a long time' }[show] ?? show);
  return status === null ? state : `${state} — ${status}`;
}

// ---------------------------------------------------------------------------------------------------
// The demo.

interface Running {
  dir: { path: string; remove(): void };
  prosody?: ProsodyInstance;
  kamailio?: KamailioInstance;
  stox?: RunningStox;
  bob?: TestClient;
  watcher?: BackgroundSipp;
  phone?: SippUas;
}

const running: Partial<Running> = {};

async function demo(allowInstall: boolean): Promise<void> {
  say('Stox demo: a SIP user and an XMPP user see each other online and chat, through Stox.');
  say(`  SIP domain ${SIP_DOMAIN}: Kamailio is its proxy, registrar and presence server; alice@${SIP_DOMAIN} uses a SIP phone (sipp plays it).`);
  say(`  XMPP domain ${XMPP_DOMAIN}: Prosody is its server; bob@${XMPP_DOMAIN} uses an XMPP client (@xmpp/client).`);
  say(`  Stox joins them: Prosody's component ${SIP_DOMAIN}, and the SIP server Kamailio sends ${XMPP_DOMAIN} traffic to.`);
  say();
  ensureInstalled(allowInstall);

  const dir = tempDir('stox-demo-');
  running.dir = dir;
  say(`Everything runs on 127.0.0.1, in ${dir.path}, and stops when the demo ends (Ctrl-C included).`);
  say();

  process.stdout.write(`Starting Prosody (the XMPP server of ${XMPP_DOMAIN})… `);
  const prosody = await startProsody({ domain: XMPP_DOMAIN, components: [{ domain: SIP_DOMAIN, secret: COMPONENT_SECRET }], dir: join(dir.path, 'prosody'), consoleLog: false });
  running.prosody = prosody;
  await prosody.register('bob', 'bobpw');
  say(`clients on port ${prosody.c2sPort}, components on port ${prosody.componentPort} (pid ${prosody.pid}); user ${BOB} registered.`);

  // Kamailio must know where Stox answers, and Stox sends through Kamailio: pick Stox's port first.
  const stoxPort = await freeUdpTcpPort();
  process.stdout.write(`Starting Kamailio (SIP proxy, registrar and presence server of ${SIP_DOMAIN})… `);
  const kam = await startKamailio({ domain: SIP_DOMAIN, xmppDomains: [XMPP_DOMAIN], stox: { host: '127.0.0.1', port: stoxPort }, dir: join(dir.path, 'kamailio'), logLevel: 1 });
  running.kamailio = kam;
  say(`SIP on udp and tcp port ${kam.port} (pid ${kam.pid}); it relays ${XMPP_DOMAIN} requests to Stox.`);

  process.stdout.write(`Starting Stox (the gateway between ${SIP_DOMAIN} and ${XMPP_DOMAIN})… `);
  const stox = await startStox(
    dir.path,
    {
      sip: { listen: [`udp://127.0.0.1:${stoxPort}`], domains: [SIP_DOMAIN], outboundProxy: `sip:127.0.0.1:${kam.port};lr` },
      xmpp: { server: `tcp://127.0.0.1:${prosody.componentPort}`, components: [{ domain: SIP_DOMAIN, secret: COMPONENT_SECRET }] },
      // Presence changes go out at once rather than batched for 5 s: this is a demo, not a busy domain.
      presence: { notifyIntervalMs: 200 },
      store: { path: join(dir.path, 'stox.db') },
    },
    {},
    { onlineComponents: 1, cwd: dir.path },
  );
  running.stox = stox;
  say(`SIP on udp port ${stoxPort}, connected to Prosody as component ${SIP_DOMAIN} (pid ${stox.proc.pid}).`);

  const sipDir = join(dir.path, 'sip');
  mkdirSync(sipDir);
  const phone = await startSippUas(sipDir, 'uas-message.xml', await freeUdpTcpPort());
  running.phone = phone;
  const reg = await registerContact(kam.target, sipDir, { user: 'alice', domain: SIP_DOMAIN, contact: `127.0.0.1:${phone.port}` });
  if (reg.code !== 0) throw new StepFailed(`alice's phone could not register with Kamailio: ${reg.stderr.slice(-1500)}${reg.stdout.slice(-1500)}`);
  say(`alice's SIP phone (pid ${phone.proc.pid}) registered with Kamailio (200 OK).`);
  say();

  // 1. S2X subscription while bob is offline: Prosody keeps the request for him.
  say(`1. ${ALICE} (SIP) subscribes to ${BOB} (XMPP), who is offline…`);
  const watchScenario = writeWatcherScenario(sipDir, 'alice-watches-bob', { target: BOB, watcher: ALICE, expires: 600, until: 'Ready to chat' });
  const watcher = await startSipp({ scenario: watchScenario, target: kam.target, cwd: sipDir, keys: {}, timeoutSec: 120 });
  running.watcher = watcher;
  await watcher.waitForLog(/notify state=pending/, STEP_TIMEOUT_MS).catch((err: Error) => {
    throw new StepFailed(`alice's SUBSCRIBE got no pending NOTIFY: ${err.message}`);
  });
  say('   alice is told her subscription waits for bob\'s answer (NOTIFY, Subscription-State: pending).');

  // 2. bob comes online, finds the request, approves; alice sees him online.
  say(`2. bob logs in to Prosody and comes online: "available — Ready to chat"…`);
  const bob = await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: XMPP_DOMAIN, username: 'bob', password: 'bobpw', resource: 'laptop' });
  running.bob = bob;
  // RFC 6121 §2.1.6: only a resource that fetched its roster is told of `subscribed` answers.
  await bob.iq(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await bob.send(xml('presence', {}, xml('status', {}, 'Ready to chat')));
  await expectStanza(bob, `bob to be asked by ${ALICE}`, (el) => el.name === 'presence' && el.attrs.type === 'subscribe' && fromIs(el, ALICE));
  say(`   bob is asked: "${ALICE} wants to see your presence". bob approves.`);
  await bob.send(xml('presence', { to: ALICE, type: 'subscribed' }));
  const seen = await poll('a NOTIFY to alice with bob\'s "Ready to chat"', () =>
    sippMessages(watcher.messages()).find((m) => /^NOTIFY sip:/m.test(m) && m.includes('Ready to chat') && /Subscription-State:\s*active/i.test(m)),
  );
  say(`   alice sees bob come online: "${pidfSummary(seen)}" (NOTIFY, Subscription-State: active).`);

  // 3. X2S subscription: Kamailio is alice's presence server and accepts for her.
  say(`3. ${BOB} (XMPP) subscribes to ${ALICE} (SIP)…`);
  await bob.send(xml('presence', { to: ALICE, type: 'subscribe' }));
  await expectStanza(bob, `"subscribed" from ${ALICE}`, (el) => el.name === 'presence' && el.attrs.type === 'subscribed' && fromIs(el, ALICE));
  // Stox sends `subscribed` only once Kamailio's NOTIFY for its SUBSCRIBE says active (RFC 8048 §3.2).
  say('   Stox subscribes to alice at Kamailio, her presence server, which accepts: bob gets "subscribed".');

  // 4. alice comes online: a PUBLISH to Kamailio, a NOTIFY to Stox, a presence to bob.
  say('4. alice\'s phone comes online: it publishes "open — In the office" to Kamailio…');
  const bobSeesAlice = expectStanza(bob, 'alice\'s presence "In the office"', (el) => el.name === 'presence' && fromIs(el, ALICE) && el.attrs.type === undefined && el.getChildText('status') === 'In the office');
  const published = await publishPresence(kam.target, sipDir, { user: 'alice', domain: SIP_DOMAIN, basic: 'open', note: 'In the office' });
  if (published.code !== 0) throw new StepFailed(`alice's PUBLISH failed: ${published.stderr.slice(-1500)}${published.stdout.slice(-1500)}`);
  say(`   bob sees alice come online: "${presenceSummary(await bobSeesAlice)}".`);

  // 5. SIP → XMPP message; sipp checks the 202 Stox answers once Prosody took the message.
  say('5. alice sends "Hello from SIP" to bob…');
  const bobGetsMessage = expectStanza(bob, 'the message from alice', (el) => el.name === 'message' && fromIs(el, ALICE) && el.getChildText('body') !== null);
  const scenario = writeMessageScenario(sipDir, 'alice-to-bob', {
    requestUri: `sip:${BOB}`,
    from: `<sip:${ALICE}>`,
    to: `<sip:${BOB}>`,
    headers: ['Content-Type: text/plain;charset=UTF-8'],
    body: 'Hello from SIP',
    expect: 202,
  });
  const sent = await runSipp({ scenario, target: kam.target, transport: 'udp', cwd: sipDir });
  if (sent.code !== 0) throw new StepFailed(`alice's MESSAGE was not accepted with 202: ${sent.stderr.slice(-1500)}${sent.stdout.slice(-1500)}`);
  const got = (await bobGetsMessage).getChildText('body')?.trim();
  if (got !== 'Hello from SIP') throw new StepFailed(`bob received "${got}" instead of "Hello from SIP"`);
  say(`   bob received it: "${got}" (and alice's phone got "202 Accepted").`);

  // 6. XMPP → SIP message, delivered by Kamailio to the phone alice registered.
  say('6. bob sends "Hello from XMPP" to alice…');
  await bob.send(xml('message', { to: ALICE, type: 'chat' }, xml('body', {}, 'Hello from XMPP')));
  const delivered = await poll('the MESSAGE at alice\'s phone', () => sippMessages(phone.messages()).find((m) => /^MESSAGE sip:alice@/m.test(m) && m.includes('Hello from XMPP')));
  const sender = /^From:\s*(.*?)(?:;tag=\S*)?\s*$/m.exec(delivered)?.[1] ?? '?';
  say(`   alice's phone received it: "Hello from XMPP" (From: ${sender}).`);
  say();
  say('Done: the SIP user and the XMPP user subscribed to each other, saw each other come online and');
  say('exchanged a message both ways, through Stox.');
}

let stopping: Promise<void> | undefined;
let signalled: NodeJS.Signals | undefined;

/** Stops what the demo started, by pid, removes its directory, and exits with `code`. */
function shutdown(code: number): Promise<void> {
  stopping ??= (async () => {
    process.stdout.write('Stopping everything the demo started… ');
    await running.bob?.stop().catch(() => undefined);
    await running.kamailio?.stop().catch(() => undefined); // its workers too, by pid
    await processes.stopAll();
    running.dir?.remove();
    say('stopped.');
    process.exit(code);
  })();
  return stopping;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (signalled !== undefined) return; // a second Ctrl-C while stopping: the stop is already under way
    signalled = signal;
    say();
    say(`Interrupted (${signal}).`);
    void shutdown(signal === 'SIGINT' ? 130 : 143);
  });
}

demo(!process.argv.includes('--no-install')).then(
  () => shutdown(0),
  async (err: unknown) => {
    // Ctrl-C reaches the peers too (same terminal process group), so a step may fail because its peer
    // just died of the signal: give the signal handler a moment to claim the exit.
    await new Promise((r) => setTimeout(r, 300));
    if (signalled !== undefined) return;
    say();
    say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
    const logs: Array<[string, string | undefined]> = [
      ['Stox', running.stox?.proc.output()],
      ['Kamailio', running.kamailio?.output()],
    ];
    for (const [name, out] of logs) if (out) say(`--- last lines of ${name}'s output:\n${out.trimEnd().split('\n').slice(-15).join('\n')}`);
    await shutdown(1);
  },
);
