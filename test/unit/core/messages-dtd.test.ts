import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { sipPageToXmpp, type SipPage } from '../../../src/core/messages.js';
import { buildCpim } from '../../../src/formats/cpim.js';
import { hasMarkupDeclarations } from '../../../src/formats/xhtml-im.js';

// Regression: text/html (bare or inside message/cpim) with a billion-laughs DTD used to be delivered
// with the DTD's tail (`]>`) and the literal `&lol9;` as the message text. It is now refused 400.

const LAUGHS = readFileSync('test/fixtures/pidf/billion-laughs.xml', 'utf8').replace(/^<\?xml[^>]*>\s*/, '');
const html = `${LAUGHS.replace(/<presence[\s\S]*$/, '')}<html><body><p>&lol9;</p></body></html>`;

const page = (over: Partial<SipPage>): SipPage => ({
  requestUri: 'sip:juliet@example.com',
  from: { uri: 'sip:romeo@example.net' },
  to: { uri: 'sip:juliet@example.com' },
  callId: 'dtd-1',
  contentType: 'text/html',
  body: Buffer.from(html),
  ...over,
});
const opts = { from: 'romeo@example.net', to: 'juliet@example.com', stanzaId: 's1' };

describe('text/html with markup declarations (billion laughs) is refused 400', () => {
  it('bare text/html', () => {
    const r = sipPageToXmpp(page({}), opts);
    expect(r).toMatchObject({ ok: false, status: 400, reason: expect.stringMatching(/DTD or entity/) as unknown });
  });

  it('text/html inside message/cpim (RFC 3862)', () => {
    const body = buildCpim({ from: { uri: 'sip:romeo@example.net' }, to: { uri: 'sip:juliet@example.com' }, contentType: 'text/html', body: Buffer.from(html) });
    const r = sipPageToXmpp(page({ contentType: 'message/cpim', body }), opts);
    expect(r).toMatchObject({ ok: false, status: 400 });
  });

  it('a plain <!DOCTYPE html> and text mentioning <!ENTITY in escaped form still pass', () => {
    expect(hasMarkupDeclarations('<!DOCTYPE html><p>hi</p>')).toBe(false);
    expect(hasMarkupDeclarations('<p>&lt;!ENTITY x&gt;</p>')).toBe(false);
    expect(hasMarkupDeclarations('<!doctype x [<!entity a "b">]>')).toBe(true);
    expect(hasMarkupDeclarations('<!ELEMENT p ANY>')).toBe(true);
    const r = sipPageToXmpp(page({ body: Buffer.from('<!DOCTYPE html><p>hello</p>') }), opts);
    expect(r.ok).toBe(true);
  });
});
