/**
 * Hardened XML for bodies that arrive from the SIP side (PIDF today; other SIP XML bodies later).
 *
 * fast-xml-parser does the tokenizing (DESIGN.md "Chosen dependencies"), but on its own it is lenient
 * (unmatched end tags, `<` in attribute values, several roots) and it would read an internal DTD subset.
 * So a body goes through, in order:
 *   1. size cap, strict UTF-8 decoding, declared encoding check;
 *   2. a refusal of every `<!` construct other than comments and CDATA: no DOCTYPE, hence no DTD and no
 *      entity declarations, so nothing can expand (billion laughs, external entities);
 *   3. a refusal of characters XML 1.0 §2.2 forbids;
 *   4. fast-xml-parser's validator (tag matching, attribute syntax, duplicate attributes) and parser
 *      (entity processing off, depth-capped);
 *   5. our own tree walk, which enforces what both leave out: one root element, no `<` in attribute
 *      values, only the five predefined entities and character references that are legal XML characters,
 *      namespace well-formedness, the depth and element caps.
 * The result is a namespace-resolved tree: element names are (namespace URI, local name) pairs, whatever
 * prefixes the sender chose.
 *
 * Steps 4 and 5 cost two passes of fast-xml-parser and a tree walk: most of a NOTIFY's processing time at
 * thousands per second (bench/presence.ts). So after steps 1–3 a document first goes through `fastTree`, a
 * single-pass reader for the plain shape nearly every presence document has (an XML declaration, elements,
 * attributes, text, references, comments; ASCII names; no PIs or CDATA). It accepts a document only
 * when every rule it checks holds, and gives up (returns undefined) on anything else, hostile or merely
 * unusual: the full pipeline then decides, so every refusal and its `problem` come from one place. Its rules
 * are a strict subset of the pipeline's and it builds the same tree (a differential test holds it to that).
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';

export const XML_NS = 'http://www.w3.org/XML/1998/namespace';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
/** The attrs key of `xml:lang`: prefixed attributes are keyed `{namespace}local`. */
export const XML_LANG = `{${XML_NS}}lang`;

/**
 * An element. `attrs` holds unprefixed attributes by their name and prefixed ones as `{ns}local`;
 * namespace declarations (`xmlns`, `xmlns:p`) are consumed by the resolution and do not appear.
 * `children` keeps document order; character data is decoded (entities, character references, CDATA).
 */
export interface XmlNode {
  ns: string;
  name: string;
  attrs: Map<string, string>;
  children: Array<XmlNode | string>;
}

export interface SafeXmlLimits {
  /** Bytes of the body (for a string: UTF-8 bytes). */
  maxBytes: number;
  /** Nesting depth; the root element is depth 1. */
  maxDepth: number;
  /** Elements in the whole document. */
  maxElements: number;
}

/**
 * A PIDF NOTIFY body is a few hundred bytes; 64 KiB leaves room for large multi-tuple documents while
 * keeping one NOTIFY's cost bounded. 32 levels is far beyond any presence document (PIDF + RPID needs 5).
 */
export const DEFAULT_SAFE_XML_LIMITS: Readonly<SafeXmlLimits> = Object.freeze({
  maxBytes: 64 * 1024,
  maxDepth: 32,
  maxElements: 2048,
});

export type SafeXmlProblem =
  | 'too-large'
  | 'encoding'
  | 'doctype'
  | 'illegal-character'
  | 'not-well-formed'
  | 'entity'
  | 'namespace'
  | 'too-deep'
  | 'too-many-elements';

/** The body was refused; `problem` says why in a fixed vocabulary, `message` adds the detail. */
export class SafeXmlError extends Error {
  readonly problem: SafeXmlProblem;

  constructor(problem: SafeXmlProblem, message: string) {
    super(message);
    this.name = 'SafeXmlError';
    this.problem = problem;
  }
}

// ------------------------------------------------------------------------------------------ reading

/** XML 1.0 §2.2 Char, negated. With the `u` flag a lone surrogate is a code point outside the class. */
const ILLEGAL_CHAR = /[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u;
/** `<!` that opens neither a comment nor a CDATA section: DOCTYPE, or an ENTITY/ELEMENT/… declaration. */
const MARKUP_DECLARATION = /<!(?!--|\[CDATA\[)/;
const XML_DECL_ENCODING = /^<\?xml\s[^?]*?\bencoding\s*=\s*(?:"([^"]*)"|'([^']*)')/;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

// Tag and attribute names get a '$' in front so that no element or attribute name can collide with an
// Object.prototype property or one of the parser's own keys ('#text', '#cdata', ':@'); fast-xml-parser
// would otherwise refuse documents with an element named `constructor` or rename `toString`.
function makeParser(maxDepth: number): XMLParser {
  return new XMLParser({
    preserveOrder: true,
    ignoreAttributes: false,
    attributeNamePrefix: '$',
    processEntities: false,
    htmlEntities: false,
    parseTagValue: false,
    parseAttributeValue: false,
    trimValues: false,
    ignoreDeclaration: true,
    ignorePiTags: true,
    cdataPropName: '#cdata',
    commentPropName: false,
    allowBooleanAttributes: false,
    transformTagName: (name: string) => '$' + name,
    jPath: false,
    // The parser's own cap stops a deep document early; the tree walk re-checks against the exact limit.
    maxNestedTags: maxDepth,
  });
}

const parsers = new Map<number, XMLParser>();

function parserFor(maxDepth: number): XMLParser {
  let p = parsers.get(maxDepth);
  if (!p) {
    p = makeParser(maxDepth);
    parsers.set(maxDepth, p);
  }
  return p;
}

function decodeBody(input: Buffer | Uint8Array | string, maxBytes: number): string {
  let s: string;
  if (typeof input === 'string') {
    // A UTF-16 length above the cap is certainly too many UTF-8 bytes; below a third of it certainly not.
    if (input.length > maxBytes || (input.length * 3 > maxBytes && Buffer.byteLength(input, 'utf8') > maxBytes)) {
      throw new SafeXmlError('too-large', `document larger than ${maxBytes} bytes`);
    }
    s = input;
  } else {
    if (input.byteLength > maxBytes) throw new SafeXmlError('too-large', `document larger than ${maxBytes} bytes`);
    try {
      s = utf8.decode(input);
    } catch {
      throw new SafeXmlError('encoding', 'document is not valid UTF-8');
    }
  }
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  const decl = XML_DECL_ENCODING.exec(s);
  if (decl) {
    const enc = (decl[1] ?? decl[2] ?? '').toLowerCase();
    // The body was read as UTF-8; any other declared encoding would be read wrongly.
    if (enc !== 'utf-8' && enc !== 'utf8' && enc !== 'us-ascii') {
      throw new SafeXmlError('encoding', 'only UTF-8 documents are accepted');
    }
  }
  return s;
}

const PREDEFINED: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const REFERENCE = /&(?:([A-Za-z_][\w.-]*)|#([0-9]+)|#x([0-9A-Fa-f]+));|&/g;

/** Only the five predefined entities and character references; without a DTD nothing else is defined. */
function decodeReferences(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(REFERENCE, (_whole, name: string | undefined, dec: string | undefined, hex: string | undefined) => {
    if (name !== undefined) {
      const v = PREDEFINED[name];
      if (v === undefined) throw new SafeXmlError('entity', 'undefined entity reference');
      return v;
    }
    if (dec === undefined && hex === undefined) throw new SafeXmlError('not-well-formed', "bare '&'");
    const cp = dec !== undefined ? Number.parseInt(dec, 10) : Number.parseInt(hex ?? '', 16);
    if (!(cp <= 0x10ffff)) throw new SafeXmlError('entity', 'character reference out of range');
    const ch = String.fromCodePoint(cp);
    if (ILLEGAL_CHAR.test(ch)) throw new SafeXmlError('entity', 'character reference to an illegal character');
    return ch;
  });
}

/** XML 1.0 §3.3.3 attribute-value normalization (CDATA type): literal whitespace becomes a space. */
function attrValue(raw: string): string {
  if (raw.includes('<')) throw new SafeXmlError('not-well-formed', "'<' in an attribute value");
  return decodeReferences(raw.replace(/[\t\n\r]/g, ' '));
}

interface Scope {
  /** prefix → namespace URI; '' is the default namespace. */
  readonly bindings: ReadonlyMap<string, string>;
}

const ROOT_SCOPE: Scope = { bindings: new Map([['', ''], ['xml', XML_NS]]) };

type FxpNode = Record<string, unknown>;

const LEADING_DOLLARS = /^\$+/;

function firstKey(o: FxpNode): string | undefined {
  for (const k in o) return k;
  return undefined;
}

/** Whether `s` opens with a NameChar that is no NameStartChar (XML 1.0 §2.3): no local name may. */
function opensWithNameCharOnly(s: string): boolean {
  const c = s.charCodeAt(0);
  return c === 0x2d || c === 0x2e || (c >= 0x30 && c <= 0x39) || c === 0xb7 || (c >= 0x300 && c <= 0x36f) || c === 0x203f || c === 0x2040;
}

function qname(raw: string, what: string): [prefix: string, local: string] {
  // fast-xml-parser's validator trims a tag name with String.trim() but its parser splits at /\s/, so
  // `<` + U+00A0 (or U+2028, U+FEFF …) + name passes the one and comes out of the other nameless.
  if (raw === '') throw new SafeXmlError('not-well-formed', `empty ${what} name`);
  const i = raw.indexOf(':');
  if (i < 0) return ['', raw];
  const prefix = raw.slice(0, i);
  const local = raw.slice(i + 1);
  if (prefix === '' || local === '' || local.includes(':')) throw new SafeXmlError('namespace', `malformed ${what} name`);
  // `p:2x` is an XML Name, which is all fast-xml-parser checks, but its local part is no NCName.
  if (opensWithNameCharOnly(local)) throw new SafeXmlError('namespace', `malformed ${what} name`);
  return [prefix, local];
}

class TreeBuilder {
  private elements = 0;

  constructor(private readonly limits: SafeXmlLimits) {}

  element(rawName: string, entry: FxpNode, parent: Scope, depth: number): XmlNode {
    if (depth > this.limits.maxDepth) throw new SafeXmlError('too-deep', `nesting deeper than ${this.limits.maxDepth}`);
    if (++this.elements > this.limits.maxElements) {
      throw new SafeXmlError('too-many-elements', `more than ${this.limits.maxElements} elements`);
    }
    const rawAttrs = entry[':@'] as Record<string, string> | undefined;

    // Namespace declarations first: they apply to the element's own name and attributes.
    let scope = parent;
    const plain: Array<[string, string]> = [];
    if (rawAttrs) {
      let bindings: Map<string, string> | undefined;
      for (const key in rawAttrs) {
        const name = key.slice(1);
        const value = attrValue(rawAttrs[key] ?? '');
        if (name === 'xmlns' || name.startsWith('xmlns:')) {
          const prefix = name === 'xmlns' ? '' : name.slice(6);
          checkBinding(prefix, value);
          bindings ??= new Map(parent.bindings);
          bindings.set(prefix, value);
        } else {
          plain.push([name, value]);
        }
      }
      if (bindings) scope = { bindings };
    }

    // Self-closing tags get the '$' twice from fast-xml-parser; a real XML name never starts with '$'.
    const [prefix, local] = qname(rawName.replace(LEADING_DOLLARS, ''), 'element');
    const ns = scope.bindings.get(prefix);
    if (ns === undefined) throw new SafeXmlError('namespace', 'undeclared namespace prefix');

    const attrs = new Map<string, string>();
    for (const [name, value] of plain) {
      const [p, l] = qname(name, 'attribute');
      let key = name;
      if (p !== '') {
        const ans = scope.bindings.get(p);
        if (ans === undefined || ans === '') throw new SafeXmlError('namespace', 'undeclared namespace prefix');
        key = `{${ans}}${l}`;
      }
      // Namespaces in XML 1.0 §6.3: two prefixes bound to one URI still make one attribute name.
      if (attrs.has(key)) throw new SafeXmlError('namespace', 'duplicate attribute');
      attrs.set(key, value);
    }

    const node: XmlNode = { ns, name: local, attrs, children: [] };
    const content = entry[rawName];
    if (Array.isArray(content)) this.content(content as FxpNode[], node, scope, depth);
    return node;
  }

  private content(items: FxpNode[], node: XmlNode, scope: Scope, depth: number): void {
    for (const item of items) {
      const k = firstKey(item);
      if (k === '#text') {
        const raw = String(item[k]);
        if (raw.includes(']]>')) throw new SafeXmlError('not-well-formed', "']]>' in character data");
        node.children.push(decodeReferences(raw));
      } else if (k === '#cdata') {
        const inner = item[k] as FxpNode[];
        node.children.push(inner.map((t) => String(t['#text'] ?? '')).join(''));
      } else if (k !== undefined && k.startsWith('$')) {
        node.children.push(this.element(k, item, scope, depth + 1));
      }
    }
  }
}

function checkBinding(prefix: string, uri: string): void {
  if (prefix === 'xmlns') throw new SafeXmlError('namespace', "the 'xmlns' prefix cannot be declared");
  if (prefix === 'xml' ? uri !== XML_NS : uri === XML_NS) {
    throw new SafeXmlError('namespace', "the 'xml' prefix and its namespace belong together");
  }
  if (uri === XMLNS_NS) throw new SafeXmlError('namespace', 'the xmlns namespace cannot be bound');
  // Namespaces in XML 1.0 §5 (1.0 has no prefix undeclaring): xmlns:p="" is an error.
  if (prefix !== '' && uri === '') throw new SafeXmlError('namespace', 'empty namespace for a prefix');
}

/**
 * Parses a SIP-side XML body into a namespace-resolved tree and returns the root element. Throws
 * SafeXmlError for anything hostile or not well-formed (see the module comment); it never expands an
 * entity beyond the five predefined ones and never reads a DTD.
 */
export function parseSafeXml(input: Buffer | Uint8Array | string, limits: Partial<SafeXmlLimits> = {}): XmlNode {
  const lim: SafeXmlLimits = limits === NO_LIMITS ? DEFAULT_SAFE_XML_LIMITS : { ...DEFAULT_SAFE_XML_LIMITS, ...limits };
  const text = decodeBody(input, lim.maxBytes);
  if (MARKUP_DECLARATION.test(text)) throw new SafeXmlError('doctype', 'DOCTYPE and markup declarations are not allowed');
  if (ILLEGAL_CHAR.test(text)) throw new SafeXmlError('illegal-character', 'character not allowed in XML');
  return fastTree(text, lim) ?? fullTree(text, lim);
}

const NO_LIMITS: Partial<SafeXmlLimits> = {};

/**
 * The full pipeline alone (steps 4 and 5), without the fast path. @internal: for the differential test
 * that holds the fast path to it.
 */
export function parseSafeXmlWithoutFastPath(input: Buffer | Uint8Array | string, limits: Partial<SafeXmlLimits> = {}): XmlNode {
  const lim: SafeXmlLimits = { ...DEFAULT_SAFE_XML_LIMITS, ...limits };
  const text = decodeBody(input, lim.maxBytes);
  if (MARKUP_DECLARATION.test(text)) throw new SafeXmlError('doctype', 'DOCTYPE and markup declarations are not allowed');
  if (ILLEGAL_CHAR.test(text)) throw new SafeXmlError('illegal-character', 'character not allowed in XML');
  return fullTree(text, lim);
}

/**
 * Steps 1–3 and the fast path alone: the tree, or undefined where either refuses or the fast path gives
 * up. @internal: for the differential test.
 */
export function parseSafeXmlFastPathOnly(input: Buffer | Uint8Array | string, limits: Partial<SafeXmlLimits> = {}): XmlNode | undefined {
  const lim: SafeXmlLimits = { ...DEFAULT_SAFE_XML_LIMITS, ...limits };
  let text: string;
  try {
    text = decodeBody(input, lim.maxBytes);
  } catch {
    return undefined;
  }
  if (MARKUP_DECLARATION.test(text) || ILLEGAL_CHAR.test(text)) return undefined;
  return fastTree(text, lim);
}

/**
 * Start tags outside comments, CDATA sections and PIs, and the deepest nesting they reach, in one indexOf
 * pass: upper bounds (a `>` inside an attribute value can hide a self-closing tag, which only changes
 * which refusal is reported). fast-xml-parser's validator and parser cost microseconds per element, so
 * 64 KiB of `<a/>` took over 100 ms before the tree walk's element cap refused it.
 */
function countTags(s: string): { elements: number; depth: number } {
  let elements = 0;
  let depth = 0;
  let deepest = 0;
  for (let i = s.indexOf('<'); i >= 0; i = s.indexOf('<', i + 1)) {
    const c = s.charCodeAt(i + 1);
    let skipTo: number;
    if (c === 33 /* ! */) {
      if (s.startsWith('<!--', i)) skipTo = s.indexOf('-->', i + 4);
      else if (s.startsWith('<![CDATA[', i)) skipTo = s.indexOf(']]>', i + 9);
      else continue;
    } else if (c === 63 /* ? */) {
      skipTo = s.indexOf('?>', i + 2);
    } else if (c === 47 /* / */) {
      depth--;
      continue;
    } else {
      elements++;
      const gt = s.indexOf('>', i + 1);
      if (gt < 0) break;
      if (s.charCodeAt(gt - 1) !== 47 /* / */ && ++depth > deepest) deepest = depth;
      continue;
    }
    // Unterminated: the validator refuses it, cheaply.
    if (skipTo < 0) break;
    i = skipTo;
  }
  return { elements, depth: deepest };
}

/**
 * U+FEFF and U+1680 are XML name characters, but fast-xml-parser's parser splits names at /\s/, which
 * includes them: `a\uFEFFb="1"` passes its validator and comes out as an attribute named `b`.
 */
const NAME_SPLITTER = /[\ufeff\u1680]/;

/** Whether a NAME_SPLITTER character stands in a tag outside quotes (where only names and spaces are). */
function nameSplitterInTag(s: string): boolean {
  let inTag = false;
  let quote = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!inTag) {
      if (c !== 60 /* < */) continue;
      let skipTo = -1;
      if (s.startsWith('<!--', i)) skipTo = s.indexOf('-->', i + 4);
      else if (s.startsWith('<![CDATA[', i)) skipTo = s.indexOf(']]>', i + 9);
      else inTag = true;
      if (!inTag) {
        if (skipTo < 0) return false;
        i = skipTo;
      }
    } else if (quote !== 0) {
      if (c === quote) quote = 0;
    } else if (c === 34 || c === 39) {
      quote = c;
    } else if (c === 62 /* > */) {
      inTag = false;
    } else if (c === 0xfeff || c === 0x1680) {
      return true;
    }
  }
  return false;
}

function fullTree(text: string, lim: SafeXmlLimits): XmlNode {
  if (NAME_SPLITTER.test(text) && nameSplitterInTag(text)) {
    throw new SafeXmlError('not-well-formed', 'U+FEFF or U+1680 in a tag, which the parser would misread');
  }
  const tags = countTags(text);
  if (tags.elements > lim.maxElements) {
    throw tags.depth > lim.maxDepth
      ? new SafeXmlError('too-deep', `nesting deeper than ${lim.maxDepth}`)
      : new SafeXmlError('too-many-elements', `more than ${lim.maxElements} elements`);
  }
  const valid = XMLValidator.validate(text, { allowBooleanAttributes: false });
  if (valid !== true) throw new SafeXmlError('not-well-formed', valid.err.msg);

  let top: FxpNode[];
  try {
    top = parserFor(lim.maxDepth).parse(text) as FxpNode[];
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new SafeXmlError(/nested/i.test(msg) ? 'too-deep' : 'not-well-formed', msg);
  }

  const builder = new TreeBuilder(lim);
  let root: XmlNode | undefined;
  for (const item of top) {
    const k = firstKey(item);
    if (k === '#text') {
      if (String(item[k]).trim() !== '') throw new SafeXmlError('not-well-formed', 'text outside the root element');
    } else if (k !== undefined && k.startsWith('$')) {
      if (root) throw new SafeXmlError('not-well-formed', 'more than one root element');
      root = builder.element(k, item, ROOT_SCOPE, 1);
    } else if (k !== undefined) {
      throw new SafeXmlError('not-well-formed', 'content outside the root element');
    }
  }
  if (!root) throw new SafeXmlError('not-well-formed', 'no root element');
  // Both the validator and the parser let text after a self-closing root through (the parser drops it).
  if (root.children.length === 0 && !onlyMiscAroundEmptyRoot(text)) {
    throw new SafeXmlError('not-well-formed', 'content outside the root element');
  }
  return root;
}

// ---------------------------------------------------------------------------------------- fast path

/** `<?xml version="1.x" [encoding="…"] [standalone="yes|no"]?>` at the very start, strictly. */
const PLAIN_XML_DECL = /^<\?xml[ \t\n]+version[ \t\n]*=[ \t\n]*(["'])1\.[0-9]\1(?:[ \t\n]+encoding[ \t\n]*=[ \t\n]*(["'])[A-Za-z][A-Za-z0-9._-]*\2)?(?:[ \t\n]+standalone[ \t\n]*=[ \t\n]*(["'])(?:yes|no)\3)?[ \t\n]*\?>/;

const enum Ch {
  Tab = 9,
  Lf = 10,
  Space = 32,
  Bang = 33,
  Quot = 34,
  Apos = 39,
  Dash = 45,
  Dot = 46,
  Slash = 47,
  Digit0 = 48,
  Digit9 = 57,
  Colon = 58,
  Lt = 60,
  Eq = 61,
  Gt = 62,
  UpperA = 65,
  UpperZ = 90,
  Underscore = 95,
  LowerA = 97,
  LowerZ = 122,
}

function isSpace(c: number): boolean {
  return c === Ch.Space || c === Ch.Lf || c === Ch.Tab;
}

function isNameStart(c: number): boolean {
  return (c >= Ch.LowerA && c <= Ch.LowerZ) || (c >= Ch.UpperA && c <= Ch.UpperZ) || c === Ch.Underscore;
}

function isNameChar(c: number): boolean {
  return isNameStart(c) || (c >= Ch.Digit0 && c <= Ch.Digit9) || c === Ch.Dash || c === Ch.Dot;
}

const CR_LINE_END = /\r\n?/g;

/** Thrown inside the fast path to give up; never escapes it. */
const GIVE_UP: unique symbol = Symbol('give up');

/** An element being read: its node, raw name (for the end tag) and namespace scope. */
interface Open {
  node: XmlNode;
  rawName: string;
  bindings: ReadonlyMap<string, string>;
}

/**
 * The single-pass reader described in the module comment. Returns undefined as soon as the document
 * leaves the plain shape or breaks any rule, so the full pipeline produces the verdict.
 */
function fastTree(s: string, lim: SafeXmlLimits): XmlNode | undefined {
  // XML 1.0 §2.11: CRLF and lone CR read as LF, before anything else (SIP bodies usually have CRLF).
  if (s.includes('\r')) s = s.replace(CR_LINE_END, '\n');
  try {
    return new FastReader(s, lim).document();
  } catch (e) {
    if (e === GIVE_UP) return undefined;
    if (e instanceof SafeXmlError) return undefined;
    throw e;
  }
}

class FastReader {
  private i = 0;
  private elements = 0;

  constructor(
    private readonly s: string,
    private readonly lim: SafeXmlLimits,
  ) {}

  document(): XmlNode {
    const s = this.s;
    if (s.startsWith('<?')) {
      const decl = PLAIN_XML_DECL.exec(s);
      if (!decl) throw GIVE_UP;
      this.i = decl[0].length;
    }
    this.skipMisc();
    if (s.charCodeAt(this.i) !== Ch.Lt) throw GIVE_UP;
    const root = this.elementsFrom();
    this.skipMisc();
    if (this.i !== s.length) throw GIVE_UP;
    return root;
  }

  private skipSpace(): void {
    const s = this.s;
    while (this.i < s.length && isSpace(s.charCodeAt(this.i))) this.i++;
  }

  /** Whitespace and comments around the root. */
  private skipMisc(): void {
    for (;;) {
      this.skipSpace();
      if (!this.s.startsWith('<!--', this.i)) return;
      this.skipComment();
    }
  }

  /** At `<!--`: past the comment's `-->`. One with `--` inside (XML 1.0 §2.5) is left to the pipeline. */
  private skipComment(): void {
    const end = this.s.indexOf('--', this.i + 4);
    if (end < 0 || this.s.charCodeAt(end + 2) !== Ch.Gt) throw GIVE_UP;
    this.i = end + 3;
  }

  /** An ASCII name with at most one colon, not at either end. */
  private name(): string {
    const s = this.s;
    const start = this.i;
    if (!isNameStart(s.charCodeAt(this.i))) throw GIVE_UP;
    this.i++;
    while (this.i < s.length && isNameChar(s.charCodeAt(this.i))) this.i++;
    if (s.charCodeAt(this.i) === Ch.Colon) {
      this.i++;
      if (!isNameStart(s.charCodeAt(this.i))) throw GIVE_UP;
      this.i++;
      while (this.i < s.length && isNameChar(s.charCodeAt(this.i))) this.i++;
    }
    return s.slice(start, this.i);
  }

  /** Reads the element at `i` (which is at its `<`) and everything in it, without recursion. */
  private elementsFrom(): XmlNode {
    const s = this.s;
    const stack: Open[] = [];
    let root: XmlNode | undefined;
    let bindings: ReadonlyMap<string, string> = ROOT_SCOPE.bindings;
    for (;;) {
      // At a '<' that opens a start tag.
      this.i++;
      if (stack.length + 1 > this.lim.maxDepth || ++this.elements > this.lim.maxElements) throw GIVE_UP;
      const rawName = this.name();
      const plain: Array<[string, string]> = [];
      let own: Map<string, string> | undefined;
      let seen: string[] | undefined;
      for (;;) {
        const c = s.charCodeAt(this.i);
        if (c === Ch.Gt || c === Ch.Slash) break;
        if (!isSpace(c)) throw GIVE_UP;
        this.skipSpace();
        const d = s.charCodeAt(this.i);
        if (d === Ch.Gt || d === Ch.Slash) break;
        const attr = this.name();
        // A linear duplicate check is quadratic in attributes: many of them are no plain document anyway.
        if (seen !== undefined && (seen.length >= 32 || seen.includes(attr))) throw GIVE_UP;
        (seen ??= []).push(attr);
        this.skipSpace();
        if (s.charCodeAt(this.i) !== Ch.Eq) throw GIVE_UP;
        this.i++;
        this.skipSpace();
        const q = s.charCodeAt(this.i);
        if (q !== Ch.Quot && q !== Ch.Apos) throw GIVE_UP;
        const end = s.indexOf(q === Ch.Quot ? '"' : "'", this.i + 1);
        if (end < 0) throw GIVE_UP;
        const raw = s.slice(this.i + 1, end);
        this.i = end + 1;
        const value = attrValue(raw);
        if (attr === 'xmlns' || attr.startsWith('xmlns:')) {
          const prefix = attr === 'xmlns' ? '' : attr.slice(6);
          checkBinding(prefix, value);
          own ??= new Map(bindings);
          own.set(prefix, value);
        } else {
          plain.push([attr, value]);
        }
      }
      const scope = own ?? bindings;
      const colon = rawName.indexOf(':');
      const ns = scope.get(colon < 0 ? '' : rawName.slice(0, colon));
      if (ns === undefined) throw GIVE_UP;
      const attrs = new Map<string, string>();
      for (const [name, value] of plain) {
        const ac = name.indexOf(':');
        let key = name;
        if (ac >= 0) {
          const ans = scope.get(name.slice(0, ac));
          if (ans === undefined || ans === '') throw GIVE_UP;
          key = `{${ans}}${name.slice(ac + 1)}`;
        }
        if (attrs.has(key)) throw GIVE_UP;
        attrs.set(key, value);
      }
      const node: XmlNode = { ns, name: colon < 0 ? rawName : rawName.slice(colon + 1), attrs, children: [] };
      const parent = stack[stack.length - 1];
      if (parent) parent.node.children.push(node);
      else root = node;

      if (s.charCodeAt(this.i) === Ch.Slash) {
        if (s.charCodeAt(this.i + 1) !== Ch.Gt) throw GIVE_UP;
        this.i += 2;
      } else {
        this.i++;
        stack.push({ node, rawName, bindings });
        bindings = scope;
      }

      // Content: text, comments and end tags until the next start tag, or until the root is closed. Text on
      // both sides of a comment is one text node, as the pipeline makes it; each side must hold whole
      // references on its own, and the joined raw text no `]]>`.
      let raw = '';
      let decoded = '';
      for (;;) {
        if (stack.length === 0) return root!;
        const lt = s.indexOf('<', this.i);
        if (lt < 0) throw GIVE_UP;
        if (lt > this.i) {
          const piece = s.slice(this.i, lt);
          raw += piece;
          decoded += decodeReferences(piece);
        }
        this.i = lt;
        const next = s.charCodeAt(lt + 1);
        if (next === Ch.Bang) {
          if (!s.startsWith('<!--', lt)) throw GIVE_UP;
          this.skipComment();
          continue;
        }
        if (raw !== '') {
          if (raw.includes(']]>')) throw GIVE_UP;
          stack[stack.length - 1]!.node.children.push(decoded);
          raw = '';
          decoded = '';
        }
        if (next !== Ch.Slash) {
          if (!isNameStart(next)) throw GIVE_UP;
          break;
        }
        this.i = lt + 2;
        const open = stack.pop()!;
        if (this.name() !== open.rawName) throw GIVE_UP;
        this.skipSpace();
        if (s.charCodeAt(this.i) !== Ch.Gt) throw GIVE_UP;
        this.i++;
        bindings = open.bindings;
      }
    }
  }
}

/** Skips XML 1.0 §2.8 Misc (whitespace, comments, PIs) from `i`; -1 if a comment or PI is unterminated. */
function skipMisc(s: string, i: number): number {
  for (;;) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t' || s[i] === '\n' || s[i] === '\r')) i++;
    if (s.startsWith('<?', i)) {
      const j = s.indexOf('?>', i + 2);
      if (j < 0) return -1;
      i = j + 2;
    } else if (s.startsWith('<!--', i)) {
      const j = s.indexOf('-->', i + 4);
      if (j < 0) return -1;
      i = j + 3;
    } else {
      return i;
    }
  }
}

/** The document is Misc, one empty-element tag, Misc: linear, quote-aware scan. */
function onlyMiscAroundEmptyRoot(s: string): boolean {
  let i = skipMisc(s, 0);
  if (i < 0 || s[i] !== '<') return false;
  let quote = '';
  for (i++; i < s.length; i++) {
    const c = s[i];
    if (quote !== '') {
      if (c === quote) quote = '';
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '>') {
      break;
    }
  }
  if (i >= s.length) return false;
  // `<a></a>` also has no children; the validator already refuses text after an end tag.
  if (s[i - 1] !== '/') return true;
  return skipMisc(s, i + 1) === s.length;
}

// ------------------------------------------------------------------------------------------ helpers

/** The first child element with this namespace and local name. */
export function child(node: XmlNode, ns: string, name: string): XmlNode | undefined {
  for (const c of node.children) {
    if (typeof c !== 'string' && c.name === name && c.ns === ns) return c;
  }
  return undefined;
}

/** Every child element with this namespace and local name, in document order. */
export function children(node: XmlNode, ns: string, name: string): XmlNode[] {
  const out: XmlNode[] = [];
  for (const c of node.children) {
    if (typeof c !== 'string' && c.name === name && c.ns === ns) out.push(c);
  }
  return out;
}

/** Child elements only (no character data). */
export function elements(node: XmlNode): XmlNode[] {
  const out: XmlNode[] = [];
  for (const c of node.children) if (typeof c !== 'string') out.push(c);
  return out;
}

/** The element's own character data (direct text children joined; text inside child elements is not). */
export function text(node: XmlNode): string {
  let s = '';
  for (const c of node.children) if (typeof c === 'string') s += c;
  return s;
}

// ------------------------------------------------------------------------------------------ writing

/** An element to serialize. Names are written as given (the builder picks prefixes and declares them). */
export interface XmlOutElement {
  name: string;
  /** Pairs in output order; an undefined value leaves the attribute out. */
  attrs?: ReadonlyArray<readonly [string, string | undefined]>;
  children?: ReadonlyArray<XmlOutElement | string>;
}

const ILLEGAL_CHARS_GLOBAL = new RegExp(ILLEGAL_CHAR.source, 'gu');

/**
 * Removes characters XML 1.0 cannot carry at all (most C0 controls, lone surrogates, U+FFFE/FFFF):
 * escaping cannot help them, and one of them makes the receiver refuse the whole document.
 */
export function xmlCharSafe(s: string): string {
  return ILLEGAL_CHAR.test(s) ? s.replace(ILLEGAL_CHARS_GLOBAL, '') : s;
}

/** Character data. `>` is escaped too (`]]>`), and CR so that it survives the receiver's line-end normalization. */
export function escapeXmlText(s: string): string {
  return xmlCharSafe(s).replace(/[&<>\r]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : '&#13;'));
}

/** An attribute value for double quotes; TAB/LF/CR as references so attribute normalization keeps them. */
export function escapeXmlAttr(s: string): string {
  return xmlCharSafe(s).replace(/[&<>"\t\n\r]/g, (c) => {
    switch (c) {
      case '&':
        return '&amp;';
      case '<':
        return '&lt;';
      case '>':
        return '&gt;';
      case '"':
        return '&quot;';
      case '\t':
        return '&#9;';
      case '\n':
        return '&#10;';
      default:
        return '&#13;';
    }
  });
}

function write(el: XmlOutElement, out: string[]): void {
  out.push('<', el.name);
  for (const [k, v] of el.attrs ?? []) if (v !== undefined) out.push(' ', k, '="', escapeXmlAttr(v), '"');
  const kids = el.children ?? [];
  if (kids.length === 0) {
    out.push('/>');
    return;
  }
  out.push('>');
  for (const c of kids) {
    if (typeof c === 'string') out.push(escapeXmlText(c));
    else write(c, out);
  }
  out.push('</', el.name, '>');
}

/** Serializes with every attribute value and text escaped; `declaration` adds the UTF-8 XML declaration. */
export function serializeXml(root: XmlOutElement, options: { declaration?: boolean } = {}): string {
  const out: string[] = options.declaration === false ? [] : ['<?xml version="1.0" encoding="UTF-8"?>\n'];
  write(root, out);
  return out.join('');
}
