import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createTransport, type FramingError, type ReceivedBytes, type Transport, type TransportEvents } from '../../../../src/sip/transport/index.js';

const transports: Transport[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(transports.splice(0).map((t) => t.close()));
});

interface Recorder {
  messages: ReceivedBytes[];
  errors: FramingError[];
  closed: string[];
  events: TransportEvents;
}

function recorder(): Recorder {
  const r: Recorder = {
    messages: [],
    errors: [],
    closed: [],
    events: {
      onMessage: (m) => r.messages.push(m),
      onFramingError: (e) => r.errors.push(e),
      onConnectionClosed: (id) => r.closed.push(id),
    },
  };
  return r;
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function listen(events: TransportEvents, opts?: Parameters<typeof createTransport>[2], url = 'tcp://127.0.0.1:0'): Promise<Transport> {
  const t = await createTransport(url, events, opts);
  transports.push(t);
  return t;
}

/** A raw client that records everything it receives and when it was closed. */
interface Client {
  socket: Socket;
  received: () => string;
  closed: () => boolean;
}

async function client(t: Transport): Promise<Client> {
  const socket = connect({ host: t.local.address, port: t.local.port });
  sockets.push(socket);
  let data = '';
  let closed = false;
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  await once(socket, 'connect');
  return { socket, received: () => data, closed: () => closed };
}

let seq = 0;
const msg = (body = 'hi', extra = ''): Buffer =>
  Buffer.from(
    `MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bK${++seq}\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );

describe('TCP transport (RFC 3261 §18)', () => {
  it('carries a request and its answer on one connection between two transports', async () => {
    const a = recorder();
    const b = recorder();
    const ta = await listen(a.events);
    const tb = await listen(b.events);
    expect(ta.protocol).toBe('tcp');
    expect(ta.local).toEqual({ transport: 'tcp', address: '127.0.0.1', port: ta.local.port });

    await ta.send(msg('request'), tb.local);
    await until(() => b.messages.length === 1);
    const req = b.messages[0]!;
    expect(req.data.toString()).toContain('request');
    expect(req.source.transport).toBe('tcp');
    expect(req.source.address).toBe('127.0.0.1');
    expect(req.local).toEqual(tb.local);
    expect(req.connectionId).toMatch(/^tcp:\d+$/);

    await tb.send(msg('answer'), req.source, req.connectionId);
    await until(() => a.messages.length === 1);
    expect(a.messages[0]!.data.toString()).toContain('answer');
    // The answer came back on the connection A opened, and A's next request reuses it too.
    await ta.send(msg('again'), tb.local);
    await until(() => b.messages.length === 2);
    expect(b.messages[1]!.connectionId).toBe(req.connectionId);
    expect(ta.stats.openConnections).toBe(1);
    expect(tb.stats.openConnections).toBe(1);
    expect(ta.stats).toMatchObject({ sent: 2, received: 1 });
  });

  it('delivers three messages written at once, and a body that arrives over several writes', async () => {
    const r = recorder();
    const t = await listen(r.events);
    const c = await client(t);
    c.socket.write(Buffer.concat([msg('1'), msg('22'), msg('333')]));
    await until(() => r.messages.length === 3);
    expect(r.messages.map((m) => m.data.toString().split('\r\n\r\n')[1])).toEqual(['1', '22', '333']);

    const body = 'B'.repeat(5000);
    const m = msg(body);
    c.socket.write(m.subarray(0, 100));
    await sleep(20);
    c.socket.write(m.subarray(100, 3000));
    await sleep(20);
    expect(r.messages).toHaveLength(3);
    c.socket.write(m.subarray(3000));
    await until(() => r.messages.length === 4);
    expect(r.messages[3]!.data.equals(m)).toBe(true);
  });

  it('answers a CRLFCRLF keepalive with CRLF (RFC 5626 §3.5.1)', async () => {
    const r = recorder();
    const t = await listen(r.events);
    const c = await client(t);
    c.socket.write('\r\n\r\n');
    await until(() => c.received() === '\r\n');
    c.socket.write('\r\n');
    await sleep(10);
    c.socket.write('\r\n');
    await until(() => c.received() === '\r\n\r\n');
    expect(r.messages).toHaveLength(0);
    expect(r.errors).toHaveLength(0);
  });

  it('reports a missing Content-Length and closes that connection', async () => {
    const r = recorder();
    const t = await listen(r.events);
    const c = await client(t);
    c.socket.write('MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP x;branch=z9hG4bK1\r\n\r\nbody');
    await until(() => r.errors.length === 1);
    expect(r.errors[0]).toMatchObject({ reason: 'Missing Content-Length on stream transport', connectionId: expect.stringMatching(/^tcp:/) });
    expect(r.errors[0]!.headerBlock?.toString()).toMatch(/^MESSAGE .*\r\n\r\n$/s);
    await until(() => c.closed());
    expect(t.stats.framingErrors).toBe(1);
    await until(() => r.closed.length === 1);
    expect(r.closed).toEqual([r.errors[0]!.connectionId]);
  });

  it('refuses an oversize message, lets the stack answer 513 on that connection, then closes it', async () => {
    const r = recorder();
    const events: TransportEvents = {
      ...r.events,
      onFramingError: (e) => {
        r.errors.push(e);
        void t.send(Buffer.from('SIP/2.0 513 Message Too Large\r\nContent-Length: 0\r\n\r\n'), e.source, e.connectionId);
      },
    };
    const t = await listen(events, { limits: { maxMessageBytes: 1000 } });
    const c = await client(t);
    const big = msg('x'.repeat(2000));
    c.socket.write(big);
    await until(() => c.closed());
    expect(r.errors[0]).toMatchObject({ tooLarge: true, reason: expect.stringContaining('exceeds 1000 bytes') });
    expect(r.errors[0]!.headerBlock?.toString()).toBe(big.toString().replace(/x+$/, ''));
    expect(c.received()).toMatch(/^SIP\/2.0 513 /);
    expect(r.messages).toHaveLength(0);
  });

  it('reuses an inbound connection when sending to the address:port it came from', async () => {
    const r = recorder();
    const t = await listen(r.events);
    const c = await client(t);
    c.socket.write(msg('register'));
    await until(() => r.messages.length === 1);
    // No connectionId: the transport must find the connection by the peer's address and port.
    await t.send(msg('to-you'), { transport: 'tcp', address: '127.0.0.1', port: c.socket.localPort! });
    await until(() => c.received().includes('to-you'));
    // The IPv4-mapped spelling names the same peer.
    await t.send(msg('mapped'), { transport: 'tcp', address: '::ffff:127.0.0.1', port: c.socket.localPort! });
    await until(() => c.received().includes('mapped'));
    expect(t.stats.openConnections).toBe(1);
    expect(t.stats.sent).toBe(2);
  });

  it('falls back to another connection when the given connectionId is gone', async () => {
    const r = recorder();
    const t = await listen(r.events);
    const peer = recorder();
    const tp = await listen(peer.events);
    await t.send(msg('first'), tp.local, 'tcp:9999');
    await until(() => peer.messages.length === 1);
  });

  it('closes idle connections', async () => {
    const r = recorder();
    const t = await listen(r.events, { limits: { idleTimeoutMs: 150 } });
    const c = await client(t);
    c.socket.write(msg());
    await until(() => r.messages.length === 1);
    // Open while it has just been used, closed once it has been idle: the close is the timer's doing.
    expect(c.closed()).toBe(false);
    await until(() => c.closed());
    await until(() => r.closed.length === 1 && t.stats.openConnections === 0);
  });

  it('closes a connection that trickles a header block slower than headerReadTimeoutMs (slowloris)', async () => {
    const r = recorder();
    const errors: Error[] = [];
    const t = await listen(r.events, { limits: { headerReadTimeoutMs: 200, idleTimeoutMs: 10_000 }, onError: (e) => errors.push(e) });
    const c = await client(t);
    // Never idle (a header line every 30 ms), so only the header-read limit can close it.
    const trickle = setInterval(() => c.socket.write('X-Slow: 1\r\n'), 30);
    c.socket.write('INVITE sip:bob@example.com SIP/2.0\r\n');
    try {
      await until(() => c.closed());
    } finally {
      clearInterval(trickle);
    }
    expect(r.messages).toHaveLength(0);
    expect(errors.some((e) => /not complete within 200 ms/.test(e.message))).toBe(true);
  });

  it('does not time out a connection whose messages each complete in time', async () => {
    const r = recorder();
    const t = await listen(r.events, { limits: { headerReadTimeoutMs: 150 } });
    const c = await client(t);
    for (let i = 0; i < 6; i++) {
      const m = msg(String(i));
      // Each message is split, so a timer is armed and must be cleared or restarted per message.
      c.socket.write(m.subarray(0, 20));
      await sleep(50);
      c.socket.write(m.subarray(20));
      await sleep(10);
    }
    await until(() => r.messages.length === 6);
    expect(c.closed()).toBe(false);
  });

  it('closes connections past the per-source cap at once and counts them', async () => {
    const r = recorder();
    const t = await listen(r.events, { limits: { maxConnectionsPerSource: 2 } });
    const c1 = await client(t);
    const c2 = await client(t);
    const c3 = await client(t);
    await until(() => c3.closed());
    expect(t.stats.refusedConnections).toBe(1);
    c1.socket.write(msg('one'));
    c2.socket.write(msg('two'));
    await until(() => r.messages.length === 2);
    expect(c1.closed() || c2.closed()).toBe(false);
    // A slot freed by a close is available again.
    c1.socket.destroy();
    await until(() => t.stats.openConnections === 1);
    const c4 = await client(t);
    c4.socket.write(msg('four'));
    await until(() => r.messages.length === 3);
  });

  it('enforces the total connection cap', async () => {
    const r = recorder();
    const t = await listen(r.events, { limits: { maxConnections: 1 } });
    await client(t);
    const c2 = await client(t);
    await until(() => c2.closed());
    expect(t.stats.refusedConnections).toBe(1);
    await expect(t.send(msg(), { transport: 'tcp', address: '127.0.0.1', port: 9 })).rejects.toThrow(/refused: 1 connections open/);
  });

  it('keeps a good connection working while a bad one fails and a handler throws', async () => {
    const errors: Error[] = [];
    const r = recorder();
    let throwNext = true;
    const t = await listen(
      {
        ...r.events,
        onMessage: (m) => {
          r.messages.push(m);
          if (throwNext) {
            throwNext = false;
            throw new Error('handler bug');
          }
        },
      },
      { onError: (e) => errors.push(e) },
    );
    const good = await client(t);
    const bad = await client(t);
    good.socket.write(msg('g1'));
    bad.socket.write('\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n');
    await until(() => bad.closed());
    good.socket.write(msg('g2').subarray(0, 30));
    await sleep(20);
    good.socket.write(msg('g2').subarray(30));
    await until(() => r.messages.length === 2);
    expect(good.closed()).toBe(false);
    expect(r.errors.map((e) => e.reason)).toEqual(['Not a SIP start line']);
    expect(errors.map((e) => e.message)).toContain('handler bug');
    await t.send(msg('reply'), r.messages[0]!.source, r.messages[0]!.connectionId);
    await until(() => good.received().includes('reply'));
  });

  it('rejects a send when the peer cannot be reached', async () => {
    const t = await listen(recorder().events);
    const closedPort = await new Promise<number>((resolve) => {
      const s: Server = createServer();
      s.listen(0, '127.0.0.1', () => {
        const port = (s.address() as { port: number }).port;
        s.close(() => resolve(port));
      });
    });
    await expect(t.send(msg(), { transport: 'tcp', address: '127.0.0.1', port: closedPort })).rejects.toThrow(/tcp connect to 127\.0\.0\.1:\d+ failed/);
    expect(t.stats.openConnections).toBe(0);
  });

  it('opens one connection for concurrent sends to a new destination and keeps their order', async () => {
    const a = recorder();
    const b = recorder();
    const ta = await listen(a.events);
    const tb = await listen(b.events);
    await Promise.all([1, 2, 3, 4, 5].map((i) => ta.send(msg(String(i)), tb.local)));
    await until(() => b.messages.length === 5);
    expect(b.messages.map((m) => m.data.toString().slice(-1))).toEqual(['1', '2', '3', '4', '5']);
    expect(new Set(b.messages.map((m) => m.connectionId)).size).toBe(1);
    expect(ta.stats.openConnections).toBe(1);
  });

  it('works over IPv6', async () => {
    const r = recorder();
    const t = await listen(r.events, undefined, 'tcp://[::1]:0');
    expect(t.local.address).toBe('::1');
    const c = await client(t);
    c.socket.write(msg());
    await until(() => r.messages.length === 1);
    expect(r.messages[0]!.source.address).toBe('::1');
  });

  it('close() destroys connections, stops listening and refuses further sends', async () => {
    const r = recorder();
    const t = await listen(r.events);
    const c = await client(t);
    c.socket.write(msg());
    await until(() => r.messages.length === 1);
    await t.close();
    await until(() => c.closed());
    expect(t.stats.openConnections).toBe(0);
    await expect(t.send(msg(), r.messages[0]!.source)).rejects.toThrow(/closed/);
    const again = connect({ host: '127.0.0.1', port: t.local.port });
    sockets.push(again);
    const [err] = (await once(again, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
  });
});
