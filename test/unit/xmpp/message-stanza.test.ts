import { parse } from 'ltx';
import { describe, expect, it } from 'vitest';
import type { XmppPage } from '../../../src/core/messages.js';
import { XHTML_IM_NS, XHTML_NS, htmlToXhtmlIm } from '../../../src/formats/xhtml-im.js';
import { DELAY_NS, MessageStanzaError, STANZAS_NS, errorReply, stanzaToXmppPage, xmppPageToStanza } from '../../../src/xmpp/message-stanza.js';

describe('stanzaToXmppPage', () => {
  it('TV-I1 input (RFC 7572 Example 1, reference §9.3)', () => {
    const el = parse(`<message from='juliet@example.com/yn0cl4bnw0yr3vym' to='romeo@example.net'>
      <body>Art thou not Romeo, and a Montague?</body></message>`);
    expect(stanzaToXmppPage(el)).toEqual({
      from: 'juliet@example.com/yn0cl4bnw0yr3vym',
      to: 'romeo@example.net',
      bodies: [{ text: 'Art thou not Romeo, and a Montague?' }],
      subjects: [],
    });
  });

  it('reads id, type, xml:lang, bodies and subjects per language, thread, XHTML-IM and delay, namespace-aware', () => {
    const el = parse(`<message xmlns='jabber:component:accept' from='a@x.example/r' to='b@y.example' id='m1' type='chat' xml:lang='en'>
      <subject>Hi</subject><subject xml:lang='fr'>Salut</subject>
      <body>Hello</body><body xml:lang='fr'>Bonjour</body>
      <thread>t-1</thread>
      <body xmlns='urn:not-a-body'>ignored</body>
      <html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p onclick='x()'>Hello</p></body></html>
      <delay xmlns='urn:xmpp:delay' from='x.example' stamp='2002-09-10T23:08:25Z'/>
    </message>`);
    const p = stanzaToXmppPage(el);
    expect(p).toMatchObject({
      id: 'm1',
      type: 'chat',
      lang: 'en',
      thread: 't-1',
      bodies: [{ text: 'Hello' }, { lang: 'fr', text: 'Bonjour' }],
      subjects: [{ text: 'Hi' }, { lang: 'fr', text: 'Salut' }],
      delay: { stamp: '2002-09-10T23:08:25Z', from: 'x.example' },
    });
    expect(p.html?.getChild('body', XHTML_NS)?.toString()).toBe(`<body xmlns="${XHTML_NS}"><p>Hello</p></body>`);
  });

  it('treats an unknown type as normal (RFC 6121 §5.2.2)', () => {
    expect(stanzaToXmppPage(parse(`<message from='a@b' to='c@d' type='weird'/>`)).type).toBe('normal');
  });

  it('refuses error messages, other stanzas and missing addresses', () => {
    expect(() => stanzaToXmppPage(parse(`<message from='a@b' to='c@d' type='error'/>`))).toThrow(MessageStanzaError);
    expect(() => stanzaToXmppPage(parse(`<presence from='a@b' to='c@d'/>`))).toThrow(MessageStanzaError);
    expect(() => stanzaToXmppPage(parse(`<message to='c@d'/>`))).toThrow(/from or to/);
  });
});

describe('xmppPageToStanza', () => {
  it('TV-I2 output shape (RFC 7572 Example 5): no type, body text', () => {
    const el = xmppPageToStanza({ from: 'romeo@example.net', to: 'juliet@example.com', bodies: [{ text: 'Neither, fair saint, if either thee dislike.' }], subjects: [] });
    expect(el.toString()).toBe('<message from="romeo@example.net" to="juliet@example.com"><body>Neither, fair saint, if either thee dislike.</body></message>');
  });

  it('round-trips every field', () => {
    const page: XmppPage = {
      from: 'a@x.example/r',
      to: 'b@y.example',
      id: 'i1',
      type: 'normal',
      thread: 'call-1@host',
      lang: 'cs',
      bodies: [{ text: 'line 1\nline 2 <b>&amp;' }],
      subjects: [{ lang: 'en', text: 'Sub' }],
      html: htmlToXhtmlIm('<p>x</p>'),
      delay: { stamp: '2000-12-13T21:40:00.000Z' },
    };
    const el = xmppPageToStanza(page);
    expect(el.getChild('html', XHTML_IM_NS)).toBeDefined();
    expect(el.getChild('delay', DELAY_NS)?.attrs.stamp).toBe('2000-12-13T21:40:00.000Z');
    const back = stanzaToXmppPage(parse(el.toString()));
    expect(back).toMatchObject({ ...page, html: expect.anything() as unknown });
  });

  it('text cannot inject markup, and XML-illegal characters are removed', () => {
    const el = xmppPageToStanza({ from: 'a@b', to: 'c@d', bodies: [{ text: '</body><evil/>\u0000\u001b' }], subjects: [{ text: "x' y=\"z" }] });
    const s = el.toString();
    expect(s).toContain('&lt;/body&gt;&lt;evil/&gt;');
    expect(s).not.toContain('<evil');
    expect(s).not.toMatch(/[\u0000\u001b]/);
    expect(parse(s).getChildText('body')).toBe('</body><evil/>');
  });
});

describe('errorReply (RFC 6120 §8.3)', () => {
  it('E1 (reference §9.6): swaps from/to, keeps id, condition and text in the stanzas namespace', () => {
    const orig = parse(`<message from='juliet@example.com/yn0cl4bnw0yr3vym' to='nobody@example.net' id='e1'><body>Art thou not Romeo, and a Montague?</body></message>`);
    const reply = errorReply(orig, 'item-not-found', 'cancel', 'Not Found');
    expect(reply.attrs).toEqual({ type: 'error', from: 'nobody@example.net', to: 'juliet@example.com/yn0cl4bnw0yr3vym', id: 'e1' });
    const error = reply.getChild('error');
    expect(error?.attrs.type).toBe('cancel');
    expect(error?.getChild('item-not-found', STANZAS_NS)).toBeDefined();
    expect(error?.getChildText('text', STANZAS_NS)).toBe('Not Found');
    expect(reply.getChild('body')).toBeUndefined();
  });

  it('E15: policy-violation, type modify', () => {
    const reply = errorReply(parse(`<message from='a@b/c' to='d@e' id='x'/>`), 'policy-violation', 'modify');
    expect(reply.toString()).toBe(
      `<message type="error" from="d@e" to="a@b/c" id="x"><error type="modify"><policy-violation xmlns="${STANZAS_NS}"/></error></message>`,
    );
  });

  it('gone carries the new address; unknown conditions and types are made safe', () => {
    const orig = parse(`<message from='a@b' to='c@d'/>`);
    expect(errorReply(orig, 'gone', 'cancel', undefined, { conditionText: 'xmpp:romeo@example.org' }).getChild('error')?.getChildText('gone', STANZAS_NS)).toBe('xmpp:romeo@example.org');
    const bad = errorReply(orig, 'no-such-thing', 'sometimes', 'x\u0000');
    expect(bad.getChild('error')?.attrs.type).toBe('cancel');
    expect(bad.getChild('error')?.getChild('undefined-condition', STANZAS_NS)).toBeDefined();
    expect(bad.getChild('error')?.getChildText('text', STANZAS_NS)).toBe('x');
  });
});
