/**
 * Fuzz target: text/html from SIP → XHTML-IM for XMPP (src/formats/xhtml-im.ts). Run with
 * `npm run fuzz -- xhtml-im [seconds] [seed]`. Its slow-input check is what keeps hostile documents
 * (unclosed raw-text tags, long runs, deep nesting) at linear cost; unit tests assert no timings.
 *
 * Oracles: htmlToXhtmlIm and xhtmlToPlainText never throw; the sanitized tree holds no element outside
 * XEP-0071's profile that can run code (script, style, iframe, object, embed) and no `on…` attribute or
 * `javascript:` link; the markup it serializes re-parses, and through sanitizeXhtmlIm (what Stox applies to
 * XHTML-IM coming from XMPP) gives the same serialization, so sanitizing is idempotent (below the node
 * budget, where each pass counts different nodes).
 */
import { parse as parseXml } from 'ltx';
import type { Element } from 'ltx';
import { htmlToXhtmlIm, isLtxElement, sanitizeXhtmlIm, xhtmlToPlainText } from '../../src/formats/xhtml-im.js';
import { Finding, type FuzzTarget } from './engine.js';

const SEEDS = [
  '<html><body><p>Hello <b>world</b> and <i>you</i></p><br><a href="https://example.com/x?y=1&amp;z=2">link</a></body></html>',
  '<p style="color: red; background: url(javascript:alert(1))">styled</p><img src="https://example.com/i.png" alt="pic">',
  '<ul><li>one<li>two</ul><ol><li>first</li></ol><blockquote>q</blockquote><pre>  keep\n  spaces</pre>',
  '<script>alert(1)</script><style>p{}</style><iframe src=x></iframe><object data=x></object>ok',
  '<a href="javascript:alert(1)" onclick="x()">bad</a><img src=x onerror=alert(1)>',
  '<p title="unterminated <b>bold <textarea>raw <i>text',
  '<!-- comment --><![CDATA[ cdata ]]><?pi x?><p>after</p>',
  '<body xml:lang="de"><p lang="fr">hallo &amp; &lt;tag&gt; &#x1F600; &unknown;</p></body>',
].map((s) => Buffer.from(s, 'utf8'));

const TOKENS = [
  '<p>', '</p>', '<b>', '</b>', '<br>', '<br/>', '<script>', '</script>', '<textarea>', '<title>', '<style>', '<a href="',
  '">', '<img src="', '" alt="', ' onclick="', 'javascript:', 'data:', '<html>', '<body>', '</body>', '<!--', '-->',
  '<![CDATA[', ']]>', '&amp;', '&lt;', '&#', '&#x', ';', '"', "'", '=', '<', '>', '/', ' style="', 'url(', '\u0000', '\uFFFE',
];

const CODE_ELEMENTS = new Set(['script', 'style', 'iframe', 'object', 'embed', 'applet', 'form', 'input', 'frame', 'frameset', 'meta', 'link', 'base']);

function checkSafe(el: Element, depth = 0): void {
  const name = el.getName().toLowerCase();
  if (CODE_ELEMENTS.has(name)) throw new Finding('element that can run code kept', name);
  for (const [attr, value] of Object.entries(el.attrs)) {
    if (/^on/i.test(attr)) throw new Finding('event handler attribute kept', `${name} ${attr}`);
    if ((attr === 'href' || attr === 'src') && typeof value === 'string' && /^\s*(javascript|vbscript|data\s*:\s*text\/html)/i.test(value)) {
      throw new Finding('scriptable URL kept', `${name} ${attr}=${value.slice(0, 80)}`);
    }
  }
  for (const child of el.children) if (isLtxElement(child)) checkSafe(child, depth + 1);
}

/** src/formats/xhtml-im.ts MAX_NODES. */
const NODE_BUDGET = 5000;

function countNodes(el: Element): number {
  let n = 1;
  for (const c of el.children) n += isLtxElement(c) ? countNodes(c) : 1;
  return n;
}

function parseHtml(input: Buffer): string {
  return input.toString('utf8');
}

export const target: FuzzTarget = {
  name: 'xhtml-im',
  description: 'htmlToXhtmlIm + xhtmlToPlainText; sanitized output safe, and re-sanitizing it changes nothing',
  seeds: SEEDS,
  tokens: TOKENS,
  maxInputBytes: 64 * 1024,
  parseOnly(input) {
    xhtmlToPlainText(htmlToXhtmlIm(parseHtml(input)));
  },
  run(input) {
    const html = parseHtml(input);
    let tree: Element;
    let text: string;
    try {
      tree = htmlToXhtmlIm(html);
      text = xhtmlToPlainText(tree);
    } catch (e) {
      throw new Finding('htmlToXhtmlIm/xhtmlToPlainText threw', e instanceof Error ? (e.stack ?? e.message) : String(e));
    }
    checkSafe(tree);
    const serialized = tree.toString();
    let reparsed: Element;
    try {
      reparsed = parseXml(serialized) as Element;
    } catch (e) {
      throw new Finding('sanitized XHTML-IM is not well-formed XML', `${e instanceof Error ? e.message : String(e)}\n${serialized.slice(0, 500)}`);
    }
    // Past the node budget each pass cuts the document where its own count (source nodes, not output
    // nodes: a newline in <pre> is one text node in HTML and a <br/> plus text in XHTML) runs out.
    if (countNodes(tree) >= NODE_BUDGET / 2) return 'ok-budget';
    const again = sanitizeXhtmlIm(reparsed);
    const body = tree.getChild('body');
    const empty = !body || body.children.length === 0;
    if (!again) {
      if (!empty) throw new Finding('re-sanitizing dropped a non-empty body', serialized.slice(0, 500));
      return 'ok-empty';
    }
    if (again.toString() !== serialized) throw new Finding('sanitizing is not idempotent', `first:  ${serialized.slice(0, 400)}\nsecond: ${again.toString().slice(0, 400)}`);
    return `ok:${empty ? 'empty' : 'content'}:${text.length > 0 ? 'text' : 'no-text'}`;
  },
};
