/**
 * HTML ⇄ XHTML-IM (XEP-0071) and plain-text rendering.
 *
 * RFC 7572 §7 says a gateway that processes `text/html` MUST convert it to the XEP-0071 integration set;
 * we go further and emit only the XEP-0071 §7 *recommended profile* (a, body, br, img, li, ol, p, span, ul;
 * attributes href/type, alt/src/width/height, style with the ten recommended CSS properties), because the
 * receiving client renders whatever we let through. Presentational HTML (b, i, u, font, h1…) becomes
 * `<span style>` as XEP-0071 §8 rule 7 suggests. Anything else is dropped: elements that carry code or
 * hidden content (script, style, head, iframe…) with their content, unknown elements keeping their text.
 *
 * HTML from SIP is not XML, so it is read by a small tolerant tokenizer, not an XML parser. Only the five
 * XML entities, numeric references and `&nbsp;` are decoded; any other named reference stays literal text,
 * so no entity table or DTD ever expands.
 */
import { Element } from 'ltx';

export const XHTML_IM_NS = 'http://jabber.org/protocol/xhtml-im';
export const XHTML_NS = 'http://www.w3.org/1999/xhtml';

/** Deep enough for any real message; deeper markup is flattened (text kept) so recursion stays bounded. */
const MAX_DEPTH = 32;
/** Bounds the work a hostile document can cause; the text beyond is dropped. */
const MAX_NODES = 5000;
/** Beyond this many open elements, new ones no longer nest: keeps every tree walk's recursion bounded. */
const MAX_OPEN = 256;

// ------------------------------------------------------------------------------------- XML characters

const XML_ILLEGAL = /[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/gu;

/**
 * Removes the characters XML 1.0 §2.2 forbids (most C0 controls, lone surrogates, U+FFFE/FFFF). ltx
 * escapes markup but writes these through, and one of them in a stanza makes the server close the stream.
 */
export function xmlCharSafe(s: string): string {
  return s.replace(XML_ILLEGAL, '');
}

// ------------------------------------------------------------------------------------------- entities

const NAMED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(?:#([0-9]{1,7});?|#[xX]([0-9a-fA-F]{1,6});?|([A-Za-z][A-Za-z0-9]{1,31});)/g, (whole, dec?: string, hex?: string, name?: string) => {
    if (name !== undefined) return NAMED[name] ?? whole;
    const cp = dec !== undefined ? parseInt(dec, 10) : parseInt(hex ?? '', 16);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
    const ch = String.fromCodePoint(cp);
    return xmlCharSafe(ch) === ch ? ch : '\ufffd';
  });
}

// ------------------------------------------------------------------------------------ HTML tokenizing

/** A parsed node before sanitizing: HTML from SIP, or an XHTML element from XMPP. */
interface SrcElement {
  name: string;
  attrs: Map<string, string>;
  children: SrcNode[];
  /** Not in the XHTML namespace (only possible for XMPP input). */
  foreign: boolean;
}
type SrcNode = SrcElement | string;

const VOID = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'param', 'source', 'track', 'wbr']);
/** Elements whose content is not markup (HTML "raw text" and "escapable raw text" elements). */
const RAW_TEXT = new Set(['script', 'style', 'textarea', 'title', 'xmp', 'iframe', 'noembed', 'noframes', 'noscript', 'plaintext']);
/** Block elements that end an open `<p>` in HTML. */
const CLOSES_P = new Set(['p', 'div', 'ul', 'ol', 'dl', 'table', 'blockquote', 'pre', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'address', 'hr', 'section', 'article', 'header', 'footer']);

function parseHtml(html: string): SrcElement {
  const root: SrcElement = { name: '#root', attrs: new Map(), children: [], foreign: false };
  const stack: SrcElement[] = [root];
  const top = (): SrcElement => stack[stack.length - 1] ?? root;
  const closeTo = (name: string): void => {
    for (let k = stack.length - 1; k > 0; k--) {
      if (stack[k]?.name === name) {
        stack.length = k;
        return;
      }
    }
  };
  let nodes = 0;
  let i = 0;
  const n = html.length;
  while (i < n && nodes < MAX_NODES) {
    const lt = html.indexOf('<', i);
    if (lt < 0 || lt > i) {
      const end = lt < 0 ? n : lt;
      top().children.push(decodeEntities(html.slice(i, end)));
      nodes++;
      i = end;
      continue;
    }
    if (html.startsWith('<!--', i)) {
      const end = html.indexOf('-->', i + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    const next = html[i + 1] ?? '';
    if (next === '!' || next === '?') {
      const end = html.indexOf('>', i);
      i = end < 0 ? n : end + 1;
      continue;
    }
    if (next === '/' && /[A-Za-z]/.test(html[i + 2] ?? '')) {
      const m = /^<\/([A-Za-z][A-Za-z0-9:-]*)[^>]*>?/.exec(html.slice(i, i + 200));
      const end = html.indexOf('>', i);
      i = end < 0 ? n : end + 1;
      if (m?.[1]) closeTo(m[1].toLowerCase());
      continue;
    }
    if (!/[A-Za-z]/.test(next)) {
      top().children.push('<');
      nodes++;
      i++;
      continue;
    }
    const tag = readStartTag(html, i);
    if (!tag) break; // the document ends inside a tag: HTML drops it too
    i = tag.end;
    nodes++;
    const name = tag.name;
    if (CLOSES_P.has(name) && top().name === 'p') stack.pop();
    if (name === 'li') {
      // An open <li> ends at the next <li> of the same list.
      for (let k = stack.length - 1; k > 0; k--) {
        const el = stack[k];
        if (el?.name === 'ul' || el?.name === 'ol') break;
        if (el?.name === 'li') {
          stack.length = k;
          break;
        }
      }
    }
    const el: SrcElement = { name, attrs: tag.attrs, children: [], foreign: false };
    top().children.push(el);
    if (RAW_TEXT.has(name)) {
      const closeRe = new RegExp(`</${name}`, 'ig');
      closeRe.lastIndex = i;
      const close = closeRe.exec(html)?.index ?? -1;
      const rawEnd = close < 0 ? n : close;
      if (name === 'textarea' || name === 'title') el.children.push(decodeEntities(html.slice(i, rawEnd)));
      const gt = close < 0 ? -1 : html.indexOf('>', close);
      i = gt < 0 ? n : gt + 1;
      continue;
    }
    if (!VOID.has(name) && !tag.selfClosing && stack.length < MAX_OPEN) stack.push(el);
  }
  return root;
}

function readStartTag(html: string, start: number): { name: string; attrs: Map<string, string>; selfClosing: boolean; end: number } | undefined {
  const m = /^<([A-Za-z][A-Za-z0-9:-]*)/.exec(html.slice(start, start + 100));
  if (!m?.[1]) return undefined;
  const name = m[1].toLowerCase();
  const attrs = new Map<string, string>();
  let i = start + m[0].length;
  const n = html.length;
  for (;;) {
    while (i < n && /[\s/]/.test(html[i] ?? '')) {
      if (html[i] === '/' && html[i + 1] === '>') return { name, attrs, selfClosing: true, end: i + 2 };
      i++;
    }
    if (i >= n) return undefined;
    if (html[i] === '>') return { name, attrs, selfClosing: false, end: i + 1 };
    const nameStart = i;
    while (i < n && !/[\s/>=]/.test(html[i] ?? '')) i++;
    const attrName = html.slice(nameStart, i).toLowerCase();
    while (i < n && /\s/.test(html[i] ?? '')) i++;
    let value = '';
    if (html[i] === '=') {
      i++;
      while (i < n && /\s/.test(html[i] ?? '')) i++;
      const q = html[i];
      if (q === '"' || q === "'") {
        const close = html.indexOf(q, i + 1);
        if (close < 0) return undefined;
        value = html.slice(i + 1, close);
        i = close + 1;
      } else {
        const vStart = i;
        while (i < n && !/[\s>]/.test(html[i] ?? '')) i++;
        value = html.slice(vStart, i);
      }
    }
    // HTML keeps the first of duplicate attributes.
    if (attrName !== '' && !attrs.has(attrName)) attrs.set(attrName, decodeEntities(value));
  }
}

function fromLtx(el: Element, depth = 0): SrcElement {
  const attrs = new Map<string, string>();
  for (const [k, v] of Object.entries(el.attrs as Record<string, unknown>)) {
    if (typeof v === 'string') attrs.set(k.toLowerCase(), v);
  }
  const children: SrcNode[] = [];
  for (const c of el.children) {
    if (typeof c === 'string') children.push(c);
    else if (isLtxElement(c) && depth < MAX_DEPTH * 2) children.push(fromLtx(c, depth + 1));
  }
  return { name: el.getName().toLowerCase(), attrs, children, foreign: el.getNS() !== XHTML_NS };
}

/**
 * Duck-typed, not `instanceof`: `@xmpp/xml` loads ltx's CommonJS build while we import its ESM build,
 * so elements parsed off the wire are instances of a different Element class.
 */
export function isLtxElement(node: unknown): node is Element {
  return typeof node === 'object' && node !== null && typeof (node as { name?: unknown }).name === 'string' && Array.isArray((node as { children?: unknown }).children);
}

// ------------------------------------------------------------------------------------------ sanitizing

/** Dropped together with everything inside: code, metadata, embedded or interactive content. */
const DROP_WITH_CONTENT = new Set([
  'script', 'style', 'head', 'title', 'meta', 'link', 'base', 'noscript', 'template', 'iframe', 'frame', 'frameset',
  'noframes', 'object', 'embed', 'applet', 'param', 'svg', 'math', 'canvas', 'audio', 'video', 'source', 'track',
  'select', 'option', 'textarea', 'input', 'button', 'map', 'area', 'xmp', 'noembed', 'plaintext',
]);
const TO_P = new Set(['p', 'div', 'blockquote', 'address', 'center', 'section', 'article', 'header', 'footer', 'main', 'aside', 'nav', 'figure', 'figcaption', 'tr', 'dt', 'dd', 'caption', 'details', 'summary', 'pre', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6']);
const INLINE_STYLE: Readonly<Record<string, string>> = {
  b: 'font-weight: bold', strong: 'font-weight: bold',
  i: 'font-style: italic', em: 'font-style: italic', cite: 'font-style: italic', var: 'font-style: italic', dfn: 'font-style: italic',
  u: 'text-decoration: underline', ins: 'text-decoration: underline',
  s: 'text-decoration: line-through', strike: 'text-decoration: line-through', del: 'text-decoration: line-through',
  code: 'font-family: monospace', tt: 'font-family: monospace', kbd: 'font-family: monospace', samp: 'font-family: monospace',
};
/** XEP-0071 §7 "Recommended Style Properties". */
const STYLE_PROPERTIES = new Set(['background-color', 'color', 'font-family', 'font-size', 'font-style', 'font-weight', 'margin-left', 'margin-right', 'text-align', 'text-decoration']);
const HREF_SCHEMES = new Set(['http', 'https', 'mailto', 'xmpp', 'sip', 'sips', 'im', 'tel']);
// Fetching an image leaks the reader's address, so only web images, and the client may still show alt only (XEP-0071 §7).
const IMG_SCHEMES = new Set(['http', 'https']);

/** Returns the declarations that survive, or undefined when none does. */
export function sanitizeStyle(style: string): string | undefined {
  const kept: string[] = [];
  for (const decl of style.split(';')) {
    const colon = decl.indexOf(':');
    if (colon < 0) continue;
    const prop = decl.slice(0, colon).trim().toLowerCase();
    const value = decl.slice(colon + 1).trim();
    if (!STYLE_PROPERTIES.has(prop) || value === '' || value.length > 100) continue;
    // Plain keywords, lengths, colours and font names only: no url(), expression(), escapes or comments.
    const plain = /^[-#A-Za-z0-9 .,%'"]+$/.test(value);
    const rgb = /^rgba?\(\s*[0-9.%]+\s*,\s*[0-9.%]+\s*,\s*[0-9.%]+\s*(?:,\s*[0-9.]+\s*)?\)$/.test(value);
    if (!plain && !rgb) continue;
    if (/expression|javascript|behaviou?r|binding/i.test(value)) continue;
    kept.push(`${prop}: ${value}`);
  }
  return kept.length > 0 ? kept.join('; ') : undefined;
}

/** The URL if its scheme is allowed, else undefined. Whitespace and controls hidden in the scheme do not help. */
export function sanitizeUrl(url: string, schemes: ReadonlySet<string> = HREF_SCHEMES): string | undefined {
  const trimmed = url.trim();
  if (trimmed === '' || trimmed.length > 2048 || /[\x00-\x1f\x7f\s]/.test(trimmed)) return undefined;
  const m = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(trimmed);
  if (!m?.[1] || !schemes.has(m[1].toLowerCase())) return undefined;
  return trimmed;
}

interface SanitizeState {
  nodes: number;
  inPre: boolean;
}

function appendText(parent: Element, text: string, st: SanitizeState): void {
  const safe = xmlCharSafe(text);
  if (safe === '') return;
  if (!st.inPre) {
    parent.t(safe);
    return;
  }
  // <pre> becomes <p>; its line breaks must survive as <br/> (XEP-0071 §8 rule 9).
  const lines = safe.replace(/\r\n?/g, '\n').split('\n');
  lines.forEach((line, k) => {
    if (k > 0) parent.c('br');
    if (line !== '') parent.t(line);
  });
}

function sanitizeInto(parent: Element, nodes: readonly SrcNode[], depth: number, st: SanitizeState): void {
  for (const node of nodes) {
    if (st.nodes++ >= MAX_NODES) return;
    if (typeof node === 'string') {
      appendText(parent, node, st);
      continue;
    }
    const name = node.name;
    if (DROP_WITH_CONTENT.has(name)) continue;
    // A line break is a leaf, kept at any depth: inside <pre> past MAX_DEPTH a newline still becomes one
    // (appendText), so dropping <br/> there would make sanitizing our own output change it again.
    if (!node.foreign && (name === 'br' || name === 'hr')) {
      parent.c('br');
      continue;
    }
    if (node.foreign || depth >= MAX_DEPTH) {
      sanitizeInto(parent, node.children, depth, st);
      continue;
    }
    const style = sanitizeStyle(node.attrs.get('style') ?? '');
    let out: Element | undefined;
    if (name === 'img') {
      const src = sanitizeUrl(node.attrs.get('src') ?? '', IMG_SCHEMES);
      const alt = xmlCharSafe(node.attrs.get('alt') ?? '');
      if (src === undefined) {
        if (alt !== '') parent.t(alt);
        continue;
      }
      const attrs: Record<string, string> = { src, alt };
      for (const dim of ['width', 'height']) {
        const v = node.attrs.get(dim);
        if (v !== undefined && /^\d{1,5}%?$/.test(v.trim())) attrs[dim] = v.trim();
      }
      if (style !== undefined) attrs.style = style;
      parent.c('img', attrs);
      continue;
    } else if (name === 'a') {
      const href = sanitizeUrl(node.attrs.get('href') ?? '');
      const attrs: Record<string, string> = {};
      if (href !== undefined) {
        attrs.href = href;
        const type = node.attrs.get('type');
        if (type !== undefined && /^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/.test(type)) attrs.type = type;
      }
      if (style !== undefined) attrs.style = style;
      out = parent.c(href !== undefined ? 'a' : 'span', attrs);
    } else if (name === 'ul' || name === 'ol' || name === 'li' || name === 'span' || name === 'p') {
      out = parent.c(name, style !== undefined ? { style } : {});
    } else if (TO_P.has(name)) {
      const heading = /^h[1-6]$/.test(name) ? 'font-weight: bold' : undefined;
      const merged = [heading, style].filter((s) => s !== undefined).join('; ');
      out = parent.c('p', merged !== '' ? { style: merged } : {});
      if (name === 'pre') {
        const wasPre = st.inPre;
        st.inPre = true;
        sanitizeInto(out, node.children, depth + 1, st);
        st.inPre = wasPre;
        continue;
      }
    } else if (name === 'font') {
      const decls: string[] = [];
      const color = node.attrs.get('color');
      const face = node.attrs.get('face');
      if (color !== undefined) decls.push(`color: ${color}`);
      if (face !== undefined) decls.push(`font-family: ${face}`);
      if (style !== undefined) decls.push(style);
      const fontStyle = sanitizeStyle(decls.join('; '));
      out = parent.c('span', fontStyle !== undefined ? { style: fontStyle } : {});
    } else if (INLINE_STYLE[name] !== undefined) {
      const merged = sanitizeStyle([INLINE_STYLE[name], style].filter((s) => s !== undefined).join('; '));
      out = parent.c('span', merged !== undefined ? { style: merged } : {});
    } else if (name === 'td' || name === 'th') {
      sanitizeInto(parent, node.children, depth + 1, st);
      parent.t(' ');
      continue;
    } else {
      // Unknown or not in the recommended profile (html, body, table, dl, sub, …): keep the content only.
      sanitizeInto(parent, node.children, depth, st);
      continue;
    }
    sanitizeInto(out, node.children, depth + 1, st);
  }
}

function newHtml(): Element {
  return new Element('html', { xmlns: XHTML_IM_NS });
}

function bodyAttrs(src: SrcElement | undefined, lang: string | undefined): Record<string, string> {
  const attrs: Record<string, string> = { xmlns: XHTML_NS };
  const style = src ? sanitizeStyle(src.attrs.get('style') ?? '') : undefined;
  if (style !== undefined) attrs.style = style;
  if (lang !== undefined && /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/.test(lang)) attrs['xml:lang'] = lang;
  return attrs;
}

function findFirst(node: SrcElement, name: string, depth = 0): SrcElement | undefined {
  for (const c of node.children) {
    if (typeof c === 'string') continue;
    if (c.name === name) return c;
    if (depth < MAX_DEPTH) {
      const found = findFirst(c, name, depth + 1);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Whether HTML carries a DTD internal subset or markup declarations (`<!DOCTYPE x [ … ]>`, `<!ENTITY …>`).
 * HTML never has them (WHATWG HTML §13.1.1 allows only `<!DOCTYPE html>` and legacy strings), so they
 * mean an XML entity attack such as billion laughs. The tokenizer would not expand them, but it would
 * let the subset's tail (`]>`, entity values) leak into the text, so the sender is refused instead.
 */
export function hasMarkupDeclarations(html: string): boolean {
  return /<!(?:ENTITY|ELEMENT|ATTLIST|NOTATION)\b|<!DOCTYPE[^>[]*\[/i.test(html);
}

/**
 * HTML (from a SIP `text/html` body) → `<html xmlns='http://jabber.org/protocol/xhtml-im'>` holding one
 * sanitized `<body xmlns='http://www.w3.org/1999/xhtml'>`. Never throws.
 */
export function htmlToXhtmlIm(html: string, lang?: string): Element {
  const doc = parseHtml(html);
  const srcBody = findFirst(doc, 'body');
  const out = newHtml();
  const body = out.c('body', bodyAttrs(srcBody, lang));
  sanitizeInto(body, srcBody ? srcBody.children : doc.children, 0, { nodes: 0, inPre: false });
  return out;
}

/**
 * Re-sanitizes an XHTML-IM `<html>` element received from XMPP: each `<body>` in the XHTML namespace is
 * kept (with a valid xml:lang), everything inside is filtered as for HTML. Undefined when no body is left.
 */
export function sanitizeXhtmlIm(el: Element): Element | undefined {
  if (el.getName() !== 'html' || el.getNS() !== XHTML_IM_NS) return undefined;
  const out = newHtml();
  const st: SanitizeState = { nodes: 0, inPre: false };
  for (const child of el.children) {
    if (!isLtxElement(child) || child.getName() !== 'body' || child.getNS() !== XHTML_NS) continue;
    const src = fromLtx(child);
    const lang = child.attrs['xml:lang'] as unknown;
    const body = out.c('body', bodyAttrs(src, typeof lang === 'string' ? lang : undefined));
    sanitizeInto(body, src.children, 0, st);
  }
  return out.children.length > 0 ? out : undefined;
}

/** The `<body>` to render: the element itself, or the first (or `lang`) XHTML body of an `<html>` wrapper. */
function pickBody(el: Element, lang?: string): Element | undefined {
  if (el.getName() === 'body') return el;
  const bodies = el.getChildren('body', XHTML_NS);
  if (lang !== undefined) {
    const match = bodies.find((b) => typeof b.attrs['xml:lang'] === 'string' && (b.attrs['xml:lang'] as string).toLowerCase() === lang.toLowerCase());
    if (match) return match;
  }
  return bodies[0];
}

// ------------------------------------------------------------------------------------------ rendering

const BLOCKS = new Set(['p', 'div', 'ul', 'ol', 'li', 'blockquote', 'pre', 'dl', 'dt', 'dd', 'table', 'tr', 'address', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'body']);

/**
 * A plain-text rendering for the `<body/>` that must accompany XHTML-IM (XEP-0071 §8 rule 1): block
 * elements and `<br/>` become line breaks, list items get a marker, images their alt text, links keep
 * their target when the text does not show it. Entities are already characters in an ltx tree.
 */
export function xhtmlToPlainText(el: Element, lang?: string): string {
  const body = pickBody(el, lang);
  if (!body) return '';
  // Spaces are held back until more text follows, so no line ever needs trailing white space trimmed.
  const parts: string[] = [];
  let atLineStart = true;
  let pendingSpace = false;
  let budget = MAX_NODES;
  const emit = (s: string): void => {
    parts.push(s);
    atLineStart = s.endsWith('\n');
  };
  const newline = (): void => {
    if (!atLineStart) emit('\n');
    pendingSpace = false;
  };
  const word = (s: string): void => {
    if (pendingSpace && !atLineStart) emit(' ');
    emit(s);
    pendingSpace = false;
  };
  const text = (s: string, pre: boolean): void => {
    if (pre) {
      if (s !== '') word(s.replace(/\r\n?/g, '\n'));
      return;
    }
    const collapsed = s.replace(/[ \t\r\n\f]+/g, ' ');
    if (collapsed === '') return;
    if (collapsed.startsWith(' ')) pendingSpace = true;
    const core = collapsed.trim();
    if (core === '') return;
    word(core);
    pendingSpace = collapsed.endsWith(' ');
  };
  const walk = (node: Element, depth: number, pre: boolean, list?: { ordered: boolean; n: number }): void => {
    for (const c of node.children) {
      if (budget-- <= 0) return;
      if (typeof c === 'string') {
        text(c, pre);
        continue;
      }
      if (!isLtxElement(c)) continue;
      const name = c.getName().toLowerCase();
      if (DROP_WITH_CONTENT.has(name)) continue;
      if (name === 'br') {
        emit('\n');
        pendingSpace = false;
        continue;
      }
      if (name === 'img') {
        const alt = c.attrs.alt as unknown;
        if (typeof alt === 'string') text(alt, false);
        continue;
      }
      if (depth >= MAX_DEPTH) {
        text(c.getText(), pre);
        continue;
      }
      const block = BLOCKS.has(name);
      if (block) newline();
      if (name === 'li') {
        if (list) list.n++;
        word(list?.ordered ? `${list.n}.` : '-');
        pendingSpace = true;
      }
      const before = parts.length;
      walk(c, depth + 1, pre || name === 'pre', name === 'ol' || name === 'ul' ? { ordered: name === 'ol', n: 0 } : list);
      if (name === 'a') {
        const href = c.attrs.href as unknown;
        const shown = parts.slice(before).join('').trim();
        if (typeof href === 'string' && href !== '' && href !== shown && href !== `mailto:${shown}`) {
          pendingSpace = true;
          word(`<${href}>`);
        }
      }
      if (block) newline();
    }
  };
  walk(body, 0, false);
  return parts.join('').trim();
}

/**
 * XHTML-IM → an HTML document for a SIP `text/html` body. The element is re-sanitized first: content from
 * XMPP reaches a SIP user agent's HTML renderer. Uses the first body, or the one in `lang`.
 */
export function xhtmlImToHtml(el: Element, lang?: string): string {
  let clean: Element | undefined;
  if (el.getName() === 'html') {
    clean = sanitizeXhtmlIm(el);
  } else if (el.getName() === 'body' && el.getNS() === XHTML_NS) {
    // A bare body: sanitize a copy rather than re-parent the caller's nodes under a new wrapper.
    const src = fromLtx(el);
    clean = newHtml();
    sanitizeInto(clean.c('body', bodyAttrs(src, undefined)), src.children, 0, { nodes: 0, inPre: false });
  }
  const body = clean ? pickBody(clean, lang) : undefined;
  if (!body) return '<html><body></body></html>';
  const style = body.attrs.style as unknown;
  const open = typeof style === 'string' ? `<body style="${escapeHtmlAttr(style)}">` : '<body>';
  return `<html>${open}${body.children.map(htmlOf).join('')}</body></html>`;
}

function escapeHtmlText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

function escapeHtmlAttr(s: string): string {
  return s.replace(/[&<>"]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&quot;'));
}

function htmlOf(node: Element | string): string {
  if (typeof node === 'string') return escapeHtmlText(node);
  const name = node.getName();
  let attrs = '';
  for (const [k, v] of Object.entries(node.attrs as Record<string, unknown>)) {
    if (typeof v === 'string' && k !== 'xmlns') attrs += ` ${k}="${escapeHtmlAttr(v)}"`;
  }
  // HTML parsers read `<span/>` as an open tag, so only void elements may go without an end tag.
  if (VOID.has(name)) return `<${name}${attrs}>`;
  return `<${name}${attrs}>${node.children.map(htmlOf).join('')}</${name}>`;
}
