import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  AddressError,
  escapeJidLocal,
  formatSipNameAddr,
  formatSipUri,
  formatXmppUri,
  jidToSip,
  parseSipUriText,
  parseXmppUri,
  sipToJid,
  unescapeJidLocal,
  type ComponentAddressing,
  type SipAddress,
} from '../../../src/core/address.js';
import { bareJid, formatJid, jidEquals, parseJid, type Jid } from '../../../src/core/jid.js';

/** Run `f` and return the AddressError it throws (fails the test if it does not throw one). */
function refusal(f: () => unknown): AddressError {
  try {
    f();
  } catch (e) {
    if (e instanceof AddressError) return e;
    throw e;
  }
  throw new Error('expected an AddressError');
}

const sipTextToJid = (uri: string, via?: ComponentAddressing): string => formatJid(sipToJid(parseSipUriText(uri), via));
const jidTextToSip = (jid: string, via?: ComponentAddressing): string => formatSipUri(jidToSip(parseJid(jid), via));

// ---------------------------------------------------------------------------------------------------------
// Reference §9.1, driven by the verbatim fixture

interface Vector {
  section: string;
  input: string;
  expected: string;
  note: string;
}

function loadVectors(): Vector[] {
  const text = readFileSync(new URL('../../fixtures/vectors/address.txt', import.meta.url), 'utf8');
  const uni = (s: string): string => s.replace(/\\u([0-9A-Fa-f]{4})/g, (_m, h: string) => String.fromCodePoint(parseInt(h, 16)));
  const out: Vector[] = [];
  let section = '';
  let pending: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('# ')) {
      section = line.slice(2);
      continue;
    }
    const arrow = line.indexOf('=>');
    if (arrow < 0) {
      pending = line.trim();
      continue;
    }
    const input = arrow === line.search(/\S/) ? (pending ?? '') : line.slice(0, arrow).trim();
    pending = undefined;
    const rest = line.slice(arrow + 2).trim();
    const m = /^(.*?)(?:\s{2,}(\(.*\)))?$/.exec(rest);
    out.push({ section, input: uni(input), expected: uni((m?.[1] ?? rest).trim()), note: m?.[2] ?? '' });
  }
  return out;
}

const vectors = loadVectors();

describe('reference §9.1 address vectors', () => {
  it('the fixture holds all 24 vectors', () => {
    expect(vectors).toHaveLength(24);
  });

  const sipToXmpp = vectors.filter((v) => /^(sips?|tel):/.test(v.input));
  const escapes = vectors.filter((v) => v.section.startsWith('XEP-0106 §5.1'));
  const xmppToSip = vectors.filter((v) => !sipToXmpp.includes(v) && !escapes.includes(v));

  it.each(sipToXmpp.filter((v) => !v.expected.startsWith('REJECT')).map((v) => [v.section, v.input, v.expected] as const))(
    '%s: %s => %s',
    (_section, input, expected) => {
      expect(sipTextToJid(input)).toBe(expected);
    },
  );

  it.each(sipToXmpp.filter((v) => v.expected.startsWith('REJECT')).map((v) => [v.section, v.input, v.note] as const))(
    '%s: %s => REJECT %s',
    (_section, input, note) => {
      const status = Number(/e\.g\. (\d{3})/.exec(note)?.[1]);
      const err = refusal(() => sipToJid(parseSipUriText(input)));
      expect(err.sipStatus).toBe(status);
      if (note.includes('Warning 380')) expect(err.sipWarning?.code).toBe(380);
    },
  );

  it.each(xmppToSip.map((v) => [v.section, v.input, v.expected] as const))('%s: %s => %s', (_section, input, expected) => {
    expect(jidTextToSip(input)).toBe(expected);
  });

  it.each(escapes.map((v) => [v.input, v.expected] as const))('XEP-0106 §5.1: %s => %s', (input, expected) => {
    // Typed user input: the localpart is everything before the LAST '@' (XEP-0106 §5.1 note).
    const at = input.lastIndexOf('@');
    const escaped = `${escapeJidLocal(input.slice(0, at))}@${input.slice(at + 1)}`;
    expect(escaped).toBe(expected);
    // The escaped form is a valid, already canonical JID, and unescaping gives the input back.
    expect(formatJid(parseJid(escaped))).toBe(expected);
    expect(unescapeJidLocal(parseJid(escaped).local ?? '')).toBe(input.slice(0, at));
  });
});

describe('RFC 7247 §6.4 / §6.5 address examples, explicitly', () => {
  it('§6.4: sip:f%C3%BC@sip.example => fü@sip.example (UTF-8 ü, not an escape)', () => {
    const j = sipToJid(parseSipUriText('sip:f%C3%BC@sip.example'));
    expect(j).toEqual({ local: 'f\u00fc', domain: 'sip.example' });
  });
  it('§6.4 step 8: sip:foo@sip.example;gr=bar => full JID with resource bar', () => {
    expect(sipToJid(parseSipUriText('sip:foo@sip.example;gr=bar'))).toEqual({ local: 'foo', domain: 'sip.example', resource: 'bar' });
  });
  it('§6.5 step 8: baz@xmpp.example/qux => gr=qux', () => {
    expect(jidToSip(parseJid('baz@xmpp.example/qux'))).toEqual({ scheme: 'sip', user: 'baz', host: 'xmpp.example', gr: 'qux' });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('round trips (reference §1.3 ⇄ §1.4, full XEP-0106 set)', () => {
  it.each([
    'm\\26m@xmpp.example',
    'tsch\u00fcss@xmpp.example',
    'baz@xmpp.example/qux',
    "here\\27s_a_wild_\\26_\\2fcr%zy\\2f_address@example.com",
    'alice\\40home@example.net',
    'c\\3a\\5c5commas@example.com',
    'space\\20cadet@example.com',
    'call\\20me\\20\\22ishmael\\22@example.com',
    '\\3cfoo\\3e@example.com',
    'a\\b@example.com',
    '100%@example.com',
    'juliet@example.com/urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    'juliet@example.com/with space;and=odd?chars',
    'example.com',
  ])('RFC 7247 §6.5 then §6.4: %s', (jid) => {
    const sip = formatSipUri(jidToSip(parseJid(jid)));
    expect(sipTextToJid(sip)).toBe(jid);
  });

  it.each([
    "sip:o'malley@sip.example",
    'sip:f%C3%BC@sip.example',
    'sip:foo@sip.example;gr=bar',
    'sip:alice%40home@example.net',
    'sip:a%20b@example.net',
    'sip:m&m@xmpp.example',
    'sip:a%3Cb%3E%22@example.net',
    'sip:cr%25zy@example.net',
    'sip:juliet@example.com;gr=a%3Bb%3Dc',
  ])('RFC 7247 §6.4 then §6.5: %s', (uri) => {
    expect(jidTextToSip(sipTextToJid(uri))).toBe(uri);
  });

  it('§1.4 [D]: input accepts the XEP-0106 %-encoded form but output is the single canonical RFC 7247 form', () => {
    expect(jidTextToSip(sipTextToJid('sip:m%26m@xmpp.example'))).toBe('sip:m&m@xmpp.example');
  });

  it('§1.4 [D] full XEP-0106 unescape: \\40 becomes %40, not %5C40', () => {
    expect(jidTextToSip('alice\\40home@example.net')).toBe('sip:alice%40home@example.net');
  });
});

describe('addressing modes', () => {
  const domainVia: ComponentAddressing = { domain: 'example.net', mode: 'domain' };
  const escapedVia: ComponentAddressing = { domain: 'sip.example.com', mode: 'escaped' };

  it("'domain' mode (reference §0.1 [D]): the SIP host is the JID domain", () => {
    expect(sipTextToJid('sip:romeo@example.net', domainVia)).toBe('romeo@example.net');
    expect(sipTextToJid('sip:romeo@EXAMPLE.NET;gr=dr4hcr0st3lup4c', domainVia)).toBe('romeo@example.net/dr4hcr0st3lup4c');
    expect(jidTextToSip('romeo@example.net/dr4hcr0st3lup4c', domainVia)).toBe('sip:romeo@example.net;gr=dr4hcr0st3lup4c');
  });

  it("'domain' mode refuses a SIP host the component cannot stamp (XEP-0114 §3): 403 forbidden", () => {
    const err = refusal(() => sipToJid(parseSipUriText('sip:mallory@evil.example'), domainVia));
    expect(err.condition).toBe('forbidden');
    expect(err.sipStatus).toBe(403);
  });

  it("'escaped' mode: user@host becomes user\\40host@component and back", () => {
    expect(sipTextToJid('sip:romeo@example.net', escapedVia)).toBe('romeo\\40example.net@sip.example.com');
    expect(sipTextToJid('sip:Romeo@Example.NET;gr=Res1', escapedVia)).toBe('romeo\\40example.net@sip.example.com/Res1');
    expect(jidTextToSip('romeo\\40example.net@sip.example.com/Res1', escapedVia)).toBe('sip:romeo@example.net;gr=Res1');
  });

  it("'escaped' mode: a user containing '@' survives (split at the last '@' on the way back)", () => {
    const jid = sipTextToJid('sip:alice%40home@example.net', escapedVia);
    expect(jid).toBe('alice\\40home\\40example.net@sip.example.com');
    expect(jidTextToSip(jid, escapedVia)).toBe('sip:alice%40home@example.net');
  });

  it("'escaped' mode: an IDN host is carried as A-labels inside the localpart", () => {
    expect(sipTextToJid('sip:user@m\u00fcnchen.example', escapedVia)).toBe('user\\40xn--mnchen-3ya.example@sip.example.com');
    expect(jidTextToSip('user\\40xn--mnchen-3ya.example@sip.example.com', escapedVia)).toBe('sip:user@xn--mnchen-3ya.example');
  });

  it("'escaped' mode: JIDs outside the component domain map plainly", () => {
    expect(jidTextToSip('juliet@example.com/balcony', escapedVia)).toBe('sip:juliet@example.com;gr=balcony');
  });

  it("'escaped' mode refuses what it cannot map back unambiguously", () => {
    expect(refusal(() => jidToSip(parseJid('sip.example.com'), escapedVia)).sipStatus).toBe(404);
    const noAt = refusal(() => jidToSip(parseJid('romeo@sip.example.com'), escapedVia));
    expect(noAt.condition).toBe('item-not-found');
    expect(refusal(() => jidToSip(parseJid('romeo\\40@sip.example.com'), escapedVia)).condition).toBe('item-not-found');
    expect(refusal(() => jidToSip(parseJid('romeo\\40bad_host@sip.example.com'), escapedVia)).condition).toBe('jid-malformed');
    expect(refusal(() => sipToJid(parseSipUriText('sip:example.net'), escapedVia)).sipStatus).toBe(400);
  });

  it('without via, an IP-literal host is refused (reference §1.3 [D]): 404', () => {
    expect(refusal(() => sipToJid(parseSipUriText('sip:alice@192.0.2.7'))).sipStatus).toBe(404);
    expect(refusal(() => sipToJid(parseSipUriText('sip:alice@[2001:db8::1]'))).sipStatus).toBe(404);
    // ... but an IP literal is a legal JID domainpart (RFC 7622 §3.2) and maps to SIP.
    expect(jidTextToSip('alice@192.0.2.7')).toBe('sip:alice@192.0.2.7');
  });
});

describe('SIPS refusal (RFC 7247 §8, reference §0.5 [D])', () => {
  it.each(['sips:romeo@example.net', '<sips:romeo@example.net>', '"Romeo" <SIPS:romeo@example.net;gr=x>'])(
    '%s => 480 + Warning 380 "SIPS Not Allowed"',
    (text) => {
      const addr = parseSipUriText(text);
      expect(addr.scheme).toBe('sips');
      const err = refusal(() => sipToJid(addr));
      expect(err.sipStatus).toBe(480);
      expect(err.sipWarning).toEqual({ code: 380, text: 'SIPS Not Allowed' });
    },
  );
  it('is refused in both addressing modes', () => {
    const addr = parseSipUriText('sips:romeo@example.net');
    expect(refusal(() => sipToJid(addr, { domain: 'example.net', mode: 'domain' })).sipStatus).toBe(480);
    expect(refusal(() => sipToJid(addr, { domain: 'gw.example.com', mode: 'escaped' })).sipStatus).toBe(480);
  });
});

describe('out-of-scope schemes (RFC 7247 §6.1, reference §1.1 [D])', () => {
  it.each(['tel:+15551234567', 'http://example.com/', 'mailto:romeo@example.net', 'xmpp:romeo@example.net'])(
    '%s => 416 Unsupported URI Scheme, <jid-malformed/>',
    (text) => {
      const err = refusal(() => parseSipUriText(text));
      expect(err.sipStatus).toBe(416);
      expect(err.condition).toBe('jid-malformed');
    },
  );
});

describe('injection attempts', () => {
  it.each([
    'juliet@example.com\r\nX-Evil: 1',
    'juli\net@example.com',
    'juliet@exam\rple.com',
    'juliet@example.com/bal\ncony',
    'juliet\0@example.com',
    'juliet@example.com/x\0',
  ])('RFC 7622 §3: CR/LF/NUL anywhere in a JID is refused: %j', (s) => {
    expect(refusal(() => parseJid(s)).condition).toBe('jid-malformed');
  });

  it.each(['a<b@x.example', 'a>b@x.example', 'a"b@x.example', "a'b@x.example", 'a&b@x.example', 'a:b@x.example', 'a b@x.example', 'a\tb@x.example'])(
    'RFC 7622 §3.3.1: forbidden localpart character refused: %j',
    (s) => {
      expect(refusal(() => parseJid(s)).sipStatus).toBe(400);
    },
  );

  it.each(['x<y.example', 'x>y.example', 'x"y.example', 'x y.example', 'x_y.example', 'x%41.example', '-x.example', 'a..b', '0x7f.1', '1.2.3', '[fe80::1%eth0]', ''])(
    'a domainpart that is not a DNS name or IP literal is refused: %j',
    (d) => {
      expect(refusal(() => parseJid(`user@${d}`)).condition).toBe('jid-malformed');
    },
  );

  it('formatJid re-validates a hand-built Jid', () => {
    expect(() => formatJid({ local: 'juliet', domain: 'example.com', resource: 'x\r\nFrom: evil' })).toThrow(AddressError);
    expect(() => formatJid({ local: 'ju<liet', domain: 'example.com' })).toThrow(AddressError);
    expect(() => formatJid({ domain: 'example.com>' })).toThrow(AddressError);
  });

  it.each(['sip:a%0D%0AVia:x@example.net', 'sip:a%00@example.net', 'sip:a%0A@example.net', 'sip:a@example.net;gr=x%0D%0Ay'])(
    'RFC 7247 §6.4 + PRECIS: percent-encoded controls in a SIP URI are refused: %s',
    (uri) => {
      expect(refusal(() => sipToJid(parseSipUriText(uri))).sipStatus).toBe(400);
    },
  );

  it('percent-encoded < > " in a SIP user are escaped, never passed raw (XEP-0106)', () => {
    expect(sipTextToJid('sip:%3Cscript%3E%22@example.net')).toBe('\\3cscript\\3e\\22@example.net');
  });

  it.each(['sip:a\r\nb@example.net', 'sip:a b@example.net', 'sip:a"b@example.net', '<sip:a<b@example.net>', 'sip:a>b@example.net', 'sip:a\\b@example.net'])(
    'raw CR/LF/space/quote/angle/backslash in URI text is refused: %j',
    (text) => {
      expect(refusal(() => parseSipUriText(text)).sipStatus).toBe(400);
    },
  );

  it('formatSipUri never emits CR, LF, <, > or " (encodes or throws)', () => {
    const emitted = formatSipUri({ scheme: 'sip', user: 'a<b>"c d', host: 'example.net', gr: 'x"<y>' });
    expect(emitted).toBe('sip:a%3Cb%3E%22c%20d@example.net;gr=x%22%3Cy%3E');
    expect(emitted).not.toMatch(/[\r\n<>"]/);
    expect(() => formatSipUri({ scheme: 'sip', user: 'a\r\nb', host: 'example.net' })).toThrow(AddressError);
    expect(() => formatSipUri({ scheme: 'sip', user: 'a', host: 'example.net', gr: 'x\ny' })).toThrow(AddressError);
    expect(() => formatSipUri({ scheme: 'sip', user: 'a', host: 'example.net>' })).toThrow(AddressError);
    expect(() => formatSipUri({ scheme: 'sip', user: 'a', host: 'exa\r\nmple.net' })).toThrow(AddressError);
  });

  it('jidToSip of escaped <, >, " produces percent-encoded output', () => {
    expect(jidTextToSip('\\3cfoo\\3e\\22@example.com')).toBe('sip:%3Cfoo%3E%22@example.com');
  });

  it('formatSipNameAddr quotes the display name and refuses control characters', () => {
    const a: SipAddress = { scheme: 'sip', user: 'juliet', host: 'example.com', displayName: 'Juliet "J" \\ Capulet' };
    expect(formatSipNameAddr(a)).toBe('"Juliet \\"J\\" \\\\ Capulet" <sip:juliet@example.com>');
    expect(() => formatSipNameAddr({ ...a, displayName: 'J\r\nVia: x' })).toThrow(AddressError);
    expect(formatSipNameAddr({ scheme: 'sip', user: 'juliet', host: 'example.com' })).toBe('<sip:juliet@example.com>');
  });
});

describe('IDN hosts (reference §1.1 note 1 [D])', () => {
  it('SIP host is A-label; JID domain is U-label (RFC 7622 §3.2)', () => {
    const addr = parseSipUriText('sip:user@M\u00dcNCHEN.example');
    expect(addr.host).toBe('xn--mnchen-3ya.example');
    expect(formatJid(sipToJid(addr))).toBe('user@m\u00fcnchen.example');
    expect(sipTextToJid('sip:user@xn--mnchen-3ya.example')).toBe('user@m\u00fcnchen.example');
  });
  it('JID U-label domain becomes an A-label SIP host', () => {
    expect(jidTextToSip('user@m\u00fcnchen.example')).toBe('sip:user@xn--mnchen-3ya.example');
    expect(parseJid('user@xn--mnchen-3ya.example').domain).toBe('m\u00fcnchen.example');
  });
  it('an invalid A-label is refused', () => {
    expect(() => parseSipUriText('sip:user@xn--zz.example')).toThrow(AddressError);
  });
});

describe('case rules (reference §1.5)', () => {
  it('user/localpart: SIP Romeo and romeo both become JID romeo (UsernameCaseMapped)', () => {
    expect(sipTextToJid('sip:Romeo@example.net')).toBe('romeo@example.net');
    expect(sipTextToJid('sip:romeo@example.net')).toBe('romeo@example.net');
    expect(sipTextToJid('sip:%C3%9Cber@example.net')).toBe('\u00fcber@example.net');
  });
  it('host/domainpart: lower-cased on both sides', () => {
    expect(sipTextToJid('sip:romeo@Example.NET')).toBe('romeo@example.net');
    expect(jidTextToSip('romeo@EXAMPLE.net')).toBe('sip:romeo@example.net');
  });
  it('gr/resourcepart: opaque, case preserved both ways', () => {
    expect(sipTextToJid('sip:romeo@example.net;gr=DR4hcr0st3LUP4C')).toBe('romeo@example.net/DR4hcr0st3LUP4C');
    expect(jidTextToSip('romeo@example.net/DR4hcr0st3LUP4C')).toBe('sip:romeo@example.net;gr=DR4hcr0st3LUP4C');
  });
  it('URI parameter name and scheme are case-insensitive', () => {
    expect(sipTextToJid('SIP:romeo@example.net;GR=Abc')).toBe('romeo@example.net/Abc');
  });
  it('XEP-0106 escapes are lower-case hex; a literal backslash before any-case escape code is itself escaped', () => {
    expect(sipTextToJid('sip:a%2Fb@example.net')).toBe('a\\2fb@example.net');
    expect(escapeJidLocal('a\\5Cb')).toBe('a\\5c5Cb');
    expect(sipTextToJid('sip:a%5C5Cb@example.net')).toBe('a\\5c5cb@example.net');
  });
  it('PRECIS width mapping: fullwidth letters fold; a fullwidth @ becomes an escaped @', () => {
    expect(parseJid('\uff32\uff2f\uff2d\uff25\uff2f@example.net').local).toBe('romeo');
    expect(sipTextToJid('sip:a%EF%BC%A0b@example.net')).toBe('a\\40b@example.net');
  });
});

describe('GRUUs (RFC 7247 §6.3, RFC 5627)', () => {
  it('temporary GRUU (gr without value) maps to a bare JID (reference §1.1 note 2 [D])', () => {
    const addr = parseSipUriText('sip:asd887f9dfkk76690@example.com;gr');
    expect(addr.gr).toBe('');
    expect(sipToJid(addr)).toEqual({ local: 'asd887f9dfkk76690', domain: 'example.com' });
  });
  it('public GRUU (gr with value) maps to a full JID; a urn:uuid value keeps its colons', () => {
    expect(sipTextToJid('sip:juliet@example.com;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6')).toBe(
      'juliet@example.com/urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
    );
  });
  it('the gr value is percent-decoded, then re-encoded outside paramchar on output (reference §1.4 [D])', () => {
    expect(sipTextToJid('sip:juliet@example.com;gr=a%20b%3Bc')).toBe('juliet@example.com/a b;c');
    expect(jidTextToSip('juliet@example.com/a b;c=d?e@f,g')).toBe('sip:juliet@example.com;gr=a%20b%3Bc%3Dd%3Fe%40f%2Cg');
    expect(jidTextToSip('juliet@example.com/b\u00e4lcony')).toBe('sip:juliet@example.com;gr=b%C3%A4lcony');
  });
  it('reference §1.7 [D]: gr outside the angle brackets (RFC 7573/7702/8048 Contact) is accepted', () => {
    const addr = parseSipUriText('<sip:juliet@example.com>;gr=yn0cl4bnw0yr3vym;+sip.instance="<urn:uuid:1>"');
    expect(formatJid(sipToJid(addr))).toBe('juliet@example.com/yn0cl4bnw0yr3vym');
  });
  it('gr inside the brackets wins over a header parameter; From tag is ignored', () => {
    const addr = parseSipUriText('<sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>;tag=12345');
    expect(formatJid(sipToJid(addr))).toBe('juliet@example.com/yn0cl4bnw0yr3vym');
  });
  it('duplicate gr parameters are refused rather than guessed', () => {
    expect(() => parseSipUriText('sip:juliet@example.com;gr=a;gr=b')).toThrow(AddressError);
  });
});

describe('im: and pres: inputs (RFC 7247 §6.4) and outputs (§6.5 steps 5, 7)', () => {
  it.each([
    ['im:romeo@example.net', 'romeo@example.net'],
    ['pres:romeo@example.net', 'romeo@example.net'],
    ['IM:Romeo@Example.net', 'romeo@example.net'],
    ['im:first.last@example.com', 'first.last@example.com'],
    ["im:o'malley@example.com", 'o\\27malley@example.com'],
    ['im:romeo@example.net?subject=hi', 'romeo@example.net'],
    ['im:f%C3%BC@example.net', 'f\u00fc@example.net'],
  ])('%s => %s', (uri, jid) => {
    expect(sipTextToJid(uri)).toBe(jid);
  });
  it('im:/pres: carry no port or parameters', () => {
    expect(() => parseSipUriText('im:romeo@example.net;gr=x')).toThrow(AddressError);
    expect(() => parseSipUriText('pres:romeo@example.net:5060')).toThrow(AddressError);
    expect(() => parseSipUriText('im:example.net')).toThrow(AddressError);
  });
  it('§6.5 step 5 im/pres encoding: ( ) , . ; [ \\ ] and non-ASCII (the "." is flagged in reference §1.4)', () => {
    expect(formatSipUri(jidToSip(parseJid('first.last@example.com'), undefined, { scheme: 'im' }))).toBe('im:first%2Elast@example.com');
    expect(formatSipUri(jidToSip(parseJid('tsch\u00fcss@example.com/r'), undefined, { scheme: 'pres' }))).toBe(
      'pres:tsch%C3%BCss@example.com',
    );
    expect(formatSipUri(jidToSip(parseJid('m\\26m(1)@example.com'), undefined, { scheme: 'im' }))).toBe('im:m&m%281%29@example.com');
  });
  it('im output encodes % ? # too, so the URI reads back the same', () => {
    expect(formatSipUri({ scheme: 'im', user: '100%?#', host: 'example.com' })).toBe('im:100%25%3F%23@example.com');
    expect(sipTextToJid('im:100%25%3F%23@example.com')).toBe('100%?#@example.com');
  });
});

describe('other SIP URI rules (reference §1.3 [D])', () => {
  it('drops other URI parameters, the port and ?headers', () => {
    const addr = parseSipUriText('sip:alice@example.com:5061;transport=tcp;user=phone?subject=x%40y');
    expect(addr).toEqual({ scheme: 'sip', user: 'alice', host: 'example.com', port: 5061 });
    expect(formatJid(sipToJid(addr))).toBe('alice@example.com');
  });
  it('splits at the first @ (RFC 7247 §6.4 step 2); user part may contain ; ? /', () => {
    expect(parseSipUriText('sip:a;b?c/d@example.com').user).toBe('a;b?c/d');
    expect(sipTextToJid('sip:a;b?c/d@example.com')).toBe('a;b?c\\2fd@example.com');
  });
  it('keeps a % not followed by two hex digits literally ([P], XEP-0106 cr%zy)', () => {
    expect(parseSipUriText('sip:cr%zy%4@example.com').user).toBe('cr%zy%4');
  });
  it('parses a name-addr display name', () => {
    expect(parseSipUriText('"Juliet \\"C\\"" <sip:juliet@example.com>;tag=1').displayName).toBe('Juliet "C"');
    expect(parseSipUriText('Juliet Capulet <sip:juliet@example.com>').displayName).toBe('Juliet Capulet');
  });
  it('a quoted display name may contain < and >; the URI is the one after it', () => {
    const addr = parseSipUriText('"<sip:evil@evil.example>" <sip:juliet@example.com>');
    expect(addr).toEqual({ scheme: 'sip', user: 'juliet', host: 'example.com', displayName: '<sip:evil@evil.example>' });
  });
  it.each(['"Juliet <sip:juliet@example.com>', '<sip:juliet@example.com', '<sip:a@example.com>, <sip:b@example.com>', 'Jul"iet <sip:j@example.com>'])(
    'a malformed name-addr is refused: %s',
    (text) => {
      expect(refusal(() => parseSipUriText(text)).sipStatus).toBe(400);
    },
  );
  it.each([
    ['sip:%FF@example.com', 'invalid UTF-8'],
    ['sip:%C3@example.com', 'truncated UTF-8'],
    ['sip:%20romeo@example.com', 'leading \\20 (XEP-0106 §4)'],
    ['sip:romeo%20@example.com', 'trailing \\20 (XEP-0106 §4)'],
    ['sip:romeo:secret@example.com', 'password'],
    ['sip:@example.com', 'empty user'],
    ['sip:romeo@', 'empty host'],
    ['sip:romeo@example.com:99999', 'bad port'],
    ['sip:ro[meo@example.com', 'character outside the SIP user grammar'],
    ['sip:%F0%9F%98%80@example.com', 'emoji: not PRECIS IdentifierClass'],
    ['sip:a%E2%80%8Db@example.com', 'ZERO WIDTH JOINER (ignorable/contextual)'],
  ])('%s is refused with 400: %s', (uri) => {
    expect(refusal(() => sipToJid(parseSipUriText(uri))).sipStatus).toBe(400);
  });
  it('a SIP URI without a user part maps to a domain JID (host copied, RFC 7247 §6.1)', () => {
    expect(sipTextToJid('sip:example.net')).toBe('example.net');
    expect(jidTextToSip('example.net')).toBe('sip:example.net');
  });
  it('RFC 7622 §3.1: a localpart over 1023 octets is refused, 1023 is accepted', () => {
    expect(sipTextToJid(`sip:${'a'.repeat(1023)}@example.com`)).toHaveLength(1023 + '@example.com'.length);
    expect(refusal(() => sipTextToJid(`sip:${'a'.repeat(1024)}@example.com`)).sipStatus).toBe(400);
    // Escaping counts: 400 spaces-between-letters become 1200 octets.
    expect(refusal(() => sipTextToJid(`sip:${'a%20'.repeat(400)}a@example.com`)).sipStatus).toBe(400);
  });
});

describe('XEP-0106 §4 business rules', () => {
  it.each(['foo\\bar', '\\2plus\\2is\\4', 'foob\\41r', '\\5C', '\\'])('partial or unknown sequences are not unescaped: %s', (s) => {
    expect(unescapeJidLocal(s)).toBe(s);
  });
  it('unescape is a single left-to-right pass', () => {
    expect(unescapeJidLocal('c\\3a\\5c5commas')).toBe('c:\\5commas');
    expect(unescapeJidLocal('\\5c5c')).toBe('\\5c');
  });
  it('\\20 may not start or end the escaped localpart', () => {
    expect(() => escapeJidLocal(' foo')).toThrow(AddressError);
    expect(() => escapeJidLocal('foo ')).toThrow(AddressError);
  });
});

describe('JIDs (RFC 7622)', () => {
  it('parses and formats the three parts; resource may contain @ and /', () => {
    const j = parseJid('juliet@example.com/a@b/c');
    expect(j).toEqual({ local: 'juliet', domain: 'example.com', resource: 'a@b/c' });
    expect(formatJid(j)).toBe('juliet@example.com/a@b/c');
    expect(bareJid(j)).toEqual({ local: 'juliet', domain: 'example.com' });
    expect(bareJid({ domain: 'example.com', resource: 'x' })).toEqual({ domain: 'example.com' });
  });
  it('refuses empty parts', () => {
    for (const s of ['@example.com', 'juliet@example.com/', 'juliet@', '', '/res']) expect(() => parseJid(s)).toThrow(AddressError);
  });
  it('strips one trailing dot from the domainpart (RFC 7622 §3.2)', () => {
    expect(parseJid('juliet@example.com.').domain).toBe('example.com');
  });
  it('accepts IP literals as domainparts', () => {
    expect(parseJid('juliet@[2001:DB8::1]').domain).toBe('[2001:db8::1]');
    expect(parseJid('juliet@192.0.2.1').domain).toBe('192.0.2.1');
  });
  it('resourcepart: OpaqueString keeps case and maps non-ASCII spaces to U+0020', () => {
    expect(parseJid('a@example.com/Hello\u00a0World').resource).toBe('Hello World');
  });
  it('resourcepart and localpart over 1023 octets are refused', () => {
    expect(() => parseJid(`a@example.com/${'r'.repeat(1024)}`)).toThrow(AddressError);
    expect(parseJid(`a@example.com/${'r'.repeat(1023)}`).resource).toHaveLength(1023);
  });
  it('jidEquals compares canonical forms', () => {
    const a: Jid = { local: 'Juliet', domain: 'EXAMPLE.com' };
    expect(jidEquals(a, parseJid('juliet@example.com'))).toBe(true);
    expect(jidEquals(a, parseJid('juliet@example.com/x'))).toBe(false);
  });
});

describe('XMPP URIs (RFC 5122) for <gone/> and <redirect/>', () => {
  it('formats and parses', () => {
    expect(formatXmppUri(parseJid('romeo@example.org'))).toBe('xmpp:romeo@example.org');
    expect(formatXmppUri(parseJid('a\\40b@m\u00fcnchen.example/r s'))).toBe('xmpp:a%5C40b@xn--mnchen-3ya.example/r%20s');
    expect(formatJid(parseXmppUri('xmpp:a%5C40b@xn--mnchen-3ya.example/r%20s'))).toBe('a\\40b@m\u00fcnchen.example/r s');
    expect(formatJid(parseXmppUri('xmpp://guest@example.com/juliet@example.com?message'))).toBe('juliet@example.com');
  });
  it('splits before decoding, so %2F and %40 cannot move the part boundaries', () => {
    expect(() => parseXmppUri('xmpp:a%2Fb@example.com')).toThrow(AddressError);
    expect(parseXmppUri('xmpp:juliet@example.com/a%2Fb%40c')).toEqual({ local: 'juliet', domain: 'example.com', resource: 'a/b@c' });
  });
  it('refuses other schemes and controls', () => {
    expect(() => parseXmppUri('sip:juliet@example.com')).toThrow(AddressError);
    expect(() => parseXmppUri('xmpp:juliet@example.com/%0D%0A')).toThrow(AddressError);
  });
});
