import { readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { component as xmppComponent } from '@xmpp/component';
import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { start, stopAll, tempDir, type Started } from '../helpers/processes.js';
import { freePort, startProsody, type ProsodyInstance } from '../helpers/prosody.js';
import { runSipp, writeMessageScenario, type UacMessage } from '../helpers/sipp.js';
import { onSipStreamMessages } from '../helpers/sip-stream.js';
import { startStox, type RunningStox } from '../helpers/stox.js';
import { makeCa, makeCert, type TestCa, type TestCert } from '../helpers/tls-certs.js';
import { connectClient, type TestClient } from '../helpers/xmpp-client.js';

// Issue 5's hardened edge with real parts: Stox's own binary, Prosody, sipp, @xmpp/client and TLS peers
// made with Node's TLS (OpenSSL) and certificates from the openssl CLI.

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const LIMITS = { maxConnectionsPerSource: 4, idleTimeoutMs: 2500, headerReadTimeoutMs: 1000 };

/** The billion-laughs DTD of the PIDF fixture (nine levels of ten), without the XML declaration. */
const LAUGHS_DTD = readFileSync('test/fixtures/pidf/billion-laughs.xml', 'utf8')
  .replace(/^<\?xml[^>]*>\s*/, '')
  .replace(/<presence[\s\S]*$/, '')
  .trim();

/**
 * sipp reads `[...]` in a scenario as a keyword, and a DTD's internal subset is one. The brackets come
 * from an injection file instead (`-inf`), whose values sipp substitutes without parsing them.
 */
function bracketsFor(dir: string): { text: (s: string) => string; args: string[] } {
  const file = join(dir, 'brackets.csv');
  writeFileSync(file, 'SEQUENTIAL\n[;];\n');
  return {
    text: (s) => s.replace(/\[/g, '\u0000').replace(/\]/g, `[field1 file="brackets.csv"]`).replace(/\u0000/g, `[field0 file="brackets.csv"]`),
    args: ['-inf', file],
  };
}

/** A SIP response read off a stream: the head and the Content-Length body. */
function readResponse(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString('utf8');
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      cleanup();
      resolve(buf.slice(0, end + 4 + len));
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed before a response${buf ? `; got ${JSON.stringify(buf.slice(0, 200))}` : ''}`));
    };
    const cleanup = (): void => {
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
    };
    socket.on('data', onData);
    socket.once('error', onError);
    socket.once('close', onClose);
  });
}

let seq = 0;

function sipRequest(method: string, uri: string, transport: 'TCP' | 'TLS', socket: Socket, from: string, to: string, body = '', extra: string[] = []): string {
  const id = `edge-${process.pid}-${++seq}`;
  return [
    `${method} ${uri} SIP/2.0`,
    `Via: SIP/2.0/${transport} 127.0.0.1:${socket.localPort ?? 0};branch=z9hG4bK-${id};rport`,
    'Max-Forwards: 70',
    `From: <${from}>;tag=${id}`,
    `To: <${to}>`,
    `Call-ID: ${id}@edge.test`,
    `CSeq: 1 ${method}`,
    ...extra,
    ...(body ? ['Content-Type: text/plain'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

interface TlsPeer {
  socket: TLSSocket;
  /** Send one request on the connection and read its response. */
  ask(req: (socket: Socket) => string): Promise<string>;
  close(): void;
}

/** A SIP-over-TLS client (RFC 3261 §26.3.2.2 / RFC 5630 for sip: over TLS) that checks Stox's certificate. */
function tlsPeer(port: number, ca: TestCa, cert?: TestCert): Promise<TlsPeer> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.cert, ...(cert ? { cert: cert.cert, key: cert.key } : {}) });
    socket.once('secureConnect', () => {
      socket.off('error', reject);
      resolve({
        socket,
        ask: async (req) => {
          const answer = readResponse(socket);
          socket.write(req(socket));
          return answer;
        },
        close: () => socket.destroy(),
      });
    });
    socket.once('error', reject);
  });
}

/** One request on a fresh connection; the result says what came back or how the connection ended. */
async function tlsAsk(port: number, ca: TestCa, cert: TestCert | undefined, req: (socket: Socket) => string): Promise<{ response?: string; error?: string }> {
  let peer: TlsPeer;
  try {
    peer = await tlsPeer(port, ca, cert);
  } catch (err) {
    return { error: (err as Error).message };
  }
  try {
    return { response: await peer.ask(req) };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    peer.close();
  }
}

function tcpOpen(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Resolves when the peer closes `socket`, with everything it sent before. */
function closedByPeer(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString('utf8')));
    socket.on('error', () => undefined);
    if (socket.destroyed) return resolve(got);
    socket.once('close', () => resolve(got));
  });
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const bodyText = (el: Element): string => (el.getChildText('body') ?? '').replace(/\r\n/g, '\n').trim();
const isMessage = (text: string) => (el: Element) => el.name === 'message' && bodyText(el) === text;

describe('the hardened edge (issue 5)', () => {
  const dir = tempDir();
  let prosody: ProsodyInstance;
  let stox: RunningStox;
  let uas: { proc: Started; messages(): string; port: number };
  let romeo: TestClient;
  let trusted: TestCa;
  let rogue: TestCa;
  let partnerCert: TestCert;
  let rogueCert: TestCert;
  let evilCert: TestCert;

  const tlsPort = (): number => stox.listen.tls!.port;
  const tcpPort = (): number => stox.listen.tcp!.port;

  /**
   * The SIP messages of sipp's message log (each from its start line on, sipp's own preamble dropped)
   * whose start line begins with `start` and that contain `marker`.
   */
  const uasBlocks = (marker: string, start: string): string[] =>
    uas
      .messages()
      .split(/-{10,}/)
      .map((b) => {
        const at = b.search(/^(?:[A-Z]+ \S+ SIP\/2\.0|SIP\/2\.0 \d{3})/m);
        return at < 0 ? '' : b.slice(at);
      })
      .filter((b) => b.startsWith(start) && b.includes(marker));
  /** The header block of a SIP message: everything before the first empty line. */
  const headOf = (msg: string): string => msg.split(/\r?\n\r?\n/)[0] ?? '';

  async function sippUdp(m: Partial<UacMessage> & { body: string; expect: number }, transport: 'udp' | 'tcp' = 'udp', extra: string[] = []): Promise<{ code: number | null; out: string }> {
    const scenario = writeMessageScenario(dir.path, `edge-${++seq}`, {
      requestUri: 'sip:romeo@xmpp.test',
      to: '<sip:romeo@xmpp.test>',
      from: '<sip:alice@sip.test>',
      headers: ['Content-Type: text/plain'],
      ...m,
    });
    const run = await runSipp({ scenario, target: `127.0.0.1:${stox.listen[transport]!.port}`, transport, cwd: dir.path, extra });
    return { code: run.code, out: run.stdout + run.stderr };
  }

  beforeAll(async () => {
    trusted = makeCa(dir.path, 'Edge Trusted CA');
    rogue = makeCa(dir.path, 'Edge Rogue CA');
    const stoxCert = makeCert(dir.path, trusted, 'sip.test', ['sip.test', '127.0.0.1']);
    partnerCert = makeCert(dir.path, trusted, 'partner.test', ['partner.test']);
    // The right name, from a CA Stox does not trust.
    rogueCert = makeCert(dir.path, rogue, 'partner.test', ['partner.test']);
    // A trusted CA, the wrong name.
    evilCert = makeCert(dir.path, trusted, 'evil.test', ['evil.test']);

    prosody = await startProsody({
      domain: 'xmpp.test',
      components: [
        { domain: 'sip.test', secret: 'edge-sip' },
        { domain: 'gw.test', secret: 'edge-gw' },
        { domain: 'forger.test', secret: 'edge-forger' },
      ],
    });
    await prosody.register('romeo', 'romeopw');

    const port = await freePort();
    const uasScenario = join(dir.path, 'edge-uas.xml');
    writeFileSync(uasScenario, edgeUasScenario(bracketsFor(dir.path).text));
    const messageFile = join(dir.path, 'edge-uas-messages.log');
    const proc = start('sipp', ['-sf', uasScenario, '-inf', join(dir.path, 'brackets.csv'), '-i', '127.0.0.1', '-p', String(port), '-nostdin', '-trace_msg', '-message_file', messageFile], { cwd: dir.path });
    await new Promise((r) => setTimeout(r, 300));
    if (proc.child.exitCode !== null) throw new Error(`sipp UAS exited: ${proc.stderr}${proc.stdout}`);
    uas = { proc, port, messages: () => { try { return readFileSync(messageFile, 'utf8'); } catch { return ''; } } };

    stox = await startStox(
      dir.path,
      {
        sip: {
          listen: ['udp://127.0.0.1:0', 'tcp://127.0.0.1:0', 'tls://127.0.0.1:0'],
          domains: ['sip.test'],
          outboundProxy: `sip:127.0.0.1:${port};lr`,
          tls: { cert: stoxCert.certPath, key: stoxCert.keyPath, ca: trusted.certPath },
          limits: LIMITS,
        },
        xmpp: {
          server: `tcp://127.0.0.1:${prosody.componentPort}`,
          components: [
            { domain: 'sip.test', secret: 'edge-sip' },
            { domain: 'gw.test', secret: 'edge-gw', addressing: 'escaped' },
          ],
        },
        presence: { notifyIntervalMs: 0 },
        peering: {
          default: 'allow',
          domains: { 'partner.test': { protocol: 'sip', tlsIdentities: ['partner.test'], requireTls: true } },
        },
      },
      {},
      { onlineComponents: 2 },
    );
    romeo = await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'romeo', password: 'romeopw', resource: 'balcony', presence: true });
  }, 90_000);

  afterAll(async () => {
    await romeo?.stop().catch(() => undefined);
    await stopAll();
    await prosody?.dispose();
    dir.remove();
  });

  describe('sip.limits from the config: per-source connection cap, header-read and idle timeouts (RFC 3261 §18.3)', () => {
    const options = (s: Socket): string => sipRequest('OPTIONS', `sip:127.0.0.1:${tcpPort()}`, 'TCP', s, 'sip:probe@sip.test', `sip:127.0.0.1:${tcpPort()}`);

    /**
     * A TCP connection Stox has admitted (an OPTIONS on it answered 200). Retried: the per-source cap may
     * still count connections a previous test closed and Stox has not yet seen go.
     */
    async function admitted(): Promise<Socket> {
      let admittedSocket: Socket | undefined;
      await until('a connection admitted', async () => {
        const s = await tcpOpen(tcpPort()).catch(() => undefined);
        if (!s) return false;
        const answer = readResponse(s).then(
          (r) => r,
          () => '',
        );
        s.write(options(s), () => undefined);
        if ((await answer).startsWith('SIP/2.0 200 ')) {
          admittedSocket = s;
          return true;
        }
        s.destroy();
        return false;
      });
      return admittedSocket!;
    }

    it('maxConnectionsPerSource 4: four TCP connections from 127.0.0.1 are served, the fifth is closed unanswered; one closed frees a slot', async () => {
      const open: Socket[] = [];
      for (let i = 0; i < LIMITS.maxConnectionsPerSource; i++) open.push(await tcpOpen(tcpPort()));
      // Every admitted connection carries SIP (RFC 3261 §11: OPTIONS to Stox itself → 200).
      for (const s of open) {
        const answer = readResponse(s);
        s.write(options(s));
        expect(await answer).toMatch(/^SIP\/2\.0 200 /);
      }
      const extra = await tcpOpen(tcpPort()).catch(() => undefined);
      if (extra) {
        const ended = closedByPeer(extra);
        extra.write(options(extra), () => undefined);
        expect(await ended).toBe('');
      }
      // The first four still work after the refusal.
      const again = readResponse(open[0]!);
      open[0]!.write(options(open[0]!));
      expect(await again).toMatch(/^SIP\/2\.0 200 /);

      open.pop()!.destroy();
      (await admitted()).destroy();
      for (const s of open) s.destroy();
    });

    it('headerReadTimeoutMs 1000: a sender trickling a header block that never ends is cut off, and Stox says why', async () => {
      // Admitted first (one message answered), so a close can only be the header-read limit on the next.
      const slow = await admitted();
      const ended = closedByPeer(slow);
      slow.write(`OPTIONS sip:127.0.0.1:${tcpPort()} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:${slow.localPort ?? 0};branch=z9hG4bK-slow\r\nX-Slow: `);
      const drip = setInterval(() => {
        if (!slow.destroyed) slow.write('a');
      }, 200);
      try {
        expect(await ended).toBe('');
      } finally {
        clearInterval(drip);
      }
      await stox.proc.waitFor(/message not complete within 1000 ms, closing/);
      expect(stox.proc.child.exitCode).toBeNull();
    });

    it('idleTimeoutMs 2500: a connection that never sends is closed; one that keeps talking is not', async () => {
      const idle = await admitted();
      const busy = await admitted();
      const idleEnded = closedByPeer(idle);
      let busyClosed = false;
      busy.once('close', () => (busyClosed = true));
      let answered = 0;
      // Well inside the idle timeout each time, so only `idle` may reach it.
      while (!idle.destroyed) {
        const answer = readResponse(busy);
        busy.write(options(busy));
        if ((await answer).startsWith('SIP/2.0 200 ')) answered++;
        await Promise.race([idleEnded, new Promise((r) => setTimeout(r, 500))]);
      }
      expect(await idleEnded).toBe('');
      expect(busyClosed).toBe(false);
      expect(answered).toBeGreaterThan(0);
      busy.destroy();
    });
  });

  describe('TLS peers and peering.tlsIdentities / requireTls (RFC 3261 §26.3.2.2, RFC 5922 §7)', () => {
    const message = (from: string, body: string) => (s: Socket) => sipRequest('MESSAGE', 'sip:romeo@xmpp.test', 'TLS', s, from, 'sip:romeo@xmpp.test', body);

    it('a client certificate from a CA Stox does not trust (right name): 403 with a Warning, nothing reaches XMPP', async () => {
      const r = await tlsAsk(tlsPort(), trusted, rogueCert, message('sip:bob@partner.test', 'from the rogue CA'));
      expect(r.response, r.error).toMatch(/^SIP\/2\.0 403 /);
      expect(r.response).toMatch(/\r\nWarning: 399 stox "no accepted TLS identity for partner\.test from 127\.0\.0\.1, got none"\r\n/);
    });

    it('a trusted certificate with the wrong identity (evil.test for partner.test): 403 naming what it got', async () => {
      const r = await tlsAsk(tlsPort(), trusted, evilCert, message('sip:bob@partner.test', 'from evil'));
      expect(r.response, r.error).toMatch(/^SIP\/2\.0 403 /);
      expect(r.response).toMatch(/\r\nWarning: 399 stox "no accepted TLS identity for partner\.test from 127\.0\.0\.1, got evil\.test"\r\n/);
    });

    it('no client certificate at all: 403', async () => {
      const r = await tlsAsk(tlsPort(), trusted, undefined, message('sip:bob@partner.test', 'anonymous'));
      expect(r.response, r.error).toMatch(/^SIP\/2\.0 403 /);
      expect(r.response).toMatch(/\r\nWarning: 399 stox "no accepted TLS identity/);
    });

    it('requireTls: partner.test over UDP and over TCP gets 403 with a Warning saying TLS is required', async () => {
      for (const transport of ['udp', 'tcp'] as const) {
        const r = await sippUdp(
          { from: '<sip:bob@partner.test>', body: `partner over ${transport}`, expect: 403, responseChecks: [`Warning: 399 stox "partner\\.test must use TLS, got ${transport}"`] },
          transport,
        );
        expect(r.code, r.out).toBe(0);
      }
    });

    it('the right certificate (partner.test, trusted CA) over TLS: 202 and delivered to the XMPP user through Prosody; the refused ones never were', async () => {
      const r = await tlsAsk(tlsPort(), trusted, partnerCert, message('sip:bob@partner.test', 'hello over mutual TLS'));
      expect(r.response, r.error).toMatch(/^SIP\/2\.0 202 /);
      const got = await romeo.next(isMessage('hello over mutual TLS'), 10_000);
      expect(got.attrs.from).toBe('bob\\40partner.test@gw.test');
      // Prosody delivers one component's stanzas in order: anything refused earlier would be here first.
      for (const refused of ['from the rogue CA', 'from evil', 'anonymous', 'partner over udp', 'partner over tcp']) {
        await expect(romeo.next(isMessage(refused), 200)).rejects.toThrow(/no matching stanza/);
      }
    });
  });

  describe('kill -HUP reloads TLS material and limits (issue 5): new handshakes see it, a bad pair is refused', () => {
    const message = (from: string, body: string) => (s: Socket) => sipRequest('MESSAGE', 'sip:romeo@xmpp.test', 'TLS', s, from, 'sip:romeo@xmpp.test', body);
    /** Subject CN of the certificate the TLS listener presents to a new handshake. */
    const presentedCn = (): Promise<string> =>
      new Promise((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: tlsPort(), rejectUnauthorized: false }, () => {
          resolve(String(s.getPeerCertificate().subject.CN));
          s.destroy();
        });
        s.on('error', reject);
      });
    const reloads = (what: RegExp): number => (stox.proc.stdout.match(new RegExp(what.source, 'g')) ?? []).length;
    async function hup(config: unknown, expect: RegExp): Promise<void> {
      const before = reloads(expect);
      writeFileSync(stox.configPath, stringify(config));
      stox.proc.child.kill('SIGHUP');
      await until(`a ${expect.source} line`, () => reloads(expect) > before);
    }

    it('a new certificate is presented after SIGHUP; a key that does not match it is refused and the running one stays', async () => {
      const original = parse(readFileSync(stox.configPath, 'utf8')) as { sip: { tls: { cert: string; key: string }; limits: object } };
      const renewed = makeCert(dir.path, trusted, 'renewed.sip.test', ['renewed.sip.test', '127.0.0.1']);
      expect(await presentedCn()).toBe('sip.test');
      try {
        await hup({ ...original, sip: { ...original.sip, tls: { ...original.sip.tls, cert: renewed.certPath, key: renewed.keyPath } } }, /"msg":"configuration reloaded"/);
        expect(await presentedCn()).toBe('renewed.sip.test');
        const line = stox.proc.stdout.split('\n').filter((l) => l.includes('"msg":"configuration reloaded"')).pop()!;
        expect(JSON.parse(line)).toMatchObject({ tlsReloaded: true, limits: LIMITS });

        // The renewed certificate with the old key: refused as a whole, the renewed pair keeps serving.
        await hup({ ...original, sip: { ...original.sip, tls: { ...original.sip.tls, cert: renewed.certPath, key: original.sip.tls.key } } }, /configuration reload refused/);
        expect(await presentedCn()).toBe('renewed.sip.test');
        // Peers still get through with the material in force (RFC 3261 §26.3.2.2).
        const r = await tlsAsk(tlsPort(), trusted, partnerCert, message('sip:bob@partner.test', 'after the reload'));
        expect(r.response, r.error).toMatch(/^SIP\/2\.0 202 /);
        await romeo.next(isMessage('after the reload'), 10_000);
      } finally {
        await hup(original, /"msg":"configuration reloaded"/);
      }
      expect(await presentedCn()).toBe('sip.test');
    });
  });

  describe('entity expansion (billion laughs) in SIP bodies is refused 400 and Stox keeps serving', () => {
    it('message/cpim wrapping text/html with a billion-laughs DTD (RFC 3862): 400 with a reason; the next message is delivered', async () => {
      const brackets = bracketsFor(dir.path);
      const cpim = [
        'From: <sip:alice@sip.test>',
        'To: <sip:romeo@xmpp.test>',
        'DateTime: 2024-01-01T00:00:00Z',
        '',
        'Content-Type: text/html',
        '',
        `${LAUGHS_DTD}<html><body><p>&lol9;</p></body></html>`,
      ].join('\n');
      const r = await sippUdp(
        { body: brackets.text(cpim), headers: ['Content-Type: message/cpim'], expect: 400, responseChecks: ['^SIP/2\\.0 400 text/html with a DTD or entity declarations is not accepted'] },
        'udp',
        brackets.args,
      );
      expect(r.code, r.out).toBe(0);
      const next = await sippUdp({ body: 'after the laughs (cpim)', expect: 202 });
      expect(next.code, next.out).toBe(0);
      const got = await romeo.next(isMessage('after the laughs (cpim)'), 10_000);
      expect(got.attrs.from).toBe('alice@sip.test');
      // Nothing of the refused document (expanded or not) reached the client before it.
      await expect(romeo.next((el) => el.name === 'message' && /lol/.test(el.toString()), 200)).rejects.toThrow(/no matching stanza/);
    });

    it('NOTIFY with a billion-laughs PIDF in an X2S subscription (RFC 3863, RFC 8048 §3.2): 400 "DTD not allowed in PIDF"; the next NOTIFY reaches the XMPP watcher', async () => {
      await romeo.send(xml('presence', { to: 'alice@sip.test', type: 'subscribe' }));
      const seen = await romeo.next((el) => el.name === 'presence' && String(el.attrs.from ?? '').startsWith('alice@sip.test') && el.getChildText('status') === 'Sane again', 15_000);
      expect(seen.attrs.type).toBeUndefined();
      // The answers Stox gave sipp's NOTIFYs: the hostile one 400 with the reason, the next one 200.
      const laughs = uasBlocks('NOTIFY', 'SIP/2.0 400');
      expect(laughs.length, uas.messages().slice(-3000)).toBe(1);
      expect(laughs[0]).toMatch(/^SIP\/2\.0 400 DTD not allowed in PIDF\r?$/m);
      const cseq = (b: string): number => Number(/^CSeq: (\d+) NOTIFY/m.exec(b)?.[1]);
      const sane = uasBlocks('NOTIFY', 'SIP/2.0 200');
      expect(sane.length).toBe(1);
      expect(cseq(sane[0]!)).toBeGreaterThan(cseq(laughs[0]!));
      // No presence carried any part of the hostile document.
      await expect(romeo.next((el) => el.name === 'presence' && /lol/.test(el.toString()), 200)).rejects.toThrow(/no matching stanza/);
      expect(stox.proc.child.exitCode).toBeNull();
    });
  });

  describe('CRLF and markup in XMPP addresses never forge a SIP header (RFC 3261 §7.3.1, §25.1; RFC 7247 §5)', () => {
    const injected = /^X-Injected\b/im;

    /** An XMPP client logged in with `resource` sends one message to the SIP user bob (sipp). */
    async function sendFrom(resource: string, message: Element, marker: string): Promise<{ error?: Element; sent: string[] }> {
      const mallory = await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'romeo', password: 'romeopw', resource });
      try {
        expect(mallory.jid).toBe(`romeo@xmpp.test/${resource}`);
        await mallory.send(message);
        let error: Element | undefined;
        const id = String(message.attrs.id);
        void mallory.next((el) => el.attrs.id === id, 15_000).then((el) => (error = el), () => undefined);
        await until('an error stanza or the MESSAGE at sipp', () => error !== undefined || uasBlocks(marker, 'MESSAGE').length > 0);
        return { ...(error ? { error } : {}), sent: uasBlocks(marker, 'MESSAGE') };
      } finally {
        await mallory.stop();
      }
    }

    it('a client asking for the resource "x CR LF X-Injected: 1" is given another one by Prosody (RFC 6120 §7.7.2.1), and its message carries no injected header', async () => {
      const asked = 'x\r\nX-Injected: 1';
      const mallory = await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'romeo', password: 'romeopw', resource: asked });
      try {
        const bound = mallory.jid.slice(mallory.jid.indexOf('/') + 1);
        expect(bound).not.toBe(asked);
        expect(bound).not.toMatch(/[\r\n]/);
        await mallory.send(xml('message', { to: 'bob@sip.test', id: 'crlf-res' }, xml('body', {}, 'crlf resource test')));
        await until('the MESSAGE at sipp', () => uasBlocks('crlf resource test', 'MESSAGE').length > 0);
      } finally {
        await mallory.stop();
      }
      expect(headOf(uasBlocks('crlf resource test', 'MESSAGE')[0]!)).not.toMatch(injected);
    });

    it('a resource with quotes, angle brackets, semicolons and spaces is percent-encoded inside the GRUU; a CRLF subject is flattened', async () => {
      const r = await sendFrom(
        'x">;X-Injected=1 <sip:evil@evil.test>',
        xml('message', { to: 'bob@sip.test', id: 'crlf-1' }, xml('subject', {}, 'hi\r\nX-Injected: subject'), xml('body', {}, 'resource markup test')),
        'resource markup test',
      );
      expect(r.error).toBeUndefined();
      expect(r.sent).toHaveLength(1);
      const head = headOf(r.sent[0]!);
      expect(head).not.toMatch(injected);
      const from = /^From: (.*)$/m.exec(head)?.[1] ?? '';
      // One name-addr, the resource inside it as an escaped gr parameter (RFC 5627 §3.2 / RFC 3261 §19.1.2).
      expect(from).toMatch(/^<sip:romeo@xmpp\.test;gr=[^<>" ]+>;tag=\S+\r?$/);
      // Exactly one name-addr: the only angle brackets are its own, and the gr value decodes to the resource.
      expect(from.match(/[<>]/g)).toEqual(['<', '>']);
      expect(decodeURIComponent(/;gr=([^>]+)>/.exec(from)?.[1] ?? '')).toBe('x">;X-Injected=1 <sip:evil@evil.test>');
      expect(head).toMatch(/^Subject: hi X-Injected: subject\r?$/m);
    });

    it('a CR LF resource forged by another component is refused <jid-malformed/> by Prosody (RFC 6120 §8.3.3.8) and never becomes a SIP request', async () => {
      const forger = xmppComponent({ service: `xmpp://127.0.0.1:${prosody.componentPort}`, domain: 'forger.test', password: 'edge-forger' });
      forger.on('error', () => undefined);
      const stanzas: Element[] = [];
      forger.on('stanza', (el: Element) => stanzas.push(el));
      await forger.start();
      try {
        // Written raw: character references keep CR LF through XML attribute-value normalization.
        await forger.write(`<message from="mallory@forger.test/x&#13;&#10;X-Injected: 1" to="bob@sip.test" id="forged-1"><body>forged resource test</body></message>`);
        await until('an answer to the forged stanza', () => stanzas.some((s) => s.attrs.id === 'forged-1'));
        // A message sent after it from a valid address gets through: whatever reached Stox before it is at sipp by then.
        await forger.send(xml('message', { from: 'mallory@forger.test/fine', to: 'bob@sip.test', id: 'forged-2' }, xml('body', {}, 'after the forged one')));
        await until('the valid one at sipp', () => uasBlocks('after the forged one', 'MESSAGE').length > 0);
      } finally {
        await forger.stop().catch(() => undefined);
      }
      const error = stanzas.find((s) => s.attrs.id === 'forged-1')!;
      expect(error.attrs.type).toBe('error');
      expect(error.getChild('error')?.getChild('jid-malformed', STANZAS)).toBeDefined();
      expect(uasBlocks('forged resource test', 'MESSAGE')).toEqual([]);
      expect(uas.messages()).not.toMatch(/^X-Injected/im);
      expect(stox.proc.child.exitCode).toBeNull();
    });
  });
});

describe('Stox as a TLS client and a strict TLS server (RFC 3261 §26.3.2.2, RFC 5922 §7.2)', () => {
  const dir = tempDir();
  let prosody: ProsodyInstance;
  let stox: RunningStox;
  let juliet: TestClient;
  let trusted: TestCa;
  let rogue: TestCa;
  /** The next hop (outbound proxy) Stox dials over TLS; its certificate is swapped per test. */
  let hop: TlsServer;
  let hopPort: number;
  const hopReceived: string[] = [];
  const certs: Record<'untrusted' | 'wrongName' | 'right' | 'client' | 'rogueClient', TestCert> = {} as never;

  beforeAll(async () => {
    trusted = makeCa(dir.path, 'Strict Trusted CA');
    rogue = makeCa(dir.path, 'Strict Rogue CA');
    const stoxCert = makeCert(dir.path, trusted, 'sip2.test', ['sip2.test', '127.0.0.1']);
    certs.untrusted = makeCert(dir.path, rogue, 'proxy.sip2.test', ['proxy.sip2.test', '127.0.0.1']);
    certs.wrongName = makeCert(dir.path, trusted, 'elsewhere.test', ['elsewhere.test']);
    certs.right = makeCert(dir.path, trusted, 'proxy.sip2.test', ['proxy.sip2.test', '127.0.0.1']);
    certs.client = makeCert(dir.path, trusted, 'peer.sip2.test', ['peer.sip2.test']);
    certs.rogueClient = makeCert(dir.path, rogue, 'peer.sip2.test', ['peer.sip2.test']);

    // A minimal SIP server over TLS: records each request and answers 200 on the same connection.
    hop = createTlsServer({ cert: certs.untrusted.cert, key: certs.untrusted.key }, (socket) => {
      socket.on('error', () => undefined);
      onSipStreamMessages(socket, (req) => {
        hopReceived.push(req);
        const head = req.slice(0, req.indexOf('\r\n\r\n')).split('\r\n');
        const keep = head.filter((l) => /^(via|from|to|call-id|cseq):/i.test(l)).map((l) => (/^to:/i.test(l) && !/;tag=/.test(l) ? `${l};tag=hop` : l));
        return ['SIP/2.0 200 OK', ...keep, 'Content-Length: 0', '', ''].join('\r\n');
      });
    });
    hop.on('tlsClientError', () => undefined);
    hopPort = await freePort();
    await new Promise<void>((resolve) => hop.listen(hopPort, '127.0.0.1', resolve));

    prosody = await startProsody({ domain: 'xmpp.test', components: [{ domain: 'sip2.test', secret: 'strict' }] });
    await prosody.register('juliet', 'julietpw');
    stox = await startStox(
      dir.path,
      {
        sip: {
          listen: ['tls://127.0.0.1:0'],
          domains: ['sip2.test'],
          outboundProxy: `sip:127.0.0.1:${hopPort};transport=tls;lr`,
          tls: { cert: stoxCert.certPath, key: stoxCert.keyPath, ca: trusted.certPath, requireClientCert: true },
        },
        xmpp: { server: `tcp://127.0.0.1:${prosody.componentPort}`, components: [{ domain: 'sip2.test', secret: 'strict' }] },
      },
      {},
      { onlineComponents: 1 },
    );
    juliet = await connectClient({ service: `xmpp://127.0.0.1:${prosody.c2sPort}`, domain: 'xmpp.test', username: 'juliet', password: 'julietpw', resource: 'r' });
  }, 90_000);

  afterAll(async () => {
    await juliet?.stop().catch(() => undefined);
    await stopAll();
    await new Promise((r) => hop?.close(r));
    await prosody?.dispose();
    dir.remove();
  });

  async function sendAndAnswer(id: string, body: string): Promise<Element | undefined> {
    await juliet.send(xml('message', { to: 'alice@sip2.test', id }, xml('body', {}, body)));
    return juliet.next((el) => el.name === 'message' && el.attrs.id === id, 10_000).catch(() => undefined);
  }

  for (const [name, what] of [
    ['untrusted', 'a certificate not signed by sip.tls.ca'],
    ['wrongName', 'a trusted certificate that does not name the host dialed (127.0.0.1)'],
  ] as const) {
    it(`outbound: a next hop presenting ${what} gets nothing, and the XMPP sender gets <remote-server-not-found/>`, async () => {
      hop.setSecureContext({ cert: certs[name].cert, key: certs[name].key });
      const before = hopReceived.length;
      const err = await sendAndAnswer(`out-${name}`, `to a ${name} hop`);
      expect(err, 'an error stanza, not silence').toBeDefined();
      expect(err!.attrs.type).toBe('error');
      expect(err!.getChild('error')?.getChild('remote-server-not-found', STANZAS)).toBeDefined();
      expect(hopReceived.length).toBe(before);
      await stox.proc.waitFor(/"msg":"SIP next hop unreachable"/);
    });
  }

  it('outbound: the same hop with a certificate from sip.tls.ca naming 127.0.0.1 gets the MESSAGE (the control)', async () => {
    hop.setSecureContext({ cert: certs.right.cert, key: certs.right.key });
    await juliet.send(xml('message', { to: 'alice@sip2.test', id: 'out-right' }, xml('body', {}, 'to the right hop')));
    await until('the hop got the MESSAGE', () => hopReceived.some((r) => r.includes('to the right hop')));
    expect(hopReceived.find((r) => r.includes('to the right hop'))).toMatch(/^MESSAGE sip:alice@sip2\.test SIP\/2\.0\r\n/);
    await expect(juliet.next((el) => el.attrs.id === 'out-right', 500)).rejects.toThrow(/no matching stanza/);
  });

  const options = (s: Socket): string => sipRequest('OPTIONS', `sip:127.0.0.1:${stox.listen.tls!.port}`, 'TLS', s, 'sip:peer@peer.sip2.test', `sip:127.0.0.1:${stox.listen.tls!.port}`);

  it('inbound with requireClientCert: a client certificate from another CA is refused in the handshake, no SIP answer', async () => {
    const r = await tlsAsk(stox.listen.tls!.port, trusted, certs.rogueClient, options);
    expect(r.response).toBeUndefined();
    expect(r.error).toBeDefined();
  });

  it('inbound with requireClientCert: no client certificate is refused in the handshake too', async () => {
    const r = await tlsAsk(stox.listen.tls!.port, trusted, undefined, options);
    expect(r.response).toBeUndefined();
    expect(r.error).toBeDefined();
  });

  it('inbound with requireClientCert: a certificate from sip.tls.ca is served (OPTIONS → 200, RFC 3261 §11)', async () => {
    const r = await tlsAsk(stox.listen.tls!.port, trusted, certs.client, options);
    expect(r.response, r.error).toMatch(/^SIP\/2\.0 200 /);
    expect(stox.proc.child.exitCode).toBeNull();
  });
});

/**
 * The SIP side for X2S traffic: MESSAGEs are answered 200 (and logged); a SUBSCRIBE is answered 200 and
 * followed by a NOTIFY whose PIDF carries the billion-laughs DTD, then by a sane one. `esc` makes the DTD's
 * brackets sipp-safe.
 */
function edgeUasScenario(esc: (s: string) => string): string {
  const notify = (cseqNote: string, body: string) => `  <send retrans="500">
    <![CDATA[
      NOTIFY [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      [routes]
      From:[$me];tag=[pid]SIPpTagE[call_number]
      To:[$peer]
      Call-ID: [call_id]
      CSeq: [cseq] NOTIFY
      Max-Forwards: 70
      Contact: <sip:notifier@[local_ip]:[local_port];transport=[transport]>
      Event: presence
      Subscription-State: active;expires=600
      Content-Type: application/pidf+xml
      Content-Length: [len]

${body}
    ]]>
  </send>
  <!-- ${cseqNote} -->`;
  // The 200 to the request just received; `extra` are header lines after the copied ones.
  const ok = (extra: string) => `  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:];tag=[pid]SIPpTagE[call_number]
      [last_Call-ID:]
      [last_CSeq:]
${extra}      Content-Length: 0

    ]]>
  </send>`;
  const pidf = (dtd: string, note: string) => `<?xml version="1.0" encoding="UTF-8"?>
${dtd}<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="[$entity]">
  <tuple id="edge"><status><basic>open</basic></status><note>${note}</note></tuple>
</presence>`;
  return `<?xml version="1.0" encoding="UTF-8" ?>
<scenario name="edge-uas">
  <recv request="MESSAGE" optional="true" next="message"/>
  <recv request="SUBSCRIBE" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="peer"/>
      <ereg regexp="^[^;]*" search_in="hdr" header="To:" check_it="true" assign_to="me"/>
      <ereg regexp="sips?:[^>;]*" search_in="hdr" header="To:" check_it="true" assign_to="entity"/>
    </action>
  </recv>
${ok('      [last_Record-Route:]\n      Expires: 600\n      Contact: <sip:notifier@[local_ip]:[local_port];transport=[transport]>\n')}
${notify('billion laughs', pidf(esc(LAUGHS_DTD) + '\n', '&lol9;'))}
  <recv response="400"/>
${notify('sane', pidf('', 'Sane again'))}
  <recv response="200"/>
  <nop next="end"/>
  <label id="message"/>
${ok('')}
  <label id="end"/>
  <Reference variables="peer,me,entity"/>
</scenario>
`;
}
