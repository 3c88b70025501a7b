import { createSocket } from 'node:dgram';
import { createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopAll, tempDir } from '../helpers/processes.js';
import {
  freeUdpTcpPort,
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
import { onSipStreamMessages } from '../helpers/sip-stream.js';

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

  it('an XMPP user’s SUBSCRIBE coming from Stox (From xmpp.test, Contact at Stox’s IP) is served, NOTIFYs going to that IP', async () => {
    ok(await publishPresence(kam.target, dir.path, { user: 'ivy', domain: 'sip.test', basic: 'open', note: 'Reading' }));
    const romeo = await watcher(kam, dir.path, { target: 'ivy@sip.test', watcher: 'romeo@xmpp.test', notifies: 1, expect_first: 'Reading', expect_note: 'Reading' });
    started.push(romeo);
    ok(await romeo.done);
    expect(kam.output()).toMatch(new RegExp(`NOTIFY sip:romeo@xmpp\\.test via sip:watcher@127\\.0\\.0\\.1:${romeo.port};transport=UDP on behalf of sip:ivy@sip\\.test`));
  });

  it('PUBLISH and SUBSCRIBE over TCP', async () => {
    ok(await publishPresence(kam.target, dir.path, { user: 'jack', domain: 'sip.test', basic: 'open', note: 'On TCP', transport: 'tcp' }));
    const kim = await startSipp({ scenario: PRESENCE_SCENARIOS.subscriber, target: kam.target, cwd: dir.path, transport: 'tcp', timeoutSec: 20, keys: { expires: 600, target: 'jack@sip.test', watcher: 'kim@sip.test', notifies: 1, expect_first: 'On TCP', expect_note: 'On TCP' } });
    started.push(kim);
    ok(await kim.done);
    expect(notifies(kim.messages())[0]).toMatch(/^Via: SIP\/2\.0\/TCP /m);
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

interface EarlyNotifier {
  port: number;
  /** The responses received (the subscriber's 200s for the NOTIFYs). */
  responses: string[];
  close(): void;
}

/**
 * A notifier that sends each NOTIFY before the 2xx to its SUBSCRIBE, back to back (one TCP write),
 * which RFC 6665 §4.1.2.4 allows, to prove presence-subscriber.xml takes that order. Written here
 * rather than in sipp, which cannot send two messages without letting a response in between.
 */
async function startEarlyNotifier(transport: 'udp' | 'tcp'): Promise<EarlyNotifier> {
  const port = await freeUdpTcpPort();
  const T = transport.toUpperCase();
  let n = 0;
  const responses: string[] = [];
  const answer = (req: string): string | undefined => {
    const [head = ''] = req.split('\r\n\r\n');
    if (head.startsWith('SIP/2.0 ')) responses.push(head);
    if (!head.startsWith('SUBSCRIBE ')) return undefined;
    const lines = head.split('\r\n');
    const hdr = (name: string): string => (lines.find((l) => l.toLowerCase().startsWith(`${name.toLowerCase()}:`)) ?? '').replace(/^[^:]*:\s*/, '');
    const vias = lines.filter((l) => /^via:/i.test(l)).join('\r\n');
    const to = hdr('To').replace(/;tag=[^;]*/, '');
    const from = hdr('From');
    const contact = /<([^>]+)>/.exec(hdr('Contact'))?.[1] ?? '';
    const expires = hdr('Expires').trim();
    const body = expires === '0' ? '' : '<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:early@sip.test"><tuple id="e"><status><basic>open</basic></status><note>Early bird</note></tuple></presence>';
    const notify = [
      `NOTIFY ${contact} SIP/2.0`,
      `Via: SIP/2.0/${T} 127.0.0.1:${port};branch=z9hG4bK-early-${++n}`,
      `From: ${to};tag=early1`,
      `To: ${from}`,
      `Call-ID: ${hdr('Call-ID')}`,
      `CSeq: ${n} NOTIFY`,
      'Max-Forwards: 70',
      `Contact: <sip:early@127.0.0.1:${port};transport=${transport}>`,
      'Event: presence',
      `Subscription-State: ${expires === '0' ? 'terminated;reason=timeout' : `active;expires=${expires}`}`,
      ...(body ? ['Content-Type: application/pidf+xml'] : []),
      `Content-Length: ${Buffer.byteLength(body)}`,
      '',
      body,
    ].join('\r\n');
    const ok = [
      'SIP/2.0 200 OK',
      vias,
      `From: ${from}`,
      `To: ${to};tag=early1`,
      `Call-ID: ${hdr('Call-ID')}`,
      `CSeq: ${hdr('CSeq')}`,
      `Expires: ${expires}`,
      `Contact: <sip:early@127.0.0.1:${port};transport=${transport}>`,
      'Content-Length: 0',
      '',
      '',
    ].join('\r\n');
    return notify + ok;
  };
  if (transport === 'udp') {
    const sock = createSocket('udp4');
    sock.on('message', (msg, rinfo) => {
      const out = answer(msg.toString('utf8'));
      if (out === undefined) return;
      const cut = out.indexOf('SIP/2.0 200 OK');
      sock.send(out.slice(0, cut), rinfo.port, rinfo.address);
      sock.send(out.slice(cut), rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => sock.bind(port, '127.0.0.1', resolve));
    return { port, responses, close: () => sock.close() };
  }
  const conns = new Set<Socket>();
  const server = createServer((conn) => {
    conns.add(conn);
    conn.on('close', () => conns.delete(conn));
    onSipStreamMessages(conn, answer);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    responses,
    close: () => {
      for (const c of conns) c.destroy();
      server.close();
    },
  };
}

describe('presence-subscriber.xml against a notifier whose NOTIFYs overtake the 2xx', () => {
  let dir: ReturnType<typeof tempDir>;
  const notifiers: EarlyNotifier[] = [];

  beforeAll(() => {
    dir = tempDir('stox-kam-early-');
  });

  afterAll(async () => {
    for (const n of notifiers) n.close();
    await stopAll();
    dir?.remove();
  });

  for (const transport of ['udp', 'tcp'] as const) {
    it(`takes NOTIFY before 200, for the SUBSCRIBE and for the un-SUBSCRIBE (${transport})`, async () => {
      const early = await startEarlyNotifier(transport);
      notifiers.push(early);
      const sub = await startSipp({
        scenario: PRESENCE_SCENARIOS.subscriber,
        target: `127.0.0.1:${early.port}`,
        cwd: dir.path,
        transport,
        timeoutSec: 15,
        keys: { target: 'early@sip.test', watcher: 'bob@sip.test', expires: 600, notifies: 1, expect_first: 'Early bird', expect_note: 'Early bird' },
      });
      ok(await sub.done);
      expect(sub.logs()).toMatch(/^NOTIFY 1\S* note=Early bird\nsubscribed\nunsubscribed\nNOTIFY terminated\n$/);
      // Both NOTIFYs were answered, after the 2xx, with their own Via, tags and CSeq.
      expect(early.responses).toHaveLength(2);
      early.responses.forEach((r, i) => {
        expect(r).toMatch(/^SIP\/2\.0 200 OK\r\n/);
        expect(r).toContain(`\r\nVia: SIP/2.0/${transport.toUpperCase()} 127.0.0.1:${early.port};branch=z9hG4bK-early-${i + 1}`);
        expect(r).toMatch(/\r\nFrom: <sip:early@sip\.test>;tag=early1\r\n/);
        expect(r).toMatch(/\r\nTo: <sip:bob@sip\.test>;tag=\S+\r\n/);
        expect(r).toContain(`\r\nCSeq: ${i + 1} NOTIFY`);
      });
    });
  }
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
