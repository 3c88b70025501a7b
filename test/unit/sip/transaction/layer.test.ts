import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../../../src/sip/clock.js';
import { createRequest, type InboundMessage, type SipEndpoint, type SipRequest, type SipResponse } from '../../../../src/sip/message.js';
import { tagOf } from '../../../../src/sip/transaction/keys.js';
import { buildAckForFailure, buildCancel, buildResponse, newBranch, TransactionLayer, type ServerTransaction } from '../../../../src/sip/transaction/index.js';

const local: SipEndpoint = { transport: 'udp', address: '192.0.2.1', port: 5060 };
const source: SipEndpoint = { transport: 'udp', address: '198.51.100.7', port: 5062 };

function request(method: string, via = 'SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKm1', cseq = 1): SipRequest {
  return createRequest(method, 'sip:bob@gateway.example', [
    ['Via', via],
    ['Max-Forwards', '70'],
    ['From', '<sip:alice@example.org>;tag=a1'],
    ['To', '<sip:bob@gateway.example>'],
    ['Call-ID', 'call-m@198.51.100.7'],
    ['CSeq', `${cseq} ${method}`],
  ]);
}

function copy(req: SipRequest): SipRequest {
  return { ...req, headers: req.headers.clone() };
}

function setup(withCancelHandler = true) {
  const clock = new FakeClock();
  const sent: SipResponse[] = [];
  const txs: ServerTransaction[] = [];
  const strayAcks: InboundMessage[] = [];
  const strayResponses: InboundMessage[] = [];
  const cancels: Array<[ServerTransaction, InboundMessage]> = [];
  const layer = new TransactionLayer({
    clock,
    sendRequest: () => undefined,
    sendResponse: (res) => sent.push(res),
    onRequest: (tx) => txs.push(tx),
    onStrayAck: (inbound) => strayAcks.push(inbound),
    onStrayResponse: (inbound) => strayResponses.push(inbound),
    ...(withCancelHandler ? { onCancel: (tx: ServerTransaction, inbound: InboundMessage) => cancels.push([tx, inbound]) } : {}),
  });
  const deliver = (message: SipRequest | SipResponse): InboundMessage => {
    const inbound: InboundMessage = { message, source, local };
    layer.receive(inbound);
    return inbound;
  };
  return { clock, layer, sent, txs, strayAcks, strayResponses, cancels, deliver };
}

describe('RFC 3261 §17.2.3 matching requests to server transactions', () => {
  it('a different branch is a new transaction', () => {
    const t = setup();
    t.deliver(request('MESSAGE'));
    t.deliver(request('MESSAGE', 'SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKm2'));
    expect(t.txs).toHaveLength(2);
    expect(t.layer.size).toBe(2);
  });

  it('the same branch from a different sent-by is a new transaction', () => {
    const t = setup();
    t.deliver(request('MESSAGE'));
    t.deliver(request('MESSAGE', 'SIP/2.0/UDP 198.51.100.8:5062;branch=z9hG4bKm1'));
    expect(t.txs).toHaveLength(2);
  });

  it('the same branch with another method is a new transaction, except ACK which matches the INVITE', () => {
    const t = setup();
    const inv = request('INVITE');
    t.deliver(inv);
    t.deliver(request('BYE'));
    expect(t.txs.map((x) => x.request.method)).toEqual(['INVITE', 'BYE']);
    const invTx = t.txs[0]!;
    const busy = buildResponse(inv, 486);
    invTx.respond(busy);
    t.deliver(buildAckForFailure(inv, busy));
    expect(invTx.state).toBe('confirmed');
    expect(t.txs).toHaveLength(2);
    expect(t.strayAcks).toEqual([]);
  });

  it('matches a retransmission whatever the Via spelling: LWS, case of the parameter name, compact header name', () => {
    const t = setup();
    t.deliver(request('MESSAGE'));
    const retrans = createRequest('MESSAGE', 'sip:bob@gateway.example', [
      ['v', 'SIP / 2.0 / UDP  198.51.100.7 : 5062 ; BRANCH=z9hG4bKm1'],
      ['f', '<sip:alice@example.org>;tag=a1'],
      ['t', '<sip:bob@gateway.example>'],
      ['i', 'call-m@198.51.100.7'],
      ['CSeq', '1 MESSAGE'],
    ]);
    t.deliver(retrans);
    expect(t.txs).toHaveLength(1);
  });

  it('without the magic cookie (RFC 2543 peer) matches on Call-ID, CSeq, From tag and top Via', () => {
    const t = setup();
    const via = 'SIP/2.0/UDP 198.51.100.7:5062;branch=old1';
    const inv = request('INVITE', via);
    t.deliver(inv);
    t.deliver(copy(inv));
    expect(t.txs).toHaveLength(1);
    // Next CSeq: a new request even though the branch is the same.
    t.deliver(request('INVITE', via, 2));
    expect(t.txs).toHaveLength(2);
    // No branch at all still matches its own retransmission.
    const bare = request('OPTIONS', 'SIP/2.0/UDP 198.51.100.7:5062');
    t.deliver(bare);
    t.deliver(copy(bare));
    expect(t.txs).toHaveLength(3);
    // The hop-by-hop ACK of an RFC 2543 peer matches its INVITE.
    const busy = buildResponse(inv, 486);
    t.txs[0]!.respond(busy);
    t.deliver(buildAckForFailure(inv, busy));
    expect(t.txs[0]!.state).toBe('confirmed');
    expect(t.strayAcks).toEqual([]);
  });

  it('a branch that lacks the magic cookie is not matched by branch alone', () => {
    const t = setup();
    t.deliver(request('MESSAGE', 'SIP/2.0/UDP 198.51.100.7:5062;branch=1234'));
    const other = request('MESSAGE', 'SIP/2.0/UDP 198.51.100.7:5062;branch=1234');
    other.headers.set('call-id', 'another-call');
    t.deliver(other);
    expect(t.txs).toHaveLength(2);
  });

  it('§17.2.3 an ACK matching no INVITE transaction (the ACK for a 2xx) goes to onStrayAck, never onRequest', () => {
    const t = setup();
    const inv = request('INVITE');
    t.deliver(inv);
    t.txs[0]!.respond(buildResponse(inv, 200));
    const ack = request('ACK', 'SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKack2xx');
    const inbound = t.deliver(ack);
    // Even one that reuses the INVITE's branch: the INVITE transaction ended with the 2xx.
    t.deliver(request('ACK'));
    expect(t.strayAcks[0]).toBe(inbound);
    expect(t.strayAcks).toHaveLength(2);
    expect(t.txs).toHaveLength(1);
    expect(t.layer.size).toBe(0);
  });

  it('an ACK matching a non-INVITE transaction key is still stray', () => {
    const t = setup();
    t.deliver(request('MESSAGE'));
    t.deliver(request('ACK'));
    expect(t.strayAcks).toHaveLength(1);
  });
});

describe('RFC 3261 §17.1.3 matching responses to client transactions', () => {
  it('a response matching no client transaction goes to onStrayResponse', () => {
    const t = setup();
    const inbound = t.deliver(buildResponse(request('INVITE'), 200));
    expect(t.strayResponses).toEqual([inbound]);
    const noVia = buildResponse(request('MESSAGE'), 200);
    noVia.headers.delete('via');
    t.deliver(noVia);
    expect(t.strayResponses).toHaveLength(2);
  });
});

describe('RFC 3261 §9.2 CANCEL received', () => {
  it('answers the CANCEL 200 with the INVITE responses To tag and hands the INVITE transaction to onCancel', () => {
    const t = setup();
    const inv = request('INVITE');
    t.deliver(inv);
    const invTx = t.txs[0]!;
    invTx.respond(buildResponse(inv, 180));
    const cancel = buildCancel(inv);
    const cancelInbound = t.deliver(cancel);
    expect(t.txs).toHaveLength(1);
    expect(t.cancels).toEqual([[invTx, cancelInbound]]);
    const ok = t.sent.find((r) => r.headers.get('cseq') === '1 CANCEL')!;
    expect(ok.status).toBe(200);
    expect(tagOf(ok.headers.get('to'))).toBe(tagOf(t.sent[0]!.headers.get('to')));
    expect(t.layer.size).toBe(2);

    // The TU ends the INVITE with 487 and the caller ACKs it.
    const terminated = buildResponse(inv, 487);
    invTx.respond(terminated);
    expect(tagOf(terminated.headers.get('to'))).toBe(tagOf(ok.headers.get('to')));
    t.deliver(buildAckForFailure(inv, terminated));
    expect(invTx.state).toBe('confirmed');

    // A retransmitted CANCEL is answered from its own transaction, not reported again.
    t.deliver(copy(cancel));
    expect(t.sent.filter((r) => r.headers.get('cseq') === '1 CANCEL')).toHaveLength(2);
    expect(t.cancels).toHaveLength(1);

    t.clock.advance(32_000);
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
  });

  it('with no onCancel handler the layer itself answers the INVITE 487', () => {
    const t = setup(false);
    const inv = request('INVITE');
    t.deliver(inv);
    t.deliver(buildCancel(inv));
    expect(t.sent.map((r) => [r.status, r.headers.get('cseq')])).toEqual([
      [200, '1 CANCEL'],
      [487, '1 INVITE'],
    ]);
    expect(t.txs[0]!.state).toBe('completed');
    expect(t.txs[0]!.finalSent).toBe(true);
  });

  it('a CANCEL after the final response is still answered 200; onCancel sees finalSent', () => {
    const t = setup(false);
    const inv = request('INVITE');
    t.deliver(inv);
    t.txs[0]!.respond(buildResponse(inv, 486));
    t.deliver(buildCancel(inv));
    expect(t.sent.map((r) => r.status)).toEqual([486, 200]);

    const t2 = setup();
    t2.deliver(inv);
    t2.txs[0]!.respond(buildResponse(inv, 486));
    t2.deliver(buildCancel(inv));
    expect(t2.cancels[0]![0].finalSent).toBe(true);
  });

  it('a CANCEL matching no INVITE transaction reaches the TU as a new request (to be answered 481)', () => {
    const t = setup();
    t.deliver(buildCancel(request('INVITE')));
    expect(t.txs.map((x) => x.request.method)).toEqual(['CANCEL']);
    expect(t.cancels).toEqual([]);
    expect(t.sent).toEqual([]);
    // After a 2xx the INVITE transaction is gone, so a late CANCEL is the TU's too.
    const t2 = setup();
    const inv = request('INVITE');
    t2.deliver(inv);
    t2.txs[0]!.respond(buildResponse(inv, 200));
    t2.deliver(buildCancel(inv));
    expect(t2.txs.map((x) => x.request.method)).toEqual(['INVITE', 'CANCEL']);
  });
});

describe('two layers back to back over a fake UDP wire', () => {
  /** Caller (UAC) and callee (UAS) layers whose sends land in each other's receive. */
  function pair(opts: { dropRequests?: number; dropResponses?: number } = {}) {
    const clock = new FakeClock();
    const uacEnd: SipEndpoint = { transport: 'udp', address: '192.0.2.1', port: 5060 };
    const uasEnd: SipEndpoint = { transport: 'udp', address: '192.0.2.2', port: 5060 };
    let dropReq = opts.dropRequests ?? 0;
    let dropRes = opts.dropResponses ?? 0;
    const uasRequests: ServerTransaction[] = [];
    const wire: string[] = [];
    // Serialize and re-parse in spirit: each hop gets a fresh object.
    const clone = <M extends SipRequest | SipResponse>(m: M): M => ({ ...m, headers: m.headers.clone() });
    const uac: TransactionLayer = new TransactionLayer({
      clock,
      sendRequest: (req) => {
        wire.push(`> ${req.method}`);
        if (dropReq > 0) return void dropReq--;
        uas.receive({ message: clone(req), source: uacEnd, local: uasEnd });
      },
      sendResponse: () => undefined,
      onRequest: () => undefined,
    });
    const uas: TransactionLayer = new TransactionLayer({
      clock,
      sendRequest: () => undefined,
      sendResponse: (res) => {
        wire.push(`< ${res.status} ${res.headers.get('cseq')?.split(' ')[1]}`);
        if (dropRes > 0) return void dropRes--;
        uac.receive({ message: clone(res), source: uasEnd, local: uacEnd });
      },
      onRequest: (tx) => uasRequests.push(tx),
    });
    const invite = createRequest('INVITE', 'sip:bob@192.0.2.2', [
      ['Via', `SIP/2.0/UDP 192.0.2.1:5060;branch=${newBranch()}`],
      ['Max-Forwards', '70'],
      ['From', '<sip:alice@192.0.2.1>;tag=x1'],
      ['To', '<sip:bob@192.0.2.2>'],
      ['Call-ID', 'b2b@192.0.2.1'],
      ['CSeq', '1 INVITE'],
    ]);
    return { clock, uac, uas, uasRequests, wire, invite, uasEnd };
  }

  it('RFC 3261 §9 + §17: a caller cancels a ringing call; both sides end with no transactions left', () => {
    const p = pair();
    const h = { onProvisional: vi.fn(), onFinal: vi.fn(), onTimeout: vi.fn() };
    const tx = p.uac.request(p.invite, { endpoint: p.uasEnd }, h);
    const server = p.uasRequests[0]!;
    server.respond(buildResponse(server.request, 180));
    tx.cancel();
    expect(p.wire).toEqual(['> INVITE', '< 180 INVITE', '> CANCEL', '< 200 CANCEL', '< 487 INVITE', '> ACK']);
    expect(h.onFinal.mock.calls.map(([r]) => (r as SipResponse).status)).toEqual([487]);
    expect(server.state).toBe('confirmed');
    p.clock.advance(64_000);
    expect(p.uac.size).toBe(0);
    expect(p.uas.size).toBe(0);
    expect(p.clock.pending()).toBe(0);
  });

  it('RFC 3261 §17: lost INVITE and lost final response are recovered by Timer A and re-ACKed', () => {
    const p = pair({ dropRequests: 1, dropResponses: 1 });
    const h = { onFinal: vi.fn(), onTimeout: vi.fn() };
    p.uac.request(p.invite, { endpoint: p.uasEnd }, h);
    expect(p.uasRequests).toHaveLength(0);
    p.clock.advance(500);
    const server = p.uasRequests[0]!;
    server.respond(buildResponse(server.request, 603));
    expect(h.onFinal).not.toHaveBeenCalled();
    // Timer A (1000 ms) and Timer G (500 ms) race; G wins and the final reaches the caller.
    p.clock.advance(500);
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(server.state).toBe('confirmed');
    expect(p.uasRequests).toHaveLength(1);
    p.clock.advance(64_000);
    expect(p.wire).toEqual(['> INVITE', '> INVITE', '< 603 INVITE', '< 603 INVITE', '> ACK']);
    expect(p.uac.size + p.uas.size).toBe(0);
    expect(h.onTimeout).not.toHaveBeenCalled();
  });

  it('RFC 3261 §17.1.2 / §17.2.2: non-INVITE with a lost response is answered from the server transaction', () => {
    const p = pair({ dropResponses: 1 });
    const msg = createRequest('MESSAGE', 'sip:bob@192.0.2.2', [
      ['Via', `SIP/2.0/UDP 192.0.2.1:5060;branch=${newBranch()}`],
      ['From', '<sip:alice@192.0.2.1>;tag=x1'],
      ['To', '<sip:bob@192.0.2.2>'],
      ['Call-ID', 'msg@192.0.2.1'],
      ['CSeq', '5 MESSAGE'],
    ]);
    const h = { onFinal: vi.fn(), onTimeout: vi.fn() };
    p.uac.request(msg, { endpoint: p.uasEnd }, h);
    p.uasRequests[0]!.respond(buildResponse(p.uasRequests[0]!.request, 200));
    p.clock.advance(500);
    expect(h.onFinal).toHaveBeenCalledOnce();
    expect(p.uasRequests).toHaveLength(1);
    expect(p.wire).toEqual(['> MESSAGE', '< 200 MESSAGE', '> MESSAGE', '< 200 MESSAGE']);
    p.clock.advance(64_000);
    expect(p.uac.size + p.uas.size).toBe(0);
    expect(p.clock.pending()).toBe(0);
  });
});

describe('a TU that throws', () => {
  it('RFC 3261 §21.5.1: onRequest throwing before any final response gets the request a 500, and the error goes to the caller', () => {
    const clock = new FakeClock();
    const sent: SipResponse[] = [];
    const layer = new TransactionLayer({
      clock,
      sendRequest: () => undefined,
      sendResponse: (res) => sent.push(res),
      onRequest: () => {
        throw new Error('bug');
      },
    });
    expect(() => layer.receive({ message: request('MESSAGE'), source, local })).toThrow('bug');
    expect(sent.map((r) => r.status)).toEqual([500]);
    clock.advance(32_000);
    expect(layer.size).toBe(0);
  });
});

describe('completed non-INVITE server transactions kept as prepared responses', () => {
  function preparedSetup() {
    const clock = new FakeClock();
    const sendResponse = vi.fn();
    const replays: number[] = [];
    const prepared: SipResponse[] = [];
    const txs: ServerTransaction[] = [];
    const layer = new TransactionLayer({
      clock,
      sendRequest: () => undefined,
      sendResponse,
      prepareResponse: (res) => {
        prepared.push(res);
        return { send: () => replays.push(clock.now()) };
      },
      onRequest: (tx) => txs.push(tx),
    });
    const deliver = (message: SipRequest, transport: SipEndpoint['transport'] = 'udp'): void =>
      layer.receive({ message, source: { ...source, transport }, local: { ...local, transport } });
    return { clock, layer, sendResponse, replays, prepared, txs, deliver };
  }

  it('RFC 3261 §17.2.2: the final is prepared once and replayed for each retransmission until Timer J; the transaction object is let go', () => {
    const t = preparedSetup();
    const req = request('MESSAGE');
    t.deliver(req);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(req, 100));
    expect(t.sendResponse).toHaveBeenCalledOnce();
    tx.respond(buildResponse(req, 200));
    expect(t.prepared.map((r) => r.status)).toEqual([200]);
    expect(t.replays).toEqual([0]);
    expect(t.sendResponse).toHaveBeenCalledOnce();
    t.clock.advance(1500);
    t.deliver(copy(req));
    expect(t.replays).toEqual([0, 1500]);
    expect(t.txs).toHaveLength(1);
    expect(t.layer.size).toBe(1);
    expect(tx.state).toBe('completed');
    t.clock.advance(32_000 - 1500);
    expect(tx.state).toBe('terminated');
    expect(t.layer.size).toBe(0);
    expect(t.clock.pending()).toBe(0);
    t.deliver(copy(req));
    expect(t.txs).toHaveLength(2);
  });

  it('a record that rebuilds its response: the first send is the response the TU built, each retransmission is answered by the record with the request it carries', () => {
    const clock = new FakeClock();
    const sendResponse = vi.fn();
    const answered: InboundMessage[] = [];
    const txs: ServerTransaction[] = [];
    const layer = new TransactionLayer({
      clock,
      sendRequest: () => undefined,
      sendResponse,
      prepareResponse: () => ({ rebuilds: true, send: (inbound) => void (inbound && answered.push(inbound)) }),
      onRequest: (tx) => txs.push(tx),
    });
    const req = request('MESSAGE');
    layer.receive({ message: req, source, local });
    const res = buildResponse(req, 202);
    txs[0]!.respond(res);
    expect(sendResponse).toHaveBeenCalledOnce();
    expect(sendResponse.mock.calls[0]![0]).toBe(res);
    expect(answered).toEqual([]);
    const again = copy(req);
    layer.receive({ message: again, source, local });
    expect(answered.map((a) => a.message)).toEqual([again]);
    expect(sendResponse).toHaveBeenCalledOnce();
  });

  it('reliable transports keep the ordinary path', () => {
    const t = preparedSetup();
    t.deliver(request('MESSAGE'), 'tcp');
    t.txs[0]!.respond(buildResponse(t.txs[0]!.request, 200));
    expect(t.prepared).toEqual([]);
    expect(t.sendResponse).toHaveBeenCalledOnce();
  });

  it('RFC 3261 §17.2.1: a 3xx-6xx to an INVITE over UDP is prepared once; Timer G and retransmitted INVITEs replay it', () => {
    const t = preparedSetup();
    const inv = request('INVITE', 'SIP/2.0/UDP 198.51.100.7:5062;branch=z9hG4bKinv');
    t.deliver(inv);
    const tx = t.txs[0]!;
    tx.respond(buildResponse(inv, 180));
    expect(t.sendResponse).toHaveBeenCalledOnce();
    tx.respond(buildResponse(inv, 486));
    expect(t.prepared.map((r) => r.status)).toEqual([486]);
    t.clock.advance(500);
    t.deliver(copy(inv));
    expect(t.replays).toEqual([0, 500, 500]);
    expect(t.sendResponse).toHaveBeenCalledOnce();
    t.deliver(buildAckForFailure(inv, t.prepared[0]!));
    expect(tx.state).toBe('confirmed');
    t.clock.advance(10_000);
    expect(t.replays).toHaveLength(3);
  });

  it('a response with nowhere to go (prepareResponse undefined) still absorbs retransmissions', () => {
    const clock = new FakeClock();
    const txs: ServerTransaction[] = [];
    const layer = new TransactionLayer({ clock, sendRequest: () => undefined, sendResponse: () => undefined, prepareResponse: () => undefined, onRequest: (tx) => txs.push(tx) });
    const req = request('MESSAGE');
    layer.receive({ message: req, source, local });
    txs[0]!.respond(buildResponse(req, 200));
    layer.receive({ message: copy(req), source, local });
    expect(txs).toHaveLength(1);
    expect(layer.size).toBe(1);
  });
});
