import { describe, expect, it } from 'vitest';
import { createRequest, type SipRequest } from '../../../../src/sip/message.js';
import { addressParam, clientKeyForResponse, parseCSeqValue, parseTopVia, serverKey, tagOf } from '../../../../src/sip/transaction/keys.js';
import { buildAckForFailure, buildCancel, buildResponse, buildStatelessResponse, defaultReason, newBranch, newTag, rebuildsStatelessly, toTagFor } from '../../../../src/sip/transaction/index.js';
import { resolveTimers } from '../../../../src/sip/transaction/timers.js';

function invite(): SipRequest {
  return createRequest('INVITE', 'sip:bob@example.com', [
    ['Via', 'SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKproxy'],
    ['Via', 'SIP/2.0/UDP alice.example.org;branch=z9hG4bKalice;received=192.0.2.1'],
    ['Route', '<sip:p1.example.com;lr>'],
    ['Route', '<sip:p2.example.com;lr>'],
    ['Max-Forwards', '69'],
    ['From', '"Alice" <sip:alice@example.org>;tag=1928301774'],
    ['To', 'Bob <sip:bob@example.com>'],
    ['Call-ID', 'a84b4c76e66710@pc33'],
    ['CSeq', '314159 INVITE'],
    ['Timestamp', '54'],
    ['Contact', '<sip:alice@pc33.example.org>'],
  ]);
}

describe('RFC 3261 §8.2.6 buildResponse', () => {
  it('copies every Via in order, From, To, Call-ID and CSeq, and adds a To tag', () => {
    const req = invite();
    const res = buildResponse(req, 486);
    expect(res.kind).toBe('response');
    expect(res.reason).toBe('Busy Here');
    expect(res.headers.getAll('via')).toEqual(req.headers.getAll('via'));
    expect(res.headers.get('from')).toBe(req.headers.get('from'));
    expect(res.headers.get('call-id')).toBe('a84b4c76e66710@pc33');
    expect(res.headers.get('cseq')).toBe('314159 INVITE');
    expect(res.headers.get('to')).toMatch(/^Bob <sip:bob@example\.com>;tag=[0-9a-f]{16}$/);
    expect(res.headers.has('contact')).toBe(false);
    expect(res.headers.has('route')).toBe(false);
    expect(res.headers.has('timestamp')).toBe(false);
    expect(res.body.length).toBe(0);
  });

  it('§8.2.6.2 uses the same To tag for every response to the same request', () => {
    const req = invite();
    const t1 = tagOf(buildResponse(req, 180).headers.get('to'));
    const t2 = tagOf(buildResponse(req, 487).headers.get('to'));
    expect(t1).toBeDefined();
    expect(t2).toBe(t1);
    expect(toTagFor(req)).toBe(t1);
    expect(tagOf(buildResponse(invite(), 180).headers.get('to'))).not.toBe(t1);
  });

  it('uses the given toTag and remembers it for later responses', () => {
    const req = invite();
    expect(buildResponse(req, 180, undefined, undefined, 'mine').headers.get('to')).toBe('Bob <sip:bob@example.com>;tag=mine');
    expect(tagOf(buildResponse(req, 200).headers.get('to'))).toBe('mine');
  });

  it('§8.2.6.1 100 Trying gets no To tag and copies Timestamp', () => {
    const res = buildResponse(invite(), 100);
    expect(res.reason).toBe('Trying');
    expect(res.headers.get('to')).toBe('Bob <sip:bob@example.com>');
    expect(res.headers.get('timestamp')).toBe('54');
  });

  it('keeps an existing To tag (in-dialog request)', () => {
    const req = invite();
    req.headers.set('to', '<sip:bob@example.com>;tag=xyz');
    expect(buildResponse(req, 200).headers.get('to')).toBe('<sip:bob@example.com>;tag=xyz');
    expect(toTagFor(req)).toBe('xyz');
  });

  it('takes a reason and extra headers; unknown codes get a class phrase; out-of-range codes throw', () => {
    const res = buildResponse(invite(), 405, 'Nope', [['Allow', 'INVITE, ACK']]);
    expect(res.reason).toBe('Nope');
    expect(res.headers.get('allow')).toBe('INVITE, ACK');
    expect(defaultReason(499)).toBe('Client Error');
    expect(defaultReason(299)).toBe('OK');
    expect(() => buildResponse(invite(), 99)).toThrow(RangeError);
    expect(() => buildResponse(invite(), 700)).toThrow(RangeError);
    expect(() => buildResponse(invite(), 200.5)).toThrow(RangeError);
  });
});

describe('random tokens', () => {
  it('RFC 3261 §8.1.1.7 newBranch starts with the magic cookie and is unique', () => {
    const a = newBranch();
    expect(a).toMatch(/^z9hG4bK[0-9a-f]{24}$/);
    expect(newBranch()).not.toBe(a);
  });

  it('RFC 3261 §19.3 newTag is a random token', () => {
    expect(newTag()).toMatch(/^[0-9a-f]{16}$/);
    expect(newTag()).not.toBe(newTag());
  });
});

describe('ACK and CANCEL built by the transaction', () => {
  it('RFC 3261 §17.1.1.3 ACK for a non-2xx: same Request-URI, Call-ID, From, CSeq number, top Via only, To from the response, Route copied', () => {
    const req = invite();
    const res = buildResponse(req, 486, undefined, undefined, 'bobtag');
    const ack = buildAckForFailure(req, res);
    expect(ack.method).toBe('ACK');
    expect(ack.uri).toBe('sip:bob@example.com');
    expect(ack.headers.getAll('via')).toEqual(['SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKproxy']);
    expect(ack.headers.get('to')).toBe('Bob <sip:bob@example.com>;tag=bobtag');
    expect(ack.headers.get('from')).toBe(req.headers.get('from'));
    expect(ack.headers.get('call-id')).toBe('a84b4c76e66710@pc33');
    expect(ack.headers.get('cseq')).toBe('314159 ACK');
    expect(ack.headers.getAll('route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    expect(ack.headers.get('max-forwards')).toBe('70');
    expect(ack.headers.has('contact')).toBe(false);
  });

  it('RFC 3261 §9.1 CANCEL: same Request-URI, Call-ID, To, From, CSeq number, single top Via, Route copied', () => {
    const req = invite();
    const c = buildCancel(req);
    expect(c.method).toBe('CANCEL');
    expect(c.uri).toBe(req.uri);
    expect(c.headers.getAll('via')).toEqual(['SIP/2.0/UDP proxy.example.com:5060;branch=z9hG4bKproxy']);
    expect(c.headers.get('to')).toBe('Bob <sip:bob@example.com>');
    expect(c.headers.get('from')).toBe(req.headers.get('from'));
    expect(c.headers.get('cseq')).toBe('314159 CANCEL');
    expect(c.headers.getAll('route')).toHaveLength(2);
    expect(c.body.length).toBe(0);
  });
});

describe('matching keys', () => {
  it('reads the top Via robustly: LWS, case, compact values holding two hops, IPv6, quoted params', () => {
    const h = createRequest('OPTIONS', 'sip:x', [['v', 'SIP / 2.0 / udp  Host.Example.COM : 5070 ; BRANCH = z9hG4bKx ; foo="a;b,c", SIP/2.0/TCP other;branch=z9hG4bKy']]).headers;
    expect(parseTopVia(h)).toEqual({ transport: 'UDP', sentBy: 'host.example.com:5070', branch: 'z9hG4bKx' });
    const v6 = createRequest('OPTIONS', 'sip:x', [['Via', 'SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK6']]).headers;
    expect(parseTopVia(v6)).toEqual({ transport: 'TLS', sentBy: '[2001:db8::1]:5061', branch: 'z9hG4bK6' });
    const none = createRequest('OPTIONS', 'sip:x', [['Via', 'SIP/2.0/UDP h;rport']]).headers;
    expect(parseTopVia(none)?.branch).toBeUndefined();
    expect(parseTopVia(createRequest('OPTIONS', 'sip:x').headers)).toBeUndefined();
  });

  it('RFC 3261 §17.2.3: the plain-Via shortcut reads what the general reading does (first branch, case, LWS, two hops)', () => {
    const top = (v: string) => parseTopVia(createRequest('OPTIONS', 'sip:x', [['Via', v]]).headers);
    expect(top('SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa;rport')).toEqual({ transport: 'UDP', sentBy: '10.0.0.1:5060', branch: 'z9hG4bKa' });
    expect(top('SIP/2.0/udp Host.EXAMPLE:5060 ;rport; Branch = z9hG4bKb ;branch=z9hG4bKc')).toEqual({ transport: 'UDP', sentBy: 'host.example:5060', branch: 'z9hG4bKb' });
    // A valueless first branch hides a later one, as it does in the parameter map.
    expect(top('SIP/2.0/UDP h;branch;branch=z9hG4bKd')?.branch).toBeUndefined();
    expect(top('SIP/2.0/UDP h;branch=')?.branch).toBeUndefined();
    expect(top('SIP/2.0/TCP a:1;branch=z9hG4bKe, SIP/2.0/UDP b;branch=z9hG4bKf')).toEqual({ transport: 'TCP', sentBy: 'a:1', branch: 'z9hG4bKe' });
    // Shapes the shortcut leaves to the general reading: LWS in the sent-by, lower-case protocol, a tab.
    expect(top('SIP/2.0/UDP h : 5060;branch=z9hG4bKg')).toEqual({ transport: 'UDP', sentBy: 'h:5060', branch: 'z9hG4bKg' });
    expect(top('sip/2.0/UDP h;branch=z9hG4bKh')).toEqual({ transport: 'UDP', sentBy: 'h', branch: 'z9hG4bKh' });
    expect(top('SIP/2.0/UDP\th;branch=z9hG4bKi')).toEqual({ transport: 'UDP', sentBy: 'h', branch: 'z9hG4bKi' });
    expect(top('garbage')).toEqual({ transport: '', sentBy: 'garbage', branch: undefined });
  });

  it('reads CSeq with extra whitespace and rejects garbage', () => {
    expect(parseCSeqValue('  42   INVITE ')).toEqual({ seq: 42, method: 'INVITE' });
    expect(parseCSeqValue('INVITE 42')).toBeUndefined();
    expect(parseCSeqValue(undefined)).toBeUndefined();
  });

  it('reads From/To tags outside the URI and quoted display names only', () => {
    expect(addressParam('"a;tag=no <x>" <sip:a@b;tag=uri>;TAG=yes', 'tag')).toBe('yes');
    expect(addressParam('sip:a@b;tag=bare', 'tag')).toBe('bare');
    expect(addressParam('<sip:a@b;tag=uri>', 'tag')).toBeUndefined();
    expect(addressParam('<sip:a@b>;tag', 'tag')).toBeNull();
    expect(tagOf('<sip:a@b>;tag')).toBeUndefined();
  });

  it('RFC 3261 §17.2.3 folds ACK onto INVITE and CANCEL lookups onto INVITE', () => {
    const req = invite();
    const ack = buildAckForFailure(req, buildResponse(req, 486));
    expect(serverKey(ack)).toBe(serverKey(req));
    expect(serverKey(buildCancel(req), 'INVITE')).toBe(serverKey(req));
    expect(serverKey(buildCancel(req))).not.toBe(serverKey(req));
  });

  it('RFC 3261 §17.1.3 response key is branch + CSeq method; unmatched without branch or CSeq', () => {
    const res = buildResponse(invite(), 200);
    expect(clientKeyForResponse(res)).toBe('z9hG4bKproxy|INVITE');
    res.headers.delete('cseq');
    expect(clientKeyForResponse(res)).toBeUndefined();
  });
});

describe('RFC 3261 Appendix A timer values', () => {
  it('derives A-K from T1/T2/T4 and validates overrides', () => {
    expect(resolveTimers()).toMatchObject({ T1: 500, T2: 4000, T4: 5000, A: 500, B: 32000, D: 32000, E: 500, F: 32000, G: 500, H: 32000, I: 5000, J: 32000, K: 5000 });
    expect(resolveTimers({ T1: 100 })).toMatchObject({ T1: 100, B: 6400, F: 6400, H: 6400, J: 6400, T2: 4000 });
    expect(() => resolveTimers({ T1: 0 })).toThrow(RangeError);
    expect(() => resolveTimers({ T4: Number.NaN })).toThrow(RangeError);
  });
});

describe('rebuildsStatelessly: a final response that a retransmission of its request can rebuild (RFC 3261 §17.2.2)', () => {
  it('is true for buildStatelessResponse plus the one allowed header, false once anything else differs', () => {
    const req = invite();
    const plain = (): ReturnType<typeof buildStatelessResponse> => {
      const r = buildStatelessResponse(req, 202);
      r.headers.append('server', 'Stox/test');
      return r;
    };
    expect(rebuildsStatelessly(plain(), req, 'server', 'Stox/test')).toBe(true);
    expect(rebuildsStatelessly(plain(), req, 'server', 'Stox/other')).toBe(false);
    const withWarning = plain();
    withWarning.headers.append('warning', '399 stox "x"');
    expect(rebuildsStatelessly(withWarning, req, 'server', 'Stox/test')).toBe(false);
    expect(rebuildsStatelessly({ ...plain(), reason: 'Fine' }, req, 'server', 'Stox/test')).toBe(false);
    // A random To tag (buildResponse) is not the derived one.
    const random = buildResponse(req, 202);
    random.headers.append('server', 'Stox/test');
    expect(rebuildsStatelessly(random, req, 'server', 'Stox/test')).toBe(false);
  });
});
