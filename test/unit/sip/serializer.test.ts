import { describe, it, expect } from 'vitest';
import { canonicalHeaderName, serializeMessage } from '../../../src/sip/serializer.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { createRequest, SipHeaders, type SipMessage, type SipResponse } from '../../../src/sip/message.js';
import { SAMPLE_INVITE, SAMPLE_MESSAGE, SAMPLE_NOTIFY } from '../../../bench/samples.js';

function parsed(data: Buffer | string): SipMessage {
  const out = parseMessage(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
  if (!out.ok) throw new Error(out.reason);
  return out.message;
}

/** What a message means, independent of header spelling, folding and comma lists. */
function meaning(m: SipMessage): unknown {
  return {
    start: m.kind === 'request' ? [m.method, m.uri] : [m.status, m.reason],
    headers: m.headers.entries.filter(([n]) => n !== 'content-length'),
    body: m.body.toString('base64'),
  };
}

const HEADERS: Array<[string, string]> = [
  ['Via', 'SIP/2.0/UDP gw.example.com;branch=z9hG4bKabc'],
  ['Max-Forwards', '70'],
  ['From', '<sip:a@example.com>;tag=1'],
  ['To', '<sip:b@example.org>'],
  ['Call-ID', 'x@gw.example.com'],
  ['CSeq', '1 MESSAGE'],
];

describe('serializeMessage — RFC 3261 §7 wire form', () => {
  it('writes the request line, canonical names, CRLFs, and Content-Length last before the body', () => {
    const r = createRequest('MESSAGE', 'sip:b@example.org', [...HEADERS, ['www-authenticate', 'Digest realm="x"'], ['x-custom-thing', 'v']], 'héllo');
    const text = serializeMessage(r).toString('utf8');
    expect(text).toBe(
      'MESSAGE sip:b@example.org SIP/2.0\r\n' +
        'Via: SIP/2.0/UDP gw.example.com;branch=z9hG4bKabc\r\n' +
        'Max-Forwards: 70\r\n' +
        'From: <sip:a@example.com>;tag=1\r\n' +
        'To: <sip:b@example.org>\r\n' +
        'Call-ID: x@gw.example.com\r\n' +
        'CSeq: 1 MESSAGE\r\n' +
        'WWW-Authenticate: Digest realm="x"\r\n' +
        'X-Custom-Thing: v\r\n' +
        'Content-Length: 6\r\n' +
        '\r\n' +
        'héllo',
    );
  });

  it('writes a status line', () => {
    const res: SipResponse = { kind: 'response', status: 404, reason: 'Not Found', headers: new SipHeaders(HEADERS), body: Buffer.alloc(0) };
    expect(serializeMessage(res).toString()).toMatch(/^SIP\/2\.0 404 Not Found\r\n/);
    expect(serializeMessage(res).toString()).toMatch(/\r\nContent-Length: 0\r\n\r\n$/);
  });

  it('recomputes Content-Length, dropping any stale entries wherever they are', () => {
    const r = createRequest('MESSAGE', 'sip:b@example.org', [['Content-Length', '999'], ...HEADERS, ['l', '3']], 'abc');
    const text = serializeMessage(r).toString();
    expect(text.match(/Content-Length/g)).toHaveLength(1);
    expect(text.endsWith('Content-Length: 3\r\n\r\nabc')).toBe(true);
  });

  it('one line per header entry (comma lists are not re-joined)', () => {
    const m = parsed(SAMPLE_INVITE);
    const text = serializeMessage(m).toString();
    expect(text).toContain('Supported: timer\r\nSupported: replaces\r\n');
  });

  it('canonical header names', () => {
    expect(canonicalHeaderName('call-id')).toBe('Call-ID');
    expect(canonicalHeaderName('cseq')).toBe('CSeq');
    expect(canonicalHeaderName('www-authenticate')).toBe('WWW-Authenticate');
    expect(canonicalHeaderName('content-length')).toBe('Content-Length');
    expect(canonicalHeaderName('rseq')).toBe('RSeq');
    expect(canonicalHeaderName('sip-etag')).toBe('SIP-ETag');
    expect(canonicalHeaderName('mime-version')).toBe('MIME-Version');
    expect(canonicalHeaderName('p-asserted-identity')).toBe('P-Asserted-Identity');
    expect(canonicalHeaderName('record-route')).toBe('Record-Route');
  });

  it('writes binary bodies byte for byte', () => {
    const body = Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 13, 10]);
    const r = createRequest('MESSAGE', 'sip:b@example.org', HEADERS, body);
    const out = serializeMessage(r);
    expect(out.subarray(out.length - body.length).equals(body)).toBe(true);
  });
});

describe('serializeMessage — last line of defence against header injection', () => {
  for (const bad of ['a\r\nVia: SIP/2.0/UDP evil', 'a\nb', 'a\rb', 'a\u0000b']) {
    it(`refuses a header value containing ${JSON.stringify(bad)}`, () => {
      const r = createRequest('MESSAGE', 'sip:b@example.org', [...HEADERS, ['Subject', bad]]);
      expect(() => serializeMessage(r)).toThrow(/Subject/);
    });
  }

  it('refuses a bad reason phrase, method, Request-URI, status, or header name', () => {
    const res: SipResponse = { kind: 'response', status: 200, reason: 'OK\r\nX: y', headers: new SipHeaders(HEADERS), body: Buffer.alloc(0) };
    expect(() => serializeMessage(res)).toThrow(/reason/);
    expect(() => serializeMessage({ ...res, reason: 'OK', status: 99 })).toThrow(/status/);
    expect(() => serializeMessage(createRequest('MES SAGE', 'sip:b@example.org', HEADERS))).toThrow(/method/);
    expect(() => serializeMessage(createRequest('MESSAGE', 'sip:b@example.org SIP/2.0\r\nX:', HEADERS))).toThrow(/Request-URI/);
    expect(() => serializeMessage(createRequest('MESSAGE', '', HEADERS))).toThrow(/Request-URI/);
    const h = new SipHeaders(HEADERS);
    h.entries.push(['bad name', 'x']);
    expect(() => serializeMessage(createRequest('MESSAGE', 'sip:b@example.org', h.entries))).toThrow(/header name/);
    h.entries.pop();
    h.entries.push(['x:y', 'x']);
    expect(() => serializeMessage(createRequest('MESSAGE', 'sip:b@example.org', h.entries))).toThrow(/header name/);
  });
});

describe('round trip — a serialized message re-parses to the same meaning', () => {
  for (const [name, sample] of [
    ['MESSAGE', SAMPLE_MESSAGE],
    ['NOTIFY', SAMPLE_NOTIFY],
    ['INVITE', SAMPLE_INVITE],
  ] as const) {
    it(`sample ${name}`, () => {
      const first = parsed(sample);
      const again = parsed(serializeMessage(first));
      expect(meaning(again)).toEqual(meaning(first));
      // Serializing is canonical: a second round produces identical bytes.
      expect(serializeMessage(again).equals(serializeMessage(first))).toBe(true);
    });
  }

  it('folded, compact, comma-listed input comes back with the same meaning', () => {
    const input =
      'MESSAGE sip:b@example.org SIP/2.0\r\n' +
      'v: SIP/2.0/UDP a.example.com;branch=z9hG4bK1, SIP/2.0/UDP b.example.com;branch=z9hG4bK2\r\n' +
      'f: "Doe, J" <sip:a@example.com>;tag=1\r\n' +
      't: <sip:b@example.org>\r\n' +
      'i: abc@example.com\r\n' +
      'CSeq: 1\r\n MESSAGE\r\n' +
      'Subject: multi\r\n  line\r\n' +
      'l: 5\r\n\r\nhello';
    const first = parsed(input);
    const text = serializeMessage(first).toString();
    expect(text).toContain('Via: SIP/2.0/UDP a.example.com;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP b.example.com;branch=z9hG4bK2\r\n');
    expect(text).toContain('Subject: multi line\r\n');
    expect(meaning(parsed(text))).toEqual(meaning(first));
  });

  it('a response round-trips', () => {
    const res: SipResponse = { kind: 'response', status: 200, reason: 'Très OK', headers: new SipHeaders(HEADERS), body: Buffer.from('{}') };
    expect(meaning(parsed(serializeMessage(res)))).toEqual(meaning(res));
  });
});
