import { describe, it, expect } from 'vitest';
import { formatUri, parseHostPort, parseUri, SipSyntaxError, uriEquals } from '../../../src/sip/uri.js';

describe('parseUri — RFC 3261 §19.1.1 SIP-URI components', () => {
  it('parses user, password, host, port, params and headers', () => {
    const u = parseUri('sip:alice:secret@Atlanta.COM:5061;transport=TCP;lr;maddr=239.255.255.1?Subject=project%20x&Priority=urgent');
    expect(u.scheme).toBe('sip');
    expect(u.user).toBe('alice');
    expect(u.password).toBe('secret');
    expect(u.host).toBe('atlanta.com');
    expect(u.port).toBe(5061);
    expect([...u.params]).toEqual([
      ['transport', 'TCP'],
      ['lr', null],
      ['maddr', '239.255.255.1'],
    ]);
    expect([...u.headers]).toEqual([
      ['Subject', 'project x'],
      ['Priority', 'urgent'],
    ]);
  });

  it('lower-cases the scheme and parameter names', () => {
    const u = parseUri('SIPS:bob@biloxi.com;TRANSPORT=tls');
    expect(u.scheme).toBe('sips');
    expect(u.params.get('transport')).toBe('tls');
  });

  it('accepts a host-only URI and a trailing-dot FQDN', () => {
    expect(parseUri('sip:registrar.biloxi.com').user).toBeUndefined();
    expect(parseUri('sip:example.com.').host).toBe('example.com.');
  });

  it('RFC 3261 §19.1.2 user part may hold ";" and "?" (telephone-subscriber)', () => {
    const u = parseUri('sip:+1-212-555-1212;isub=411;phone-context=example.com@gw.example.com;user=phone');
    expect(u.user).toBe('+1-212-555-1212;isub=411;phone-context=example.com');
    expect(u.host).toBe('gw.example.com');
    expect(u.params.get('user')).toBe('phone');
  });

  it('RFC 3261 §25.1 unescapes %-escapes in user, params and headers (UTF-8)', () => {
    const u = parseUri('sip:%61lice%20%C3%A9@example.com;x%3Dy=a%3Bb?h%26=v%3D');
    expect(u.user).toBe('alice é');
    expect(u.params.get('x=y')).toBe('a;b');
    expect(u.headers.get('h&')).toBe('v=');
  });

  it('RFC 3261 §19.1.1 IPv6 references keep their brackets and lower-case', () => {
    const u = parseUri('sip:alice@[2001:DB8::1]:5060;transport=udp');
    expect(u.host).toBe('[2001:db8::1]');
    expect(u.port).toBe(5060);
    expect(parseUri('sips:[::1]').host).toBe('[::1]');
    expect(parseUri('sip:[::ffff:192.0.2.1]').host).toBe('[::ffff:192.0.2.1]');
  });

  it('accepts IPv4 hosts and ports up to 65535', () => {
    expect(parseUri('sip:192.0.2.4:65535').port).toBe(65535);
    expect(parseUri('sip:u@10.0.0.1').host).toBe('10.0.0.1');
  });

  it('accepts an empty password (userinfo "alice:")', () => {
    expect(parseUri('sip:alice:@example.com').password).toBe('');
  });
});

describe('parseUri — other schemes (RFC 3966 tel, RFC 3860 im, RFC 3859 pres)', () => {
  it('tel: keeps the number as user and an empty host', () => {
    const u = parseUri('tel:+1-201-555-0123;phone-context=example.com');
    expect(u).toMatchObject({ scheme: 'tel', user: '+1-201-555-0123', host: '' });
    expect(u.params.get('phone-context')).toBe('example.com');
  });

  it('im: and pres: split user and host', () => {
    expect(parseUri('im:juliet@Capulet.example')).toMatchObject({ scheme: 'im', user: 'juliet', host: 'capulet.example' });
    expect(parseUri('pres:romeo@montague.example')).toMatchObject({ scheme: 'pres', user: 'romeo', host: 'montague.example' });
  });

  it('an opaque URI without "@" goes to user', () => {
    expect(parseUri('urn:service:sos')).toMatchObject({ scheme: 'urn', user: 'service:sos', host: '' });
  });
});

describe('parseUri — malformed input throws SipSyntaxError naming the problem', () => {
  const bad: Array<[string, RegExp]> = [
    ['', /scheme/],
    ['alice@example.com', /scheme/],
    [':alice@example.com', /scheme/],
    ['1sip:alice@example.com', /scheme/],
    ['si p:alice@example.com', /scheme/],
    ['sip:', /Empty host/],
    ['sip:alice@', /Empty host/],
    ['sip:@example.com', /Empty user/],
    ['sip:alice@example.com:', /port/],
    ['sip:alice@example.com:65536', /port/],
    ['sip:alice@example.com:123456', /port/],
    ['sip:alice@example.com:50a', /Invalid character/],
    ['sip:alice@exa mple.com', /Invalid character/],
    ['sip:ali ce@example.com', /Invalid character in URI user/],
    ['sip:alice<@example.com', /Invalid character in URI user/],
    ['sip:al%ZZce@example.com', /Bad escape/],
    ['sip:al%4@example.com', /Bad escape/],
    ['sip:al%FFce@example.com', /UTF-8/],
    ['sip:alice@[2001:db8::1', /Unterminated IPv6/],
    ['sip:alice@[2001:db8:::1]', /IPv6/],
    ['sip:alice@[not-v6]', /IPv6/],
    ['sip:alice@-example.com', /hostname/],
    ['sip:alice@example-.com', /hostname/],
    ['sip:alice@example..com', /hostname/],
    ['sip:alice@192.0.2.256', /IPv4/],
    ['sip:alice@1.2.3', /IPv4/],
    ['sip:alice@example.com;', /Empty URI parameter/],
    ['sip:alice@example.com;;lr', /Empty URI parameter/],
    ['sip:alice@example.com;=x', /parameter name/],
    ['sip:alice@example.com;x=', /Empty value/],
    ['sip:alice@example.com;lr;LR', /Duplicate/],
    ['sip:alice@example.com;a=b c', /Invalid character/],
    ['sip:alice@example.com?', /URI header/],
    ['sip:alice@example.com?novalue', /URI header/],
    ['sip:alice@example.com?a=<b>', /Invalid character/],
    ['sip:alice@example.com\r\nVia: x', /Invalid character/],
    ['sip:alice@exämple.com', /Invalid character/],
    ['tel:', /Empty tel URI/],
    ['im:@example.com', /Empty user/],
  ];
  for (const [text, why] of bad) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      let err: unknown;
      try {
        parseUri(text);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(SipSyntaxError);
      expect((err as Error).message).toMatch(why);
    });
  }
});

describe('parseHostPort', () => {
  it('parses host and port, lower-cases the host', () => {
    expect(parseHostPort('Proxy.Example.COM:5061')).toEqual({ host: 'proxy.example.com', port: 5061 });
    expect(parseHostPort('[2001:db8::9]')).toEqual({ host: '[2001:db8::9]', port: undefined });
  });
  it('rejects trailing garbage', () => {
    expect(() => parseHostPort('example.com;x')).toThrow(SipSyntaxError);
  });
});

describe('formatUri — RFC 3261 §25 escaping round-trips', () => {
  it('formats a plain URI as written', () => {
    const text = 'sip:alice@atlanta.com:5060;transport=tcp;lr?Subject=hi';
    expect(formatUri(parseUri(text))).toBe(text);
  });

  it('escapes characters outside each component set', () => {
    const u = parseUri('sip:example.com');
    u.user = 'a b@c:d%é';
    u.password = 'p@ss';
    u.params = new Map([['x y', 'v;w']]);
    u.headers = new Map([['Subject', 'a&b=c d']]);
    const text = formatUri(u);
    expect(text).toBe('sip:a%20b%40c%3Ad%25%C3%A9:p%40ss@example.com;x%20y=v%3Bw?Subject=a%26b%3Dc%20d');
    const back = parseUri(text);
    expect(back.user).toBe('a b@c:d%é');
    expect(back.password).toBe('p@ss');
    expect(back.params.get('x y')).toBe('v;w');
    expect(back.headers.get('Subject')).toBe('a&b=c d');
    expect(uriEquals(back, u)).toBe(true);
  });

  it('keeps user-unreserved characters in the user part raw', () => {
    const text = 'sip:+1;isub=2?x/y&z=$,@gw.example.com';
    expect(formatUri(parseUri(text))).toBe(text);
  });

  it('brackets an IPv6 host given without brackets', () => {
    expect(formatUri({ scheme: 'sip', host: '2001:db8::1', port: 5060, params: new Map(), headers: new Map() })).toBe('sip:[2001:db8::1]:5060');
  });

  it('formats tel and im URIs', () => {
    for (const t of ['tel:+1-201-555-0123;phone-context=example.com', 'im:juliet@capulet.example', 'urn:service:sos']) {
      expect(formatUri(parseUri(t))).toBe(t);
    }
  });

  it('escapes ";" and "?" in an opaque or tel user so they cannot turn into parameters', () => {
    const u = { scheme: 'tel', user: '+1;x?y', host: '', params: new Map([['phone-context', 'example.com']]), headers: new Map() };
    const text = formatUri(u);
    expect(text).toBe('tel:+1%3Bx%3Fy;phone-context=example.com');
    expect(parseUri(text).user).toBe('+1;x?y');
  });

  it('refuses an out-of-range port', () => {
    for (const port of [NaN, -1, 65536, 1.5]) {
      expect(() => formatUri({ scheme: 'sip', host: 'example.com', port, params: new Map(), headers: new Map() })).toThrow(SipSyntaxError);
    }
  });

  it('refuses a host that would smuggle characters into a header', () => {
    expect(() => formatUri({ scheme: 'sip', host: 'example.com>\r\nVia: x', params: new Map(), headers: new Map() })).toThrow(SipSyntaxError);
    expect(() => formatUri({ scheme: 'sip', host: '', params: new Map(), headers: new Map() })).toThrow(SipSyntaxError);
  });

  it('escapes CR and LF in a user part (they can never appear raw)', () => {
    const text = formatUri({ scheme: 'sip', user: 'a\r\nVia: evil', host: 'example.com', params: new Map(), headers: new Map() });
    expect(text).not.toMatch(/[\r\n ]/);
    expect(parseUri(text).user).toBe('a\r\nVia: evil');
  });
});

describe('uriEquals — RFC 3261 §19.1.4', () => {
  const eq = (a: string, b: string): boolean => uriEquals(parseUri(a), parseUri(b));

  it('equivalent examples from §19.1.4', () => {
    expect(eq('sip:%61lice@atlanta.com;transport=TCP', 'sip:alice@AtLanTa.CoM;Transport=tcp')).toBe(true);
    expect(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;newparam=5')).toBe(true);
    expect(eq('sip:carol@chicago.com', 'sip:carol@chicago.com;security=on')).toBe(true);
    expect(eq('sip:carol@chicago.com;newparam=5', 'sip:carol@chicago.com;security=on')).toBe(true);
    expect(eq('sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com', 'sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com')).toBe(true);
    expect(eq('sip:alice@atlanta.com?subject=project%20x&priority=urgent', 'sip:alice@atlanta.com?priority=urgent&subject=project%20x')).toBe(true);
  });

  it('non-equivalent examples from §19.1.4', () => {
    expect(eq('SIP:ALICE@AtLanTa.CoM;Transport=udp', 'sip:alice@AtLanTa.CoM;Transport=UDP')).toBe(false);
    expect(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:5060')).toBe(false);
    expect(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com;transport=udp')).toBe(false);
    expect(eq('sip:bob@biloxi.com', 'sip:bob@biloxi.com:6000;transport=tcp')).toBe(false);
    expect(eq('sip:carol@chicago.com', 'sip:carol@chicago.com?Subject=next%20meeting')).toBe(false);
    expect(eq('sip:bob@phone21.boxesbybob.com', 'sip:bob@192.0.2.4')).toBe(false);
  });

  it('sip and sips never match; user-params, ttl, method and maddr must match when present', () => {
    expect(eq('sip:a@example.com', 'sips:a@example.com')).toBe(false);
    expect(eq('sip:a@example.com;user=phone', 'sip:a@example.com')).toBe(false);
    expect(eq('sip:a@example.com;ttl=1', 'sip:a@example.com')).toBe(false);
    expect(eq('sip:a@example.com;maddr=1.2.3.4', 'sip:a@example.com;maddr=1.2.3.5')).toBe(false);
    expect(eq('sip:a@example.com;lr', 'sip:a@example.com;lr=on')).toBe(false);
  });

  it('password and IPv6 host', () => {
    expect(eq('sip:a:x@example.com', 'sip:a:y@example.com')).toBe(false);
    expect(eq('sip:a@[2001:DB8::1]', 'sip:a@[2001:db8::1]')).toBe(true);
  });

  it('tel numbers compare without visual separators (RFC 3966 §4)', () => {
    expect(eq('tel:+1-201-555-0123', 'tel:+1.201.555.0123')).toBe(true);
    expect(eq('tel:+1-201-555-0123', 'tel:+1-201-555-0124')).toBe(false);
    expect(eq('tel:1234;phone-context=a.example', 'tel:1234;phone-context=b.example')).toBe(false);
  });
});
