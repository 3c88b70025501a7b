import { describe, expect, it } from 'vitest';
import {
  child,
  children,
  elements,
  escapeXmlAttr,
  escapeXmlText,
  parseSafeXml,
  SafeXmlError,
  serializeXml,
  text,
  XML_LANG,
  type SafeXmlProblem,
  type XmlNode,
} from '../../../src/formats/safe-xml.js';

function problemOf(input: Buffer | string, limits?: Parameters<typeof parseSafeXml>[1]): SafeXmlProblem {
  try {
    parseSafeXml(input, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(SafeXmlError);
    return (e as SafeXmlError).problem;
  }
  throw new Error('expected the document to be refused');
}

const only = (n: XmlNode): XmlNode => {
  const els = elements(n);
  expect(els).toHaveLength(1);
  return els[0] as XmlNode;
};

describe('parseSafeXml: namespaces', () => {
  it('resolves any prefix and default namespaces to (namespace, local name)', () => {
    const root = parseSafeXml(
      `<?xml version="1.0" encoding="UTF-8"?>
      <zz:a xmlns:zz="urn:one" xmlns="urn:default" zz:k="1" k="2">
        <b/><zz:c/><d xmlns="urn:two"><e/></d><f xmlns=""/>
      </zz:a>`,
    );
    expect([root.ns, root.name]).toEqual(['urn:one', 'a']);
    expect([...root.attrs]).toEqual([
      ['{urn:one}k', '1'],
      ['k', '2'],
    ]);
    const els = elements(root).map((e) => [e.ns, e.name]);
    expect(els).toEqual([
      ['urn:default', 'b'],
      ['urn:one', 'c'],
      ['urn:two', 'd'],
      ['', 'f'],
    ]);
    const d = child(root, 'urn:two', 'd') as XmlNode;
    expect([only(d).ns, only(d).name]).toEqual(['urn:two', 'e']);
  });

  it('keys xml:lang as {XML namespace}lang and leaves namespace declarations out of attrs', () => {
    const root = parseSafeXml(`<a xmlns="urn:x" xmlns:p="urn:p" xml:lang="fr"/>`);
    expect(root.attrs.get(XML_LANG)).toBe('fr');
    expect(root.attrs.size).toBe(1);
  });

  it.each([
    ['undeclared element prefix', '<p:a/>'],
    ['undeclared attribute prefix', '<a p:x="1"/>'],
    ['empty namespace for a prefix', '<p:a xmlns:p=""/>'],
    ['rebinding xml', '<a xmlns:xml="urn:other"/>'],
    ['binding the XML namespace to another prefix', '<a xmlns:x="http://www.w3.org/XML/1998/namespace"/>'],
    ['declaring xmlns', '<a xmlns:xmlns="urn:x"/>'],
    ['two prefixes for one attribute name', '<a xmlns:p="urn:x" xmlns:q="urn:x" p:k="1" q:k="2"/>'],
    ['a name with two colons', '<p:q:a xmlns:p="urn:x"/>'],
  ])('refuses %s', (_what, doc) => {
    expect(problemOf(doc)).toBe('namespace');
  });

  it('allows an element named like an Object.prototype property', () => {
    const root = parseSafeXml('<constructor><__proto__ toString="1"/><hasOwnProperty/></constructor>');
    expect(root.name).toBe('constructor');
    const kids = elements(root);
    expect(kids.map((k) => k.name)).toEqual(['__proto__', 'hasOwnProperty']);
    expect(kids[0]?.attrs.get('toString')).toBe('1');
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
  });
});

describe('parseSafeXml: character data and references', () => {
  it('decodes the five predefined entities and character references, in text and attributes', () => {
    const root = parseSafeXml(`<a v="&lt;&amp;&gt;&quot;&apos;&#65;&#x42;">&lt;&amp;&gt;&quot;&apos;&#233;&#x1F600;</a>`);
    expect(root.attrs.get('v')).toBe(`<&>"'AB`);
    expect(text(root)).toBe(`<&>"'é😀`);
  });

  it('keeps CDATA content literal', () => {
    expect(text(parseSafeXml('<a>x <![CDATA[&amp; <b>]]> y</a>'))).toBe('x &amp; <b> y');
  });

  it('normalizes literal whitespace in attribute values but keeps whitespace references', () => {
    expect(parseSafeXml('<a v="x\ty\nz&#10;w"/>').attrs.get('v')).toBe('x y z\nw');
  });

  it('normalizes CRLF line ends in text', () => {
    expect(text(parseSafeXml('<a>x\r\ny</a>'))).toBe('x\ny');
  });

  it.each([
    ['an undefined entity', '<a>&nbsp;</a>', 'entity'],
    ['a reference to NUL', '<a>&#0;</a>', 'entity'],
    ['a reference to a surrogate', '<a>&#xD800;</a>', 'entity'],
    ['a reference beyond Unicode', '<a>&#x110000;</a>', 'entity'],
    ['an undefined entity in an attribute', '<a v="&foo;"/>', 'entity'],
    ['a literal control character', '<a>\u0001</a>', 'illegal-character'],
    ['a lone surrogate', '<a>\ud800</a>', 'illegal-character'],
  ] as const)('refuses %s', (_what, doc, problem) => {
    expect(problemOf(doc)).toBe(problem);
  });
});

describe('parseSafeXml: hostile documents', () => {
  it('refuses U+FEFF and U+1680 inside a tag, where fast-xml-parser would split a name at them (found by fuzzing)', () => {
    for (const doc of ['<a b="1" x\ufeff340="2"/>', '<a\u1680b/>', '<a><b\ufeffc></b\ufeffc></a>']) {
      expect(problemOf(doc)).toBe('not-well-formed');
    }
    // In text, attribute values and comments they are plain characters.
    const root = parseSafeXml('<a x="\ufeff\u1680">t\ufeff\u1680<!-- \ufeff --></a>');
    expect(root.attrs.get('x')).toBe('\ufeff\u1680');
    expect(text(root)).toBe('t\ufeff\u1680');
  });

  it('refuses a prefixed name whose local part is no NCName (found by fuzzing)', () => {
    for (const doc of ['<p:a xmlns:p="urn:x"><p:2b/></p:a>', '<p:a xmlns:p="urn:x"><b p:-c="1"/></p:a>', '<p:.a xmlns:p="urn:x"/>']) {
      expect(problemOf(doc)).toBe('namespace');
    }
    expect(parseSafeXml('<p:a xmlns:p="urn:x"><p:b2-c.d/></p:a>').children).toHaveLength(1);
  });

  it('refuses a tag opened with a non-ASCII space, which fast-xml-parser reads as a nameless element (found by fuzzing)', () => {
    for (const doc of ['<\u00a0presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"></presence>', '<a><\u2028b/></a>', '<\ufeffp:a xmlns:p="urn:x"/>']) {
      expect(problemOf(doc)).toBe('not-well-formed');
    }
  });

  const billionLaughs = `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@example.com"><note>&lol9;</note></presence>`;

  it('refuses billion laughs (DOCTYPE with nested entities) without expanding anything', () => {
    // Refused at the DOCTYPE, before any entity could be declared, let alone expanded.
    expect(problemOf(billionLaughs)).toBe('doctype');
  });

  it.each([
    ['an external entity (XXE)', '<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'],
    ['an external DTD', '<!DOCTYPE a SYSTEM "http://example.com/a.dtd"><a/>'],
    ['a bare DOCTYPE', '<!DOCTYPE a><a/>'],
    ['a stray entity declaration', '<a><!ENTITY x "y"></a>'],
  ])('refuses %s', (_what, doc) => {
    expect(problemOf(doc)).toBe('doctype');
  });

  it('refuses nesting deeper than 32 and accepts exactly 32', () => {
    const nest = (n: number): string => '<a>'.repeat(n) + '</a>'.repeat(n);
    expect(() => parseSafeXml(nest(32))).not.toThrow();
    expect(problemOf(nest(33))).toBe('too-deep');
    expect(problemOf(nest(5), { maxDepth: 4 })).toBe('too-deep');
  });

  it('refuses very deep nesting without exhausting the stack', () => {
    expect(problemOf('<a>'.repeat(5_000) + '</a>'.repeat(5_000))).toBe('too-deep');
    expect(problemOf('<a>'.repeat(9_000))).toMatch(/too-deep|not-well-formed/);
  });

  it('refuses documents over 64 KiB, counting UTF-8 bytes', () => {
    const big = `<a>${'x'.repeat(64 * 1024)}</a>`;
    expect(problemOf(big)).toBe('too-large');
    expect(problemOf(Buffer.from(big))).toBe('too-large');
    // 22,000 three-byte characters: fewer than 64 Ki UTF-16 units but more than 64 KiB.
    expect(problemOf(`<a>${'€'.repeat(22_000)}</a>`)).toBe('too-large');
    expect(problemOf('<a>xxxxxxxx</a>', { maxBytes: 10 })).toBe('too-large');
  });

  it('refuses too many elements', () => {
    expect(problemOf(`<a>${'<b/>'.repeat(2049)}</a>`)).toBe('too-many-elements');
    expect(problemOf(`<a>${'<b/>'.repeat(10)}</a>`, { maxElements: 5 })).toBe('too-many-elements');
  });

  it('counts elements before the full parse, but not tags inside comments, CDATA or PIs (fuzzing: 64 KiB of <a/> took over 100 ms)', () => {
    expect(problemOf(`<!-- x --><a>${'<b/>'.repeat(16_000)}</a>`)).toBe('too-many-elements');
    expect(problemOf(`<a>${'<b>'.repeat(40)}${'</b>'.repeat(40)}${'<c/>'.repeat(2100)}</a>`)).toBe('too-deep');
    const quoted = `<a><!-- ${'<b/>'.repeat(3000)} --><![CDATA[${'<c/>'.repeat(3000)}]]><?pi ${'<d/>'.repeat(3000)}?><e/></a>`;
    const root = parseSafeXml(quoted);
    expect(elements(root).map((e) => e.name)).toEqual(['e']);
    expect(text(root)).toBe('<c/>'.repeat(3000));
  });

  it('reads an element with many attributes, and still refuses a duplicate among them', () => {
    const attrs = Array.from({ length: 40 }, (_, i) => `a${i}="${i}"`).join(' ');
    expect(parseSafeXml(`<r ${attrs}/>`).attrs.get('a39')).toBe('39');
    expect(problemOf(`<r ${attrs} a0="x"/>`)).toBe('not-well-formed');
  });

  it('refuses invalid UTF-8 and encodings other than UTF-8', () => {
    expect(problemOf(Buffer.from([0x3c, 0x61, 0x3e, 0xff, 0x3c, 0x2f, 0x61, 0x3e]))).toBe('encoding');
    expect(problemOf(`<?xml version="1.0" encoding="ISO-8859-1"?><a/>`)).toBe('encoding');
    expect(problemOf(Buffer.from('\ufeff<a/>', 'utf16le'))).toBe('encoding');
    expect(parseSafeXml(Buffer.from('\ufeff<?xml version="1.0" encoding="utf-8"?><a>é</a>')).children).toEqual(['é']);
  });

  it.each([
    ['mismatched end tag', '<a><b></a>'],
    ['unclosed element', '<a><b></b>'],
    ['duplicate attribute', '<a x="1" x="2"/>'],
    ['unquoted attribute', '<a x=1/>'],
    ["'<' in an attribute value", '<a x="<"/>'],
    ['two root elements', '<a></a><b></b>'],
    ['two self-closing roots', '<a/><b/>'],
    ['text after a self-closing root', '<a/>x'],
    ['markup-like text after a self-closing root', '<a x=">"/>x>'],
    ['an unterminated comment after the root', '<a/><!-- x'],
    ['text before the root', 'x<a/>'],
    ["']]>' in text", '<a>]]></a>'],
    ['a bare ampersand', '<a>x & y</a>'],
    ['an empty document', ''],
    ['only a declaration', '<?xml version="1.0"?>'],
    ['no markup', 'hello'],
  ])('refuses %s', (_what, doc) => {
    expect(problemOf(doc)).toMatch(/not-well-formed|entity/);
  });
});

describe('tree helpers', () => {
  const root = parseSafeXml('<r xmlns="urn:r" xmlns:o="urn:o"><x>1</x><o:x>2</o:x>t<x>3<y/>4</x></r>');

  it('child/children select by namespace and local name', () => {
    expect(text(child(root, 'urn:r', 'x') as XmlNode)).toBe('1');
    expect(text(child(root, 'urn:o', 'x') as XmlNode)).toBe('2');
    expect(children(root, 'urn:r', 'x').map(text)).toEqual(['1', '34']);
    expect(child(root, 'urn:r', 'nope')).toBeUndefined();
    expect(children(root, 'urn:none', 'x')).toEqual([]);
  });
});

describe('serializeXml', () => {
  it('escapes text and attribute values so they parse back exactly', () => {
    const nasty = `a<b>&c;"d'e]]>\r\n\tf`;
    const xml = serializeXml({ name: 'r', attrs: [['v', nasty], ['skip', undefined]], children: [nasty, { name: 'e' }] });
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>')).toBe(true);
    const back = parseSafeXml(xml);
    expect(back.attrs.get('v')).toBe(nasty);
    expect(back.attrs.has('skip')).toBe(false);
    expect(text(back)).toBe(nasty);
    expect(elements(back).map((e) => e.name)).toEqual(['e']);
  });

  it('drops characters XML cannot carry instead of emitting an unparseable document', () => {
    expect(escapeXmlText('a\u0000b\u0007c\ud800d\uffffe')).toBe('abcde');
    expect(escapeXmlAttr('x\u0001y')).toBe('xy');
    const xml = serializeXml({ name: 'r', children: ['a\u0001😀'] }, { declaration: false });
    expect(xml).toBe('<r>a😀</r>');
    expect(text(parseSafeXml(xml))).toBe('a😀');
  });
});

describe('parseSafeXml: comments and processing instructions', () => {
  it('ignores them around and inside the root', () => {
    const root = parseSafeXml('<?xml version="1.0"?>\n<!-- c --><?pi x?>\n<a><!-- in --><?pi y?>t</a>\n<!-- after -->\n');
    expect(root.children).toEqual(['t']);
    expect(parseSafeXml('<!-- c --><a x="/>"/><!-- d -->\n').name).toBe('a');
  });
});
