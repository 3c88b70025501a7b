import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createTransport, type ReceivedBytes, type Transport, type TransportEvents, type TransportOptions } from '../../../../src/sip/transport/index.js';
import { certificateIdentities, subjectAltDnsNames } from '../../../../src/sip/transport/tls.js';
import { makeCa, makeCert, type TestCa, type TestCert } from '../../../helpers/tls-certs.js';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
let serverCert: TestCert;
let clientCert: TestCert;
let wrongNameCert: TestCert;
let strangerCert: TestCert;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'stox-tls-'));
  ca = makeCa(dir);
  otherCa = makeCa(dir, 'Other CA');
  serverCert = makeCert(dir, ca, 'server.test', ['server.test', 'localhost', '127.0.0.1', '::1']);
  clientCert = makeCert(dir, ca, 'client.test', ['client.test', 'alt.client.test']);
  wrongNameCert = makeCert(dir, ca, 'other.test', ['other.test', '127.0.0.1']);
  strangerCert = makeCert(dir, otherCa, 'stranger.test', ['stranger.test', 'localhost', '127.0.0.1']);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const transports: Transport[] = [];
const servers: Server[] = [];

afterEach(async () => {
  await Promise.all(transports.splice(0).map((t) => t.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function recorder(): { messages: ReceivedBytes[]; events: TransportEvents } {
  const messages: ReceivedBytes[] = [];
  return { messages, events: { onMessage: (m) => messages.push(m), onFramingError: () => undefined } };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function listen(events: TransportEvents, tls: TransportOptions['tls'], url = 'tls://127.0.0.1:0', extra: TransportOptions = {}): Promise<Transport> {
  const t = await createTransport(url, events, { tls, ...extra });
  transports.push(t);
  return t;
}

const pem = (c: TestCert, trust: TestCa): { cert: string; key: string; ca: string } => ({ cert: c.cert, key: c.key, ca: trust.cert });

let seq = 0;
const msg = (body: string): Buffer =>
  Buffer.from(`MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.0.1;branch=z9hG4bK${++seq}\r\nContent-Length: ${body.length}\r\n\r\n${body}`);

describe('TLS transport (RFC 3261 §26.2.1)', () => {
  it('carries messages both ways and exposes the verified server identity to the client', async () => {
    const server = recorder();
    const client = recorder();
    const ts = await listen(server.events, pem(serverCert, ca));
    const tc = await listen(client.events, pem(clientCert, ca));
    expect(ts.protocol).toBe('tls');

    await tc.send(msg('hello'), ts.local);
    await until(() => server.messages.length === 1);
    const req = server.messages[0]!;
    expect(req.data.toString()).toContain('hello');
    expect(req.source).toMatchObject({ transport: 'tls', address: '127.0.0.1' });
    expect(req.connectionId).toMatch(/^tls:\d+$/);
    // The server did not ask for a client certificate.
    expect(req.tlsIdentities).toBeUndefined();

    await ts.send(msg('welcome'), req.source, req.connectionId);
    await until(() => client.messages.length === 1);
    expect(client.messages[0]!.data.toString()).toContain('welcome');
    expect(client.messages[0]!.tlsIdentities).toEqual(['server.test', 'localhost']);
    expect(tc.stats.openConnections).toBe(1);
  });

  it('verifies the server name when the destination is a name (SNI + hostname check)', async () => {
    const good = recorder();
    const ts = await listen(good.events, pem(serverCert, ca), 'tls://localhost:0');
    const tc = await listen(recorder().events, pem(clientCert, ca));
    await tc.send(msg('by-name'), { transport: 'tls', address: 'localhost', port: ts.local.port });
    await until(() => good.messages.length === 1);

    const wrong = recorder();
    const tw = await listen(wrong.events, pem(wrongNameCert, ca), 'tls://localhost:0');
    await expect(tc.send(msg('x'), { transport: 'tls', address: 'localhost', port: tw.local.port })).rejects.toThrow(/tls connect to localhost:\d+ failed: .*altnames/);
    expect(wrong.messages).toHaveLength(0);
  });

  it('refuses a server whose certificate is not signed by the configured CA', async () => {
    const server = recorder();
    const ts = await listen(server.events, pem(strangerCert, otherCa));
    const tc = await listen(recorder().events, pem(clientCert, ca));
    await expect(tc.send(msg('secret'), ts.local)).rejects.toThrow(/tls connect to 127\.0\.0\.1:\d+ failed: .*(certificate|verify)/i);
    expect(tc.stats.openConnections).toBe(0);
    await new Promise((r) => setTimeout(r, 50));
    expect(server.messages).toHaveLength(0);
  });

  it('exposes the client identities under mutual TLS (CN and subjectAltName DNS entries)', async () => {
    const server = recorder();
    const ts = await listen(server.events, { ...pem(serverCert, ca), requestCert: true, rejectUnauthorized: true });
    const tc = await listen(recorder().events, pem(clientCert, ca));
    await tc.send(msg('mutual'), ts.local);
    await until(() => server.messages.length === 1);
    expect(server.messages[0]!.tlsIdentities).toEqual(['client.test', 'alt.client.test']);
  });

  it('under mutual TLS, refuses an unverifiable client, or accepts it without identities when told not to reject', async () => {
    const strict = recorder();
    const tStrict = await listen(strict.events, { ...pem(serverCert, ca), requestCert: true, rejectUnauthorized: true });
    const lax = recorder();
    const tLax = await listen(lax.events, { ...pem(serverCert, ca), requestCert: true, rejectUnauthorized: false });
    // The stranger trusts our CA (so it accepts the server) but its own certificate is from another CA.
    const stranger = await listen(recorder().events, { cert: strangerCert.cert, key: strangerCert.key, ca: ca.cert });

    // With TLS 1.3 the client may finish its side before the server refuses it, so the send may resolve.
    await stranger.send(msg('strict'), tStrict.local).catch(() => undefined);
    await stranger.send(msg('lax'), tLax.local);
    await until(() => lax.messages.length === 1);
    expect(lax.messages[0]!.tlsIdentities).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100));
    expect(strict.messages).toHaveLength(0);
  });

  it('gives up a handshake that never completes within connectTimeoutMs', async () => {
    // Reads (so it notices when the client gives up) but never answers the ClientHello.
    const silent = createServer((s) => s.resume());
    servers.push(silent);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    const tc = await listen(recorder().events, pem(clientCert, ca), undefined, { connectTimeoutMs: 150 });
    await expect(tc.send(msg('x'), { transport: 'tls', address: '127.0.0.1', port })).rejects.toThrow(/no connection within 150 ms/);
    expect(tc.stats.openConnections).toBe(0);
  });

  it('closes connections that never finish the handshake within headerReadTimeoutMs', async () => {
    const ts = await listen(recorder().events, pem(serverCert, ca), undefined, { limits: { headerReadTimeoutMs: 150 } });
    const { connect } = await import('node:net');
    const raw = connect({ host: '127.0.0.1', port: ts.local.port });
    raw.on('error', () => undefined);
    await once(raw, 'connect');
    await until(() => ts.stats.openConnections === 1);
    await once(raw, 'close');
    await until(() => ts.stats.openConnections === 0);
  });

  it('refuses to start a TLS listener without a certificate', async () => {
    await expect(createTransport('tls://127.0.0.1:0', recorder().events)).rejects.toThrow(/tls\.cert/);
  });
});

describe('certificate identities', () => {
  it('reads DNS entries only, and never out of a quoted value', () => {
    expect(subjectAltDnsNames('DNS:a.example, IP Address:127.0.0.1, DNS:b.example')).toEqual(['a.example', 'b.example']);
    expect(subjectAltDnsNames('URI:"http://x/, DNS:evil.example", DNS:good.example')).toEqual(['good.example']);
    expect(subjectAltDnsNames('DNS:"we\\"ird,name"')).toEqual(['we"ird,name']);
    expect(subjectAltDnsNames('')).toEqual([]);
  });

  it('combines CN (one or several) with DNS names, without duplicates', () => {
    const cert = { subject: { CN: 'sip.example' }, subjectaltname: 'DNS:sip.example, DNS:alt.example' } as unknown as PeerCertificate;
    expect(certificateIdentities(cert)).toEqual(['sip.example', 'alt.example']);
    const multi = { subject: { CN: ['a', 'b'] } } as unknown as PeerCertificate;
    expect(certificateIdentities(multi)).toEqual(['a', 'b']);
  });
});

describe('TLS transport reload (SIGHUP): new material for new handshakes, established connections kept', () => {
  /** The certificate a fresh TLS client is shown by the listener at `port`. */
  async function presented(port: number): Promise<PeerCertificate> {
    const { connect } = await import('node:tls');
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        resolve(s.getPeerCertificate());
        s.destroy();
      });
      s.on('error', reject);
    });
  }

  it('a reloaded certificate is what the next handshake presents; a connection made before keeps carrying messages', async () => {
    const server = recorder();
    const ts = await listen(server.events, pem(serverCert, ca));
    const tc = await listen(recorder().events, pem(clientCert, ca));
    await tc.send(msg('before'), ts.local);
    await until(() => server.messages.length === 1);
    expect((await presented(ts.local.port)).subject.CN).toBe('server.test');

    ts.reconfigure({ limits: { maxMessageBytes: 65536, maxConnectionsPerSource: 64, maxConnections: 10000, idleTimeoutMs: 120000, headerReadTimeoutMs: 10000 }, tls: pem(wrongNameCert, ca) });
    expect((await presented(ts.local.port)).subject.CN).toBe('other.test');
    // The client's connection from before the reload is reused and still works.
    await tc.send(msg('after'), ts.local);
    await until(() => server.messages.length === 2);
    expect(tc.stats.openConnections).toBe(1);
  });

  it('reloaded limits apply to connections accepted from then on', async () => {
    const server = recorder();
    const ts = await listen(server.events, pem(serverCert, ca));
    const limits = { maxMessageBytes: 65536, maxConnectionsPerSource: 64, maxConnections: 10000, idleTimeoutMs: 120000, headerReadTimeoutMs: 10000 };
    const first = await listen(recorder().events, pem(clientCert, ca));
    await first.send(msg('one'), ts.local);
    await until(() => server.messages.length === 1);
    ts.reconfigure({ limits: { ...limits, maxConnectionsPerSource: 1 } });
    // A second connection from 127.0.0.1 is now over the cap: refused before the handshake.
    const second = await listen(recorder().events, pem(clientCert, ca));
    await expect(second.send(msg('two'), ts.local)).rejects.toThrow();
    expect(server.messages).toHaveLength(1);
    // The first, accepted under the old limits, still carries messages.
    await first.send(msg('three'), ts.local);
    await until(() => server.messages.length === 2);
  });
});
