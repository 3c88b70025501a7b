import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport, type FramingError, type ReceivedBytes, type Transport, type TransportEvents } from '../../../../src/sip/transport/index.js';
import type { UdpTransport } from '../../../../src/sip/transport/udp.js';

const open: Array<Transport | Socket> = [];

afterEach(async () => {
  await Promise.all(open.splice(0).map((t) => ('send' in t && 'stats' in t ? t.close() : new Promise<void>((r) => (t as Socket).close(() => r())))));
});

function recorder(): { messages: ReceivedBytes[]; errors: FramingError[]; events: TransportEvents } {
  const messages: ReceivedBytes[] = [];
  const errors: FramingError[] = [];
  return { messages, errors, events: { onMessage: (m) => messages.push(m), onFramingError: (e) => errors.push(e) } };
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function listen(url: string, events: TransportEvents, opts?: Parameters<typeof createTransport>[2]): Promise<Transport> {
  const t = await createTransport(url, events, opts);
  open.push(t);
  return t;
}

async function rawUdp(type: 'udp4' | 'udp6' = 'udp4'): Promise<Socket> {
  const s = createSocket(type);
  open.push(s);
  s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1');
  await once(s, 'listening');
  return s;
}

const msg = (body = 'hi'): Buffer =>
  Buffer.from(`MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1\r\nContent-Length: ${body.length}\r\n\r\n${body}`);

describe('UDP transport (RFC 3261 §18)', () => {
  it('binds to port 0, then sends and receives datagrams both ways', async () => {
    const a = recorder();
    const b = recorder();
    const ta = await listen('udp://127.0.0.1:0', a.events);
    const tb = await listen('udp://127.0.0.1:0', b.events);
    expect(ta.protocol).toBe('udp');
    expect(ta.local.port).toBeGreaterThan(0);
    expect(ta.local).toEqual({ transport: 'udp', address: '127.0.0.1', port: ta.local.port });

    await ta.send(msg('ping'), tb.local);
    await until(() => b.messages.length === 1);
    const got = b.messages[0]!;
    expect(got.data.toString()).toBe(msg('ping').toString());
    expect(got.source).toEqual({ transport: 'udp', address: '127.0.0.1', port: ta.local.port });
    expect(got.local).toEqual(tb.local);
    expect(got.connectionId).toBeUndefined();

    await tb.send(msg('pong'), got.source);
    await until(() => a.messages.length === 1);
    expect(a.messages[0]!.data.toString()).toContain('pong');
    expect(ta.stats).toMatchObject({ sent: 1, received: 1, framingErrors: 0, openConnections: 0 });
  });

  it('ignores CRLF keepalive datagrams', async () => {
    const r = recorder();
    const t = await listen('udp://127.0.0.1:0', r.events);
    const raw = await rawUdp();
    raw.send(Buffer.from('\r\n\r\n'), t.local.port, '127.0.0.1');
    raw.send(Buffer.from('\r\n'), t.local.port, '127.0.0.1');
    raw.send(msg(), t.local.port, '127.0.0.1');
    await until(() => r.messages.length === 1);
    await new Promise((res) => setTimeout(res, 50));
    expect(r.messages).toHaveLength(1);
    expect(r.errors).toHaveLength(0);
    expect(t.stats.received).toBe(1);
  });

  it('reports an oversize datagram as a framing error carrying its header block', async () => {
    const r = recorder();
    const t = await listen('udp://127.0.0.1:0', r.events, { limits: { maxMessageBytes: 300 } });
    const raw = await rawUdp();
    const big = msg('x'.repeat(400));
    raw.send(big, t.local.port, '127.0.0.1');
    await until(() => r.errors.length === 1);
    const e = r.errors[0]!;
    expect(e.tooLarge).toBe(true);
    expect(e.reason).toContain('exceeds 300 bytes');
    expect(e.source).toEqual({ transport: 'udp', address: '127.0.0.1', port: raw.address().port });
    expect(e.headerBlock?.toString()).toBe(big.toString().replace(/x+$/, ''));
    expect(r.messages).toHaveLength(0);
    expect(t.stats.framingErrors).toBe(1);
  });

  it('works over IPv6 and reports addresses without brackets', async () => {
    const r = recorder();
    const t = await listen('udp://[::1]:0', r.events);
    expect(t.local.address).toBe('::1');
    const raw = await rawUdp('udp6');
    raw.send(msg(), t.local.port, '::1');
    await until(() => r.messages.length === 1);
    expect(r.messages[0]!.source).toEqual({ transport: 'udp', address: '::1', port: raw.address().port });
    const back = once(raw, 'message');
    await t.send(msg('back'), { transport: 'udp', address: '[::1]', port: raw.address().port });
    expect(String((await back)[0])).toContain('back');
  });

  it('keeps delivering after an event handler throws, and rejects sends it cannot make', async () => {
    const errors: Error[] = [];
    let n = 0;
    const t = await listen(
      'udp://127.0.0.1:0',
      {
        onMessage: () => {
          n++;
          throw new Error('handler bug');
        },
        onFramingError: () => undefined,
      },
      { onError: (e) => errors.push(e) },
    );
    const raw = await rawUdp();
    raw.send(msg('1'), t.local.port, '127.0.0.1');
    raw.send(msg('2'), t.local.port, '127.0.0.1');
    await until(() => n === 2);
    expect(errors.map((e) => e.message)).toEqual(['handler bug', 'handler bug']);
    await expect(t.send(msg(), { transport: 'udp', address: '::1', port: 5060 })).rejects.toThrow(/IPv6 destination/);
    await t.close();
    await expect(t.send(msg(), { transport: 'udp', address: '127.0.0.1', port: 5060 })).rejects.toThrow(/closed/);
  });

  it('sendNow and held datagrams: fire-and-forget sends, and bytes kept in shared slabs re-sent unchanged', async () => {
    const t = (await listen('udp://127.0.0.1:0', recorder().events)) as UdpTransport;
    const raw = await rawUdp();
    const got: string[] = [];
    raw.on('message', (b) => got.push(b.toString()));
    const dest = { transport: 'udp' as const, address: '127.0.0.1', port: raw.address().port };
    t.sendNow(msg('now'), dest);
    // Enough held datagrams to fill several slabs; each keeps its own bytes.
    const held = Array.from({ length: 400 }, (_, i) => t.hold(`SIP/2.0 200 OK\r\nX-N: ${i}\r\nContent-Length: 2\r\n\r\n`, Buffer.from('ok'), dest));
    const big = t.hold('SIP/2.0 200 OK\r\nX-Big: ' + 'b'.repeat(20_000) + '\r\n\r\n', Buffer.alloc(0), dest);
    held[0]!.send();
    held[399]!.send();
    held[0]!.send();
    big.send();
    await until(() => got.length === 5);
    expect(got.slice(0, 4)).toEqual([msg('now').toString(), ...[0, 399, 0].map((i) => `SIP/2.0 200 OK\r\nX-N: ${i}\r\nContent-Length: 2\r\n\r\nok`)]);
    expect(got[4]!.length).toBe(big.length);
    expect(t.stats.sent).toBe(5);
    expect(() => t.sendNow(msg(), { transport: 'udp', address: '::1', port: 5060 })).toThrow(/IPv6 destination/);
  });

  it('reports a failed fire-and-forget send through onSendFailure', async () => {
    const t = (await listen('udp://127.0.0.1:0', recorder().events)) as UdpTransport;
    const failures: Error[] = [];
    t.onSendFailure = (e) => failures.push(e);
    // Larger than any UDP datagram can be: the kernel refuses it (EMSGSIZE).
    t.sendNow(Buffer.alloc(70_000), { transport: 'udp', address: '127.0.0.1', port: 9 });
    await until(() => failures.length === 1);
    expect(failures[0]!.message).toMatch(/EMSGSIZE|send/);
    expect(t.stats.sent).toBe(0);
  });
});
