import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../../../src/sip/clock.js';
import { createRequest, type InboundMessage, type SipEndpoint, type SipRequest, type SipResponse } from '../../../../src/sip/message.js';
import { buildResponse, TransactionLayer, type ClientHandlers, type TransactionTarget } from '../../../../src/sip/transaction/index.js';

const peer = (transport: SipEndpoint['transport'] = 'udp'): SipEndpoint => ({ transport, address: '192.0.2.9', port: 5060 });
const local: SipEndpoint = { transport: 'udp', address: '192.0.2.1', port: 5060 };

function request(method: string, branch = 'z9hG4bKc1'): SipRequest {
  return createRequest(method, 'sip:bob@example.com', [
    ['Via', `SIP/2.0/UDP 192.0.2.1:5060;branch=${branch};rport`],
    ['Route', '<sip:proxy.example.com;lr>'],
    ['Max-Forwards', '70'],
    ['From', '<sip:alice@example.org>;tag=a1'],
    ['To', '<sip:bob@example.com>'],
    ['Call-ID', 'call-1@192.0.2.1'],
    ['CSeq', `7 ${method}`],
  ]);
}

function setup(timers?: { T1?: number; T2?: number; T4?: number }) {
  const clock = new FakeClock();
  const sent: Array<{ req: SipRequest; target: TransactionTarget; at: number }> = [];
  const strays: SipResponse[] = [];
  let failSends = false;
  const layer = new TransactionLayer({
    clock,
    timers,
    sendRequest: (req, target) => {
      if (failSends) throw new Error('EHOSTUNREACH');
      sent.push({ req, target, at: clock.now() });
    },
    sendResponse: () => undefined,
    onRequest: () => undefined,
    onStrayResponse: (inbound) => strays.push(inbound.message as SipResponse),
  });
  const handlers = () => ({ onProvisional: vi.fn(), onFinal: vi.fn(), onTimeout: vi.fn() }) satisfies ClientHandlers;
  /** Deliver a response to `req` (the transaction matches on its top Via branch and CSeq method). */
  const answer = (req: SipRequest, status: number, transport: SipEndpoint['transport'] = 'udp'): SipResponse => {
    const res = buildResponse(req, status, undefined, undefined, 'bobtag');
    const inbound: InboundMessage = { message: res, source: peer(transport), local };
    layer.receive(inbound);
    return res;
  };
  const sentAt = (method: string) => sent.filter((s) => s.req.method === method).map((s) => s.at);
  return { clock, layer, sent, strays, handlers, answer, sentAt, failNextSends: (v: boolean) => (failSends = v) };
}

describe('RFC 3261 §17.1.1 INVITE client transaction', () => {
  it('§17.1.1.2 starts in Calling and sends the INVITE at once', () => {
    const t = setup();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, t.handlers());
    expect(tx.state).toBe('calling');
    expect(tx.id).toBe('z9hG4bKc1|INVITE');
    expect(tx.request).toBe(req);
    expect(t.sent).toHaveLength(1);
    expect(t.sent[0]!.req).toBe(req);
    expect(t.sent[0]!.target.endpoint).toEqual(peer());
    expect(t.layer.size).toBe(1);
  });

  it('§17.1.1.2 Timer A doubles on UDP (500, 1000, 2000, ... ms) until Timer B', () => {
    const t = setup();
    t.layer.request(request('INVITE'), { endpoint: peer() }, t.handlers());
    t.clock.advance(31_999);
    expect(t.sentAt('INVITE')).toEqual([0, 500, 1500, 3500, 7500, 15500, 31500]);
  });

  it('§17.1.1.2 Timer B (64*T1) times out in Calling: onTimeout, Terminated, removed', () => {
    const t = setup();
    const h = t.handlers();
    const tx = t.layer.request(request('INVITE'), { endpoint: peer() }, h);
    t.clock.advance(31_999);
    expect(h.onTimeout).not.toHaveBeenCalled();
    t.clock.advance(1);
    expect(h.onTimeout).toHaveBeenCalledOnce();
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
    t.clock.advance(100_000);
    expect(t.sentAt('INVITE')).toHaveLength(7);
  });

  it('§17.1.1.2 timers follow an overridden T1', () => {
    const t = setup({ T1: 100 });
    const h = t.handlers();
    t.layer.request(request('INVITE'), { endpoint: peer() }, h);
    t.clock.advance(6399);
    expect(t.sentAt('INVITE')).toEqual([0, 100, 300, 700, 1500, 3100, 6300]);
    t.clock.advance(1);
    expect(h.onTimeout).toHaveBeenCalledOnce();
  });

  it('§17.1.1.2 on a reliable transport Timer A is not armed but Timer B is', () => {
    for (const transport of ['tcp', 'tls'] as const) {
      const t = setup();
      const h = t.handlers();
      t.layer.request(request('INVITE'), { endpoint: peer(transport) }, h);
      t.clock.advance(31_999);
      expect(t.sentAt('INVITE')).toEqual([0]);
      t.clock.advance(1);
      expect(h.onTimeout).toHaveBeenCalledOnce();
      expect(t.layer.size).toBe(0);
    }
  });

  it('§17.1.1.2 Calling → Proceeding on 1xx: TU informed, retransmissions stop, Timer B no longer applies', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.clock.advance(600);
    const ringing = t.answer(req, 180);
    expect(tx.state).toBe('proceeding');
    expect(h.onProvisional).toHaveBeenCalledWith(ringing);
    t.answer(req, 183);
    expect(h.onProvisional).toHaveBeenCalledTimes(2);
    t.clock.advance(60_000);
    expect(t.sentAt('INVITE')).toEqual([0, 500]);
    expect(h.onTimeout).not.toHaveBeenCalled();
    expect(tx.state).toBe('proceeding');
  });

  it('§17.1.1.2 2xx in Calling → Terminated and passed to the TU; retransmitted 2xx are stray', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    const ok = t.answer(req, 200);
    expect(h.onFinal).toHaveBeenCalledWith(ok);
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
    const again = t.answer(req, 200);
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(t.strays).toEqual([again]);
    // No ACK: the ACK for a 2xx is the TU's, end to end.
    expect(t.sentAt('ACK')).toEqual([]);
  });

  it('§17.1.1.2 2xx in Proceeding → Terminated', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.answer(req, 180);
    t.answer(req, 200);
    expect(tx.state).toBe('terminated');
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(t.layer.size).toBe(0);
  });

  it('§17.1.1.3 3xx-6xx → Completed: the transaction ACKs with the same branch and the response To tag', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.answer(req, 180);
    const busy = t.answer(req, 486);
    expect(tx.state).toBe('completed');
    expect(h.onFinal).toHaveBeenCalledWith(busy);
    const ack = t.sent.find((s) => s.req.method === 'ACK');
    expect(ack?.target.endpoint).toEqual(peer());
    expect(ack?.req.uri).toBe(req.uri);
    expect(ack?.req.headers.getAll('via')).toEqual([req.headers.get('via')]);
    expect(ack?.req.headers.get('to')).toBe('<sip:bob@example.com>;tag=bobtag');
    expect(ack?.req.headers.get('cseq')).toBe('7 ACK');
    expect(ack?.req.headers.getAll('route')).toEqual(['<sip:proxy.example.com;lr>']);
  });

  it('§17.1.1.2 3xx-6xx directly from Calling also completes and stops Timer A', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.answer(req, 302);
    expect(tx.state).toBe('completed');
    t.clock.advance(10_000);
    expect(t.sentAt('INVITE')).toEqual([0]);
    expect(t.sentAt('ACK')).toEqual([0]);
  });

  it('§17.1.1.2 retransmitted final responses in Completed are re-ACKed, not passed up', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    t.layer.request(req, { endpoint: peer() }, h);
    t.answer(req, 486);
    t.clock.advance(500);
    t.answer(req, 486);
    t.clock.advance(1000);
    t.answer(req, 486);
    expect(t.sentAt('ACK')).toEqual([0, 500, 1500]);
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(t.strays).toEqual([]);
  });

  it('§17.1.1.2 Timer D (32 s on UDP) ends Completed', () => {
    const t = setup();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, t.handlers());
    t.clock.advance(1000);
    t.answer(req, 603);
    t.clock.advance(31_999);
    expect(tx.state).toBe('completed');
    expect(t.layer.size).toBe(1);
    t.clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.1.1.2 Timer D is zero on a reliable transport: ACK sent, then Terminated at once', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer('tcp') }, h);
    t.answer(req, 404, 'tcp');
    expect(t.sentAt('ACK')).toEqual([0]);
    expect(tx.state).toBe('terminated');
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.1.4 a transport error on the first send is reported after request() returns, and terminates', () => {
    const t = setup();
    const onTransportError = vi.fn();
    const h = { ...t.handlers(), onTransportError };
    t.failNextSends(true);
    const tx = t.layer.request(request('INVITE'), { endpoint: peer() }, h);
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(onTransportError).not.toHaveBeenCalled();
    t.clock.advance(0);
    expect(onTransportError).toHaveBeenCalledOnce();
    expect((onTransportError.mock.calls[0]![0] as Error).message).toBe('EHOSTUNREACH');
    expect(h.onTimeout).not.toHaveBeenCalled();
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.1.4 without onTransportError the TU hears onTimeout; a failing retransmission also terminates', () => {
    const t = setup();
    const h = t.handlers();
    const tx = t.layer.request(request('INVITE'), { endpoint: peer() }, h);
    t.failNextSends(true);
    t.clock.advance(500);
    expect(tx.state).toBe('terminated');
    expect(h.onTimeout).toHaveBeenCalledOnce();
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });
});

describe('RFC 3261 §9.1 cancelling an INVITE client transaction', () => {
  it('sends CANCEL at once in Proceeding, as its own non-INVITE transaction, then ACKs the 487', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.answer(req, 180);
    tx.cancel();
    tx.cancel();
    const cancels = t.sent.filter((s) => s.req.method === 'CANCEL');
    expect(cancels).toHaveLength(1);
    const cancel = cancels[0]!.req;
    expect(cancel.uri).toBe(req.uri);
    expect(cancel.headers.getAll('via')).toEqual([req.headers.get('via')]);
    expect(cancel.headers.get('cseq')).toBe('7 CANCEL');
    expect(cancel.headers.get('to')).toBe('<sip:bob@example.com>');
    expect(cancel.headers.get('from')).toBe(req.headers.get('from'));
    expect(cancel.headers.get('call-id')).toBe(req.headers.get('call-id'));
    expect(cancel.headers.getAll('route')).toEqual(['<sip:proxy.example.com;lr>']);
    expect(t.layer.size).toBe(2);
    // The CANCEL retransmits on UDP like any non-INVITE request.
    t.clock.advance(500);
    expect(t.sentAt('CANCEL')).toEqual([0, 500]);
    t.answer(cancel, 200);
    t.answer(req, 487);
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect((h.onFinal.mock.calls[0]![0] as SipResponse).status).toBe(487);
    expect(t.sentAt('ACK')).toEqual([500]);
    t.clock.advance(32_000);
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('waits for a provisional response before sending CANCEL', () => {
    const t = setup();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, t.handlers());
    tx.cancel();
    t.clock.advance(1000);
    expect(t.sentAt('CANCEL')).toEqual([]);
    t.answer(req, 100);
    expect(t.sentAt('CANCEL')).toEqual([1000]);
  });

  it('never sends CANCEL if no provisional arrives: Timer B ends the INVITE', () => {
    const t = setup();
    const h = t.handlers();
    const tx = t.layer.request(request('INVITE'), { endpoint: peer() }, h);
    tx.cancel();
    t.clock.advance(32_000);
    expect(h.onTimeout).toHaveBeenCalledOnce();
    expect(t.sentAt('CANCEL')).toEqual([]);
    expect(t.layer.size).toBe(0);
  });

  it('gives up on the INVITE 64*T1 after the CANCEL if no final response comes', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('INVITE', 'z9hG4bKc2');
    const tx = t.layer.request(req, { endpoint: peer('tcp') }, h);
    t.answer(req, 180, 'tcp');
    t.clock.advance(1000);
    tx.cancel();
    const cancel = t.sent.find((s) => s.req.method === 'CANCEL')!.req;
    t.answer(cancel, 200, 'tcp');
    t.clock.advance(31_999);
    expect(h.onTimeout).not.toHaveBeenCalled();
    t.clock.advance(1);
    expect(h.onTimeout).toHaveBeenCalledOnce();
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('is a no-op after a final response, and for non-INVITE transactions', () => {
    const t = setup();
    const req = request('INVITE');
    const tx = t.layer.request(req, { endpoint: peer() }, t.handlers());
    t.answer(req, 486);
    tx.cancel();
    const msg = t.layer.request(request('MESSAGE', 'z9hG4bKm'), { endpoint: peer() }, t.handlers());
    msg.cancel();
    expect(t.sentAt('CANCEL')).toEqual([]);
  });
});

describe('RFC 3261 §17.1.2 non-INVITE client transaction', () => {
  it('§17.1.2.2 starts in Trying; Timer E doubles on UDP, capped at T2', () => {
    const t = setup();
    const tx = t.layer.request(request('MESSAGE'), { endpoint: peer() }, t.handlers());
    expect(tx.state).toBe('trying');
    t.clock.advance(31_999);
    expect(t.sentAt('MESSAGE')).toEqual([0, 500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]);
  });

  it('§17.1.2.2 Timer F (64*T1) times out in Trying', () => {
    const t = setup();
    const h = t.handlers();
    const tx = t.layer.request(request('MESSAGE'), { endpoint: peer() }, h);
    t.clock.advance(32_000);
    expect(h.onTimeout).toHaveBeenCalledOnce();
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.1.2.2 on a reliable transport Timer E is not armed but Timer F is', () => {
    const t = setup();
    const h = t.handlers();
    t.layer.request(request('MESSAGE'), { endpoint: peer('tls') }, h);
    t.clock.advance(32_000);
    expect(t.sentAt('MESSAGE')).toEqual([0]);
    expect(h.onTimeout).toHaveBeenCalledOnce();
  });

  it('§17.1.2.2 Trying → Proceeding on 1xx; Timer E then fires every T2', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('MESSAGE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.clock.advance(600);
    t.answer(req, 100);
    expect(tx.state).toBe('proceeding');
    expect(h.onProvisional).toHaveBeenCalledOnce();
    t.clock.advance(10_000);
    // The E armed at 500 for 1000 ms still fires at 1500; from then on every T2.
    expect(t.sentAt('MESSAGE')).toEqual([0, 500, 1500, 5500, 9500]);
  });

  it('§17.1.2.2 Timer F also times out in Proceeding', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('MESSAGE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.answer(req, 180);
    t.clock.advance(32_000);
    expect(h.onTimeout).toHaveBeenCalledOnce();
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
  });

  it('§17.1.2.2 final response in Trying → Completed; retransmitted finals absorbed; Timer K (T4) ends it', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('MESSAGE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    const ok = t.answer(req, 202);
    expect(tx.state).toBe('completed');
    expect(h.onFinal).toHaveBeenCalledWith(ok);
    t.clock.advance(4999);
    t.answer(req, 202);
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(t.strays).toEqual([]);
    expect(t.sentAt('MESSAGE')).toEqual([0]);
    t.clock.advance(1);
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
    t.answer(req, 202);
    expect(t.strays).toHaveLength(1);
  });

  it('§17.1.2.2 final response in Proceeding → Completed, and no timeout afterwards', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('MESSAGE');
    const tx = t.layer.request(req, { endpoint: peer() }, h);
    t.answer(req, 100);
    t.answer(req, 403);
    expect(tx.state).toBe('completed');
    t.clock.advance(100_000);
    expect(h.onTimeout).not.toHaveBeenCalled();
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(t.layer.size).toBe(0);
  });

  it('§17.1.2.2 Timer K is zero on a reliable transport', () => {
    const t = setup();
    const req = request('MESSAGE');
    const tx = t.layer.request(req, { endpoint: peer('tcp') }, t.handlers());
    t.answer(req, 200, 'tcp');
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('§17.1.3 a response with the same branch but another CSeq method matches nothing', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('MESSAGE');
    t.layer.request(req, { endpoint: peer() }, h);
    const wrong = buildResponse(req, 200);
    wrong.headers.set('cseq', '7 INFO');
    t.layer.receive({ message: wrong, source: peer(), local });
    expect(h.onFinal).not.toHaveBeenCalled();
    expect(t.strays).toEqual([wrong]);
  });
});

describe('TransactionLayer.request argument checks', () => {
  it('refuses a request without a branch, an ACK, and a duplicate branch', () => {
    const t = setup();
    const noBranch = request('MESSAGE');
    noBranch.headers.set('via', 'SIP/2.0/UDP 192.0.2.1:5060');
    expect(() => t.layer.request(noBranch, { endpoint: peer() }, t.handlers())).toThrow(TypeError);
    expect(() => t.layer.request(request('ACK'), { endpoint: peer() }, t.handlers())).toThrow(TypeError);
    t.layer.request(request('MESSAGE'), { endpoint: peer() }, t.handlers());
    expect(() => t.layer.request(request('MESSAGE'), { endpoint: peer() }, t.handlers())).toThrow(/already exists/);
    expect(t.layer.size).toBe(1);
  });
});
