import { parse, type Element } from 'ltx';
import { describe, expect, it } from 'vitest';
import {
  XHTML_IM_NS,
  XHTML_NS,
  htmlToXhtmlIm,
  sanitizeStyle,
  sanitizeUrl,
  sanitizeXhtmlIm,
  xhtmlImToHtml,
  xhtmlToPlainText,
  xmlCharSafe,
} from '../../../src/formats/xhtml-im.js';

/** The inner markup of the sanitized body, as serialized XML. */
const inner = (html: string): string => {
  const body = htmlToXhtmlIm(html).getChild('body', XHTML_NS);
  return (body?.toString() ?? '').replace(/^<body[^>]*?(?:\/>|>)/, '').replace(/<\/body>$/, '');
};

describe('htmlToXhtmlIm (RFC 7572 §7, XEP-0071 §7 recommended profile)', () => {
  it('wraps in <html xmlns=xhtml-im><body xmlns=xhtml>', () => {
    const el = htmlToXhtmlIm('<p>hi</p>');
    expect(el.is('html', XHTML_IM_NS)).toBe(true);
    expect(el.getChild('body', XHTML_NS)).toBeDefined();
    expect(inner('<p>hi</p>')).toBe('<p>hi</p>');
  });

  it('keeps profile elements and maps presentational ones to styled spans', () => {
    expect(inner('<b>bold</b> <i>it</i> <u>u</u>')).toBe(
      '<span style="font-weight: bold">bold</span> <span style="font-style: italic">it</span> <span style="text-decoration: underline">u</span>',
    );
    expect(inner('<div>a</div><h1>T</h1>')).toBe('<p>a</p><p style="font-weight: bold">T</p>');
    expect(inner('<ul><li>one<li>two</ul>')).toBe('<ul><li>one</li><li>two</li></ul>');
    expect(inner('<font color="red" face="Arial">x</font>')).toBe('<span style="color: red; font-family: Arial">x</span>');
  });

  it('drops scripts with their content, event handlers and javascript: URLs', () => {
    const out = inner(
      '<p onclick="alert(1)">hi<script>alert("x")</script></p><a href="javascript:alert(1)">link</a>' +
        '<a href=" JaVa&#x09;Script:alert(1)">two</a><img src="javascript:x" alt="pic"><style>p{}</style>',
    );
    expect(out).not.toMatch(/script|onclick|alert|style>/i);
    expect(out).toBe('<p>hi</p><span>link</span><span>two</span>pic');
  });

  it('drops style expressions, url() and unknown properties but keeps recommended ones', () => {
    expect(sanitizeStyle('color: red; width: expression(alert(1)); background-color: url(x); position: fixed')).toBe('color: red');
    expect(sanitizeStyle('font-family: "Times New Roman"; color: rgb(1, 2, 3)')).toBe('font-family: "Times New Roman"; color: rgb(1, 2, 3)');
    expect(sanitizeStyle('color: re\\64')).toBeUndefined();
    expect(inner('<span style="color:blue;behavior:url(x.htc)">x</span>')).toBe('<span style="color: blue">x</span>');
  });

  it('keeps safe links and images with their allowed attributes only', () => {
    expect(inner('<a href="https://example.com/?a=1&amp;b=2" target="_blank" class="c">x</a>')).toBe('<a href="https://example.com/?a=1&amp;b=2">x</a>');
    expect(inner('<img src="http://e.example/p.png" alt="A" width="10" height="20" onerror="x()">')).toBe(
      '<img src="http://e.example/p.png" alt="A" width="10" height="20"/>',
    );
    expect(sanitizeUrl('data:text/html,<script>')).toBeUndefined();
    expect(sanitizeUrl('xmpp:romeo@example.net')).toBe('xmpp:romeo@example.net');
  });

  it('drops unknown elements but keeps their text; tolerates broken HTML', () => {
    expect(inner('<blink>on</blink><custom-el>x</custom-el>')).toBe('onx');
    expect(inner('<p>unclosed <b>bold')).toBe('<p>unclosed <span style="font-weight: bold">bold</span></p>');
    expect(inner('a < b </i> c')).toBe('a &lt; b  c');
    expect(inner('<p>a<p>b')).toBe('<p>a</p><p>b</p>');
    expect(inner('<p title="x')).toBe('');
  });

  it('decodes only XML entities, numeric references and &nbsp;', () => {
    expect(htmlToXhtmlIm('&lt;&amp;&gt;&quot;&apos;&#233;&#xe9;&nbsp;&copy;&#0;&#xD800;').getChild('body', XHTML_NS)?.getText()).toBe(
      '<&>"\'éé\u00a0&copy;\ufffd\ufffd',
    );
  });

  it('uses the document body and ignores the head', () => {
    expect(inner('<html><head><title>T</title><meta x></head><body style="color: red"><p>x</p></body></html>')).toBe('<p>x</p>');
    expect(htmlToXhtmlIm('<body style="color: red">x</body>').getChild('body', XHTML_NS)?.attrs.style).toBe('color: red');
  });

  it('turns <pre> line breaks into <br/>', () => {
    expect(inner('<pre>a\nb</pre>')).toBe('<p>a<br/>b</p>');
  });

  it('markup in text is escaped, never interpreted', () => {
    const s = htmlToXhtmlIm('&lt;script&gt;alert(1)&lt;/script&gt;').toString();
    expect(s).toContain('&lt;script&gt;');
    expect(s).not.toContain('<script');
  });

  // Their cost is watched by the fuzz target's slow-input check (npm run fuzz), not by a timing here.
  it('hostile documents (unclosed raw-text tags, long runs, deep nesting) are translated, never thrown on', () => {
    expect(htmlToXhtmlIm('<script>'.repeat(20000)).toString()).not.toContain('<script');
    expect(htmlToXhtmlIm('<textarea>x'.repeat(20000)).toString()).not.toContain('<textarea');
    // Long runs are cut at the node budget, never thrown on.
    expect(xhtmlToPlainText(htmlToXhtmlIm('a<br>'.repeat(50000)))).toMatch(/^a(\na)+$/);
    expect(xhtmlToPlainText(htmlToXhtmlIm('<b>'.repeat(1000) + 'x'))).toBe('x');
    expect(xhtmlToPlainText(htmlToXhtmlIm('<b>'.repeat(100000) + 'x'))).toBe('');
    expect(() => htmlToXhtmlIm('<p title="'.repeat(20000))).not.toThrow();
  });

  it('sanitizing its own output changes nothing, line breaks past the depth cap included (fuzz finding xhtml-im 0-7)', () => {
    const html = '<pre>  keep\n  s>'.repeat(40);
    const once = htmlToXhtmlIm(html);
    expect(sanitizeXhtmlIm(parse(once.toString()) as Element)!.toString()).toBe(once.toString());
  });

  it('bounds nesting depth', () => {
    const deep = '<span>'.repeat(500) + 'x' + '</span>'.repeat(500);
    const el = htmlToXhtmlIm(deep);
    expect(xhtmlToPlainText(el)).toBe('x');
  });
});

describe('xhtmlToPlainText', () => {
  it('blocks and <br/> become newlines, whitespace collapses, entities are characters', () => {
    const el = htmlToXhtmlIm('<p>Hello   <b>world</b>!</p>\n<p>line1<br>line2 &amp; more</p>');
    expect(xhtmlToPlainText(el)).toBe('Hello world!\nline1\nline2 & more');
  });

  it('renders lists, image alt text and link targets', () => {
    const el = htmlToXhtmlIm('<ol><li>a</li><li>b</li></ol><ul><li>c</li></ul><img src="https://x.example/i.png" alt="pic"> <a href="https://e.example/">site</a>');
    expect(xhtmlToPlainText(el)).toBe('1. a\n2. b\n- c\npic site <https://e.example/>');
  });

  it('XEP-0071 example 1 (bold, italic, colours)', () => {
    const el = parse(
      `<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>
        <p style='font-size:large'>
          <span style='font-style: italic'>OMG</span>,
          I&apos;m <span style='color:green'>green</span>
          with <span style='font-weight: bold'>envy</span>!
        </p></body></html>`,
    );
    expect(xhtmlToPlainText(el)).toBe("OMG, I'm green with envy!");
  });
});

describe('sanitizeXhtmlIm (XHTML-IM received from XMPP)', () => {
  it('keeps every XHTML body with its xml:lang and filters the content', () => {
    const el = parse(
      `<html xmlns='http://jabber.org/protocol/xhtml-im'>
        <body xmlns='http://www.w3.org/1999/xhtml' xml:lang='en'><p onclick='x()'>hi<script>x()</script></p></body>
        <body xmlns='http://www.w3.org/1999/xhtml' xml:lang='fr'><a href='javascript:x()'>salut</a></body>
        <body xmlns='urn:other'>no</body>
      </html>`,
    );
    const clean = sanitizeXhtmlIm(el);
    const bodies = clean?.getChildren('body', XHTML_NS) ?? [];
    expect(bodies.map((b) => b.attrs['xml:lang'])).toEqual(['en', 'fr']);
    expect(bodies.map((b) => b.children.map(String).join(''))).toEqual(['<p>hi</p>', '<span>salut</span>']);
  });

  it('drops foreign-namespace elements inside the body but keeps their text', () => {
    const el = parse(`<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><x:evil xmlns:x='urn:x'>t</x:evil></body></html>`);
    expect(sanitizeXhtmlIm(el)?.getChild('body', XHTML_NS)?.children).toEqual(['t']);
  });

  it('is undefined when nothing is left or for a non-XHTML-IM element', () => {
    expect(sanitizeXhtmlIm(parse(`<html xmlns='http://jabber.org/protocol/xhtml-im'/>`))).toBeUndefined();
    expect(sanitizeXhtmlIm(parse(`<html xmlns='urn:other'><body/></html>`))).toBeUndefined();
  });
});

describe('xhtmlImToHtml', () => {
  it('serializes as HTML: void elements bare, others always closed, re-sanitized', () => {
    const el = parse(
      `<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>a<br/><span/>&lt;b&gt;<img src='javascript:x' alt='i'/></p></body></html>`,
    );
    expect(xhtmlImToHtml(el)).toBe('<html><body><p>a<br><span></span>&lt;b&gt;i</p></body></html>');
  });

  it('accepts a bare XHTML body without touching it', () => {
    const body = parse(`<body xmlns='http://www.w3.org/1999/xhtml'><p>x</p></body>`);
    const before = body.toString();
    expect(xhtmlImToHtml(body)).toBe('<html><body><p>x</p></body></html>');
    expect(body.toString()).toBe(before);
  });
});

describe('xmlCharSafe', () => {
  it('removes what XML 1.0 cannot carry and keeps the rest', () => {
    expect(xmlCharSafe('a\u0000b\u0001c\td\ne\r\ufffe\uffff\ud800f😀')).toBe('abc\td\ne\rf😀');
  });
});
