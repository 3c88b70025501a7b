import { parse } from 'ltx';
import { describe, expect, it } from 'vitest';
import {
  ACCEPTED_CONTENT_TYPES,
  X2S_IGNORE,
  sameIdentity,
  sipPageToXmpp,
  xmppPageToSip,
  type S2XOptions,
  type SipPage,
  type X2SOptions,
  type XmppPage,
} from '../../../src/core/messages.js';
import { IMDN_NS, buildCpim, cpimHeaders, parseCpim } from '../../../src/formats/cpim.js';
import { parseContentType } from '../../../src/formats/content-type.js';
import { XHTML_IM_NS, XHTML_NS } from '../../../src/formats/xhtml-im.js';
import { stanzaToXmppPage, xmppPageToStanza } from '../../../src/xmpp/message-stanza.js';

// TV-I2 / TV-I3 SIP side (RFC 7572 Examples 4 and 6) as decoded by the SIP side.
const romeoToJuliet = (over: Partial<SipPage> = {}): SipPage => ({
  requestUri: 'sip:juliet@example.com',
  from: { uri: 'sip:romeo@example.net' },
  to: { uri: 'sip:juliet@example.com' },
  callId: '9E97FB43-85F4-4A00-8751-1124FD4C7B2E',
  contentType: 'text/plain',
  body: Buffer.from('Neither, fair saint, if either thee dislike.'),
  ...over,
});
const s2x: S2XOptions = { from: 'romeo@example.net', to: 'juliet@example.com', stanzaId: 'sip-z9hG4bKeskdgs677' };

const x2s = (over: Partial<X2SOptions> = {}): X2SOptions => ({
  fromUri: 'sip:juliet@example.com;gr=yn0cl4bnw0yr3vym',
  toUri: 'sip:romeo@example.net',
  maxBodyBytes: 1300,
  callId: 'D9AA95FD-2BD5-46E2-AF0F-6CFAA96BDDFA',
  ...over,
});
const julietPage = (over: Partial<XmppPage> = {}): XmppPage => ({
  from: 'juliet@example.com/yn0cl4bnw0yr3vym',
  to: 'romeo@example.net',
  bodies: [{ text: 'Art thou not Romeo, and a Montague?' }],
  subjects: [],
  ...over,
});

function okS2X(p: SipPage, o: S2XOptions = s2x): XmppPage {
  const r = sipPageToXmpp(p, o);
  if (!r.ok) throw new Error(`expected ok, got ${r.status} ${r.reason}`);
  return r.page;
}
function okX2S(p: XmppPage, o: X2SOptions = x2s()): SipPage {
  const r = xmppPageToSip(p, o);
  if (!r.ok) throw new Error(`expected ok, got ${r.condition}: ${r.text}`);
  return r.page;
}

describe('§9.3 TV-I1 — XMPP normal message → SIP MESSAGE (RFC 7572 §4, Examples 1→2)', () => {
  it('maps the RFC stanza to the RFC MESSAGE (compared by meaning, reference §0.3)', () => {
    const stanza = parse(`<message from='juliet@example.com/yn0cl4bnw0yr3vym'
         to='romeo@example.net'>
  <body>Art thou not Romeo, and a Montague?</body>
</message>`);
    const sip = okX2S(stanzaToXmppPage(stanza));
    expect(sip.requestUri).toBe('sip:romeo@example.net');
    expect(sip.to.uri).toBe('sip:romeo@example.net');
    // The resource rides as ;gr= inside the From URI (§1.7); the address itself is mapped by the caller.
    expect(sip.from.uri).toBe('sip:juliet@example.com;gr=yn0cl4bnw0yr3vym');
    expect(sip.callId).toBe('D9AA95FD-2BD5-46E2-AF0F-6CFAA96BDDFA');
    expect(parseContentType(sip.contentType).type).toBe('text/plain');
    expect(parseContentType(sip.contentType).params.get('charset')?.toLowerCase()).toBe('utf-8');
    expect(sip.body.toString('utf8')).toBe('Art thou not Romeo, and a Montague?');
    expect(sip.body.length).toBe(35); // Example 2's Content-Length, which is right here
    expect(sip.subject).toBeUndefined();
    expect(sip.contentLanguage).toBeUndefined();
  });
});

describe('§9.3 TV-I2 — SIP MESSAGE → XMPP message (RFC 7572 §5, Examples 4→5)', () => {
  it('maps the RFC MESSAGE to a message with no type, bare from, body verbatim, thread = Call-ID', () => {
    const page = okS2X(romeoToJuliet());
    expect(page).toEqual({
      from: 'romeo@example.net', // no GRUU in Example 4, so the bare JID (Example 5's resource is a defect)
      to: 'juliet@example.com',
      id: 'sip-z9hG4bKeskdgs677',
      thread: '9E97FB43-85F4-4A00-8751-1124FD4C7B2E', // §4.2 Table 2 (the example omits it)
      bodies: [{ text: 'Neither, fair saint, if either thee dislike.' }],
      subjects: [],
    });
    const stanza = xmppPageToStanza(page);
    expect(stanza.attrs.type).toBeUndefined();
    expect(stanza.getChildText('body')).toBe('Neither, fair saint, if either thee dislike.');
  });
});

describe('§9.3 TV-I3 — Content-Language ↔ xml:lang (RFC 7572 §8, Examples 6→7)', () => {
  // The RFC prints UTF-8 bytes as &#xC3A9; etc.; these are the decoded characters (reference §9.3 note).
  const czech = 'Nic z obého, má děvo spanilá,\r\nnenavidíš-li jedno nebo druhé.';

  it('S2X: Content-Language cs → xml:lang cs, UTF-8 multi-line body', () => {
    const body = Buffer.from(czech, 'utf8');
    expect(body.length).toBe(68); // Example 6 says 45: a known defect
    const page = okS2X(romeoToJuliet({ callId: '5A37A65D-304B-470A-B718-3F3E6770ACAF', contentLanguage: 'cs', body }));
    expect(page.lang).toBe('cs');
    expect(page.bodies).toEqual([{ text: 'Nic z obého, má děvo spanilá,\nnenavidíš-li jedno nebo druhé.' }]);
    const stanza = xmppPageToStanza(page);
    expect(stanza.attrs['xml:lang']).toBe('cs');
    expect(stanza.getChildText('body')?.trim()).toBe('Nic z obého, má děvo spanilá,\nnenavidíš-li jedno nebo druhé.');
  });

  it('X2S: xml:lang cs → Content-Language cs, body bytes in UTF-8', () => {
    const stanza = parse(`<message from='romeo@example.net' to='juliet@example.com' xml:lang='cs'><body>Nic z obého, má děvo spanilá,
nenavidíš-li jedno nebo druhé.</body></message>`);
    const sip = okX2S(stanzaToXmppPage(stanza));
    expect(sip.contentLanguage).toBe('cs');
    expect(sip.body.toString('utf8')).toBe('Nic z obého, má děvo spanilá,\nnenavidíš-li jedno nebo druhé.');
  });

  it('S2X: a Content-Language list uses its first tag; an invalid one is dropped', () => {
    expect(okS2X(romeoToJuliet({ contentLanguage: 'en-GB, fr' })).lang).toBe('en-GB');
    expect(okS2X(romeoToJuliet({ contentLanguage: 'x"><evil' })).lang).toBeUndefined();
  });
});

describe('S2X (RFC 7572 §5, reference §4.2, §4.4)', () => {
  it('Subject → <subject/>', () => {
    expect(okS2X(romeoToJuliet({ subject: 'Balcony' })).subjects).toEqual([{ text: 'Balcony' }]);
  });

  it('markup in text becomes escaped text, never elements', () => {
    const page = okS2X(romeoToJuliet({ body: Buffer.from('<script>x</script></body><evil/>&amp;'), subject: '</subject><x/>' }));
    const xml = xmppPageToStanza(page).toString();
    expect(xml).not.toContain('<evil');
    expect(xml).not.toContain('<script');
    const back = stanzaToXmppPage(parse(xml));
    expect(back.bodies[0]?.text).toBe('<script>x</script></body><evil/>&amp;');
    expect(back.subjects[0]?.text).toBe('</subject><x/>');
  });

  it('control characters XML cannot carry are removed', () => {
    expect(okS2X(romeoToJuliet({ body: Buffer.from('a\u0000b\u0007c') })).bodies[0]?.text).toBe('abc');
  });

  it('charset: latin1 is decoded, UTF-8 is the default, invalid UTF-8 is 400, an unknown charset is 415', () => {
    expect(okS2X(romeoToJuliet({ contentType: 'text/plain; charset=ISO-8859-1', body: Buffer.from([0x63, 0x61, 0x66, 0xe9]) })).bodies[0]?.text).toBe('café');
    expect(okS2X(romeoToJuliet({ contentType: 'text/plain', body: Buffer.from('café') })).bodies[0]?.text).toBe('café');
    expect(sipPageToXmpp(romeoToJuliet({ body: Buffer.from([0x63, 0xe9, 0x28]) }), s2x)).toMatchObject({ ok: false, status: 400 });
    expect(sipPageToXmpp(romeoToJuliet({ contentType: 'text/plain;charset=x-klingon' }), s2x)).toMatchObject({ ok: false, status: 415, accept: ['text/plain', 'text/html', 'message/cpim'] });
  });

  it('an unsupported content type gets 415 with the Accept list (RFC 3261 §21.4.13, reference §4.4)', () => {
    const r = sipPageToXmpp(romeoToJuliet({ contentType: 'application/octet-stream' }), s2x);
    expect(r).toEqual({ ok: false, status: 415, reason: 'Unsupported media type application/octet-stream', accept: [...ACCEPTED_CONTENT_TYPES] });
    expect(ACCEPTED_CONTENT_TYPES).toEqual(['text/plain', 'text/html', 'message/cpim']);
  });

  it('a malformed Content-Type or a body without one is 400', () => {
    expect(sipPageToXmpp(romeoToJuliet({ contentType: 'text' }), s2x)).toMatchObject({ ok: false, status: 400 });
    expect(sipPageToXmpp(romeoToJuliet({ contentType: '' }), s2x)).toMatchObject({ ok: false, status: 400 });
  });

  it('an empty body is 400, unless there is a subject to deliver', () => {
    expect(sipPageToXmpp(romeoToJuliet({ body: Buffer.alloc(0) }), s2x)).toMatchObject({ ok: false, status: 400 });
    expect(sipPageToXmpp(romeoToJuliet({ body: Buffer.alloc(0), contentType: '' }), s2x)).toMatchObject({ ok: false, status: 400 });
    const page = okS2X(romeoToJuliet({ body: Buffer.alloc(0), subject: 'ping' }));
    expect(page.bodies).toEqual([]);
    expect(page.subjects).toEqual([{ text: 'ping' }]);
  });

  it('text/html → sanitized XHTML-IM plus a plain-text body (RFC 7572 §7, reference §4.4 [P])', () => {
    const page = okS2X(
      romeoToJuliet({
        contentType: 'text/html; charset=utf-8',
        body: Buffer.from('<html><body><p onclick="steal()">Hello <b>Juliet</b> &amp; nurse</p><script>alert(1)</script><p><a href="javascript:alert(1)">x</a></p></body></html>'),
      }),
    );
    expect(page.bodies).toEqual([{ text: 'Hello Juliet & nurse\nx' }]);
    const html = page.html;
    expect(html?.is('html', XHTML_IM_NS)).toBe(true);
    const xml = html?.toString() ?? '';
    expect(xml).not.toMatch(/script|onclick|javascript/);
    expect(html?.getChild('body', XHTML_NS)?.toString()).toBe(
      `<body xmlns="${XHTML_NS}"><p>Hello <span style="font-weight: bold">Juliet</span> &amp; nurse</p><p><span>x</span></p></body>`,
    );
  });

  it('text/html that renders to nothing is an empty message', () => {
    expect(sipPageToXmpp(romeoToJuliet({ contentType: 'text/html', body: Buffer.from('<script>x</script>') }), s2x)).toMatchObject({ ok: false, status: 400 });
  });

  it('a Call-ID with characters XML cannot carry still makes a clean thread', () => {
    expect(okS2X(romeoToJuliet({ callId: 'abc\u0001@host' })).thread).toBe('abc@host');
  });
});

describe('S2X message/cpim (RFC 3862; reference §4.4 [P], §8.1)', () => {
  const cpimPage = (lines: string[], over: Partial<SipPage> = {}): SipPage =>
    romeoToJuliet({ contentType: 'message/cpim', body: Buffer.from(lines.join('\r\n'), 'utf8'), ...over });
  const entity = ['', 'Content-Type: text/plain;charset=utf-8', '', 'Hello from CPIM'];

  it('unwraps the entity; Subject;lang → <subject xml:lang>; DateTime → XEP-0203 delay in UTC', () => {
    const page = okS2X(
      cpimPage([
        'From: "Romeo" <sip:romeo@example.net>',
        'To: <sip:juliet@example.com>',
        'DateTime: 2000-12-13T13:40:00-08:00',
        'Subject: the weather will be fine today',
        "Subject:;lang=fr beau temps prevu pour aujourd'hui",
        ...entity,
      ]),
    );
    expect(page.bodies).toEqual([{ text: 'Hello from CPIM' }]);
    expect(page.subjects).toEqual([{ text: 'the weather will be fine today' }, { lang: 'fr', text: "beau temps prevu pour aujourd'hui" }]);
    expect(page.delay).toEqual({ stamp: '2000-12-13T21:40:00.000Z' });
    const stanza = xmppPageToStanza(page);
    expect(stanza.getChild('delay', 'urn:xmpp:delay')?.attrs.stamp).toBe('2000-12-13T21:40:00.000Z');
    expect(stanza.getChildren('subject').map((s) => s.attrs['xml:lang'])).toEqual([undefined, 'fr']);
  });

  it('a round trip through buildCpim delivers the same text', () => {
    const body = buildCpim({ from: { uri: 'sip:romeo@example.net', displayName: 'Romeo <R>' }, to: { uri: 'sip:juliet@example.com' }, contentType: 'text/plain;charset=UTF-8', body: 'žluťoučký\r\nkůň' });
    expect(okS2X(romeoToJuliet({ contentType: 'message/cpim', body })).bodies).toEqual([{ text: 'žluťoučký\nkůň' }]);
  });

  it('im: and sip: name the same identity; a GRUU in the SIP From still matches', () => {
    const page = okS2X(cpimPage(['From: <im:romeo@example.net>', 'To: <im:juliet@example.com>', ...entity], { from: { uri: 'sip:romeo@EXAMPLE.net;gr=abc' } }));
    expect(page.bodies[0]?.text).toBe('Hello from CPIM');
  });

  it('a CPIM From other than the SIP From is refused with 403', () => {
    expect(sipPageToXmpp(cpimPage(['From: <sip:tybalt@example.net>', 'To: <sip:juliet@example.com>', ...entity]), s2x)).toMatchObject({ ok: false, status: 403 });
    // user parts are case-sensitive (RFC 3261 §19.1.4)
    expect(sipPageToXmpp(cpimPage(['From: <sip:Romeo@example.net>', ...entity]), s2x)).toMatchObject({ ok: false, status: 403 });
  });

  it('a CPIM To naming neither the SIP To nor the Request-URI is refused with 400', () => {
    expect(sipPageToXmpp(cpimPage(['From: <sip:romeo@example.net>', 'To: <sip:nurse@example.com>', ...entity]), s2x)).toMatchObject({ ok: false, status: 400 });
    expect(okS2X(cpimPage(['From: <sip:romeo@example.net>', 'To: <sip:nurse@example.com>', 'To: <sip:juliet@example.com>', ...entity])).bodies).toHaveLength(1);
  });

  it('Require of an unknown header is refused (RFC 3862 §3.5); a known one is fine', () => {
    const r = sipPageToXmpp(
      cpimPage(['From: <sip:romeo@example.net>', 'NS: MyFeatures <mid:MessageFeatures@id.foo.com>', 'Require: MyFeatures.VitalMessageOption', 'MyFeatures.VitalMessageOption: Confirmation-requested', ...entity]),
      s2x,
    );
    expect(r).toMatchObject({ ok: false, status: 400, reason: 'Unsupported CPIM Require: MyFeatures.VitalMessageOption' });
    expect(sipPageToXmpp(cpimPage(['Require: Undeclared.Thing', ...entity]), s2x)).toMatchObject({ ok: false, status: 400 });
    expect(okS2X(cpimPage(['From: <sip:romeo@example.net>', 'Require: Subject', 'Subject: s', ...entity])).subjects).toEqual([{ text: 's' }]);
  });

  it('reports an IMDN request for the gateway (reference §7.2)', () => {
    const r = sipPageToXmpp(
      cpimPage([
        'From: <sip:romeo@example.net>',
        'To: <sip:juliet@example.com>',
        'NS: imdn <urn:ietf:params:imdn>',
        'imdn.Message-ID: 34jk324j',
        'DateTime: 2006-04-04T12:16:49-05:00',
        'imdn.Disposition-Notification: positive-delivery, Negative-Delivery',
        ...entity,
      ]),
      s2x,
    );
    expect(r).toMatchObject({ ok: true, imdn: { messageId: '34jk324j', dispositions: ['positive-delivery', 'negative-delivery'], dateTime: '2006-04-04T12:16:49-05:00' } });
  });

  it('inner text/html is converted like an outer one; inner Content-Language wins', () => {
    const page = okS2X(cpimPage(['From: <sip:romeo@example.net>', '', 'Content-Type: text/html', 'Content-Language: it', '', '<p>Ciao <i>bella</i></p>'], { contentLanguage: 'en' }));
    expect(page.lang).toBe('it');
    expect(page.bodies).toEqual([{ text: 'Ciao bella' }]);
    expect(page.html).toBeDefined();
  });

  it('malformed CPIM is 400; an inner type we do not handle is 415; a bad DateTime only loses the delay', () => {
    expect(sipPageToXmpp(cpimPage(['From: <sip:romeo@example.net>']), s2x)).toMatchObject({ ok: false, status: 400 });
    expect(sipPageToXmpp(cpimPage(['From: <sip:romeo@example.net>', '', 'Content-Type: message/imdn+xml', '', '<imdn/>']), s2x)).toMatchObject({ ok: false, status: 415 });
    expect(okS2X(cpimPage(['DateTime: tomorrow', ...entity])).delay).toBeUndefined();
  });
});

describe('X2S (RFC 7572 §4, reference §4.1)', () => {
  it('<subject/> → Subject; CR/LF and other controls cannot inject a header', () => {
    const sip = okX2S(julietPage({ subjects: [{ text: 'Hi\r\nContact: <sip:evil@example.org>\u0000\ttab' }] }));
    expect(sip.subject).toBe('Hi Contact: <sip:evil@example.org> tab');
    expect(sip.subject).not.toMatch(/[\r\n\x00]/);
  });

  it('display name: controls stripped, < and quotes left for the serializer to quote', () => {
    const sip = okX2S(julietPage(), x2s({ fromDisplayName: 'Juliet "C" <sip:x@y>\r\nVia: evil' }));
    expect(sip.from).toEqual({ uri: 'sip:juliet@example.com;gr=yn0cl4bnw0yr3vym', displayName: 'Juliet "C" <sip:x@y> Via: evil' });
  });

  it('<thread/> → Call-ID; a thread that is not a valid Call-ID is %-encoded, never passed raw', () => {
    expect(okX2S(julietPage({ thread: 'e0ffe42b28561960c6b12b944a092794b9683a38' })).callId).toBe('e0ffe42b28561960c6b12b944a092794b9683a38');
    const injected = okX2S(julietPage({ thread: 'a b\r\nVia: x@y@z' })).callId;
    expect(injected).toBe('a%20b%0D%0AVia:%20x%40y%40z');
    expect(injected).not.toMatch(/[\s]/);
    expect(okX2S(julietPage({ thread: 'x'.repeat(300) })).callId).toBe('D9AA95FD-2BD5-46E2-AF0F-6CFAA96BDDFA');
  });

  it('picks the body in the stanza language, else the first; Content-Language follows it', () => {
    const sip = okX2S(julietPage({ lang: 'fr', bodies: [{ lang: 'en', text: 'Hello' }, { text: 'Bonjour' }], subjects: [{ lang: 'en', text: 'S-en' }, { lang: 'fr', text: 'S-fr' }] }));
    expect(sip.body.toString()).toBe('Bonjour');
    expect(sip.contentLanguage).toBe('fr');
    expect(sip.subject).toBe('S-fr');
    const first = okX2S(julietPage({ bodies: [{ lang: 'de', text: 'Hallo' }, { lang: 'en', text: 'Hello' }] }));
    expect(first.body.toString()).toBe('Hallo');
    expect(first.contentLanguage).toBe('de');
  });

  it('an invalid xml:lang never reaches Content-Language', () => {
    expect(okX2S(julietPage({ lang: 'en\r\nX: y' })).contentLanguage).toBeUndefined();
  });

  it('XHTML-IM is dropped in favour of the plain body; HTML alone is rendered to text', () => {
    const stanza = parse(`<message from='a@b/c' to='d@e'><body>plain</body>
      <html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>rich</p></body></html></message>`);
    expect(okX2S(stanzaToXmppPage(stanza)).body.toString()).toBe('plain');
    const htmlOnly = parse(`<message from='a@b/c' to='d@e'>
      <html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>rich <span style='font-weight: bold'>text</span></p><p>two</p></body></html></message>`);
    const sip = okX2S(stanzaToXmppPage(htmlOnly));
    expect(sip.body.toString()).toBe('rich text\ntwo');
    expect(parseContentType(sip.contentType).type).toBe('text/plain');
  });

  it('size limit (RFC 7572 §6, TV E15): 1300 UTF-8 bytes pass, 1301 is policy-violation', () => {
    expect(okX2S(julietPage({ bodies: [{ text: 'a'.repeat(1300) }] })).body.length).toBe(1300);
    expect(xmppPageToSip(julietPage({ bodies: [{ text: 'a'.repeat(1301) }] }), x2s())).toMatchObject({ ok: false, condition: 'policy-violation' });
    // bytes, not characters: 650 × "é" is 1300 bytes, one more is over
    expect(okX2S(julietPage({ bodies: [{ text: 'é'.repeat(650) }] })).body.length).toBe(1300);
    expect(xmppPageToSip(julietPage({ bodies: [{ text: 'é'.repeat(650) + 'a' }] }), x2s())).toMatchObject({ ok: false, condition: 'policy-violation' });
    expect(okX2S(julietPage({ bodies: [{ text: 'a'.repeat(5000) }] }), x2s({ maxBodyBytes: 10000 })).body.length).toBe(5000);
  });

  it('no body and no subject (e.g. a chat state) → ignore, no error reply', () => {
    expect(xmppPageToSip(julietPage({ bodies: [] }), x2s())).toMatchObject({ ok: false, condition: X2S_IGNORE });
  });

  it('a subject alone is sent with an empty body', () => {
    const sip = okX2S(julietPage({ bodies: [], subjects: [{ text: 'Topic' }] }));
    expect(sip.subject).toBe('Topic');
    expect(sip.body.length).toBe(0);
  });

  it('type: chat is translated (reference §4.1 [P]); groupchat is refused; headline failures are silent', () => {
    expect(okX2S(julietPage({ type: 'chat' })).body.toString()).toBe('Art thou not Romeo, and a Montague?');
    expect(okX2S(julietPage({ type: 'normal' })).body.length).toBe(35);
    expect(xmppPageToSip(julietPage({ type: 'groupchat' }), x2s())).toMatchObject({ ok: false, condition: 'service-unavailable' });
    expect(okX2S(julietPage({ type: 'headline' })).body.length).toBe(35);
    expect(xmppPageToSip(julietPage({ type: 'headline', bodies: [{ text: 'a'.repeat(2000) }] }), x2s())).toMatchObject({ ok: false, condition: X2S_IGNORE });
  });

  it('§9.7 K4: with an IMDN request the body is message/cpim with the imdn.* headers', () => {
    const sip = okX2S(
      julietPage({ id: 'r1', bodies: [{ text: 'Hello World' }] }),
      x2s({ fromUri: 'sip:juliet@example.com', imdn: { messageId: '9f3c1a7be2d04c55', dateTime: '2016-12-01T10:00:00Z', dispositions: ['positive-delivery', 'negative-delivery'] } }),
    );
    expect(sip.contentType).toBe('message/cpim');
    const cpim = parseCpim(sip.body);
    expect(cpimHeaders(cpim, 'From')[0]?.value).toBe('<sip:juliet@example.com>');
    expect(cpimHeaders(cpim, 'To')[0]?.value).toBe('<sip:romeo@example.net>');
    expect(cpimHeaders(cpim, 'Message-ID', IMDN_NS)[0]?.value).toBe('9f3c1a7be2d04c55');
    expect(cpimHeaders(cpim, 'DateTime')[0]?.value).toBe('2016-12-01T10:00:00Z');
    expect(cpimHeaders(cpim, 'Disposition-Notification', IMDN_NS)[0]?.value).toBe('positive-delivery, negative-delivery');
    expect(parseContentType(cpim.contentType).type).toBe('text/plain');
    expect(cpim.body.toString()).toBe('Hello World');
    // and the gateway's own S2X path accepts what X2S produced
    const back = sipPageToXmpp({ ...sip, from: { uri: 'sip:juliet@example.com' } }, { from: 'juliet@example.com', to: 'romeo@example.net', stanzaId: 'x' });
    expect(back).toMatchObject({ ok: true, imdn: { messageId: '9f3c1a7be2d04c55' } });
  });

  it('the CPIM wrapper counts toward the size limit', () => {
    const r = xmppPageToSip(julietPage({ bodies: [{ text: 'a'.repeat(1250) }] }), x2s({ imdn: { messageId: '1', dateTime: '2016-12-01T10:00:00Z', dispositions: ['positive-delivery'] } }));
    expect(r).toMatchObject({ ok: false, condition: 'policy-violation' });
  });
});

describe('sameIdentity', () => {
  it.each([
    ['sip:a@Example.COM', 'im:a@example.com', true],
    ['<sip:a@example.com;gr=x>', 'sips:a@example.com', true],
    ['sip:%61lice@example.com', 'sip:alice@example.com', true],
    ['sip:Alice@example.com', 'sip:alice@example.com', false],
    ['tel:+123', 'tel:+123', false],
    ['sip:example.com', 'sip:example.com', false],
  ])('%s vs %s → %s', (a, b, expected) => {
    expect(sameIdentity(a, b)).toBe(expected);
  });
});
