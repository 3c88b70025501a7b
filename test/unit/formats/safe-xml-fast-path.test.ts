import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSafeXml, parseSafeXmlFastPathOnly, parseSafeXmlWithoutFastPath, SafeXmlError, type XmlNode } from '../../../src/formats/safe-xml.js';

// The fast path of parseSafeXml may only take documents the full pipeline accepts, and must build the
// same tree for them; everything else it hands to the pipeline, which then gives the verdict. Held to that
// here on the PIDF fixtures, hand-picked edge cases and seeded mutations of both.

const FIXTURES = join(import.meta.dirname, '..', '..', 'fixtures', 'pidf');

type Outcome = { tree: XmlNode } | { problem: string };

function full(doc: string): Outcome {
  try {
    return { tree: parseSafeXmlWithoutFastPath(doc) };
  } catch (e) {
    if (e instanceof SafeXmlError) return { problem: e.problem };
    throw e;
  }
}

function viaEntryPoint(doc: string): Outcome {
  try {
    return { tree: parseSafeXml(doc) };
  } catch (e) {
    if (e instanceof SafeXmlError) return { problem: e.problem };
    throw e;
  }
}

/** Fast path vs full pipeline on one document; returns whether the fast path took it. */
function check(doc: string): boolean {
  const expected = full(doc);
  let fast: XmlNode | undefined;
  try {
    fast = parseSafeXmlFastPathOnly(doc);
  } catch (e) {
    throw new Error(`fast path threw instead of giving up on ${JSON.stringify(doc)}: ${String(e)}`);
  }
  if (fast !== undefined) {
    expect('tree' in expected, `fast path accepted what the pipeline refuses: ${JSON.stringify(doc)}`).toBe(true);
    expect(fast, JSON.stringify(doc)).toEqual((expected as { tree: XmlNode }).tree);
  }
  expect(viaEntryPoint(doc), JSON.stringify(doc)).toEqual(expected);
  return fast !== undefined;
}

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.xml'))
  .map((f) => readFileSync(join(FIXTURES, f), 'utf8'));

const PIDF = `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:p1n0@sip.test">
  <tuple id="desk"><status><basic>open</basic></status><note xml:lang="en">b1 t1795263634653275 &amp; &#233;</note></tuple>
  <dm:person id="p1"><rpid:activities><rpid:busy/></rpid:activities></dm:person>
</presence>
`;

describe('parseSafeXml fast path (differential against the full pipeline)', () => {
  it('takes the plain presence documents, with the same tree', () => {
    expect(check(PIDF)).toBe(true);
    const taken = fixtures.filter((doc) => check(doc)).length;
    // Most fixtures are plain; the hostile ones (DOCTYPE, undefined entities) go to the pipeline.
    expect(taken).toBeGreaterThan(fixtures.length / 2);
  });

  it.each([
    ['attributes in single quotes and spaces around =', `<a x = 'it"s' y="1"/>`, true],
    ['whitespace text between elements', '<r>\n  <b/>\n  <c>x</c>\n</r>\n', true],
    ['a space before the end of an end tag', '<r><b></b ></r>', true],
    ['namespace scopes that end with their element', '<r xmlns="u:1"><a xmlns="u:2"><b/></a><c/></r>', true],
    ['comments inside and around the root', '<!-- a --><r>a<!--c-->b<!--d--><x/>\n<!----></r><!--e-->', true],
    ['a comment with -- inside (left to the pipeline)', '<r><!-- a -- b --></r>', false],
    ['a reference cut by a comment (left to the pipeline)', '<r>&am<!--x-->p;</r>', false],
    ["']]>' made by joining text around a comment", '<r>]]<!--x-->></r>', false],
    ['CDATA (left to the pipeline)', '<r><![CDATA[x]]></r>', false],
    ['a processing instruction (left to the pipeline)', '<r><?pi x?></r>', false],
    ['CR and CRLF line ends, read as LF (XML 1.0 §2.11)', '<r\r\na="x\r\ny"\r>x\r\ny\rz&#13;</r>\r\n', true],
    ['a non-ASCII name (left to the pipeline)', '<r><é/></r>', false],
    ['a declaration with an unknown pseudo-attribute', '<?xml version="1.0" foo="bar"?><r/>', false],
    ['a declaration after whitespace', ' <?xml version="1.0"?><r/>', false],
    ['attributes without whitespace between them', '<a x="1"y="2"/>', false],
    ['a duplicate attribute', '<a x="1" x="2"/>', false],
    ['the same attribute through two prefixes', '<a xmlns:p="urn:x" xmlns:q="urn:x" p:k="1" q:k="2"/>', false],
    ['an undeclared prefix', '<p:a/>', false],
    ["']]>' in text", '<a>]]></a>', false],
    ['a bare ampersand', '<a>x & y</a>', false],
    ['an undefined entity', '<a v="&nbsp;"/>', false],
    ["'<' in an attribute value", '<a x="<"/>', false],
    ['a mismatched end tag', '<a><b></a>', false],
    ['an unclosed root', '<a><b></b>', false],
    ['text after the root', '<a/>x', false],
    ['a second root', '<a/><b/>', false],
    ['nothing', '', false],
    ['a name with two colons', '<p:q:a xmlns:p="urn:x"/>', false],
  ])('%s', (_what, doc, taken) => {
    expect(check(doc)).toBe(taken);
  });

  it('gives up beyond the depth and element caps, so the pipeline names the problem', () => {
    const nest = (n: number): string => '<a>'.repeat(n) + '</a>'.repeat(n);
    expect(check(nest(32))).toBe(true);
    expect(check(nest(33))).toBe(false);
    expect(parseSafeXmlFastPathOnly(nest(5), { maxDepth: 4 })).toBeUndefined();
    expect(check(`<a>${'<b/>'.repeat(2047)}</a>`)).toBe(true);
    expect(check(`<a>${'<b/>'.repeat(2048)}</a>`)).toBe(false);
    expect(check('<a>'.repeat(9_000))).toBe(false);
  });

  it('agrees on seeded mutations of every fixture', () => {
    // xorshift32: the same documents on every run, so a failure can be replayed.
    let state = 0x5eed1234;
    const rand = (n: number): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const pieces = ['<', '>', '/', '"', "'", '=', '&', ';', ':', ' ', '\n', 'a', 'xmlns', 'xmlns:p=""', '&amp;', '&#0;', '&#x41;', ']]>', '<!--', '-->', '<?', '?>', 'p:', '</x>', '<x>', '\u00e9', '\t', '\r', '\r\n'];
    let taken = 0;
    let total = 0;
    for (const base of [PIDF, PIDF.replace(/\n/g, '\r\n'), ...fixtures]) {
      for (let k = 0; k < 150; k++) {
        let doc = base;
        for (let m = 1 + rand(3); m > 0; m--) {
          const at = rand(doc.length + 1);
          const op = rand(3);
          const piece = pieces[rand(pieces.length)]!;
          if (op === 0) doc = doc.slice(0, at) + piece + doc.slice(at);
          else if (op === 1) doc = doc.slice(0, at) + doc.slice(at + 1 + rand(8));
          else doc = doc.slice(0, at) + piece + doc.slice(at + piece.length);
        }
        total++;
        if (check(doc)) taken++;
      }
    }
    // Both sides of the fast path are exercised: some mutants stay plain, most do not.
    expect(taken).toBeGreaterThan(total / 20);
    expect(taken).toBeLessThan(total);
  });
});
