import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, silentLogger, type Logger } from '../../../src/ops/logging.js';
import {
  ComponentUnavailableError,
  componentServiceUri,
  StanzaAddressError,
  XmppComponent,
  type ComponentOptions,
  type ComponentState,
} from '../../../src/xmpp/component.js';

// A scripted XEP-0114 server on loopback, to drive the component through cases Prosody cannot be made to
// produce on demand (stanzas in the handshake's TCP segment, a server that never answers, flapping).

type Mode = 'accept' | 'silent' | 'accept-then-close';

interface FakeServer {
  port: number;
  connections: Array<{ socket: Socket; at: number; data: string }>;
  handshakes: string[];
  /** Written in the same write as `<handshake/>`. */
  early: string;
  mode: Mode;
  close(): Promise<void>;
}

const STREAM_ID = '3BF96D32';

async function fakeServer(secret: string, mode: Mode = 'accept'): Promise<FakeServer> {
  const state: Omit<FakeServer, 'port' | 'close'> = { connections: [], handshakes: [], early: '', mode };
  const server: Server = createServer((socket) => {
    const conn = { socket, at: performance.now(), data: '' };
    state.connections.push(conn);
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => {
      const before = conn.data;
      conn.data += d.toString('utf8');
      if (state.mode === 'silent') return;
      if (!before.includes('<stream:stream') && conn.data.includes('<stream:stream')) {
        socket.write(
          `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' from='sip.test' id='${STREAM_ID}'>`,
        );
      }
      const m = /<handshake>([0-9a-f]+)<\/handshake>/.exec(conn.data);
      if (m && !before.includes('</handshake>')) {
        state.handshakes.push(m[1]!);
        const expected = createHash('sha1').update(STREAM_ID + secret).digest('hex');
        if (m[1] === expected) {
          socket.write(`<handshake/>${state.early}`);
          if (state.mode === 'accept-then-close') socket.end('</stream:stream>');
        } else {
          socket.end(`<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>`);
        }
      }
      if (conn.data.includes('</stream:stream>') && !before.includes('</stream:stream>')) socket.end('</stream:stream>');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return Object.assign(state, {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const c of state.connections) c.socket.destroy();
        server.close(() => r());
      }),
  });
}

function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger('debug', sink), lines };
}

async function until(cond: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  mode: Mode = 'accept',
  opts: Partial<ComponentOptions> = {},
): Promise<{ srv: FakeServer; comp: XmppComponent; states: ComponentState[] }> {
  const srv = await fakeServer('secret', mode);
  cleanups.push(() => srv.close());
  const comp = new XmppComponent({
    server: `tcp://127.0.0.1:${srv.port}`,
    domain: 'sip.test',
    secret: 'secret',
    logger: silentLogger(),
    backoff: { initialMs: 50, maxMs: 400 },
    ...opts,
  });
  cleanups.push(() => comp.stop());
  const states: ComponentState[] = [];
  comp.onStateChange((s) => states.push(s));
  return { srv, comp, states };
}

describe('XmppComponent handshake and stream (XEP-0114 §3)', () => {
  it('sends hex SHA-1 of stream id + secret (vector 3BF96D32 + "secret") and comes online', async () => {
    const { srv, comp, states } = await setup();
    expect(comp.state).toBe('offline');
    await comp.start();
    expect(comp.state).toBe('connecting');
    await comp.whenOnline(2_000);
    expect(srv.handshakes).toEqual(['b09ea9b3b7f586be8a08d0a3dd7466f110aeb136']);
    expect(srv.connections[0]!.data).toMatch(/<stream:stream [^>]*xmlns="jabber:component:accept"[^>]*to="sip.test"|to="sip.test"[^>]*xmlns="jabber:component:accept"/);
    expect(states).toEqual(['connecting', 'online']);
    expect(comp.connected).toBe(true);
  });

  it('delivers stanzas that arrive in the same read as the handshake answer', async () => {
    const { srv, comp } = await setup();
    srv.early = `<message from='alice@xmpp.test/r' to='bob@sip.test' id='early1'><body>first</body></message>`;
    const got: Element[] = [];
    comp.onStanza((s) => got.push(s));
    await comp.start();
    await comp.whenOnline(2_000);
    await until(() => got.length === 1);
    expect(got[0]!.attrs.id).toBe('early1');
    expect(got[0]!.getChildText('body')).toBe('first');
  });

  it('answers built-in queries on the wire without calling the stanza handlers; handler errors are contained', async () => {
    const cap = capturingLogger();
    const { srv, comp } = await setup('accept', { logger: cap.logger });
    const got: Element[] = [];
    comp.onStanza(() => {
      throw new Error('boom');
    });
    comp.onStanza((s) => got.push(s));
    await comp.start();
    await comp.whenOnline(2_000);
    const sock = srv.connections[0]!.socket;
    sock.write(`<iq type='get' id='p1' from='alice@xmpp.test/r' to='sip.test'><ping xmlns='urn:xmpp:ping'/></iq>`);
    sock.write(`<message from='alice@xmpp.test/r' to='bob@sip.test' id='m1'/>`);
    await until(() => srv.connections[0]!.data.includes('<iq type="result" id="p1" from="sip.test" to="alice@xmpp.test/r"/>') && got.length === 1);
    expect(got.map((s) => s.attrs.id)).toEqual(['m1']);
    expect(cap.lines.find((l) => l.msg === 'stanza handler threw')).toMatchObject({ component: 'xmpp', stanzaId: 'm1' });
  });

  it('stop() closes the stream with </stream:stream> and never reconnects', async () => {
    const { srv, comp, states } = await setup();
    await comp.start();
    await comp.whenOnline(2_000);
    await comp.stop();
    expect(srv.connections[0]!.data).toContain('</stream:stream>');
    expect(comp.state).toBe('stopped');
    await new Promise((r) => setTimeout(r, 300));
    expect(srv.connections).toHaveLength(1);
    expect(states).toEqual(['connecting', 'online', 'stopped']);
  });

  it('stop() does not hang on a server that never closes its side of the stream', async () => {
    const { srv, comp } = await setup();
    await comp.start();
    await comp.whenOnline(2_000);
    srv.mode = 'silent';
    const t0 = performance.now();
    await comp.stop();
    expect(performance.now() - t0).toBeLessThan(2_600);
    expect(comp.state).toBe('stopped');
    await until(() => srv.connections[0]!.socket.readableEnded || srv.connections[0]!.socket.destroyed, 1_000);
  });

  it('a server that never answers: the attempt times out, goes offline and retries', async () => {
    const { srv, comp, states } = await setup('silent', { attemptTimeoutMs: 150 });
    await comp.start();
    await until(() => srv.connections.length >= 3, 3_000);
    expect(comp.state).toBe('offline');
    expect(states).toEqual(['connecting', 'offline']);
    // The timed-out sockets are closed, not left half-open.
    await until(() => srv.connections.slice(0, -1).every((c) => c.socket.destroyed || c.socket.readableEnded), 1_000);
  });

  it('a server that drops the stream right after the handshake: reconnects with growing delays', async () => {
    const { srv, comp } = await setup('accept-then-close', { random: () => 0.999, backoff: { initialMs: 40, maxMs: 2_000 } });
    await comp.start();
    await until(() => srv.connections.length >= 5, 5_000);
    const gaps = srv.connections.slice(1).map((c, i) => c.at - srv.connections[i]!.at);
    // Ceilings 40, 80, 160, 320: without a stable period the failures are not forgotten.
    expect(gaps[3]!).toBeGreaterThan(gaps[0]! * 3);
  });

  it('after a refused handshake it logs one error and keeps the backoff', async () => {
    const cap = capturingLogger();
    const { srv, comp, states } = await setup('accept', { secret: 'wrong', logger: cap.logger, random: () => 0 });
    await comp.start();
    await until(() => srv.connections.length >= 4, 3_000);
    expect(states).toEqual(['connecting', 'offline']);
    const errors = cap.lines.filter((l) => (l.level as number) >= 50);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ condition: 'not-authorized', component: 'xmpp' });
    const gaps = srv.connections.slice(1).map((c, i) => c.at - srv.connections[i]!.at);
    for (const g of gaps) expect(g).toBeGreaterThanOrEqual(15); // floor: initialMs / 2 = 25 ms, minus timer slack
  });
});

describe('XmppComponent.send', () => {
  it('rejects with ComponentUnavailableError when not online, without waiting', async () => {
    const { comp } = await setup();
    const msg = xml('message', { from: 'bob@sip.test', to: 'alice@xmpp.test' });
    await expect(comp.send(msg)).rejects.toBeInstanceOf(ComponentUnavailableError);
    await comp.stop();
    await expect(comp.send(msg)).rejects.toBeInstanceOf(ComponentUnavailableError);
  });

  it('rejects stanzas without from/to, from outside the domain, and non-stanzas (StanzaAddressError)', async () => {
    const { comp } = await setup();
    await comp.start();
    await comp.whenOnline(2_000);
    await expect(comp.send(xml('message', { to: 'alice@xmpp.test' }))).rejects.toBeInstanceOf(StanzaAddressError);
    await expect(comp.send(xml('presence', { from: 'bob@sip.test' }))).rejects.toBeInstanceOf(StanzaAddressError);
    await expect(comp.send(xml('iq', { from: 'bob@other.test', to: 'alice@xmpp.test', type: 'get', id: '1' }))).rejects.toBeInstanceOf(StanzaAddressError);
    await expect(comp.send(xml('handshake', { from: 'sip.test', to: 'x' }))).rejects.toBeInstanceOf(StanzaAddressError);
    // The domain itself, a user, a full JID: all inside.
    for (const from of ['sip.test', 'bob@sip.test', 'bob@SIP.test/ua']) {
      await comp.send(xml('message', { from, to: 'alice@xmpp.test' }));
    }
  });

  it('refuses with ComponentUnavailableError once the socket buffer passes maxBufferedBytes', async () => {
    const { srv, comp } = await setup('accept', { maxBufferedBytes: 64 * 1024 });
    await comp.start();
    await comp.whenOnline(2_000);
    srv.connections[0]!.socket.pause();
    const big = 'x'.repeat(1024 * 1024);
    const results: Array<Promise<unknown>> = [];
    for (let i = 0; i < 40; i++) {
      results.push(comp.send(xml('message', { from: 'bob@sip.test', to: 'alice@xmpp.test' }, xml('body', {}, big))).then(() => 'ok', (e: unknown) => e));
    }
    srv.connections[0]!.socket.resume();
    const settled = await Promise.all(results);
    const refused = settled.filter((r) => r instanceof ComponentUnavailableError);
    expect(refused.length).toBeGreaterThan(0);
    expect(String((refused[0] as Error).message)).toMatch(/congested/);
  });
});

describe('XmppComponent lifecycle helpers', () => {
  it('whenOnline rejects on timeout and on stop', async () => {
    const { comp } = await setup('silent', { attemptTimeoutMs: 5_000 });
    await comp.start();
    await expect(comp.whenOnline(100)).rejects.toBeInstanceOf(ComponentUnavailableError);
    const p = comp.whenOnline(5_000);
    await comp.stop();
    await expect(p).rejects.toThrow(/stopped/);
  });

  it('start() is idempotent while running', async () => {
    const { srv, comp } = await setup();
    await comp.start();
    await comp.start();
    await comp.whenOnline(2_000);
    expect(srv.connections).toHaveLength(1);
  });

  it('normalises the server address for xmpp.js', () => {
    expect(componentServiceUri('tcp://127.0.0.1:5347')).toBe('xmpp://127.0.0.1:5347');
    expect(componentServiceUri('xmpp://localhost')).toBe('xmpp://localhost:5347');
    expect(componentServiceUri('127.0.0.1:6000')).toBe('xmpp://127.0.0.1:6000');
    expect(componentServiceUri('tcp://[::1]:5347')).toBe('xmpp://[::1]:5347');
    expect(() => componentServiceUri('http://x:1')).toThrow(TypeError);
    expect(() => componentServiceUri('tcp://:1')).toThrow(TypeError);
  });
});
