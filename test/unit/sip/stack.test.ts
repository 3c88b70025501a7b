import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/ops/logging.js';
import { FakeClock } from '../../../src/sip/clock.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { SipStack, type SipApplication } from '../../../src/sip/stack.js';
import { tagOf } from '../../../src/sip/transaction/keys.js';
import type { ServerTransaction } from '../../../src/sip/transaction/index.js';
import type { SipResponse } from '../../../src/sip/message.js';

const open: Array<{ close(): unknown }> = [];

afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
});

interface Peer {
  socket: Socket;
  port: number;
  /** Send raw text (LF line ends become CRLF) and wait for the next datagram back. */
  ask(text: string): Promise<Buffer>;
  /** Datagrams received within `ms`. */
  drain(ms: number): Promise<Buffer[]>;
}

async function peer(stackPort: number): Promise<Peer> {
  const socket = createSocket('udp4');
  const inbox: Buffer[] = [];
  let waiter: ((b: Buffer) => void) | undefined;
  socket.on('message', (b) => {
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(b);
    } else inbox.push(b);
  });
  socket.bind(0, '127.0.0.1');
  await once(socket, 'listening');
  open.push({ close: () => new Promise<void>((r) => socket.close(() => r())) });
  const port = socket.address().port;
  return {
    socket,
    port,
    ask: (text) =>
      new Promise<Buffer>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('no answer within 2 s')), 2000);
        waiter = (b) => {
          clearTimeout(t);
          resolve(b);
        };
        socket.send(Buffer.from(text.replace(/\r?\n/g, '\r\n')), stackPort, '127.0.0.1');
      }),
    drain: async (ms) => {
      await new Promise((r) => setTimeout(r, ms));
      return inbox.splice(0);
    },
  };
}

interface AppLog {
  requests: ServerTransaction[];
}

async function startStack(opts: { routable?: (user: string) => boolean; answer?: (tx: ServerTransaction, stack: SipStack) => void; clock?: FakeClock } = {}): Promise<{ stack: SipStack; port: number; app: AppLog }> {
  const log: AppLog = { requests: [] };
  const stack = new SipStack({
    listen: ['udp://127.0.0.1:0'],
    domains: ['sip.test'],
    maxMessageBytes: 65536,
    userAgent: 'Stox/test',
    logger: silentLogger(),
    ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const app: SipApplication = {
    methods: ['MESSAGE'],
    accept: ['text/plain'],
    supported: [],
    hasRoute: (target) => target.user !== undefined && (opts.routable ?? (() => false))(target.user),
    onRequest: (tx) => {
      log.requests.push(tx);
      opts.answer?.(tx, stack);
    },
  };
  await stack.start(app);
  open.push({ close: () => stack.stop() });
  return { stack, port: stack.listeners[0]!.port, app: log };
}

function request(method: string, ruri: string, from: number, opts: { branch?: string; callId?: string; extra?: string[]; maxForwards?: number } = {}): string {
  return [
    `${method} ${ruri} SIP/2.0`,
    `Via: SIP/2.0/UDP 127.0.0.1:${from};branch=${opts.branch ?? 'z9hG4bK-stack-1'};rport`,
    `Max-Forwards: ${opts.maxForwards ?? 70}`,
    'From: <sip:probe@127.0.0.1>;tag=probe1',
    `To: <${ruri}>`,
    `Call-ID: ${opts.callId ?? 'stack-test-1'}`,
    `CSeq: 1 ${method}`,
    ...(opts.extra ?? []),
    'Content-Length: 0',
    '',
    '',
  ].join('\n');
}

function parsed(b: Buffer): SipResponse {
  const r = parseMessage(b);
  if (!r.ok || r.message.kind !== 'response') throw new Error(`not a response: ${b.toString()}`);
  return r.message;
}

describe('RFC 3261 §8.2.7 stateless answers from SipStack', () => {
  it('OPTIONS to Stox → 200 with Allow/Accept/Supported, no transaction; a retransmission gets byte-identical bytes', async () => {
    const { stack, port } = await startStack();
    const p = await peer(port);
    const text = request('OPTIONS', `sip:127.0.0.1:${port}`, 0);
    const first = await p.ask(text.replace('127.0.0.1:0;', `127.0.0.1:${p.port};`));
    const again = await p.ask(text.replace('127.0.0.1:0;', `127.0.0.1:${p.port};`));
    expect(again.equals(first)).toBe(true);
    const res = parsed(first);
    expect(res.status).toBe(200);
    expect(res.headers.getAll('allow').join(', ')).toBe('OPTIONS, ACK, CANCEL, MESSAGE');
    expect(res.headers.get('accept')).toBe('text/plain');
    expect(res.headers.get('server')).toBe('Stox/test');
    expect(tagOf(res.headers.get('to'))).toMatch(/^sl[0-9a-f]{16}$/);
    // RFC 3581: the answer says where it was sent.
    expect(res.headers.get('via')).toBe(`SIP/2.0/UDP 127.0.0.1:${p.port};branch=z9hG4bK-stack-1;rport=${p.port};received=127.0.0.1`);
    expect(stack.transactionCount).toBe(0);
    expect(stack.stats.statelessAnswers).toBe(2);
  });

  it('the To tag depends on the request: another Call-ID, From tag or branch gets another tag', async () => {
    const { port } = await startStack();
    const p = await peer(port);
    const ask = async (opts: Parameters<typeof request>[3]): Promise<string | undefined> =>
      tagOf(parsed(await p.ask(request('OPTIONS', `sip:127.0.0.1:${port}`, p.port, opts))).headers.get('to'));
    const base = await ask({});
    expect(await ask({})).toBe(base);
    expect(await ask({ callId: 'stack-test-2' })).not.toBe(base);
    expect(await ask({ branch: 'z9hG4bK-stack-2' })).not.toBe(base);
  });

  it('405 with Allow for an unknown method, 404 for a user with no route, 416 for a tel: URI: all without a transaction', async () => {
    const { stack, port, app } = await startStack();
    const p = await peer(port);
    const r405 = parsed(await p.ask(request('SUBSCRIBE', 'sip:bob@xmpp.test', p.port)));
    expect([r405.status, r405.headers.getAll('allow').join(', ')]).toEqual([405, 'OPTIONS, ACK, CANCEL, MESSAGE']);
    const msg = request('MESSAGE', 'sip:bob@xmpp.test', p.port, { branch: 'z9hG4bK-404' });
    const r404 = await p.ask(msg);
    expect([parsed(r404).status, parsed(r404).reason]).toEqual([404, 'No route to user']);
    expect((await p.ask(msg)).equals(r404)).toBe(true);
    expect(parsed(await p.ask(request('MESSAGE', 'tel:+15551234', p.port))).status).toBe(416);
    expect(app.requests).toEqual([]);
    expect(stack.transactionCount).toBe(0);
  });

  it('483 for a routable request with no hops left; OPTIONS to a user is still answered 200', async () => {
    const { stack, port, app } = await startStack({ routable: () => true });
    const p = await peer(port);
    expect(parsed(await p.ask(request('MESSAGE', 'sip:bob@xmpp.test', p.port, { maxForwards: 0 }))).status).toBe(483);
    expect(parsed(await p.ask(request('OPTIONS', 'sip:bob@xmpp.test', p.port, { maxForwards: 0, branch: 'z9hG4bK-o' }))).status).toBe(200);
    expect(app.requests).toEqual([]);
    expect(stack.transactionCount).toBe(0);
  });

  it('482 when a Via of Stox itself sits below the top one', async () => {
    const { port, app } = await startStack({ routable: () => true });
    const p = await peer(port);
    const looped = request('MESSAGE', 'sip:bob@xmpp.test', p.port, { extra: [`Via: SIP/2.0/UDP 127.0.0.1:${port};branch=z9hG4bK-ours`] });
    // Lower Vias go below the top one: move the extra line up to sit right after it.
    const lines = looped.split('\n');
    const extra = lines.splice(lines.findIndex((l) => l.includes('z9hG4bK-ours')), 1);
    lines.splice(2, 0, ...extra);
    expect(parsed(await p.ask(lines.join('\n'))).status).toBe(482);
    expect(app.requests).toEqual([]);
  });

  it('400 naming the problem for a malformed request, with the same tag for its retransmission', async () => {
    const { stack, port } = await startStack();
    const p = await peer(port);
    const bad = request('MESSAGE', 'sip:bob@xmpp.test', p.port).replace('Max-Forwards: 70', 'Max-Forwards: lots');
    const first = await p.ask(bad);
    expect([parsed(first).status, parsed(first).reason]).toEqual([400, 'Bad Max-Forwards']);
    expect(tagOf(parsed(first).headers.get('to'))).toMatch(/^sl[0-9a-f]{16}$/);
    expect((await p.ask(bad)).equals(first)).toBe(true);
    expect(stack.stats.badRequests).toBe(2);
    expect(stack.transactionCount).toBe(0);
  });

  it('481 to a CANCEL that matches no INVITE', async () => {
    const { port } = await startStack();
    const p = await peer(port);
    expect(parsed(await p.ask(request('CANCEL', 'sip:bob@xmpp.test', p.port))).status).toBe(481);
  });
});

describe('RFC 3261 §17.2.2 requests for the application stay stateful', () => {
  it('a routable MESSAGE gets one transaction; its retransmissions replay the same final bytes until Timer J', async () => {
    const clock = new FakeClock();
    const { stack, port, app } = await startStack({ routable: () => true, clock, answer: (tx, s) => tx.respond(s.response(tx.request, 202)) });
    const p = await peer(port);
    const msg = request('MESSAGE', 'sip:bob@xmpp.test', p.port, { branch: 'z9hG4bK-stateful' });
    const first = await p.ask(msg);
    expect(parsed(first).status).toBe(202);
    expect(app.requests).toHaveLength(1);
    // The completed transaction is a record now: counted, answering, not handed to the application again.
    expect(stack.transactionCount).toBe(1);
    const again = await p.ask(msg);
    expect(again.equals(first)).toBe(true);
    expect(app.requests).toHaveLength(1);
    expect(app.requests[0]!.state).toBe('completed');
    clock.advance(32_000);
    expect(stack.transactionCount).toBe(0);
    expect(app.requests[0]!.state).toBe('terminated');
    expect(clock.pending()).toBe(0);
    // After Timer J the same request is new again.
    expect(parsed(await p.ask(msg)).status).toBe(202);
    expect(app.requests).toHaveLength(2);
  });

  it('a plain 2xx is rebuilt for a retransmission, byte for byte, with a To tag that every retransmission repeats (§17.2.2, §19.3)', async () => {
    const { port } = await startStack({ routable: () => true, answer: (tx, s) => tx.respond(s.response(tx.request, 202)) });
    const p = await peer(port);
    const msg = request('MESSAGE', 'sip:bob@xmpp.test', p.port, { branch: 'z9hG4bK-rebuilt' });
    const first = await p.ask(msg);
    const again = await p.ask(msg);
    expect(again.toString()).toBe(first.toString());
    expect(tagOf(parsed(first).headers.get('to'))).toMatch(/^[0-9a-z]{10,}$/);
    // Another request (new branch) gets another tag.
    const other = await p.ask(request('MESSAGE', 'sip:bob@xmpp.test', p.port, { branch: 'z9hG4bK-rebuilt-2' }));
    expect(tagOf(parsed(other).headers.get('to'))).not.toBe(tagOf(parsed(first).headers.get('to')));
  });

  it('an answer with its own headers or reason is held and replayed as sent (§17.2.2)', async () => {
    const { port } = await startStack({
      routable: () => true,
      answer: (tx, s) => {
        const res = s.response(tx.request, 503, 'Busy Gateway', [['retry-after', '5']]);
        res.headers.append('warning', '399 stox "queue full"');
        tx.respond(res);
      },
    });
    const p = await peer(port);
    const msg = request('MESSAGE', 'sip:bob@xmpp.test', p.port, { branch: 'z9hG4bK-held' });
    const first = await p.ask(msg);
    const res = parsed(first);
    expect(res.reason).toBe('Busy Gateway');
    expect(res.headers.get('retry-after')).toBe('5');
    expect(res.headers.get('warning')).toBe('399 stox "queue full"');
    expect((await p.ask(msg)).toString()).toBe(first.toString());
  });

  it('a retransmission that arrives while the application is still busy is absorbed', async () => {
    const { stack, port, app } = await startStack({ routable: () => true });
    const p = await peer(port);
    const msg = request('MESSAGE', 'sip:bob@xmpp.test', p.port, { branch: 'z9hG4bK-busy' });
    p.socket.send(Buffer.from(msg.replace(/\n/g, '\r\n')), port, '127.0.0.1');
    p.socket.send(Buffer.from(msg.replace(/\n/g, '\r\n')), port, '127.0.0.1');
    expect(await p.drain(200)).toEqual([]);
    expect(app.requests).toHaveLength(1);
    expect(stack.transactionCount).toBe(1);
    app.requests[0]!.respond(stack.response(app.requests[0]!.request, 200));
    const got = await p.drain(200);
    expect(got.map((b) => parsed(b).status)).toEqual([200]);
  });

  it('a retransmission of a routed request keeps its transaction even if the route has gone meanwhile', async () => {
    let routable = true;
    const { stack, port, app } = await startStack({ routable: () => routable });
    const p = await peer(port);
    const msg = request('MESSAGE', 'sip:bob@xmpp.test', p.port, { branch: 'z9hG4bK-route-gone' });
    p.socket.send(Buffer.from(msg.replace(/\n/g, '\r\n')), port, '127.0.0.1');
    await p.drain(100);
    routable = false;
    p.socket.send(Buffer.from(msg.replace(/\n/g, '\r\n')), port, '127.0.0.1');
    expect(await p.drain(100)).toEqual([]);
    const tx = app.requests[0]!;
    tx.respond(stack.response(tx.request, 200));
    const ok = await p.drain(100);
    expect(ok.map((b) => parsed(b).status)).toEqual([200]);
    expect((await p.ask(msg)).equals(ok[0]!)).toBe(true);
    expect(stack.stats.statelessAnswers).toBe(0);
  });
});
