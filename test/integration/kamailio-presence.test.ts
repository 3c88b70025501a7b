import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll, tempDir } from '../helpers/processes.js';
import {
  PRESENCE_SCENARIOS,
  publishPresence,
  registerContact,
  startKamailio,
  startSipp,
  type BackgroundSipp,
  type KamailioInstance,
} from '../helpers/kamailio.js';
import { runSipp, startSippUas, writeMessageScenario, type SippRun, type SippUas } from '../helpers/sipp.js';
import { freePort } from '../helpers/prosody.js';

// The Kamailio presence harness, proven with sipp alone (no Stox yet): Kamailio as sip.test's presence
// server (RFC 3856/3903) and proxy, with xmpp.test relayed to where Stox will stand.

const ok = (run: SippRun): void => expect(run.code, `${run.stdout.slice(-3000)}\n${run.stderr.slice(-2000)}`).toBe(0);

/** The NOTIFY requests in a sipp -trace_msg log, in order (each from the request line to the next message). */
function notifies(log: string): string[] {
  return log
    .split(/-{20,} [^\n]*\n/)
    .map((m) => m.replace(/^[^\n]*(?:received|sent)[^\n]*\n+/, ''))
    .filter((m) => m.startsWith('NOTIFY '));
}

function watcher(kam: KamailioInstance, cwd: string, keys: { target: string; watcher: string; notifies: number; expect_first: string; expect_note: string }): Promise<BackgroundSipp> {
  return startSipp({ scenario: PRESENCE_SCENARIOS.subscriber, target: kam.target, cwd, keys: { expires: 600, ...keys }, timeoutSec: 20 });
}

describe('Kamailio presence server and proxy for sip.test (sipp only)', () => {
  let dir: ReturnType<typeof tempDir>;
  let kam: KamailioInstance;
  let stoxStandIn: SippUas;
  let stoxPort: number;
  const started: BackgroundSipp[] = [];
  let aliceEtag: string | undefined;

  beforeAll(async () => {
    dir = tempDir('stox-kam-test-');
    stoxPort = await freePort();
    // A sipp UAS stands where Stox will: it answers every MESSAGE 200 (404 for sip:nobody@...).
    stoxStandIn = await startSippUas(dir.path, 'uas-message.xml', stoxPort);
    kam = await startKamailio({ domain: 'sip.test', xmppDomains: ['xmpp.test'], stox: { host: '127.0.0.1', port: stoxPort } });
  });

  afterAll(async () => {
    for (const s of started) await s.proc.stop('SIGTERM', 2_000);
    await kam?.dispose();
    await stopAll();
    dir?.remove();
  });

  it('starts on one free port for UDP and TCP, answering OPTIONS, with the db_text tables made nullable', () => {
    expect(kam.port).toBeGreaterThan(0);
    expect(kam.pid).toBeGreaterThan(0);
    expect(kam.output()).toMatch(new RegExp(`udp: 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\]:${kam.port}`));
    expect(kam.output()).toMatch(new RegExp(`tcp: 127\\.0\\.0\\.1 \\[127\\.0\\.0\\.1\\]:${kam.port}`));
  });

  it('PUBLISH sets alice’s note; a watcher gets it in the first NOTIFY, and the next PUBLISH’s note in the second', async () => {
    const published = await publishPresence(kam.target, dir.path, { user: 'alice', domain: 'sip.test', basic: 'open', note: 'Out to lunch' });
    ok(published);
    expect(published.etag).toMatch(/\S/);

    const bob = await watcher(kam, dir.path, { target: 'alice@sip.test', watcher: 'bob@sip.test', notifies: 2, expect_first: 'Out to lunch', expect_note: 'busy' });
    started.push(bob);
    await bob.waitForLog(/NOTIFY 1\S* note=Out to lunch/);

    // RFC 3903 §4.4: the change modifies the publication (SIP-If-Match) rather than adding a second one.
    const modified = await publishPresence(kam.target, dir.path, { user: 'alice', domain: 'sip.test', basic: 'closed', note: 'busy', etag: published.etag });
    ok(modified);
    aliceEtag = modified.etag;
    const run = await bob.done;
    ok(run);

    expect(bob.logs()).toMatch(/subscribed[\s\S]*NOTIFY 1\S* note=Out to lunch[\s\S]*NOTIFY 2\S* note=busy[\s\S]*unsubscribed[\s\S]*NOTIFY terminated/);
    const [first, second, last] = notifies(bob.messages());
    expect(first).toMatch(/^Subscription-State: active/m);
    expect(first).toMatch(/^Content-Type: application\/pidf\+xml/m);
    expect(first).toMatch(/entity="sip:alice@sip\.test"/);
    expect(first).toMatch(/<basic>open<\/basic>/);
    expect(second).toMatch(/<basic>closed<\/basic>/);
    expect(second).not.toMatch(/Out to lunch/);
    expect(last).toMatch(/^Subscription-State: terminated/m);
    // Kamailio sent them itself, straight to the watcher's numeric Contact.
    expect(kam.output()).toMatch(/NOTIFY sip:bob@sip\.test via sip:watcher@127\.0\.0\.1:\d+.* on behalf of sip:alice@sip\.test/);
  });

  it('the watcher scenario fails when a NOTIFY carries another note (its checks bite)', async () => {
    const carol = await watcher(kam, dir.path, { target: 'alice@sip.test', watcher: 'carol@sip.test', notifies: 1, expect_first: 'not this', expect_note: 'not this' });
    started.push(carol);
    const run = await carol.done;
    expect(run.code).not.toBe(0);
    expect(carol.logs()).toMatch(/MISMATCH in NOTIFY 1\S* \(note is not expect_first\): note=busy/);

    // RFC 3903 §4.6: Expires 0 with the entity tag removes the publication.
    ok(await publishPresence(kam.target, dir.path, { user: 'alice', domain: 'sip.test', basic: 'closed', note: 'gone', etag: aliceEtag, expires: 0 }));
  });

  it('relays a MESSAGE for the XMPP domain to Stox’s address over UDP and TCP; the 200 comes back through Kamailio', async () => {
    for (const transport of ['udp', 'tcp'] as const) {
      const scenario = writeMessageScenario(dir.path, `to-xmpp-${transport}`, {
        requestUri: 'sip:juliet@xmpp.test',
        from: '<sip:bob@sip.test>',
        to: '<sip:juliet@xmpp.test>',
        headers: ['Content-Type: text/plain'],
        body: `hello over ${transport}`,
        expect: 200,
      });
      ok(await runSipp({ scenario, target: kam.target, transport, cwd: dir.path }));
    }
    const got = stoxStandIn.messages();
    expect(got).toMatch(/MESSAGE sip:juliet@xmpp\.test SIP\/2\.0/);
    expect(got).toContain(`Via: SIP/2.0/UDP 127.0.0.1:${kam.port};branch=`);
    expect(got).toMatch(/hello over udp/);
    expect(got).toMatch(/hello over tcp/);
    expect(kam.output()).toMatch(new RegExp(`MESSAGE sip:juliet@xmpp\\.test -> Stox at sip:127\\.0\\.0\\.1:${stoxPort}`));
  });

  it('answers a foreign domain 403 without any lookup, and an unregistered local user 404', async () => {
    const foreign = writeMessageScenario(dir.path, 'to-foreign', { requestUri: 'sip:someone@example.com', from: '<sip:bob@sip.test>', to: '<sip:someone@example.com>', body: 'x', expect: 403, responseChecks: ['Forbidden domain'] });
    ok(await runSipp({ scenario: foreign, target: kam.target, transport: 'udp', cwd: dir.path }));
    const unknown = writeMessageScenario(dir.path, 'to-unknown', { requestUri: 'sip:nobody-here@sip.test', from: '<sip:bob@sip.test>', to: '<sip:nobody-here@sip.test>', body: 'x', expect: 404 });
    ok(await runSipp({ scenario: unknown, target: kam.target, transport: 'udp', cwd: dir.path }));
  });

  it('REGISTER binds a contact; a MESSAGE to that user is proxied to it', async () => {
    ok(await registerContact(kam.target, dir.path, { user: 'dave', domain: 'sip.test', contact: `127.0.0.1:${stoxPort}` }));
    expect(await kam.rpc('ul.lookup', 'location', 'dave@sip.test')).toContain(`sip:dave@127.0.0.1:${stoxPort}`);
    const scenario = writeMessageScenario(dir.path, 'to-dave', { requestUri: 'sip:dave@sip.test', from: '<sip:bob@sip.test>', to: '<sip:dave@sip.test>', body: 'hi dave', expect: 200 });
    ok(await runSipp({ scenario, target: kam.target, transport: 'udp', cwd: dir.path }));
    expect(stoxStandIn.messages()).toMatch(new RegExp(`MESSAGE sip:dave@127\\.0\\.0\\.1:${stoxPort} SIP/2\\.0`));
  });

  it('a SIP watcher’s SUBSCRIBE to an XMPP user goes to Stox record-routed; NOTIFYs and the un-SUBSCRIBE follow the route set', async () => {
    // Point xmpp.test at a notifier standing in for Stox, without a restart.
    const notifier = await startSipp({ scenario: PRESENCE_SCENARIOS.notifier, cwd: dir.path, keys: { basic: 'open', note: 'Wherefore art thou' } });
    started.push(notifier);
    await kam.setStox({ host: '127.0.0.1', port: notifier.port });
    try {
      const erin = await watcher(kam, dir.path, { target: 'juliet@xmpp.test', watcher: 'erin@sip.test', notifies: 1, expect_first: 'Wherefore art thou', expect_note: 'Wherefore art thou' });
      started.push(erin);
      ok(await erin.done);
      const seen = notifier.messages();
      // The SUBSCRIBE arrived via Kamailio with its Record-Route; the un-SUBSCRIBE along that route.
      expect(seen).toMatch(new RegExp(`Record-Route: <sip:127\\.0\\.0\\.1:${kam.port};lr`));
      expect(seen).toMatch(/SUBSCRIBE sip:notifier@127\.0\.0\.1:\d+;transport=UDP SIP\/2\.0[\s\S]*Expires: 0/);
      // The NOTIFYs the notifier sent went through Kamailio (Route) to erin's Contact.
      const sent = notifies(erin.messages());
      expect(sent).toHaveLength(2);
      for (const n of sent) expect(n).toContain(`Via: SIP/2.0/UDP 127.0.0.1:${kam.port};branch=`);
    } finally {
      await kam.setStox({ host: '127.0.0.1', port: stoxPort });
    }
  });

  it('restart({ keepState: true }) reloads the published presence from db_text; a plain restart starts empty', async () => {
    ok(await publishPresence(kam.target, dir.path, { user: 'frank', domain: 'sip.test', basic: 'open', note: 'Persistent' }));
    const port = kam.port;
    const before = kam.pid;
    await kam.restart({ keepState: true });
    expect(kam.port).toBe(port);
    expect(kam.pid).not.toBe(before);
    expect(kam.output()).not.toMatch(/ERROR: db_text/);
    const gina = await watcher(kam, dir.path, { target: 'frank@sip.test', watcher: 'gina@sip.test', notifies: 1, expect_first: 'Persistent', expect_note: 'Persistent' });
    started.push(gina);
    ok(await gina.done);

    await kam.restart();
    const hank = await watcher(kam, dir.path, { target: 'frank@sip.test', watcher: 'hank@sip.test', notifies: 1, expect_first: 'Persistent', expect_note: 'Persistent' });
    started.push(hank);
    expect((await hank.done).code).not.toBe(0);
    expect(hank.logs()).toMatch(/MISMATCH in NOTIFY 1\S* \(no PIDF note\)/);
  });
});

describe('Kamailio in proxy mode: the SIP user’s own UA is the presence agent', () => {
  let dir: ReturnType<typeof tempDir>;
  let kam: KamailioInstance;
  const started: BackgroundSipp[] = [];

  beforeAll(async () => {
    dir = tempDir('stox-kam-proxy-');
    kam = await startKamailio({ domain: 'sip.test', xmppDomains: ['xmpp.test'], stox: () => ({ host: '127.0.0.1', port: 9 }), presence: 'proxy' });
  });

  afterAll(async () => {
    for (const s of started) await s.proc.stop('SIGTERM', 2_000);
    await kam?.dispose();
    await stopAll();
    dir?.remove();
  });

  it('SUBSCRIBE to a registered user reaches its UA (presence-notifier.xml) and its NOTIFY comes back', async () => {
    const alice = await startSipp({ scenario: PRESENCE_SCENARIOS.notifier, cwd: dir.path, keys: { basic: 'closed', note: 'On the phone' } });
    started.push(alice);
    ok(await registerContact(kam.target, dir.path, { user: 'alice', domain: 'sip.test', contact: `127.0.0.1:${alice.port}` }));
    const bob = await watcher(kam, dir.path, { target: 'alice@sip.test', watcher: 'bob@sip.test', notifies: 1, expect_first: 'On the phone', expect_note: 'On the phone' });
    started.push(bob);
    ok(await bob.done);
    expect(alice.messages()).toMatch(new RegExp(`SUBSCRIBE sip:alice@127\\.0\\.0\\.1:${alice.port} SIP/2\\.0`));
    const [first] = notifies(bob.messages());
    expect(first).toMatch(/<basic>closed<\/basic>/);
    expect(first).toMatch(/^Subscription-State: active;expires=600\r?$/m);
    expect(first).toMatch(/^From: <sip:alice@sip\.test>;tag=/m);
    expect(first).toContain(`Via: SIP/2.0/UDP 127.0.0.1:${kam.port};branch=`);
  });
});
