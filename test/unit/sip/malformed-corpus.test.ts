/**
 * A corpus of broken SIP messages built from the grammar: each case mutates a valid message in one
 * way and states the reason the parser must give. The contract under test is that `parseMessage`
 * never throws, always says why, and hands back a `partial` request exactly when the request line
 * and header lines could still be split (so a 400 can be sent to the right Via).
 */
import { describe, it, expect } from 'vitest';
import { parseMessage, type ParseOptions, type ParseOutcome } from '../../../src/sip/parser.js';
import { SAMPLE_INVITE, SAMPLE_MESSAGE, SAMPLE_NOTIFY } from '../../../bench/samples.js';

interface Parts {
  startLine: string;
  headers: string[];
  body: string;
}

function split(sample: string): Parts {
  const end = sample.indexOf('\r\n\r\n');
  const [startLine, ...headers] = sample.slice(0, end).split('\r\n');
  return { startLine: startLine ?? '', headers, body: sample.slice(end + 4) };
}

function join(p: Parts): Buffer {
  return Buffer.from([p.startLine, ...p.headers].join('\r\n') + '\r\n\r\n' + p.body, 'utf8');
}

const BASE = split(SAMPLE_MESSAGE);
const isHeader = (name: string) => (h: string) => h.toLowerCase().startsWith(name.toLowerCase() + ':');

/** The sample MESSAGE with the first header `name` replaced by `line` (or removed when line is null). */
function withHeader(name: string, line: string | null): Buffer {
  const i = BASE.headers.findIndex(isHeader(name));
  const headers = [...BASE.headers];
  if (line === null) headers.splice(i, 1);
  else headers[i] = line;
  return join({ ...BASE, headers });
}

function withExtra(...lines: string[]): Buffer {
  const cl = BASE.headers.findIndex(isHeader('Content-Length'));
  const headers = [...BASE.headers];
  headers.splice(cl, 0, ...lines);
  return join({ ...BASE, headers });
}

function withStartLine(startLine: string): Buffer {
  return join({ ...BASE, startLine });
}

function safeParse(data: Buffer, opts?: ParseOptions): ParseOutcome {
  let out: ParseOutcome | undefined;
  expect(() => {
    out = parseMessage(data, opts);
  }).not.toThrow();
  if (!out) throw new Error('unreachable');
  return out;
}

interface Case {
  name: string;
  data: Buffer;
  reason: string;
  partial: boolean;
  opts?: ParseOptions;
  tooLarge?: boolean;
}

function check(c: Case): void {
  const out = safeParse(c.data, c.opts);
  expect(out.ok, c.name).toBe(false);
  if (out.ok) return;
  expect(out.reason, c.name).toBe(c.reason);
  expect(out.reason).not.toMatch(/[\r\n]/);
  expect(out.partial !== undefined, `${c.name}: partial`).toBe(c.partial);
  expect(out.tooLarge === true, `${c.name}: tooLarge`).toBe(c.tooLarge === true);
}

function runCases(cases: Case[]): void {
  for (const c of cases) it(c.name, () => check(c));
}

describe('sanity: the unmutated sample parses', () => {
  it('ok', () => expect(safeParse(join(BASE)).ok).toBe(true));
});

describe('RFC 3261 §8.1.1 each mandatory header dropped', () => {
  runCases(
    [
      ['To', 'Missing To'],
      ['From', 'Missing From'],
      ['Call-ID', 'Missing Call-ID'],
      ['CSeq', 'Missing CSeq'],
    ].map(([name, reason]) => ({ name: `without ${name}`, data: withHeader(name!, null), reason: reason!, partial: true })),
  );
  it('without any Via', () => {
    const headers = BASE.headers.filter((h) => !isHeader('Via')(h));
    check({ name: 'no Via', data: join({ ...BASE, headers }), reason: 'Missing Via', partial: true });
  });
});

describe('RFC 3261 §20.16 / §8.1.1.5 corrupted CSeq', () => {
  runCases([
    ...['', 'MESSAGE', '1', 'x MESSAGE', '-1 MESSAGE', '1.0 MESSAGE', '2147483648 MESSAGE', '99999999999999999999 MESSAGE', '1 MES SAGE', '1 MESSAGE;x', '１ MESSAGE'].map(
      (v) => ({ name: `CSeq: ${JSON.stringify(v)}`, data: withHeader('CSeq', `CSeq: ${v}`), reason: 'Bad CSeq', partial: true }),
    ),
    { name: 'CSeq method differs', data: withHeader('CSeq', 'CSeq: 1 INVITE'), reason: 'CSeq method mismatch', partial: true },
    { name: 'CSeq method differs in case only', data: withHeader('CSeq', 'CSeq: 1 message'), reason: 'CSeq method mismatch', partial: true },
    { name: 'two CSeq', data: withExtra('CSeq: 2 MESSAGE'), reason: 'Duplicate CSeq', partial: true },
  ]);
});

describe('RFC 3261 §18.3 / §20.14 bad Content-Length', () => {
  runCases([
    ...['abc', '-5', '+5', '5.0', '0x10', '', '1 2', '12345678901'].map((v) => ({
      name: `Content-Length: ${JSON.stringify(v)}`,
      data: withHeader('Content-Length', `Content-Length: ${v}`),
      reason: 'Bad Content-Length',
      partial: true,
    })),
    { name: 'Content-Length larger than the body', data: withHeader('Content-Length', 'Content-Length: 4000'), reason: 'Content-Length mismatch', partial: true },
    { name: 'two different Content-Length', data: withExtra('l: 1'), reason: 'Duplicate Content-Length', partial: true },
    { name: 'no Content-Length on a stream', data: withHeader('Content-Length', null), reason: 'Missing Content-Length', partial: true, opts: { stream: true } },
    { name: 'Content-Length beyond maxSize on a stream', data: withHeader('Content-Length', 'Content-Length: 70000'), reason: 'Message too large', partial: true, tooLarge: true, opts: { stream: true } },
  ]);
});

describe('RFC 3261 §20.42 bad Via', () => {
  runCases(
    [
      'SIP/2.0/UDP',
      'SIP/2.0 host.example.com',
      'SIP/2.0/UDPhost.example.com',
      'SIP/2.0/UDP host.example.com:0x50',
      'SIP/2.0/UDP host.example.com:70000',
      'SIP/2.0/UDP host.example.com;branch',
      'SIP/2.0/UDP host.example.com;;branch=z9hG4bK1',
      'SIP/2.0/UDP host.example.com;branch=a;branch=b',
      'SIP/2.0/UDP host.example.com;ttl=300',
      'SIP/2.0/UDP [2001:db8::1;branch=z9hG4bK1',
      'SIP/2.0/UDP host..example.com',
      'SIP/2.0/UDP host.example.com;received="1.2.3.4',
      '',
    ].map((v) => ({ name: `Via: ${JSON.stringify(v)}`, data: withHeader('Via', `Via: ${v}`), reason: 'Malformed Via', partial: true })),
  );
  it('a bad Via after a good one is still refused', () => {
    check({ name: 'second Via', data: withExtra('Via: SIP/2.0/UDP'), reason: 'Malformed Via', partial: true });
  });
  it('an unterminated quote in a Via list cannot be split', () => {
    check({ name: 'Via list', data: withHeader('Via', 'Via: SIP/2.0/UDP a.example.com;x="1, SIP/2.0/UDP b.example.com'), reason: 'Malformed Via', partial: false });
  });
});

describe('RFC 3261 §7.1 bad request line', () => {
  runCases([
    ...[
      'MESSAGE  sip:juliet@xmpp.example.org SIP/2.0',
      'MESSAGE sip:juliet@xmpp.example.org  SIP/2.0',
      ' MESSAGE sip:juliet@xmpp.example.org SIP/2.0',
      'MESSAGE sip:juliet@xmpp.example.org SIP/2.0 ',
      'MESSAGE\tsip:juliet@xmpp.example.org\tSIP/2.0',
      'MESSAGE sip:juliet@xmpp.example.org',
      'MESSAGE SIP/2.0',
      'MESSAGE',
      'MESSAGE sip:juliet@xmpp.example.org HTTP/1.1',
      'MESSAGE sip:juliet@xmpp.example.org SIP/2',
      'MESSAGE sip:juliet@xmpp.example.org SIP2.0',
      'MESSAGE sip:juliet @xmpp.example.org SIP/2.0',
    ].map((l) => ({ name: `request line ${JSON.stringify(l)}`, data: withStartLine(l), reason: 'Malformed request line', partial: false })),
    ...['MESS<AGE sip:juliet@xmpp.example.org SIP/2.0', 'MESSAGE: sip:juliet@xmpp.example.org SIP/2.0', 'MÉSSAGE sip:juliet@xmpp.example.org SIP/2.0'].map((l) => ({
      name: `method ${JSON.stringify(l)}`,
      data: withStartLine(l),
      reason: 'Bad method',
      partial: true,
    })),
    { name: 'version SIP/3.0', data: withStartLine('MESSAGE sip:juliet@xmpp.example.org SIP/3.0'), reason: 'Version Not Supported', partial: true },
    { name: 'version SIP/1.0', data: withStartLine('MESSAGE sip:juliet@xmpp.example.org SIP/1.0'), reason: 'Version Not Supported', partial: true },
    { name: 'status line with bad code', data: withStartLine('SIP/2.0 2000 OK'), reason: 'Malformed status line', partial: false },
    { name: 'status line with code 99', data: withStartLine('SIP/2.0 099 OK'), reason: 'Malformed status line', partial: false },
    { name: 'status line with letters', data: withStartLine('SIP/2.0 OK 200'), reason: 'Malformed status line', partial: false },
    { name: 'status line, no code', data: withStartLine('SIP/2.0'), reason: 'Malformed status line', partial: false },
    { name: 'status line, version 2.1', data: withStartLine('SIP/2.1 200 OK'), reason: 'Version Not Supported', partial: false },
  ]);
});

describe('RFC 3261 §19.1 bad Request-URI', () => {
  runCases(
    [
      '<sip:juliet@xmpp.example.org>',
      'sip:',
      'sip:juliet@',
      'sip:@xmpp.example.org',
      'sip:juliet@xmpp.example.org:99999',
      'sip:juliet@xmpp..example.org',
      'sip:juliet@[::1',
      'sip:jul%zzet@xmpp.example.org',
      'sip:juliet@xmpp.example.org;;lr',
      'juliet@xmpp.example.org',
      'sip:jul"iet@xmpp.example.org',
      'sip:juliet@xmpp.example.org?x',
    ].map((u) => ({ name: `Request-URI ${JSON.stringify(u)}`, data: withStartLine(`MESSAGE ${u} SIP/2.0`), reason: 'Bad Request-URI', partial: true })),
  );
});

describe('RFC 3261 §20.20 / §20.39 bad From and To', () => {
  runCases([
    { name: 'From unterminated quote', data: withHeader('From', 'From: "Romeo <sip:romeo@sip.example.com>;tag=1'), reason: 'Bad From', partial: true },
    { name: 'From unterminated <', data: withHeader('From', 'From: <sip:romeo@sip.example.com;tag=1'), reason: 'Bad From', partial: true },
    { name: 'From without scheme', data: withHeader('From', 'From: romeo@sip.example.com'), reason: 'Bad From', partial: true },
    { name: 'From with junk after >', data: withHeader('From', 'From: <sip:romeo@sip.example.com> tag=1'), reason: 'Bad From', partial: true },
    { name: 'From display name with bad chars', data: withHeader('From', 'From: Ro;meo <sip:romeo@sip.example.com>'), reason: 'Bad From', partial: true },
    { name: 'To empty', data: withHeader('To', 'To:'), reason: 'Bad To', partial: true },
    { name: 'To two tags', data: withHeader('To', 'To: <sip:juliet@xmpp.example.org>;tag=1;tag=2'), reason: 'Bad To', partial: true },
    { name: 'two From', data: withExtra('From: <sip:x@example.com>;tag=9'), reason: 'Duplicate From', partial: true },
    { name: 'two To', data: withExtra('t: <sip:x@example.com>'), reason: 'Duplicate To', partial: true },
    { name: 'two Call-ID', data: withExtra('i: other@example.com'), reason: 'Duplicate Call-ID', partial: true },
    { name: 'Call-ID with space', data: withHeader('Call-ID', 'Call-ID: a b'), reason: 'Bad Call-ID', partial: true },
    { name: 'Max-Forwards 256', data: withHeader('Max-Forwards', 'Max-Forwards: 256'), reason: 'Bad Max-Forwards', partial: true },
    { name: 'Max-Forwards word', data: withHeader('Max-Forwards', 'Max-Forwards: seventy'), reason: 'Bad Max-Forwards', partial: true },
    { name: 'two Max-Forwards', data: withExtra('Max-Forwards: 5'), reason: 'Duplicate Max-Forwards', partial: true },
  ]);
});

describe('RFC 3261 §7.3 broken header lines', () => {
  runCases([
    { name: 'line without colon', data: withExtra('NoColonHere'), reason: 'Malformed header line', partial: false },
    { name: 'empty header name', data: withExtra(': value'), reason: 'Bad header name', partial: false },
    { name: 'space inside a header name', data: withExtra('Bad Name: value'), reason: 'Bad header name', partial: false },
    { name: 'non-token header name', data: withExtra('X(y): value'), reason: 'Bad header name', partial: false },
    { name: 'continuation as first header line', data: withStartLine('MESSAGE sip:juliet@xmpp.example.org SIP/2.0\r\n  folded'), reason: 'Malformed header line', partial: false },
    { name: 'unterminated quote in a Contact list', data: withHeader('Contact', 'Contact: "a, <sip:a@b.example>'), reason: 'Malformed Contact', partial: false },
    { name: 'unterminated < in a Route list', data: withExtra('Route: <sip:a.example;lr, <sip:b.example;lr>'), reason: 'Malformed Route', partial: false },
  ]);
});

describe('RFC 3261 §7 / §25 bytes that may not appear in headers', () => {
  const raw = (s: string): Buffer => Buffer.from(s, 'latin1');
  const headText = [BASE.startLine, ...BASE.headers].join('\r\n');
  runCases([
    {
      name: 'non-UTF-8 byte in a display name',
      data: Buffer.concat([raw(headText.replace('Romeo Montague', 'Romeo \xff Montague')), raw('\r\n\r\n'), Buffer.from(BASE.body)]),
      reason: 'Invalid UTF-8 in headers',
      partial: true,
    },
    {
      name: 'overlong UTF-8 encoding in Subject',
      data: Buffer.concat([raw(headText + '\r\nSubject: \xc0\xaf'), raw('\r\n\r\n'), Buffer.from(BASE.body)]),
      reason: 'Invalid UTF-8 in headers',
      partial: true,
    },
    { name: 'NUL in a header value', data: withExtra('Subject: a\u0000b'), reason: 'Invalid character in headers', partial: false },
    { name: 'NUL in the request line', data: withStartLine('MESSAGE sip:juliet@xmpp.example.org\u0000 SIP/2.0'), reason: 'Invalid character in headers', partial: false },
    { name: 'ESC in a header value', data: withExtra('Subject: \u001b[31mred'), reason: 'Invalid character in headers', partial: false },
    { name: 'DEL in a header value', data: withExtra('Subject: \u007f'), reason: 'Invalid character in headers', partial: false },
    { name: 'bare LF inside headers', data: withExtra('Subject: a\nInjected: b'), reason: 'Invalid character in headers', partial: false },
    { name: 'bare CR inside headers', data: withExtra('Subject: a\rInjected: b'), reason: 'Invalid character in headers', partial: false },
  ]);

  it('NUL and non-UTF-8 bytes in the body are fine (bodies are binary)', () => {
    const body = Buffer.from([0, 0xff, 0xfe, 0]);
    const head = [BASE.startLine, ...BASE.headers.filter((h) => !isHeader('Content-Length')(h)), 'Content-Length: 4'].join('\r\n') + '\r\n\r\n';
    const out = safeParse(Buffer.concat([Buffer.from(head), body]));
    expect(out.ok && out.message.body.equals(body)).toBe(true);
  });
});

describe('RFC 3261 §18.1.1 / resource limits', () => {
  it('10k headers → "Too many headers"', () => {
    check({ name: '10k headers', data: withExtra(...Array.from({ length: 10_000 }, () => 'a:1')), reason: 'Too many headers', partial: false });
  });
  it('10k Allow values on one line are counted after splitting', () => {
    check({ name: 'long Allow', data: withExtra('Allow: ' + Array.from({ length: 10_000 }, () => 'X').join(',')), reason: 'Too many headers', partial: false });
  });
  it('a huge header line → "Message too large" with a partial request', () => {
    check({ name: 'huge line', data: withExtra('Subject: ' + 'x'.repeat(100_000)), reason: 'Message too large', partial: true, tooLarge: true });
  });
  it('a huge body → "Message too large" with a partial request', () => {
    const body = 'y'.repeat(70_000);
    const headers = BASE.headers.map((h) => (isHeader('Content-Length')(h) ? `Content-Length: ${body.length}` : h));
    check({ name: 'huge body', data: join({ ...BASE, headers, body }), reason: 'Message too large', partial: true, tooLarge: true });
  });
  it('1 MB of garbage without a blank line → "Message too large"', () => {
    check({ name: 'garbage', data: Buffer.alloc(1 << 20, 0x41), reason: 'Message too large', partial: false, tooLarge: true });
  });
  it('a header section of a million commas in a list header', () => {
    check({ name: 'commas', data: withExtra('Supported: ' + ','.repeat(60_000)), reason: 'Message too large', partial: true, tooLarge: true, opts: { maxSize: 60_000 } });
  });
});

describe('RFC 3261 §7.5 / §18.3 truncation and framing', () => {
  it('missing CRLFCRLF (headers end with a single CRLF)', () => {
    const text = [BASE.startLine, ...BASE.headers].join('\r\n') + '\r\n';
    check({ name: 'single CRLF', data: Buffer.from(text), reason: 'Missing end of headers', partial: false });
  });

  it('bare LF line endings are not accepted', () => {
    const text = [BASE.startLine, ...BASE.headers].join('\n') + '\n\n' + BASE.body;
    check({ name: 'LF only', data: Buffer.from(text), reason: 'Missing end of headers', partial: false });
  });

  for (const [name, sample] of [
    ['MESSAGE', SAMPLE_MESSAGE],
    ['NOTIFY', SAMPLE_NOTIFY],
    ['INVITE', SAMPLE_INVITE],
  ] as const) {
    it(`${name} truncated at every offset never throws and says why`, () => {
      const full = Buffer.from(sample, 'utf8');
      const headEnd = full.indexOf('\r\n\r\n') + 4;
      for (let k = 0; k < full.length; k++) {
        for (const stream of [false, true]) {
          const out = parseMessage(full.subarray(0, k), { stream });
          expect(out.ok, `offset ${k}`).toBe(false);
          if (out.ok) continue;
          if (k === 0) expect(out.reason).toBe('Empty message');
          else if (k < headEnd) expect(out.reason, `offset ${k}`).toBe('Missing end of headers');
          else {
            expect(out.reason, `offset ${k}`).toBe('Content-Length mismatch');
            expect(out.partial).toBeDefined();
          }
        }
      }
    });
  }

  it('every header byte replaced by NUL, 0xFF or CR never throws', () => {
    const full = Buffer.from(SAMPLE_MESSAGE, 'utf8');
    const headEnd = full.indexOf('\r\n\r\n');
    const allowed = new Set([
      'Invalid character in headers',
      'Invalid UTF-8 in headers',
      'Missing end of headers',
      'Malformed request line',
      'Bad header name',
      'Malformed header line',
      'Bad method',
    ]);
    for (let k = 0; k < headEnd + 4; k++) {
      for (const b of [0x00, 0xff, 0x0d]) {
        const copy = Buffer.from(full);
        copy[k] = b;
        const out = safeParse(copy);
        if (!out.ok) expect(allowed.has(out.reason), `${k}:${b} ${out.reason}`).toBe(true);
      }
    }
  });
});

describe('RFC 4475-style torture messages (written for Stox)', () => {
  it('§3.1.1.1-style: short compact names, odd case, lots of LWS and folding — valid', () => {
    const text =
      'OPTIONS sip:vivekg@chair-dnrc.example.com;unknownparam SIP/2.0\r\n' +
      'TO :\r\n sip:vivekg@chair-dnrc.example.com ;   tag    = 1918181833n\r\n' +
      'from   : "J Rosenberg \\\\\\""       <sip:jdrosen@example.com>\r\n  ;\r\n  tag = 98asjd8\r\n' +
      'MaX-fOrWaRdS: 0068\r\n' +
      'Call-ID: wsinv.ndaksdj@192.0.2.1\r\n' +
      'Content-Length   : 0\r\n' +
      'cseq: 0009\r\n  OPTIONS\r\n' +
      'Via  : SIP  /   2.0\r\n /UDP\r\n    192.0.2.2;branch=390skdjuw\r\n' +
      's :\r\n' +
      'NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n' +
      'UnknownHeaderWithUnusualValue: ;;,,;;,;\r\n' +
      'v:  SIP  / 2.0  / TCP     spindle.example.com   ;\r\n  branch  =   z9hG4bK9ikj8  ,\r\n SIP  /    2.0   / UDP  192.168.255.111   ; branch=\r\n z9hG4bK30239\r\n' +
      'm:"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam =\r\n      newvalue ;\r\n  secondparam ; q = 0.33\r\n\r\n';
    const out = safeParse(Buffer.from(text));
    expect(out.ok ? 'ok' : out.reason).toBe('ok');
    if (!out.ok) return;
    const h = out.message.headers;
    expect(h.getAll('via')).toHaveLength(3);
    expect(h.get('max-forwards')).toBe('0068');
    expect(h.get('subject')).toBe('');
    expect(h.get('newfangledheader')).toBe('newfangled value continued newfangled value');
    expect(h.get('unknownheaderwithunusualvalue')).toBe(';;,,;;,;');
  });

  it('§3.1.1.2-style: a method made of every token character — valid', () => {
    const m = "!interesting-Method0123456789_*+`.%indeed'~";
    const data = Buffer.from(withStartLine(`${m} sip:juliet@xmpp.example.org SIP/2.0`).toString('utf8').replace('CSeq: 1 MESSAGE', `CSeq: 1 ${m}`));
    const parsed = safeParse(data);
    expect(parsed.ok && parsed.message.kind === 'request' && parsed.message.method).toBe(m);
  });

  it('§3.1.1.3-style: escapes in the Request-URI user and in From — valid', () => {
    const data = Buffer.from(
      withStartLine('MESSAGE sip:%6Auliet%40home@xmpp.example.org SIP/2.0')
        .toString('utf8')
        .replace('From: "Romeo Montague" <sip:romeo@sip.example.com>', 'From: <sip:r%6Fmeo@sip.example.com>'),
    );
    expect(safeParse(data).ok).toBe(true);
  });

  it('§3.1.1.7-style: an escaped NUL in a URI user is grammatical', () => {
    expect(safeParse(withStartLine('MESSAGE sip:null-%00-null@xmpp.example.org SIP/2.0')).ok).toBe(true);
  });

  it('§3.1.1.11-style: a datagram holding two messages — Content-Length 0 makes the second one junk after the body', () => {
    const second = SAMPLE_INVITE;
    const first = join({ ...BASE, headers: BASE.headers.map((h) => (isHeader('Content-Length')(h) ? 'Content-Length: 0' : h)), body: '' });
    const out = safeParse(Buffer.concat([first, Buffer.from(second)]));
    expect(out.ok && out.message.body.length).toBe(0);
  });

  it('§3.1.1.13-style: no whitespace between display name and <', () => {
    expect(safeParse(withHeader('From', 'From: caller<sip:caller@example.com>;tag=323')).ok).toBe(true);
  });

  it('§3.1.1.5-style: a URI with an unknown scheme parses (416 is the caller\'s decision)', () => {
    expect(safeParse(withStartLine('MESSAGE nobarr.url.type:here SIP/2.0')).ok).toBe(true);
  });

  it('§3.1.2.2-style: extra spaces in the request line', () => {
    check({ name: 'lwsstart', data: withStartLine('MESSAGE  sip:juliet@xmpp.example.org  SIP/2.0'), reason: 'Malformed request line', partial: false });
  });

  it('§3.1.2.6-style: unbalanced quotes in To', () => {
    check({ name: 'quotbal', data: withHeader('To', 'To: "Mr. J. User <sip:j.user@example.com>'), reason: 'Bad To', partial: true });
  });

  it('§3.1.2.7-style: Request-URI enclosed in <>', () => {
    check({ name: 'ltgtruri', data: withStartLine('MESSAGE <sip:juliet@xmpp.example.org> SIP/2.0'), reason: 'Bad Request-URI', partial: true });
  });

  it('§3.1.2.11-style: negative Content-Length', () => {
    check({ name: 'ncl', data: withHeader('Content-Length', 'Content-Length: -999'), reason: 'Bad Content-Length', partial: true });
  });

  it('§3.1.2.12-style: scalar fields with overlarge values', () => {
    check({ name: 'scalar02 CSeq', data: withHeader('CSeq', 'CSeq: 36893488147419103232 MESSAGE'), reason: 'Bad CSeq', partial: true });
    check({ name: 'scalar02 MF', data: withHeader('Max-Forwards', 'Max-Forwards: 300'), reason: 'Bad Max-Forwards', partial: true });
  });

  it('§3.1.2.16-style: unknown protocol version', () => {
    check({ name: 'badvers', data: withStartLine('MESSAGE sip:juliet@xmpp.example.org SIP/7.0'), reason: 'Version Not Supported', partial: true });
  });

  it('§3.1.2.17-style: CSeq method does not match the request method', () => {
    check({ name: 'mismatch01', data: withStartLine('OPTIONS sip:juliet@xmpp.example.org SIP/2.0'), reason: 'CSeq method mismatch', partial: true });
  });

  it('§3.3.2-style: a response with an empty reason phrase is fine; with a 3-digit code out of range is not', () => {
    const headers = BASE.headers.filter((h) => !isHeader('Max-Forwards')(h));
    expect(safeParse(join({ ...BASE, startLine: 'SIP/2.0 100 ', headers })).ok).toBe(true);
    check({ name: '700', data: join({ ...BASE, startLine: 'SIP/2.0 700 Weird', headers }), reason: 'Malformed status line', partial: false });
  });
});
