import { describe, it, expect } from 'vitest';
import { parseMessage, scanHead, validateRequest, type ParseOutcome } from '../../../src/sip/parser.js';
import { createRequest, type SipMessage, type SipRequest, type SipResponse } from '../../../src/sip/message.js';
import { SAMPLE_INVITE, SAMPLE_MESSAGE, SAMPLE_NOTIFY } from '../../../bench/samples.js';

const BASE_HEADERS = [
  'Via: SIP/2.0/UDP client.example.com:5060;branch=z9hG4bK74bf9',
  'Max-Forwards: 70',
  'From: Alice <sip:alice@example.com>;tag=9fxced76sl',
  'To: Bob <sip:bob@example.org>',
  'Call-ID: 3848276298220188511@client.example.com',
  'CSeq: 1 MESSAGE',
];

/** Builds a request from header lines; Content-Length is added unless `contentLength` is null. */
function request(headers: string[], body = '', opts: { startLine?: string; contentLength?: string | null } = {}): Buffer {
  const lines = [opts.startLine ?? 'MESSAGE sip:bob@example.org SIP/2.0', ...headers];
  if (opts.contentLength !== null) lines.push(`Content-Length: ${opts.contentLength ?? Buffer.byteLength(body)}`);
  return Buffer.from(lines.join('\r\n') + '\r\n\r\n' + body, 'utf8');
}

function ok(outcome: ParseOutcome): SipMessage {
  if (!outcome.ok) throw new Error(`expected ok, got: ${outcome.reason}`);
  return outcome.message;
}

function req(outcome: ParseOutcome): SipRequest {
  const m = ok(outcome);
  if (m.kind !== 'request') throw new Error('expected a request');
  return m;
}

function res(outcome: ParseOutcome): SipResponse {
  const m = ok(outcome);
  if (m.kind !== 'response') throw new Error('expected a response');
  return m;
}

function reason(outcome: ParseOutcome): string {
  if (outcome.ok) throw new Error('expected a failure');
  return outcome.reason;
}

describe('parseMessage — samples', () => {
  it('parses the sample MESSAGE (RFC 3428) with its UTF-8 body', () => {
    const m = req(parseMessage(Buffer.from(SAMPLE_MESSAGE)));
    expect(m.method).toBe('MESSAGE');
    expect(m.uri).toBe('sip:juliet@xmpp.example.org');
    expect(m.headers.getAll('via')).toHaveLength(2);
    expect(m.headers.get('from')).toBe('"Romeo Montague" <sip:romeo@sip.example.com>;tag=49583');
    expect(m.headers.getAll('allow')).toEqual(['INVITE', 'ACK', 'CANCEL', 'BYE', 'MESSAGE']);
    expect(m.body.toString('utf8')).toBe('Art thou not Romeo, and a Montague? ¿Qué tal?');
  });

  it('parses the sample NOTIFY with its PIDF body and the sample INVITE with SDP', () => {
    const n = req(parseMessage(Buffer.from(SAMPLE_NOTIFY)));
    expect(n.headers.get('event')).toBe('presence');
    expect(n.body.toString()).toContain('<basic>open</basic>');
    const i = req(parseMessage(Buffer.from(SAMPLE_INVITE)));
    expect(i.headers.getAll('supported')).toEqual(['timer', 'replaces']);
    expect(i.body.toString()).toMatch(/^v=0\r\n/);
    expect(i.body.toString()).toMatch(/a=path:msrp:\/\/\S+;tcp\r\n$/);
  });

  it('samples parse in stream mode too (they carry Content-Length)', () => {
    for (const s of [SAMPLE_MESSAGE, SAMPLE_NOTIFY, SAMPLE_INVITE]) expect(parseMessage(Buffer.from(s), { stream: true }).ok).toBe(true);
  });
});

describe('parseMessage — RFC 3261 §7.1 / §7.2 start lines', () => {
  it('parses status lines, with a reason phrase of several words, empty or absent', () => {
    const headers = BASE_HEADERS.filter((h) => !h.startsWith('Max-Forwards'));
    const mk = (line: string): Buffer => request(headers, '', { startLine: line });
    expect(res(parseMessage(mk('SIP/2.0 481 Call/Transaction Does Not Exist')))).toMatchObject({ status: 481, reason: 'Call/Transaction Does Not Exist' });
    expect(res(parseMessage(mk('SIP/2.0 200 ')))).toMatchObject({ status: 200, reason: '' });
    expect(res(parseMessage(mk('SIP/2.0 180')))).toMatchObject({ status: 180, reason: '' });
    expect(res(parseMessage(mk('sip/2.0 200 OK'))).status).toBe(200);
    expect(res(parseMessage(mk('SIP/2.0 200 Très bien'))).reason).toBe('Très bien');
  });

  it('§7.1 the SIP-Version is case-insensitive', () => {
    expect(req(parseMessage(request(BASE_HEADERS, '', { startLine: 'MESSAGE sip:bob@example.org sip/2.0' }))).method).toBe('MESSAGE');
  });

  it('an unknown version yields "Version Not Supported" with a partial request (so the caller can send 505)', () => {
    const out = parseMessage(request(BASE_HEADERS, '', { startLine: 'MESSAGE sip:bob@example.org SIP/7.0' }));
    expect(out).toMatchObject({ ok: false, reason: 'Version Not Supported' });
    expect(!out.ok && out.partial?.headers.get('call-id')).toBe('3848276298220188511@client.example.com');
    const r = parseMessage(request(BASE_HEADERS, '', { startLine: 'SIP/3.0 200 OK' }));
    expect(r).toEqual({ ok: false, reason: 'Version Not Supported' });
  });

  it('an unknown method is accepted when it is a token (RFC 3261 §8.2.1 is the caller\'s 405/501)', () => {
    const m = req(parseMessage(request(BASE_HEADERS.map((h) => h.replace('1 MESSAGE', '1 NEWMETHOD')), '', { startLine: 'NEWMETHOD sip:bob@example.org SIP/2.0' })));
    expect(m.method).toBe('NEWMETHOD');
  });
});

describe('parseMessage — RFC 3261 §7.5 framing', () => {
  it('tolerates CRLFs before the start line', () => {
    const m = req(parseMessage(Buffer.concat([Buffer.from('\r\n\r\n\r\n'), request(BASE_HEADERS)])));
    expect(m.method).toBe('MESSAGE');
  });

  it('reports a message of only CRLFs as empty', () => {
    expect(reason(parseMessage(Buffer.from('\r\n\r\n')))).toBe('Empty message');
    expect(reason(parseMessage(Buffer.alloc(0)))).toBe('Empty message');
  });
});

describe('parseMessage — RFC 3261 §7.3 header fields', () => {
  it('§7.3.1 header names are case-insensitive and whitespace before the colon is allowed', () => {
    const m = req(parseMessage(request([...BASE_HEADERS, 'sUbJeCt   :   hello  ', 'X-Custom:\tvalue'])));
    expect(m.headers.get('Subject')).toBe('hello');
    expect(m.headers.get('x-custom')).toBe('value');
  });

  it('§7.3.3 compact forms map to long names', () => {
    const compact = [
      'v: SIP/2.0/UDP client.example.com;branch=z9hG4bKcompact',
      'f: <sip:alice@example.com>;tag=1',
      't: <sip:bob@example.org>',
      'i: compact-call@example.com',
      'CSeq: 1 MESSAGE',
      'm: <sip:alice@client.example.com>',
      'c: text/plain',
      'k: 100rel',
      's: hi',
      'e: gzip',
      'o: presence',
      'u: presence',
      'l: 2',
    ];
    const m = req(parseMessage(request(compact, 'hi', { contentLength: null })));
    for (const n of ['via', 'from', 'to', 'call-id', 'contact', 'content-type', 'supported', 'subject', 'content-encoding', 'event', 'allow-events', 'content-length']) {
      expect(m.headers.has(n), n).toBe(true);
    }
    expect(m.body.toString()).toBe('hi');
  });

  it('§7.3.1 folded lines (SP or HTAB continuation) are joined with one space', () => {
    const m = req(
      parseMessage(
        request([
          ...BASE_HEADERS,
          'Subject: I know you\'re there,',
          '     pick up the phone',
          '\t  and talk to me!',
          'X-Empty-Start:',
          '  continued',
        ]),
      ),
    );
    expect(m.headers.get('subject')).toBe("I know you're there, pick up the phone and talk to me!");
    expect(m.headers.get('x-empty-start')).toBe('continued');
  });

  it('§7.3.1 folding inside a list header still splits it', () => {
    const m = req(parseMessage(request([...BASE_HEADERS, 'Allow: INVITE,', ' ACK, BYE'])));
    expect(m.headers.getAll('allow')).toEqual(['INVITE', 'ACK', 'BYE']);
  });

  it('§7.3.1 comma lists are split into one entry per value for list headers', () => {
    const m = req(
      parseMessage(
        request([
          'Via: SIP/2.0/UDP first.example.com;branch=z9hG4bK1, SIP/2.0/TCP second.example.com;branch=z9hG4bK2',
          'v: SIP/2.0/UDP third.example.com;branch=z9hG4bK3',
          ...BASE_HEADERS.slice(1),
          'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>',
          'Record-Route: <sip:rr1.example.com;lr>,<sip:rr2.example.com;lr>',
          'Contact: "Doe, John" <sip:j@x.example.com>;q=0.7, <sip:k@y.example.com>',
          'Supported: path, gruu',
          'Require: 100rel,timer',
          'Proxy-Require: foo, bar',
          'Accept: application/pidf+xml, application/xpidf+xml;q="0.5, 0.3"',
          'Accept-Language: en, fr;q=0.5',
          'Path: <sip:a.example.com;lr>, <sip:b.example.com;lr>',
        ]),
      ),
    );
    expect(m.headers.getAll('via').map((v) => v.split(' ')[1])).toEqual(['first.example.com;branch=z9hG4bK1', 'second.example.com;branch=z9hG4bK2', 'third.example.com;branch=z9hG4bK3']);
    expect(m.headers.getAll('route')).toEqual(['<sip:p1.example.com;lr>', '<sip:p2.example.com;lr>']);
    expect(m.headers.getAll('record-route')).toHaveLength(2);
    expect(m.headers.getAll('contact')).toEqual(['"Doe, John" <sip:j@x.example.com>;q=0.7', '<sip:k@y.example.com>']);
    expect(m.headers.getAll('supported')).toEqual(['path', 'gruu']);
    expect(m.headers.getAll('require')).toEqual(['100rel', 'timer']);
    expect(m.headers.getAll('proxy-require')).toEqual(['foo', 'bar']);
    expect(m.headers.getAll('accept')).toEqual(['application/pidf+xml', 'application/xpidf+xml;q="0.5, 0.3"']);
    expect(m.headers.getAll('accept-language')).toEqual(['en', 'fr;q=0.5']);
    expect(m.headers.getAll('path')).toHaveLength(2);
  });

  it('§20.10 Contact: * is not split; §20.44/§20.7/§20.17 auth and date headers keep their commas', () => {
    const m = req(
      parseMessage(
        request([
          ...BASE_HEADERS,
          'Contact: *',
          'WWW-Authenticate: Digest realm="atlanta.com", nonce="84a4cc6f", qop="auth,auth-int", algorithm=MD5',
          'Authorization: Digest username="alice", realm="atlanta.com", response="42ce3cef"',
          'Proxy-Authenticate: Digest realm="x", nonce="y"',
          'Date: Sat, 13 Nov 2010 23:29:00 GMT',
          'Subject: one, two',
          'Call-Info: <http://www.example.com/alice/photo.jpg> ;purpose=icon, <http://www.example.com/alice/> ;purpose=info',
        ]),
      ),
    );
    expect(m.headers.getAll('contact')).toEqual(['*']);
    expect(m.headers.getAll('www-authenticate')).toHaveLength(1);
    expect(m.headers.get('www-authenticate')).toContain('qop="auth,auth-int", algorithm=MD5');
    expect(m.headers.getAll('authorization')).toHaveLength(1);
    expect(m.headers.getAll('proxy-authenticate')).toHaveLength(1);
    expect(m.headers.get('date')).toBe('Sat, 13 Nov 2010 23:29:00 GMT');
    expect(m.headers.get('subject')).toBe('one, two');
    expect(m.headers.getAll('call-info')).toHaveLength(1);
  });

  it('From and To are never split, even with a comma in the display name', () => {
    const m = req(parseMessage(request(['From: "Doe, Jane" <sip:jane@example.com>;tag=1', ...BASE_HEADERS.filter((h) => !h.startsWith('From'))])));
    expect(m.headers.getAll('from')).toEqual(['"Doe, Jane" <sip:jane@example.com>;tag=1']);
  });

  it('keeps UTF-8 in quoted display names', () => {
    const m = req(parseMessage(request(['From: "Jöhn Dœ 山田" <sip:j@example.com>;tag=1', ...BASE_HEADERS.filter((h) => !h.startsWith('From'))])));
    expect(m.headers.get('from')).toBe('"Jöhn Dœ 山田" <sip:j@example.com>;tag=1');
  });

  it('preserves header order and empty values', () => {
    const m = req(parseMessage(request([...BASE_HEADERS, 'Subject:', 'Supported:'])));
    expect(m.headers.get('subject')).toBe('');
    expect(m.headers.getAll('supported')).toEqual(['']);
    expect(m.headers.entries.map(([n]) => n).slice(0, 3)).toEqual(['via', 'max-forwards', 'from']);
  });
});

describe('parseMessage — RFC 3261 §18.3 / §20.14 bodies and Content-Length', () => {
  it('datagram without Content-Length: the body is the rest of the datagram', () => {
    const m = req(parseMessage(request(BASE_HEADERS, 'hello world', { contentLength: null })));
    expect(m.body.toString()).toBe('hello world');
  });

  it('stream without Content-Length is refused', () => {
    expect(reason(parseMessage(request(BASE_HEADERS, 'x', { contentLength: null }), { stream: true }))).toBe('Missing Content-Length');
  });

  it('Content-Length larger than the bytes available is a mismatch, with a partial request', () => {
    const out = parseMessage(request(BASE_HEADERS, 'short', { contentLength: '50' }));
    expect(out).toMatchObject({ ok: false, reason: 'Content-Length mismatch' });
    expect(!out.ok && out.partial?.method).toBe('MESSAGE');
  });

  it('Content-Length smaller than the bytes available truncates the body', () => {
    const m = req(parseMessage(request(BASE_HEADERS, 'hello world', { contentLength: '5' })));
    expect(m.body.toString()).toBe('hello');
    expect(req(parseMessage(request(BASE_HEADERS, 'junk', { contentLength: '0' }))).body.length).toBe(0);
  });

  it('Content-Length counts bytes, not characters (UTF-8 body)', () => {
    const body = 'Grüße, 世界 🌍';
    const m = req(parseMessage(request(BASE_HEADERS, body)));
    expect(m.body.toString('utf8')).toBe(body);
  });

  it('two equal Content-Length headers are accepted; different ones are refused', () => {
    expect(req(parseMessage(request([...BASE_HEADERS, 'Content-Length: 2'], 'hi'))).body.toString()).toBe('hi');
    expect(reason(parseMessage(request([...BASE_HEADERS, 'l: 3'], 'hi')))).toBe('Duplicate Content-Length');
  });

  it('a non-numeric or negative Content-Length is refused', () => {
    for (const v of ['abc', '-1', '1.0', '', '12345678901', '0x10']) {
      expect(reason(parseMessage(request(BASE_HEADERS, 'hi', { contentLength: v }))), v).toBe('Bad Content-Length');
    }
  });

  it('the body does not alias the input buffer', () => {
    const data = request(BASE_HEADERS, 'hello');
    const m = req(parseMessage(data));
    data.fill(0x41);
    expect(m.body.toString()).toBe('hello');
  });
});

describe('parseMessage — size limit (RFC 3261 §18.1.1 / 513)', () => {
  it('a datagram over maxSize is too large, with a partial request when the headers split', () => {
    const out = parseMessage(request(BASE_HEADERS, 'x'.repeat(2000)), { maxSize: 1000 });
    expect(out).toMatchObject({ ok: false, reason: 'Message too large', tooLarge: true });
    expect(!out.ok && out.partial?.headers.get('cseq')).toBe('1 MESSAGE');
  });

  it('a Content-Length that would exceed maxSize is too large even before the body arrives', () => {
    const out = parseMessage(request(BASE_HEADERS, 'x', { contentLength: '5000' }), { maxSize: 1000, stream: true });
    expect(out).toMatchObject({ ok: false, reason: 'Message too large', tooLarge: true });
  });

  it('the default limit is 65536 bytes', () => {
    expect(parseMessage(request(BASE_HEADERS, 'x'.repeat(65000))).ok).toBe(true);
    expect(parseMessage(request(BASE_HEADERS, 'x'.repeat(66000)))).toMatchObject({ ok: false, tooLarge: true });
  });

  it('too large without a blank line reports the size, not the framing', () => {
    expect(parseMessage(Buffer.from('MESSAGE sip:a@b SIP/2.0\r\nSubject: ' + 'x'.repeat(3000)), { maxSize: 1000 })).toEqual({ ok: false, reason: 'Message too large', tooLarge: true });
  });
});

describe('validateRequest — RFC 3261 §8.1.1 mandatory headers and §8.2 checks', () => {
  const without = (name: string): string[] => BASE_HEADERS.filter((h) => !h.toLowerCase().startsWith(name.toLowerCase() + ':'));

  it('accepts the base request; Max-Forwards is optional here', () => {
    expect(parseMessage(request(BASE_HEADERS)).ok).toBe(true);
    expect(parseMessage(request(without('Max-Forwards'))).ok).toBe(true);
  });

  for (const [name, why] of [
    ['To', 'Missing To'],
    ['From', 'Missing From'],
    ['Call-ID', 'Missing Call-ID'],
    ['CSeq', 'Missing CSeq'],
    ['Via', 'Missing Via'],
  ] as const) {
    it(`§8.1.1 missing ${name} → "${why}" with a partial request`, () => {
      const out = parseMessage(request(without(name)));
      expect(out).toMatchObject({ ok: false, reason: why });
      expect(!out.ok && out.partial?.method).toBe('MESSAGE');
    });
  }

  it('§8.1.1.5 CSeq method must equal the request method, for ACK and CANCEL too', () => {
    const mk = (method: string, cseqMethod: string): Buffer =>
      request([...without('CSeq'), `CSeq: 1 ${cseqMethod}`], '', { startLine: `${method} sip:bob@example.org SIP/2.0` });
    expect(reason(parseMessage(mk('MESSAGE', 'INVITE')))).toBe('CSeq method mismatch');
    expect(reason(parseMessage(mk('ACK', 'INVITE')))).toBe('CSeq method mismatch');
    expect(reason(parseMessage(mk('CANCEL', 'INVITE')))).toBe('CSeq method mismatch');
    expect(reason(parseMessage(mk('MESSAGE', 'message')))).toBe('CSeq method mismatch');
    expect(parseMessage(mk('ACK', 'ACK')).ok).toBe(true);
  });

  it('§8.1.1.5 CSeq number must be below 2^31', () => {
    expect(reason(parseMessage(request([...without('CSeq'), 'CSeq: 2147483648 MESSAGE'])))).toBe('Bad CSeq');
    expect(reason(parseMessage(request([...without('CSeq'), 'CSeq: MESSAGE'])))).toBe('Bad CSeq');
    expect(parseMessage(request([...without('CSeq'), 'CSeq: 2147483647 MESSAGE'])).ok).toBe(true);
  });

  it('§8.1.1.6 Max-Forwards must be an integer 0..255', () => {
    for (const v of ['256', 'abc', '-1', '1000', '']) {
      expect(reason(parseMessage(request([...without('Max-Forwards'), `Max-Forwards: ${v}`]))), v).toBe('Bad Max-Forwards');
    }
    expect(parseMessage(request([...without('Max-Forwards'), 'Max-Forwards: 0'])).ok).toBe(true);
  });

  it('§8.1.1.2 / §8.1.1.3 From and To must parse as name-addr or addr-spec', () => {
    expect(reason(parseMessage(request([...without('From'), 'From: Alice <sip:alice@example.com;tag=1'])))).toBe('Bad From');
    expect(reason(parseMessage(request([...without('To'), 'To: bob@example.org'])))).toBe('Bad To');
    expect(parseMessage(request([...without('To'), 'To: sip:bob@example.org'])).ok).toBe(true);
  });

  it('every Via must parse', () => {
    expect(reason(parseMessage(request([...BASE_HEADERS, 'Via: SIP/2.0/UDP'])))).toBe('Malformed Via');
    expect(reason(parseMessage(request(['Via: SIP/2.0/UDP host:99999', ...without('Via')])))).toBe('Malformed Via');
  });

  for (const [line, why] of [
    ['Call-ID: other@example.com', 'Duplicate Call-ID'],
    ['CSeq: 2 MESSAGE', 'Duplicate CSeq'],
    ['From: <sip:x@example.com>;tag=2', 'Duplicate From'],
    ['To: <sip:y@example.com>', 'Duplicate To'],
    ['Max-Forwards: 10', 'Duplicate Max-Forwards'],
  ] as const) {
    it(`a second single-value header is refused: ${why}`, () => {
      expect(reason(parseMessage(request([...BASE_HEADERS, line])))).toBe(why);
    });
  }

  it('Call-ID must be a word without whitespace', () => {
    expect(reason(parseMessage(request([...without('Call-ID'), 'Call-ID: has space'])))).toBe('Bad Call-ID');
    expect(reason(parseMessage(request([...without('Call-ID'), 'Call-ID:'])))).toBe('Bad Call-ID');
  });

  it('works on constructed requests', () => {
    const r = createRequest('MESSAGE', 'sip:bob@example.org', BASE_HEADERS.map((h) => h.split(/: (.*)/s).slice(0, 2) as [string, string]));
    expect(validateRequest(r)).toBeUndefined();
    expect(validateRequest({ ...r, method: 'MES SAGE' })).toBe('Bad method');
    expect(validateRequest({ ...r, uri: 'not a uri' })).toBe('Bad Request-URI');
  });
});

describe('parseMessage — responses are validated leniently (RFC 3261 §17.1.3 needs Via and CSeq)', () => {
  const respHeaders = BASE_HEADERS.filter((h) => !h.startsWith('Max-Forwards'));
  const resp = (headers: string[]): Buffer => request(headers, '', { startLine: 'SIP/2.0 200 OK' });

  it('accepts a response whose From does not parse (it is only echoed)', () => {
    const m = res(parseMessage(resp(['From: whatever', ...respHeaders.filter((h) => !h.startsWith('From'))])));
    expect(m.status).toBe(200);
  });

  it('requires Via, CSeq, Call-ID, From, To; no partial for responses', () => {
    for (const n of ['Via', 'CSeq', 'Call-ID', 'From', 'To']) {
      expect(parseMessage(resp(respHeaders.filter((h) => !h.startsWith(n + ':'))))).toEqual({ ok: false, reason: `Missing ${n}` });
    }
    expect(reason(parseMessage(resp([...respHeaders.filter((h) => !h.startsWith('CSeq')), 'CSeq: x'])))).toBe('Bad CSeq');
    expect(reason(parseMessage(resp(['Via: nonsense', ...respHeaders.filter((h) => !h.startsWith('Via'))])))).toBe('Malformed Via');
  });
});


describe('scanHead: the word-at-a-time scan agrees with a byte-by-byte reference', () => {
  /** §7.3 / §25 as the parser had it: printable ASCII, HTAB, CRLF pairs; high bytes flagged for UTF-8. */
  function reference(b: Buffer, from: number, to: number): -1 | 0 | 1 {
    let high: 0 | 1 = 0;
    for (let i = from; i < to; i++) {
      const c = b[i]!;
      if (c >= 32 && c < 127) continue;
      if (c === 13) {
        if (b[i + 1] !== 10) return -1;
        i++;
      } else if (c > 127) high = 1;
      else if (c !== 9) return -1;
    }
    return high;
  }

  it('on random header-like bytes at every alignment', () => {
    let seed = 7;
    const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const pool = Buffer.alloc(4096);
    for (let n = 0; n < 50_000; n++) {
      const len = Math.floor(random() * 120);
      const start = Math.floor(random() * 8);
      for (let k = 0; k < len + 2; k++) {
        const r = random();
        pool[start + k] = r < 0.85 ? 32 + Math.floor(random() * 95) : r < 0.9 ? 13 : r < 0.93 ? 10 : r < 0.96 ? 9 : Math.floor(random() * 256);
      }
      const b = pool.subarray(start, start + len + 2);
      expect(scanHead(b, 0, len), JSON.stringify(b.toString('latin1'))).toBe(reference(b, 0, len));
    }
  });
});
