import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../../../src/sip/clock.js';
import { createRequest, type SipEndpoint, type SipRequest } from '../../../../src/sip/message.js';
import { TransactionLayer, type ClientHandlers } from '../../../../src/sip/transaction/index.js';

// Regression: a TCP connect or TLS handshake fails after sendRequest returned. Before the fix the client
// transaction never heard of it and the TU waited for Timer B/F (32 s) to learn what was known at once.

const tls: SipEndpoint = { transport: 'tls', address: '192.0.2.9', port: 5061 };

function request(method: string, branch: string): SipRequest {
  return createRequest(method, 'sip:bob@example.com', [
    ['Via', `SIP/2.0/TLS 192.0.2.1:5061;branch=${branch};rport`],
    ['Max-Forwards', '70'],
    ['From', '<sip:alice@example.org>;tag=a1'],
    ['To', '<sip:bob@example.com>'],
    ['Call-ID', 'call-1@192.0.2.1'],
    ['CSeq', `7 ${method}`],
  ]);
}

function setup() {
  const clock = new FakeClock();
  const layer = new TransactionLayer({ clock, sendRequest: () => undefined, sendResponse: () => undefined, onRequest: () => undefined });
  const handlers = () => ({ onFinal: vi.fn(), onTimeout: vi.fn(), onTransportError: vi.fn() }) satisfies ClientHandlers;
  return { clock, layer, handlers };
}

describe('RFC 3261 §17.1.4 transport failure reported after the send returned', () => {
  for (const method of ['MESSAGE', 'INVITE']) {
    it(`${method}: the waiting client transaction reports onTransportError at once and terminates`, () => {
      const t = setup();
      const h = t.handlers();
      const req = request(method, `z9hG4bK-${method}`);
      const tx = t.layer.request(req, { endpoint: tls }, h);
      t.layer.clientTransportFailed(req, new Error('certificate signed by unknown authority'));
      expect(tx.state).toBe('terminated');
      expect(h.onTransportError).toHaveBeenCalledOnce();
      expect((h.onTransportError.mock.calls[0]![0] as Error).message).toMatch(/unknown authority/);
      expect(h.onTimeout).not.toHaveBeenCalled();
      expect(t.layer.size).toBe(0);
      // Timer B/F is gone: nothing fires later.
      t.clock.advance(64_000);
      expect(h.onTimeout).not.toHaveBeenCalled();
    });
  }

  it('without onTransportError the TU hears onTimeout, once', () => {
    const t = setup();
    const h = { onFinal: vi.fn(), onTimeout: vi.fn() };
    const req = request('MESSAGE', 'z9hG4bK-nohandler');
    t.layer.request(req, { endpoint: tls }, h);
    t.layer.clientTransportFailed(req, new Error('ECONNREFUSED'));
    t.layer.clientTransportFailed(req, new Error('ECONNREFUSED'));
    t.clock.advance(64_000);
    expect(h.onTimeout).toHaveBeenCalledOnce();
  });

  it('a failure after the final response changes nothing; an unknown request or an ACK is ignored', () => {
    const t = setup();
    const h = t.handlers();
    const req = request('MESSAGE', 'z9hG4bK-answered');
    t.layer.request(req, { endpoint: tls }, h);
    t.layer.clientTransportFailed(request('MESSAGE', 'z9hG4bK-other'), new Error('x'));
    t.layer.clientTransportFailed(request('ACK', 'z9hG4bK-answered'), new Error('x'));
    expect(h.onTransportError).not.toHaveBeenCalled();
    expect(t.layer.size).toBe(1);
  });
});
