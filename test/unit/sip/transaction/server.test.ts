import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../../../src/sip/clock.js';
import { createRequest, type InboundMessage, type SipEndpoint, type SipRequest, type SipResponse } from '../../../../src/sip/message.js';
import { buildAckForFailure, buildResponse, TransactionLayer, type ServerTransaction } from '../../../../src/sip/transaction/index.js';

const local: SipEndpoint = { transport: 'udp', address: '192.0.2.1', port: 5060 };
const source = (transport: SipEndpoint['transport']): SipEndpoint => ({ transport, address: '198.51.100.7', port: 5062 });

function request(method: string, branch = 'z9hG4bKs1'): SipRequest {
  return createRequest(method, 'sip:bob@gateway.example', [
    ['Via', `SIP/2.0/UDP 198.51.100.7:5062;branch=${branch}`],
    ['Max-Forwards', '70'],
    ['From', '<sip:alice@example.org>;tag=a1'],
    ['To', '<sip:bob@gateway.example>'],
    ['Call-ID', 'call-s@198.51.100.7'],
    ['CSeq', `1 ${method}`],
  ]);
}

/** A fresh object with the same content, as a parser would produce for a retransmission. */
function copy(req: SipRequest): SipRequest {
  return { ...req, headers: req.headers.clone() };
}

function setup(opts: { failSends?: () => boolean } = {}) {
  const clock = new FakeClock();
  const sent: Array<{ res: SipResponse; inbound: InboundMessage; at: number }> = [];
  const txs: ServerTransaction[] = [];
  const strayAcks: InboundMessage[] = [];
  const ackTimeouts: ServerTransaction[] = [];
  const transportErrors: Array<[ServerTransaction, Error]> = [];
  const layer = new TransactionLayer({
    clock,
    sendRequest: () => undefined,
    sendResponse: (res, inbound) => {
      if (opts.failSends?.()) throw new Error('ECONNRESET');
      sent.push({ res, inbound, at: clock.now() });
    },
    onRequest: (tx) => txs.push(tx),
    onStrayAck: (inbound) => strayAcks.push(inbound),
    onAckTimeout: (tx) => ackTimeouts.push(tx),
    onServerTransportError: (tx, err) => transportErrors.push([tx, err]),
  });
  const deliver = (req: SipRequest, transport: SipEndpoint['transport'] = 'udp'): InboundMessage => {
    const inbound: InboundMessage = { message: req, source: source(transport), local: { ...local, transport } };
    layer.receive(inbound);
    return inbound;
  };
  const statusesAt = () => sent.map((s) => [s.res.status, s.at]);
  return { clock, layer, sent, txs, strayAcks, ackTimeouts, transportErrors, deliver, statusesAt };
}

describe('RFC 3261 §17.2.1 INVITE server transaction', () => {
  it('a new INVITE starts a transaction in Proceeding and reaches the TU once', () => {
    const t = setup();
    const req = request('INVITE');
    const inbound = t.deliver(req);
    expect(t.txs).toHaveLength(1);
    const tx = t.txs[0]!;
    expect(tx.state).toBe('proceeding');
    expect(tx.request).toBe(req);
    expect(tx.inbound).toBe(inbound);
    expect(tx.finalSent).toBe(false);
    expect(t.layer.size).toBe(1);
  });

  it('§17.2.1 sends 100 Trying after 200 ms if the TU has not answered', () => {
    const t = setup();
    t.deliver(request('INVITE'));
    t.clock.advance(199);
    expect(t.sent).toHaveLength(0);
    t.clock.advance(1);
    expect(t.statusesAt()).toEqual([[100, 200]]);
    const trying = t.sent[0]!.res;
    expect(trying.headers.get('to')).toBe('<sip:bob@gateway.example>');
    expect(t.sent[0]!.inbound).toBe(t.txs[0]!.inbound);
  });

  it('§17.2.1 no automatic 100 when the TU answers within 200 ms', () => {
    const t = setup();
    t.deliver(request('INVITE'));
    t.clock.advance(150);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 180));
    t.clock.advance(10_000);
    expect(t.statusesAt()).toEqual([[180, 150]]);
  });

  it('§17.2.1 a retransmitted INVITE before any response is absorbed silently and does not reach the TU', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req);
    t.clock.advance(100);
    t.deliver(copy(req));
    expect(t.txs).toHaveLength(1);
    expect(t.sent).toHaveLength(0);
    expect(t.layer.size).toBe(1);
  });

  it('§17.2.1 a retransmitted INVITE in Proceeding is answered with the latest provisional response', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req);
    t.clock.advance(200);
    t.deliver(copy(req));
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 180));
    t.deliver(copy(req));
    expect(t.statusesAt()).toEqual([
      [100, 200],
      [100, 200],
      [180, 200],
      [180, 200],
    ]);
    expect(t.txs).toHaveLength(1);
  });

  it('§17.2.1 a 2xx from the TU → Terminated at once; the transaction does not retransmit it', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 180));
    tx.respond(buildResponse(tx.request, 200));
    expect(tx.state).toBe('terminated');
    expect(tx.finalSent).toBe(true);
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
    t.clock.advance(64_000);
    expect(t.statusesAt()).toEqual([
      [180, 0],
      [200, 0],
    ]);
  });

  it('§17.2.1 after a 2xx a retransmitted INVITE is a new transaction (RFC 3261 without RFC 6026): the TU sees it', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req);
    t.txs[0]!.respond(buildResponse(req, 200));
    t.deliver(copy(req));
    expect(t.txs).toHaveLength(2);
  });

  it('§17.2.1 3xx-6xx → Completed; Timer G retransmits on UDP doubling to T2; Timer H (64*T1) ends it', () => {
    const t = setup();
    t.deliver(request('INVITE'));
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 486));
    expect(tx.state).toBe('completed');
    expect(tx.finalSent).toBe(true);
    t.clock.advance(31_999);
    expect(t.sent.map((s) => s.at)).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
    expect(t.sent.every((s) => s.res.status === 486)).toBe(true);
    expect(t.ackTimeouts).toEqual([]);
    t.clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(t.ackTimeouts).toEqual([tx]);
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.2.1 Timer G is capped at T2 with overridden timers', () => {
    const clock = new FakeClock();
    const at: number[] = [];
    let tx: ServerTransaction | undefined;
    const layer = new TransactionLayer({
      clock,
      timers: { T1: 100, T2: 400 },
      sendRequest: () => undefined,
      sendResponse: () => at.push(clock.now()),
      onRequest: (t) => (tx = t),
    });
    layer.receive({ message: request('INVITE'), source: source('udp'), local });
    tx!.respond(buildResponse(tx!.request, 500));
    clock.advance(6399);
    expect(at).toEqual([0, 100, 300, 700, 1100, 1500, 1900, 2300, 2700, 3100, 3500, 3900, 4300, 4700, 5100, 5500, 5900, 6300]);
    clock.advance(1);
    expect(layer.size).toBe(0);
  });

  it('§17.2.1 a retransmitted INVITE in Completed gets the final response again', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req);
    t.txs[0]!.respond(buildResponse(req, 404));
    t.clock.advance(100);
    t.deliver(copy(req));
    expect(t.statusesAt()).toEqual([
      [404, 0],
      [404, 100],
    ]);
    expect(t.txs).toHaveLength(1);
  });

  it('§17.2.1 ACK in Completed → Confirmed: Timer G stops; ACK retransmissions absorbed; Timer I (T4) ends it', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req);
    const tx = t.txs[0]!;
    const busy = buildResponse(req, 486);
    tx.respond(busy);
    t.clock.advance(600);
    const ack = buildAckForFailure(req, busy);
    t.deliver(ack);
    expect(tx.state).toBe('confirmed');
    t.deliver(copy(ack));
    expect(t.strayAcks).toEqual([]);
    expect(t.txs).toHaveLength(1);
    t.clock.advance(4999);
    expect(tx.state).toBe('confirmed');
    expect(t.sent.map((s) => s.at)).toEqual([0, 500]);
    t.clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(t.ackTimeouts).toEqual([]);
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.2.1 reliable transport: no Timer G, Timer H still runs, Timer I is zero', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req, 'tcp');
    const tx = t.txs[0]!;
    tx.respond(buildResponse(req, 480));
    t.clock.advance(20_000);
    expect(t.sent.map((s) => s.at)).toEqual([0]);
    t.deliver(buildAckForFailure(req, t.sent[0]!.res), 'tcp');
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);

    const t2 = setup();
    t2.deliver(request('INVITE'), 'tls');
    t2.txs[0]!.respond(buildResponse(t2.txs[0]!.request, 480));
    t2.clock.advance(32_000);
    expect(t2.ackTimeouts).toHaveLength(1);
    expect(t2.sent).toHaveLength(1);
    expect(t2.layer.size).toBe(0);
  });

  it('ignores responses from the TU after the final one', () => {
    const t = setup();
    const req = request('INVITE');
    t.deliver(req);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(req, 487));
    tx.respond(buildResponse(req, 200));
    tx.respond(buildResponse(req, 180));
    expect(t.statusesAt()).toEqual([[487, 0]]);
    expect(tx.state).toBe('completed');
  });

  it('§17.2.4 a failing send in respond() terminates the transaction and throws to the TU', () => {
    let fail = false;
    const t = setup({ failSends: () => fail });
    t.deliver(request('INVITE'));
    const tx = t.txs[0]!;
    fail = true;
    expect(() => tx.respond(buildResponse(tx.request, 486))).toThrow('ECONNRESET');
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.2.4 a failing Timer G retransmission terminates and is reported to the layer owner', () => {
    let fail = false;
    const t = setup({ failSends: () => fail });
    t.deliver(request('INVITE'));
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 486));
    fail = true;
    t.clock.advance(500);
    expect(tx.state).toBe('terminated');
    expect(t.transportErrors.map(([x, e]) => [x, e.message])).toEqual([[tx, 'ECONNRESET']]);
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('rejects a status outside 100-699', () => {
    const t = setup();
    t.deliver(request('INVITE'));
    const tx = t.txs[0]!;
    const bad = buildResponse(tx.request, 200);
    bad.status = 99;
    expect(() => tx.respond(bad)).toThrow(RangeError);
  });
});

describe('RFC 3261 §17.2.2 non-INVITE server transaction', () => {
  it('a new request starts in Trying and reaches the TU once; no automatic 100', () => {
    const t = setup();
    t.deliver(request('MESSAGE'));
    const tx = t.txs[0]!;
    expect(tx.state).toBe('trying');
    t.clock.advance(10_000);
    expect(t.sent).toEqual([]);
    expect(t.layer.size).toBe(1);
  });

  it('§17.2.2 a retransmission in Trying is absorbed silently', () => {
    const t = setup();
    const req = request('MESSAGE');
    t.deliver(req);
    t.deliver(copy(req));
    t.deliver(copy(req));
    expect(t.txs).toHaveLength(1);
    expect(t.sent).toEqual([]);
  });

  it('§17.2.2 Trying → Proceeding on a provisional; retransmissions get the latest provisional', () => {
    const t = setup();
    const req = request('MESSAGE');
    t.deliver(req);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(req, 100));
    expect(tx.state).toBe('proceeding');
    expect(tx.finalSent).toBe(false);
    t.deliver(copy(req));
    expect(t.statusesAt()).toEqual([
      [100, 0],
      [100, 0],
    ]);
  });

  it('§17.2.2 final → Completed; retransmissions get the final; Timer J (64*T1) ends it', () => {
    const t = setup();
    const req = request('MESSAGE');
    t.deliver(req);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(req, 100));
    tx.respond(buildResponse(req, 200));
    expect(tx.state).toBe('completed');
    expect(tx.finalSent).toBe(true);
    t.clock.advance(5000);
    t.deliver(copy(req));
    expect(t.statusesAt()).toEqual([
      [100, 0],
      [200, 0],
      [200, 5000],
    ]);
    t.clock.advance(26_999);
    expect(tx.state).toBe('completed');
    t.clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
    expect(t.txs).toHaveLength(1);
  });

  it('§17.2.2 final straight from Trying → Completed', () => {
    const t = setup();
    t.deliver(request('OPTIONS'));
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 200));
    expect(tx.state).toBe('completed');
  });

  it('§17.2.2 Timer J is zero on a reliable transport', () => {
    const t = setup();
    t.deliver(request('MESSAGE'), 'tcp');
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 202));
    expect(tx.state).toBe('terminated');
    expect(tx.finalSent).toBe(true);
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('ignores responses from the TU after the final one', () => {
    const t = setup();
    t.deliver(request('MESSAGE'));
    const tx = t.txs[0]!;
    tx.respond(buildResponse(tx.request, 404));
    tx.respond(buildResponse(tx.request, 200));
    expect(t.statusesAt()).toEqual([[404, 0]]);
  });

  it('§17.2.4 a failing send terminates: thrown from respond(), reported on a retransmission', () => {
    let fail = false;
    const t = setup({ failSends: () => fail });
    const req = request('MESSAGE');
    t.deliver(req);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(req, 200));
    fail = true;
    t.deliver(copy(req));
    expect(tx.state).toBe('terminated');
    expect(t.transportErrors).toHaveLength(1);
    expect(t.layer.size).toBe(0);

    t.deliver(request('MESSAGE', 'z9hG4bKs2'));
    const tx2 = t.txs[1]!;
    expect(() => tx2.respond(buildResponse(tx2.request, 200))).toThrow('ECONNRESET');
    expect(tx2.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
  });
});

describe('closing the layer', () => {
  it('cancels every timer, forgets every transaction and ignores later input', () => {
    const t = setup();
    t.deliver(request('INVITE'));
    t.deliver(request('MESSAGE', 'z9hG4bKs2'));
    t.txs[1]!.respond(buildResponse(t.txs[1]!.request, 200));
    const onFinal = vi.fn();
    t.layer.request(
      createRequest('OPTIONS', 'sip:x@example.org', [
        ['Via', 'SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKo'],
        ['CSeq', '1 OPTIONS'],
      ]),
      { endpoint: source('udp') },
      { onFinal, onTimeout: onFinal },
    );
    expect(t.layer.size).toBe(3);
    expect(t.clock.pending()).toBeGreaterThan(0);
    t.layer.close();
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
    t.deliver(request('MESSAGE', 'z9hG4bKs3'));
    expect(t.txs).toHaveLength(2);
    expect(() => t.layer.request(request('MESSAGE', 'z9hG4bKs4'), { endpoint: source('udp') }, { onFinal, onTimeout: onFinal })).toThrow(/closed/);
    t.clock.advance(100_000);
    expect(onFinal).not.toHaveBeenCalled();
  });
});
