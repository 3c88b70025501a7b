import { describe, it, expect } from 'vitest';
import {
  formatCSeq,
  formatNameAddr,
  formatParams,
  formatVia,
  parseCSeq,
  parseNameAddr,
  parseParams,
  parseVia,
  quote,
  SipSyntaxError,
  splitHeaderValues,
  unquote,
  viaBranch,
} from '../../../src/sip/header-values.js';
import { parseHostPort, parseUri } from '../../../src/sip/uri.js';

function syntaxError(f: () => unknown): SipSyntaxError {
  try {
    f();
  } catch (e) {
    if (e instanceof SipSyntaxError) return e;
    throw e;
  }
  throw new Error('expected a SipSyntaxError');
}

describe('parseParams / formatParams — RFC 3261 §25.1 generic-param', () => {
  it('parses token, valueless and quoted values; names lower-case', () => {
    const p = parseParams(' ; Tag=a1b2 ;lr; d = "quoted \\"x\\", y" ;received=2001:db8::1');
    expect([...p]).toEqual([
      ['tag', 'a1b2'],
      ['lr', null],
      ['d', '"quoted \\"x\\", y"'],
      ['received', '2001:db8::1'],
    ]);
    expect(unquote(p.get('d') ?? '')).toBe('quoted "x", y');
  });

  it('round-trips through formatParams', () => {
    const text = ';tag=a1b2;lr;d="quoted \\"x\\", y";received=[2001:db8::1]';
    expect(formatParams(parseParams(text))).toBe(text);
  });

  it('quotes a value that is neither a token nor a quoted-string', () => {
    expect(formatParams(new Map([['x', 'a b"c']]))).toBe(';x="a b\\"c"');
    expect(formatParams(new Map([['x', 'evil\r\nVia: y']]))).toBe(';x="evilVia: y"');
  });

  it('keeps a quoted value with HTAB as it is, and re-quotes the content of one with other controls (found by fuzzing)', () => {
    // qdtext includes LWS (§25.1): a TAB inside quotes is legal on the wire and must not become `"\"a b\""`.
    const text = ';x="a\tb"';
    expect(formatParams(parseParams(text))).toBe(text);
    expect(formatNameAddr(parseNameAddr('<sip:a@example.com>;tag=1;x="a\tb"'))).toBe('<sip:a@example.com>;tag=1;x="a\tb"');
    expect(formatParams(new Map([['x', '"a\rb"']]))).toBe(';x="ab"');
  });

  it('rejects malformed parameters', () => {
    expect(syntaxError(() => parseParams('tag=1')).message).toMatch(/Expected ";"/);
    expect(syntaxError(() => parseParams(';=1')).message).toMatch(/Empty parameter name/);
    expect(syntaxError(() => parseParams(';tag=')).message).toMatch(/Empty value/);
    expect(syntaxError(() => parseParams(';tag="abc')).message).toMatch(/Unterminated/);
    expect(syntaxError(() => parseParams(';tag=1;TAG=2')).message).toMatch(/Duplicate parameter tag/);
    expect(syntaxError(() => parseParams(';tag=a b')).message).toMatch(/Expected ";"/);
    expect(() => formatParams(new Map([['bad name', null]]))).toThrow(SipSyntaxError);
  });
});

describe('quote / unquote', () => {
  it('escapes quotes and backslashes, drops control characters', () => {
    expect(quote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quote('x\r\ny\u0000z\u007f')).toBe('"xyz"');
    expect(unquote(quote('a"b\\c'))).toBe('a"b\\c');
    expect(unquote('token')).toBe('token');
  });
});

describe('splitHeaderValues — RFC 3261 §7.3.1 comma lists', () => {
  it('splits on commas outside quotes and <>', () => {
    expect(splitHeaderValues('INVITE, ACK ,BYE')).toEqual(['INVITE', 'ACK', 'BYE']);
    expect(splitHeaderValues('"Doe, John" <sip:j@x>;q=1, <sip:a,b@y>, sip:z@w')).toEqual(['"Doe, John" <sip:j@x>;q=1', '<sip:a,b@y>', 'sip:z@w']);
    expect(splitHeaderValues('"a \\", b" <sip:x@y>, <sip:q@r>')).toEqual(['"a \\", b" <sip:x@y>', '<sip:q@r>']);
  });
  it('drops empty elements', () => {
    expect(splitHeaderValues(' , a,, b ,')).toEqual(['a', 'b']);
    expect(splitHeaderValues('')).toEqual([]);
  });
  it('rejects unterminated quotes and angle brackets', () => {
    expect(() => splitHeaderValues('"abc, d')).toThrow(SipSyntaxError);
    expect(() => splitHeaderValues('<sip:a@b, c')).toThrow(SipSyntaxError);
  });
});

describe('parseVia — RFC 3261 §20.42', () => {
  it('parses a typical Via', () => {
    const v = parseVia('SIP/2.0/udp pc33.Atlanta.com:5066;branch=z9hG4bK776asdhds;received=192.0.2.1;rport');
    expect(v).toMatchObject({ protocol: 'SIP/2.0', transport: 'UDP', host: 'pc33.atlanta.com', port: 5066 });
    expect(viaBranch(v)).toBe('z9hG4bK776asdhds');
    expect(v.params.get('rport')).toBeNull();
    expect(v.params.get('received')).toBe('192.0.2.1');
  });

  it('§25.1 allows LWS around the slashes, the port colon and the semicolons', () => {
    const v = parseVia('SIP / 2.0 / TCP   host.example.com : 5060 ; branch = z9hG4bKx');
    expect(v).toMatchObject({ protocol: 'SIP/2.0', transport: 'TCP', host: 'host.example.com', port: 5060 });
    expect(viaBranch(v)).toBe('z9hG4bKx');
  });

  it('IPv6 sent-by and received', () => {
    const v = parseVia('SIP/2.0/TLS [2001:db8::9]:5061;branch=z9hG4bK1;received=2001:db8::10');
    expect(v.host).toBe('[2001:db8::9]');
    expect(v.port).toBe(5061);
    expect(v.params.get('received')).toBe('2001:db8::10');
    expect(parseVia('SIP/2.0/UDP [::1] ;branch=z9hG4bK2').host).toBe('[::1]');
  });

  it('no branch gives undefined', () => {
    expect(viaBranch(parseVia('SIP/2.0/UDP example.com'))).toBeUndefined();
  });

  it('round-trips through formatVia', () => {
    for (const t of ['SIP/2.0/UDP pc33.atlanta.com:5066;branch=z9hG4bK776asdhds;rport', 'SIP/2.0/WSS [2001:db8::1];branch=z9hG4bKa;received=2001:db8::2']) {
      expect(formatVia(parseVia(t))).toBe(t);
    }
  });

  it('rejects malformed Via values', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /sent-protocol/],
      ['SIP/2.0 host.example.com', /sent-protocol/],
      ['SIP/2.0/UDP', /sent-by/],
      ['SIP/2.0/UDPhost.example.com', /sent-by/],
      ['SIP/2.0/UDP;branch=z9hG4bK1', /space/],
      ['SIP/2.0/UDP host.example.com:99999;branch=z9hG4bK1', /port/],
      ['SIP/2.0/UDP host..example.com', /hostname/],
      ['SIP/2.0/UDP host.example.com branch=z9hG4bK1', /Invalid character/],
      ['SIP/2.0/UDP host.example.com;branch', /branch/],
      ['SIP/2.0/UDP host.example.com;branch="z9 hG4bK"', /branch/],
      ['SIP/2.0/UDP host.example.com;ttl=256', /ttl/],
      ['SIP/2.0/UDP host.example.com;rport=70000', /rport/],
      ['SIP/2.0/UDP host.example.com;branch=a;branch=b', /Duplicate/],
      ['SIP/2.0/UDP [2001:db8::1;branch=z9hG4bK1', /IPv6/],
    ];
    for (const [text, why] of bad) expect(syntaxError(() => parseVia(text)).message, text).toMatch(why);
  });
});

describe('parseNameAddr — RFC 3261 §20.10 / §20.20 / §20.39 name-addr and addr-spec', () => {
  it('quoted display name with escapes and UTF-8', () => {
    const na = parseNameAddr('"Bob \\"B\\" Söderström" <sip:bob@biloxi.com>;tag=a6c85cf');
    expect(na.displayName).toBe('Bob "B" Söderström');
    expect(na.uri.user).toBe('bob');
    expect(na.params.get('tag')).toBe('a6c85cf');
  });

  it('token display name; LWS collapsed', () => {
    const na = parseNameAddr('Bob   Smith <sip:bob@biloxi.com>');
    expect(na.displayName).toBe('Bob Smith');
    expect(na.params.size).toBe(0);
  });

  it('no display name', () => {
    const na = parseNameAddr('<sip:bob@biloxi.com;transport=tcp>;expires=60');
    expect(na.displayName).toBeUndefined();
    expect(na.uri.params.get('transport')).toBe('tcp');
    expect(na.params.get('expires')).toBe('60');
  });

  it('§20: parameters after a bare addr-spec are header parameters, not URI parameters', () => {
    const na = parseNameAddr('sip:bob@biloxi.com;tag=1928301774');
    expect(na.uri.params.size).toBe(0);
    expect(na.params.get('tag')).toBe('1928301774');
    expect(na.displayName).toBeUndefined();
  });

  it('quoted display name directly followed by <', () => {
    expect(parseNameAddr('"A"<sip:a@b.example>').displayName).toBe('A');
  });

  it('tel URI in name-addr; Contact with +sip.instance', () => {
    expect(parseNameAddr('<tel:+1-201-555-0123>').uri.scheme).toBe('tel');
    const c = parseNameAddr('<sip:a@b.example;ob>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>";reg-id=1');
    expect(c.params.get('+sip.instance')).toBe('"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"');
    expect(c.uri.params.get('ob')).toBeNull();
  });

  it('rejects malformed addresses', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /Empty address/],
      ['"Bob <sip:bob@biloxi.com>', /Unterminated/],
      ['"Bob" sip:bob@biloxi.com', /Expected </],
      ['Bob <sip:bob@biloxi.com', /Unterminated </],
      ['<sip:bob@>', /Empty host/],
      ['<bob@biloxi.com>', /scheme/],
      ['sip:bob@biloxi.com?Subject=x', /addr-spec/],
      ['<sip:bob@biloxi.com>;tag', /./],
      ['<sip:bob@biloxi.com> garbage', /Expected ";"/],
      ['<sip:bob@biloxi.com>;tag=1;tag=2', /Duplicate/],
    ];
    for (const [text, why] of bad) {
      if (text === '<sip:bob@biloxi.com>;tag') {
        // A valueless tag is grammatical (generic-param); it must not throw.
        expect(parseNameAddr(text).params.get('tag')).toBeNull();
        continue;
      }
      expect(syntaxError(() => parseNameAddr(text)).message, text).toMatch(why);
    }
  });
});

describe('formatNameAddr — always <...>, display name sanitized', () => {
  it('quotes the display name and escapes " and \\', () => {
    const na = parseNameAddr('"Bob \\"B\\" \\\\ x" <sip:bob@biloxi.com>;tag=1');
    expect(formatNameAddr(na)).toBe('"Bob \\"B\\" \\\\ x" <sip:bob@biloxi.com>;tag=1');
  });

  it('uses <> even for an addr-spec input, keeping header params outside', () => {
    expect(formatNameAddr(parseNameAddr('sip:bob@biloxi.com;tag=1'))).toBe('<sip:bob@biloxi.com>;tag=1');
  });

  it('security: CR, LF, NUL and other controls from XMPP cannot inject headers', () => {
    const out = formatNameAddr({
      displayName: 'Mallory\r\nVia: SIP/2.0/UDP evil.example\u0000\u0007"',
      uri: parseUri('sip:m@example.com'),
      params: new Map([['tag', 'x']]),
    });
    expect(out).toBe('"MalloryVia: SIP/2.0/UDP evil.example\\"" <sip:m@example.com>;tag=x');
    expect(out).not.toMatch(/[\u0000-\u001f]/);
    expect(parseNameAddr(out).displayName).toBe('MalloryVia: SIP/2.0/UDP evil.example"');
  });

  it('omits a display name that is empty after sanitizing', () => {
    expect(formatNameAddr({ displayName: '\r\n', uri: parseUri('sip:a@b.example'), params: new Map() })).toBe('<sip:a@b.example>');
  });

  it('round-trips UTF-8 display names', () => {
    const na = parseNameAddr('"Juliet Capulet ❤" <sip:juliet@capulet.example>');
    expect(parseNameAddr(formatNameAddr(na))).toEqual(na);
  });
});

describe('parseCSeq — RFC 3261 §20.16, §8.1.1.5', () => {
  it('parses number and method', () => {
    expect(parseCSeq('4711 INVITE')).toEqual({ seq: 4711, method: 'INVITE' });
    expect(parseCSeq('  0\tMESSAGE ')).toEqual({ seq: 0, method: 'MESSAGE' });
    expect(parseCSeq('2147483647 NOTIFY')).toEqual({ seq: 2147483647, method: 'NOTIFY' });
    expect(formatCSeq({ seq: 12, method: 'BYE' })).toBe('12 BYE');
  });

  it('rejects out-of-range numbers and bad methods', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /number missing/],
      ['INVITE', /number missing/],
      ['-1 INVITE', /number missing/],
      ['2147483648 INVITE', /out of range/],
      ['99999999999 INVITE', /out of range/],
      ['1.5 INVITE', /method missing/],
      ['1', /method missing/],
      ['1 IN VITE', /Bad CSeq method/],
      ['1 INV<ITE', /Bad CSeq method/],
    ];
    for (const [text, why] of bad) expect(syntaxError(() => parseCSeq(text)).message, text).toMatch(why);
    expect(() => formatCSeq({ seq: 2 ** 31, method: 'BYE' })).toThrow(SipSyntaxError);
  });
});

describe('Via sent-by: the fast path agrees with parseHostPort', () => {
  it('accepts and rejects exactly what parseHostPort does, with the same host and port', () => {
    const alphabet = 'aZq09185.-:_[]';
    const fixed = ['127.0.0.1', '127.0.0.1:5060', '255.255.255.255:65535', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', 'a.b-c.d', 'a-.b', '-a.b', 'a..b', 'example.com.', 'EXAMPLE.Com:5061', 'x:', 'x:123456', 'x:65536', 'x:00080', '1.2.3.4a', 'a.1', '9a.b', 'a.9b'];
    let seed = 42;
    const random = (): number => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const inputs = [...fixed];
    for (let n = 0; n < 20_000; n++) {
      let t = '';
      const len = 1 + Math.floor(random() * 16);
      for (let k = 0; k < len; k++) t += alphabet[Math.floor(random() * alphabet.length)];
      inputs.push(t);
    }
    for (const sentBy of inputs) {
      let expected: { host: string; port: number | undefined } | 'throws';
      try {
        expected = parseHostPort(sentBy, 'Via sent-by');
      } catch {
        expected = 'throws';
      }
      let got: { host: string; port: number | undefined } | 'throws';
      try {
        const v = parseVia(`SIP/2.0/UDP ${sentBy};branch=z9hG4bK1`);
        got = { host: v.host, port: v.port };
      } catch {
        got = 'throws';
      }
      expect(got, sentBy).toEqual(expected);
    }
  });
});
