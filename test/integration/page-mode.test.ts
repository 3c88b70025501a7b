import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { xmppErrorToSip } from '../../src/core/errors.js';
import { defaultErrorTables } from '../../src/mappings.js';
import { start, stopAll, tempDir } from '../helpers/processes.js';
import { freePort, startProsody, type ProsodyInstance } from '../helpers/prosody.js';
import { runSipp, startSippUas, writeMessageScenario, type SippUas, type UacMessage } from '../helpers/sipp.js';
import { startStox, type RunningStox } from '../helpers/stox.js';
import { connectClient, type TestClient } from '../helpers/xmpp-client.js';

// Issue 3's "must show": page-mode IM both ways through a real Prosody, real XMPP clients and sipp.

const XHTML_IM = 'http://jabber.org/protocol/xhtml-im';

function logLines(stox: RunningStox): Array<Record<string, unknown>> {
  return stox.proc.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function waitForOnline(stox: RunningStox, domain: string, count: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (logLines(stox).filter((e) => e.msg === 'online' && e.domain === domain).length < count) {
    if (Date.now() > deadline) throw new Error(`component ${domain} not online (${count}): ${stox.proc.stdout.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('page-mode IM through real Prosody and sipp (RFC 7572)', () => {
  const dir = tempDir();
  let prosody: ProsodyInstance;
  let stox: RunningStox;
  let uas: SippUas;
  let romeo: TestClient;
  let n = 0;

  const connectRomeo = (): Promise<TestClient> =>
    connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'romeo', password: 'romeopw', resource: 'balcony', presence: true });

  /** sipp sends one MESSAGE to Stox and must get `expect`. */
  async function sippMessage(m: Omit<UacMessage, 'requestUri' | 'to'> & { requestUri?: string; to?: string }, transport: 'udp' | 'tcp' = 'udp'): Promise<void> {
    const scenario = writeMessageScenario(dir.path, `uac-${++n}`, { requestUri: 'sip:romeo@xmpp.test', to: '<sip:romeo@xmpp.test>', ...m });
    const run = await runSipp({ scenario, target: `127.0.0.1:${stox.listen[transport]!.port}`, transport, cwd: dir.path });
    expect(run.code, run.stdout + run.stderr).toBe(0);
  }

  // sipp ends every body with CRLF, which XMPP carries as a trailing newline.
  const bodyText = (el: Element): string => (el.getChildText('body') ?? '').replace(/\r\n/g, '\n').trim();
  const bodyIs = (text: string) => (el: Element) => el.name === 'message' && bodyText(el) === text;

  beforeAll(async () => {
    prosody = await startProsody({ domain: 'xmpp.test', components: [{ domain: 'sip.test', secret: 'sip-secret' }, { domain: 'gw.test', secret: 'gw-secret' }] });
    await prosody.register('romeo', 'romeopw');
    await prosody.register('juliet', 'julietpw');
    uas = await startSippUas(dir.path, 'uas-message.xml', await freePort());
    stox = await startStox(dir.path, {
      sip: { listen: ['udp://127.0.0.1:0', 'tcp://127.0.0.1:0'], domains: ['sip.test'], outboundProxy: `sip:127.0.0.1:${uas.port};lr` },
      xmpp: {
        server: `tcp://127.0.0.1:${prosody.componentPort}`,
        components: [
          { domain: 'sip.test', secret: 'sip-secret' },
          { domain: 'gw.test', secret: 'gw-secret', addressing: 'escaped' },
        ],
      },
    });
    await waitForOnline(stox, 'sip.test', 1);
    await waitForOnline(stox, 'gw.test', 1);
    romeo = await connectRomeo();
  }, 60_000);

  afterAll(async () => {
    await romeo?.stop().catch(() => undefined);
    await stopAll();
    await prosody?.dispose();
    dir.remove();
  });

  describe('SIP → XMPP (RFC 7572 §5)', () => {
    it('text/plain, UTF-8 and multi-line, with Subject, Content-Language → body, subject, xml:lang, thread; answered 202', async () => {
      await sippMessage({
        from: '"Alice" <sip:alice@sip.test>',
        headers: ['Content-Type: text/plain;charset=UTF-8', 'Subject: Grüße', 'Content-Language: de'],
        body: 'Hallo Romeo, schöne Grüße ☀\nzweite Zeile',
        expect: 202,
      });
      const msg = await romeo.next((el) => el.name === 'message' && (el.getChildText('body') ?? '').startsWith('Hallo Romeo'));
      expect(msg.attrs.from).toBe('alice@sip.test');
      expect(msg.attrs.type === undefined || msg.attrs.type === 'normal').toBe(true);
      expect(bodyText(msg)).toBe('Hallo Romeo, schöne Grüße ☀\nzweite Zeile');
      expect(msg.getChildText('subject')).toBe('Grüße');
      expect(msg.attrs['xml:lang']).toBe('de');
      expect(msg.getChildText('thread')).toMatch(/\S+/); // RFC 7572 §5 Table 2: Call-ID → <thread/>
    });

    it('a GRUU in From becomes the resource of a full JID (§1.7)', async () => {
      await sippMessage({ from: '<sip:alice@sip.test;gr=desk-phone>', headers: ['Content-Type: text/plain'], body: 'from my desk', expect: 202 });
      const msg = await romeo.next(bodyIs('from my desk'));
      expect(msg.attrs.from).toBe('alice@sip.test/desk-phone');
    });

    it('over TCP too', async () => {
      await sippMessage({ from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'over tcp', expect: 202 }, 'tcp');
      await romeo.next(bodyIs('over tcp'));
    });

    it('message/cpim is unwrapped: CPIM Subject;lang and DateTime → XEP-0203 delay (reference §4.4)', async () => {
      const cpim = [
        'From: Alice <sip:alice@sip.test>',
        'To: Romeo <sip:romeo@xmpp.test>',
        'DateTime: 2026-11-21T10:00:00Z',
        'Subject:;lang=fr Bonjour',
        '',
        'Content-Type: text/plain;charset=UTF-8',
        '',
        'wrapped in cpim',
      ].join('\n');
      await sippMessage({ from: '<sip:alice@sip.test>', headers: ['Content-Type: message/cpim'], body: cpim, expect: 202 });
      const msg = await romeo.next((el) => el.name === 'message' && (el.getChildText('body') ?? '').startsWith('wrapped in cpim'));
      const subject = msg.getChild('subject');
      expect(subject?.getText()).toBe('Bonjour');
      expect(subject?.attrs['xml:lang']).toBe('fr');
      const stamp = msg.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp as string;
      expect(new Date(stamp).toISOString()).toBe('2026-11-21T10:00:00.000Z');
    });

    it('message/cpim whose From is not the SIP sender is refused 403 (identity spoofing)', async () => {
      const cpim = ['From: <sip:mallory@sip.test>', 'To: <sip:romeo@xmpp.test>', '', 'Content-Type: text/plain', '', 'spoof'].join('\n');
      await sippMessage({ from: '<sip:alice@sip.test>', headers: ['Content-Type: message/cpim'], body: cpim, expect: 403 });
    });

    it('text/html → XHTML-IM (sanitized) plus a plain-text body (reference §4.4)', async () => {
      await sippMessage({
        from: '<sip:alice@sip.test>',
        headers: ['Content-Type: text/html'],
        body: '<p>Hello <b>bold</b> world<script>alert(1)</script></p>',
        expect: 202,
      });
      const msg = await romeo.next((el) => el.name === 'message' && (el.getChildText('body') ?? '').includes('bold'));
      expect(msg.getChildText('body')).toContain('Hello bold world');
      const html = msg.getChild('html', XHTML_IM);
      expect(html).toBeDefined();
      expect(html!.toString()).toContain('bold');
      expect(html!.toString()).not.toContain('script');
    });

    it('an unsupported content type gets 415 with Accept (RFC 3261 §21.4.13)', async () => {
      await sippMessage({
        from: '<sip:alice@sip.test>',
        headers: ['Content-Type: application/x-frobnicate'],
        body: 'binary-ish',
        expect: 415,
        responseChecks: ['Accept:[^\\r\\n]*text/plain'],
      });
    });

    it('a display name with markup reaches XMPP as text, never as markup', async () => {
      await sippMessage({ from: '"<b>Eve</b>" <sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'a <i>not markup</i> & more', expect: 202 });
      const msg = await romeo.next(bodyIs('a <i>not markup</i> & more'));
      expect(msg.getChild('i')).toBeUndefined();
    });

    it('an unknown XMPP user: Prosody bounces, and the SIP sender gets the mapped failure, not 2xx (RFC 7247 §7.1)', async () => {
      const mapped = xmppErrorToSip(defaultErrorTables(), 'service-unavailable', { about: { local: 'ghost', domain: 'xmpp.test' } });
      expect(mapped.status).toBeGreaterThanOrEqual(400);
      await sippMessage({ requestUri: 'sip:ghost@xmpp.test', to: '<sip:ghost@xmpp.test>', from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'anyone?', expect: mapped.status });
    });

    it('SIPS is never translated: 480 with Warning 380 (RFC 7247 §8)', async () => {
      await sippMessage({
        requestUri: 'sips:romeo@xmpp.test',
        to: '<sips:romeo@xmpp.test>',
        from: '<sip:alice@sip.test>',
        headers: ['Content-Type: text/plain'],
        body: 'secure?',
        expect: 480,
        responseChecks: ['Warning: 380'],
      });
    });

    it("'escaped' addressing: any SIP address appears as user\\40host@component (XEP-0106)", async () => {
      await sippMessage({ from: '<sip:bob@elsewhere.test>', headers: ['Content-Type: text/plain'], body: 'from elsewhere', expect: 202 });
      const msg = await romeo.next(bodyIs('from elsewhere'));
      expect(msg.attrs.from).toBe('bob\\40elsewhere.test@gw.test');
    });
  });

  describe('XMPP → SIP (RFC 7572 §4)', () => {
    async function uasReceived(marker: string): Promise<string> {
      const deadline = Date.now() + 10_000;
      for (;;) {
        const block = uas
          .messages()
          .split(/-{10,}/)
          .find((b) => b.includes(marker) && /^MESSAGE /m.test(b));
        if (block) return block;
        if (Date.now() > deadline) throw new Error(`UAS never got "${marker}": ${uas.messages().slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    it('body, subject, thread, xml:lang → MESSAGE with Subject, Call-ID, Content-Language; From carries the GRUU', async () => {
      await romeo.send(
        xml(
          'message',
          { to: 'alice@sip.test', id: 'x2s-1', 'xml:lang': 'fr' },
          xml('subject', {}, 'Sujet élégant'),
          xml('thread', {}, 'thread-42'),
          xml('body', {}, 'Première ligne ☀\nseconde ligne'),
        ),
      );
      const block = await uasReceived('Première ligne');
      expect(block).toMatch(/^MESSAGE sip:alice@sip\.test SIP\/2\.0/m);
      expect(block).toMatch(/^From: <sip:romeo@xmpp\.test;gr=balcony>;tag=/m);
      expect(block).toMatch(/^To: <sip:alice@sip\.test>/m);
      expect(block).toMatch(/^Subject: Sujet élégant\r?$/m);
      expect(block).toMatch(/^Call-ID: thread-42\r?$/m);
      expect(block).toMatch(/^Content-Language: fr\r?$/m);
      expect(block).toMatch(/^Content-Type: text\/plain;charset=UTF-8\r?$/im);
      expect(block).toMatch(/^Max-Forwards: 70/m);
      expect(block).toMatch(/seconde ligne/);
    });

    it('an unknown SIP user (404) comes back as an error with the same id (RFC 7247 §7.2)', async () => {
      await romeo.send(xml('message', { to: 'nobody@sip.test', id: 'x2s-404' }, xml('body', {}, 'hello nobody')));
      const err = await romeo.next((el) => el.name === 'message' && el.attrs.id === 'x2s-404');
      expect(err.attrs.type).toBe('error');
      expect(err.getChild('error')?.getChild('item-not-found', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    });

    it('a message too large for page mode gets <policy-violation/> (RFC 7572 §6)', async () => {
      await romeo.send(xml('message', { to: 'alice@sip.test', id: 'x2s-big' }, xml('body', {}, 'x'.repeat(1400))));
      const err = await romeo.next((el) => el.name === 'message' && el.attrs.id === 'x2s-big');
      expect(err.attrs.type).toBe('error');
      expect(err.getChild('error')?.getChild('policy-violation', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    });

    it('CRLF in a subject cannot inject a SIP header', async () => {
      await romeo.send(xml('message', { to: 'alice@sip.test', id: 'x2s-crlf' }, xml('subject', {}, 'hi\r\nX-Injected: yes'), xml('body', {}, 'crlf subject test')));
      const block = await uasReceived('crlf subject test');
      expect(block).not.toMatch(/^X-Injected:/m);
    });

    it("'escaped' addressing back: user\\40host@component → sip:user@host", async () => {
      await romeo.send(xml('message', { to: 'bob\\40elsewhere.test@gw.test', id: 'x2s-esc' }, xml('body', {}, 'to elsewhere')));
      const block = await uasReceived('to elsewhere');
      expect(block).toMatch(/^MESSAGE sip:bob@elsewhere\.test SIP\/2\.0/m);
    });
  });

  describe('interop with an independent XMPP client (slixmpp)', () => {
    it('slixmpp receives a SIP MESSAGE and its reply reaches the SIP user', async () => {
      const peer = start('/usr/bin/python3', [
        'test/interop/slixmpp_peer.py',
        'juliet@xmpp.test/laptop',
        'julietpw',
        '127.0.0.1',
        String(prosody.c2sPort),
        'for slixmpp',
        'alice@sip.test',
      ]);
      await peer.waitFor(/^READY$/m, 20_000);
      await sippMessage({ requestUri: 'sip:juliet@xmpp.test', to: '<sip:juliet@xmpp.test>', from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'for slixmpp, with ümlauts', expect: 202 });
      const line = await peer.waitFor(/^\{.*\}$/m, 10_000);
      const got = JSON.parse(line[0]) as { from: string; body: string; thread: string };
      expect(got.from).toBe('alice@sip.test');
      expect(got.body.trim()).toBe('for slixmpp, with ümlauts');
      expect(got.thread).not.toBe('');
      await peer.waitFor(/^SENT$/m);
      const deadline = Date.now() + 10_000;
      while (!uas.messages().includes('reply from slixmpp: for slixmpp, with ümlauts')) {
        if (Date.now() > deadline) throw new Error(`reply never reached the SIP UAS: ${peer.stdout}${peer.stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(await peer.exited).toBe(0);
    }, 40_000);
  });

  describe('the XMPP server goes away and comes back', () => {
    it('component down → 503 with Retry-After; Prosody restarted → Stox reconnects and traffic flows again', async () => {
      await romeo.stop();
      await prosody.stop();
      await sippMessage({ from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'while down', expect: 503, responseChecks: ['Retry-After: [0-9]+'] });

      await prosody.restart();
      await waitForOnline(stox, 'sip.test', 2);
      romeo = await connectRomeo();
      await sippMessage({ from: '<sip:alice@sip.test>', headers: ['Content-Type: text/plain'], body: 'back again', expect: 202 });
      await romeo.next(bodyIs('back again'));
      expect(stox.proc.child.exitCode).toBeNull(); // the same Stox process throughout
    }, 60_000);
  });
});
