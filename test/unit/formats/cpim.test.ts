import { describe, expect, it } from 'vitest';
import {
  CPIM_DEFAULT_NS,
  CpimError,
  IMDN_NS,
  buildCpim,
  cpimHeaders,
  escapeCpimValue,
  parseCpim,
  parseCpimAddress,
  unescapeCpimValue,
} from '../../../src/formats/cpim.js';
import { IMDN_REQUEST, RFC3862_EXAMPLE } from '../../fixtures/cpim-messages.js';

const crlf = (lines: string[]): Buffer => Buffer.from(lines.join('\r\n'), 'utf8');

describe('parseCpim', () => {
  it('RFC 3862 §5.1 canonical example (reference §8.1): headers, namespaces, Require, entity', () => {
    const msg = parseCpim(crlf([...RFC3862_EXAMPLE]));
    expect(parseCpimAddress(cpimHeaders(msg, 'From')[0]?.value ?? '')).toEqual({ uri: 'im:piglet@100akerwood.com', displayName: 'MR SANDERS' });
    expect(cpimHeaders(msg, 'To')).toHaveLength(1);
    const subjects = cpimHeaders(msg, 'Subject');
    expect(subjects.map((s) => [s.lang, s.value])).toEqual([
      [undefined, 'the weather will be fine today'],
      ['fr', "beau temps prevu pour aujourd'hui"],
    ]);
    expect(msg.required).toEqual([{ name: 'MyFeatures.VitalMessageOption', localName: 'VitalMessageOption', ns: 'mid:MessageFeatures@id.foo.com' }]);
    const wacky = msg.headers.find((h) => h.localName === 'WackyMessageOption');
    expect(wacky?.ns).toBe('mid:MessageFeatures@id.foo.com');
    expect(msg.contentType).toBe('text/xml; charset=utf-8');
    expect(msg.contentHeaders.map((h) => h.name)).toEqual(['Content-type', 'Content-ID']);
    expect(msg.body.toString('utf8')).toBe('<body>\r\nHere is the text of my message.\r\n</body>');
  });

  it('header names are case-sensitive (RFC 3862 §2.2): "from" is not From', () => {
    const msg = parseCpim(crlf(['from: <im:a@b.example>', '', 'Content-Type: text/plain', '', 'x']));
    expect(cpimHeaders(msg, 'From')).toHaveLength(0);
    expect(msg.headers[0]?.localName).toBe('from');
  });

  it('tolerates the missing separator before Content-Type (RFC 7702 / RFC 5438 examples, reference §8.1)', () => {
    const msg = parseCpim(crlf([...IMDN_REQUEST]));
    expect(cpimHeaders(msg, 'Message-ID', IMDN_NS)[0]?.value).toBe('34jk324j');
    expect(msg.contentType).toBe('text/plain');
    expect(msg.body.toString()).toBe('Hello World');
  });

  it('accepts bare LF line ends (the RFCs print LF)', () => {
    const msg = parseCpim(Buffer.from('From: <sip:a@b.example>\n\nContent-Type: text/plain\n\nhi\n'));
    expect(msg.body.toString()).toBe('hi\n');
  });

  it('keeps the body byte for byte (UTF-8, CRLF, trailing blank lines)', () => {
    const body = 'žluťoučký kůň\r\n\r\n';
    const msg = parseCpim(Buffer.concat([crlf(['From: <sip:a@b.example>', '', 'Content-Type: text/plain;charset=utf-8', '', '']), Buffer.from(body)]));
    expect(msg.body.toString('utf8')).toBe(body);
  });

  it('unfolds a content header whose value starts on the continuation line without a leading space (found by fuzzing)', () => {
    const msg = parseCpim(crlf(['From: <sip:a@b.example>', '', 'Content-Type: message/imdn+xml', 'Content-Disposition:', ' notification', 'X-Blank: a', ' \t', '', '<imdn/>']));
    expect(msg.contentHeaders.find((h) => h.name === 'Content-Disposition')?.value).toBe('notification');
    expect(msg.contentHeaders.find((h) => h.name === 'X-Blank')?.value).toBe('a');
  });

  it('a default-namespace NS changes what unprefixed names mean (RFC 3862 §3.4)', () => {
    const msg = parseCpim(crlf(['NS: <urn:example:other>', 'From: <sip:a@b.example>', '', 'Content-Type: text/plain', '', '']));
    expect(cpimHeaders(msg, 'From')).toHaveLength(0);
    expect(msg.headers[1]?.ns).toBe('urn:example:other');
  });

  it('an undeclared prefix resolves to no namespace', () => {
    const msg = parseCpim(crlf(['Require: x.Thing', 'x.Thing: 1', '', 'Content-Type: text/plain', '', '']));
    expect(msg.required[0]?.ns).toBeUndefined();
    expect(msg.headers[1]?.ns).toBeUndefined();
  });

  it.each([
    ['no blank line at all', 'From: <sip:a@b.example>'],
    ['no content type', 'From: <sip:a@b.example>\r\n\r\nContent-ID: <x>\r\n\r\nbody'],
    ['a header without colon', 'From <sip:a@b.example>\r\n\r\nContent-Type: text/plain\r\n\r\n'],
    ['a NUL in a header', 'Subject: a\u0000b\r\n\r\nContent-Type: text/plain\r\n\r\n'],
    ['a bare CR in a header', 'Subject: a\rInjected: b\r\n\r\nContent-Type: text/plain\r\n\r\n'],
    ['a malformed NS', 'NS: <not a uri>\r\n\r\nContent-Type: text/plain\r\n\r\n'],
    ['an empty body', ''],
  ])('throws CpimError on %s', (_what, text) => {
    expect(() => parseCpim(Buffer.from(text, 'utf8'))).toThrow(CpimError);
  });

  it('throws CpimError on invalid UTF-8 in headers', () => {
    expect(() => parseCpim(Buffer.concat([Buffer.from('Subject: '), Buffer.from([0xc3, 0x28]), Buffer.from('\r\n\r\nContent-Type: text/plain\r\n\r\n')]))).toThrow(CpimError);
  });

  it('enforces the size and header-count caps', () => {
    expect(() => parseCpim(Buffer.alloc(100, 0x41), { maxBytes: 99 })).toThrow(/limit/);
    const many = Array.from({ length: 5 }, (_, k) => `X${k}: v`);
    expect(() => parseCpim(crlf([...many, '', 'Content-Type: text/plain', '', '']), { maxHeaders: 4 })).toThrow(CpimError);
  });
});

describe('CPIM escapes (RFC 3862 §2.3)', () => {
  it('decodes every special sequence, \\u, unknown escapes and a final lone backslash', () => {
    expect(unescapeCpimValue('a\\\\b\\"c\\\'d\\be\\tf\\ng\\rh\\u00e9\\qz\\')).toBe('a\\b"c\'d\be\tf\ng\rh\u00e9qz');
  });

  it('escapes backslash and all controls, and round-trips', () => {
    const s = 'line1\r\nline2\t\\\u0001\u007f';
    expect(escapeCpimValue(s)).toBe('line1\\r\\nline2\\t\\\\\\u0001\\u007f');
    expect(unescapeCpimValue(escapeCpimValue(s))).toBe(s);
  });

  it('decodes a \\u surrogate pair to one character and a lone surrogate escape to U+FFFD (found by fuzzing)', () => {
    expect(unescapeCpimValue('a\\ud83d\\ude00b')).toBe('a\u{1f600}b');
    expect(unescapeCpimValue('\\ud834jied')).toBe('\ufffdjied');
    expect(unescapeCpimValue('x\\udc00')).toBe('x\ufffd');
  });

  it('escapes spaces at either end, which a reader would otherwise trim away (found by fuzzing)', () => {
    expect(escapeCpimValue('  a b ')).toBe('\\u0020\\u0020a b\\u0020');
    const built = buildCpim({ from: { uri: 'sip:a@example.com' }, to: { uri: 'sip:b@example.org' }, subject: [{ text: ' hi ' }], contentType: 'text/plain', body: 'x' });
    expect(unescapeCpimValue(cpimHeaders(parseCpim(built), 'Subject')[0]?.value ?? '')).toBe(' hi ');
  });
});

describe('parseCpimAddress (RFC 3862 §4.1)', () => {
  it('reads quoted, token and absent Formal-names', () => {
    expect(parseCpimAddress('"Juliet \\"J\\" <C>" <sip:juliet@example.com>')).toEqual({ uri: 'sip:juliet@example.com', displayName: 'Juliet "J" <C>' });
    expect(parseCpimAddress('Winnie the Pooh <im:pooh@100akerwood.com>')).toEqual({ uri: 'im:pooh@100akerwood.com', displayName: 'Winnie the Pooh' });
    expect(parseCpimAddress('<im:tigger@100akerwood.com>')).toEqual({ uri: 'im:tigger@100akerwood.com' });
  });

  it('ignores parameters after ">" (RFC 7702 Ex. 13 defect, reference §8.1)', () => {
    expect(parseCpimAddress('"Romeo" <sip:romeo@example.org>;gr=abc').uri).toBe('sip:romeo@example.org');
  });

  it.each(['sip:a@b', '<>', '<not a uri>', '"unterminated <sip:a@b>'])('refuses %j', (v) => {
    expect(() => parseCpimAddress(v)).toThrow(CpimError);
  });
});

describe('buildCpim', () => {
  it('round-trips with CRLF, one space after the colon, and the mandatory separators', () => {
    const buf = buildCpim({
      from: { uri: 'sip:juliet@example.com', displayName: 'Juliet' },
      to: [{ uri: 'sip:romeo@example.net' }, { uri: 'sip:nurse@example.net' }],
      dateTime: '2008-10-15T15:02:31-03:00',
      subject: [{ text: 'Hi' }, { lang: 'fr', text: 'Salut' }],
      contentType: 'text/plain;charset=UTF-8',
      body: 'Who knows where Romeo is?',
    });
    const text = buf.toString('utf8');
    expect(text).toBe(
      [
        'From: "Juliet" <sip:juliet@example.com>',
        'To: <sip:romeo@example.net>',
        'To: <sip:nurse@example.net>',
        'DateTime: 2008-10-15T15:02:31-03:00',
        'Subject: Hi',
        'Subject:;lang=fr Salut',
        '',
        'Content-Type: text/plain;charset=UTF-8',
        '',
        'Who knows where Romeo is?',
      ].join('\r\n'),
    );
    const back = parseCpim(buf);
    expect(cpimHeaders(back, 'To')).toHaveLength(2);
    expect(cpimHeaders(back, 'Subject')[1]?.lang).toBe('fr');
    expect(back.body.toString()).toBe('Who knows where Romeo is?');
  });

  it('reproduces the §9.7 K4 IMDN request (compared by meaning)', () => {
    const buf = buildCpim({
      from: { uri: 'sip:juliet@example.com' },
      to: { uri: 'sip:romeo@example.net' },
      namespaces: [{ prefix: 'imdn', uri: IMDN_NS }],
      dateTime: '2016-12-01T10:00:00Z',
      headers: [
        { name: 'imdn.Message-ID', value: '9f3c1a7be2d04c55' },
        { name: 'imdn.Disposition-Notification', value: 'positive-delivery, negative-delivery' },
      ],
      contentType: 'text/plain',
      body: 'Hello World',
    });
    const msg = parseCpim(buf);
    expect(cpimHeaders(msg, 'Message-ID', IMDN_NS)[0]?.value).toBe('9f3c1a7be2d04c55');
    expect(cpimHeaders(msg, 'Disposition-Notification', IMDN_NS)[0]?.value).toBe('positive-delivery, negative-delivery');
    expect(cpimHeaders(msg, 'DateTime', CPIM_DEFAULT_NS)[0]?.value).toBe('2016-12-01T10:00:00Z');
    expect(msg.body.toString()).toBe('Hello World');
  });

  it('injection: CRLF in a subject or display name cannot create a header; <, > and quotes stay inside the name', () => {
    const buf = buildCpim({
      from: { uri: 'sip:a@example.com', displayName: 'Eve" <sip:boss@example.com>\r\nFrom: <sip:boss@example.com>' },
      to: { uri: 'sip:b@example.com' },
      subject: [{ text: 'hi\r\nRequire: evil.Thing' }],
      contentType: 'text/plain',
      body: 'x',
    });
    const msg = parseCpim(buf);
    expect(cpimHeaders(msg, 'From')).toHaveLength(1);
    expect(msg.required).toHaveLength(0);
    const from = parseCpimAddress(cpimHeaders(msg, 'From')[0]?.value ?? '');
    expect(from.uri).toBe('sip:a@example.com');
    expect(from.displayName).toBe('Eve" <sip:boss@example.com>\r\nFrom: <sip:boss@example.com>');
    expect(unescapeCpimValue(cpimHeaders(msg, 'Subject')[0]?.value ?? '')).toBe('hi\r\nRequire: evil.Thing');
  });

  it('writes a Date in UTC', () => {
    const buf = buildCpim({ from: { uri: 'sip:a@b.example' }, to: { uri: 'sip:c@d.example' }, dateTime: new Date(Date.UTC(2020, 0, 2, 3, 4, 5)), contentType: 'text/plain', body: '' });
    expect(buf.toString()).toContain('DateTime: 2020-01-02T03:04:05.000Z\r\n');
  });

  it.each([
    ['a URI with a space', { from: { uri: 'sip:a b@c' } }],
    ['a URI with >', { from: { uri: 'sip:a@c>\r\nX: y' } }],
    ['a bad DateTime', { dateTime: 'yesterday' }],
    ['a bad language tag', { subject: [{ lang: 'fr\r\nX', text: 'x' }] }],
    ['an undeclared prefix', { headers: [{ name: 'imdn.Message-ID', value: '1' }] }],
    ['a bad header name', { headers: [{ name: 'Bad:Name', value: '1' }] }],
    ['a bad content type', { contentType: 'text/plain\r\nX: y' }],
    ['CRLF in a content header', { contentHeaders: [{ name: 'Content-Disposition', value: 'a\r\nX: y' }] }],
  ])('throws CpimError on %s', (_what, override) => {
    const base = { from: { uri: 'sip:a@b.example' }, to: { uri: 'sip:c@d.example' }, contentType: 'text/plain', body: 'x' };
    expect(() => buildCpim({ ...base, ...override })).toThrow(CpimError);
  });
});
