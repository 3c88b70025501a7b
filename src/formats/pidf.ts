/**
 * PIDF (RFC 3863) with the parts of the presence data model (RFC 4479) and RPID (RFC 4480) the gateway
 * uses, as a typed model: parsePidf reads a SIP-side body through safe-xml, buildPidf writes one.
 *
 * The model is deliberately literal (raw strings, document order, nothing mapped to XMPP yet): what a
 * value means for XMPP is decided in src/core/presence.ts, from the mapping tables. Elements the model
 * does not know (foreign extensions, most of RPID, devices) are skipped, never refused: PIDF and the
 * data model are built to carry `##other` content.
 *
 * Where elements may sit: RFC 8048 §6.2 embeds `<show xmlns='jabber:client'>` in the tuple `<status>`;
 * RFC 4480 puts `<activities>` in `<dm:person>` (§4 example) and `<user-input>` in a person, tuple or
 * device. Older RPID publishers put `<activities>` in the tuple or in its `<status>`; both are read.
 */
import {
  child,
  children,
  parseSafeXml,
  SafeXmlError,
  serializeXml,
  text,
  XML_LANG,
  type SafeXmlLimits,
  type XmlNode,
  type XmlOutElement,
} from './safe-xml.js';

export const PIDF_NS = 'urn:ietf:params:xml:ns:pidf';
export const DATA_MODEL_NS = 'urn:ietf:params:xml:ns:pidf:data-model';
export const RPID_NS = 'urn:ietf:params:xml:ns:pidf:rpid';
/** RFC 8048 §6.2: the namespace of the `<show/>` embedded in a tuple's `<status>`. */
export const JABBER_CLIENT_NS = 'jabber:client';
export const PIDF_CONTENT_TYPE = 'application/pidf+xml';

/** RFC 4480 §3.2 activity elements (besides `<other>` and `<note>`, which carry text). */
export const RPID_ACTIVITIES = [
  'appointment',
  'away',
  'breakfast',
  'busy',
  'dinner',
  'holiday',
  'in-transit',
  'looking-for-work',
  'meal',
  'meeting',
  'on-the-phone',
  'performance',
  'permanent-absence',
  'playing',
  'presentation',
  'shopping',
  'sleeping',
  'spectator',
  'steering',
  'travel',
  'tv',
  'unknown',
  'vacation',
  'working',
  'worship',
] as const;
export type RpidActivity = (typeof RPID_ACTIVITIES)[number];

export interface PidfNote {
  text: string;
  /** The in-scope xml:lang (inherited from enclosing elements), if any. */
  lang?: string;
}

/** RFC 4480 §3.2 `<activities>`. */
export interface RpidActivities {
  /** Local names of the RPID-namespace activity elements, in document order (`unknown` included). */
  activities: string[];
  /** `<rpid:note>` children. */
  notes: PidfNote[];
  /** `<rpid:other>` free-text activities. */
  other: PidfNote[];
}

export type UserInput = 'active' | 'idle';

export interface PidfTuple {
  /** xs:ID, unique in the document. */
  id: string;
  /** Absent when the `<status>` has no `<basic>` (RFC 3863 §4.1.4 makes it optional). */
  basic?: 'open' | 'closed';
  /** Text of the embedded `<show xmlns='jabber:client'>`, trimmed; not checked against RFC 6121 here. */
  show?: string;
  /** Activities inside the tuple or its `<status>` (pre-RFC 4480 placement). */
  activities?: RpidActivities;
  userInput?: UserInput;
  contact?: string;
  /** The raw `priority` attribute of `<contact>` (RFC 3863 §4.1.5: decimal 0..1). */
  priority?: string;
  notes: PidfNote[];
  timestamp?: string;
  /** The tuple's in-scope xml:lang. */
  lang?: string;
}

/** RFC 4479 `<dm:person>`. */
export interface PidfPerson {
  id?: string;
  activities?: RpidActivities;
  userInput?: UserInput;
  /** `<dm:note>` children. */
  notes: PidfNote[];
  timestamp?: string;
}

export interface PidfDocument {
  /** The presentity URI (`pres:` or `sip:`). */
  entity: string;
  tuples: PidfTuple[];
  /** `<note>` directly under `<presence>`. */
  notes: PidfNote[];
  persons: PidfPerson[];
}

/** A body that is not a usable PIDF document; `reason` is short, fixed text (no input echoed). */
export class PidfError extends Error {
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'PidfError';
    this.reason = reason;
  }
}

// ------------------------------------------------------------------------------------------ parsing

const SAFE_XML_REASONS: Record<SafeXmlError['problem'], string> = {
  'too-large': 'PIDF body too large',
  encoding: 'PIDF body not UTF-8',
  doctype: 'DTD not allowed in PIDF',
  'illegal-character': 'Malformed PIDF XML',
  'not-well-formed': 'Malformed PIDF XML',
  entity: 'Undefined entity in PIDF',
  namespace: 'Bad XML namespace in PIDF',
  'too-deep': 'PIDF nesting too deep',
  'too-many-elements': 'PIDF has too many elements',
};

function langOf(node: XmlNode, inherited: string | undefined): string | undefined {
  const own = node.attrs.get(XML_LANG);
  if (own === undefined) return inherited;
  // xml:lang="" undeclares the language (XML 1.0 §2.12).
  return own.trim() === '' ? undefined : own.trim();
}

function notesOf(nodes: XmlNode[], inherited: string | undefined): PidfNote[] {
  return nodes.map((n) => {
    const lang = langOf(n, inherited);
    return lang === undefined ? { text: text(n) } : { text: text(n), lang };
  });
}

function activitiesOf(node: XmlNode | undefined, inherited: string | undefined): RpidActivities | undefined {
  if (!node) return undefined;
  const lang = langOf(node, inherited);
  const out: RpidActivities = { activities: [], notes: [], other: [] };
  for (const c of node.children) {
    if (typeof c === 'string' || c.ns !== RPID_NS) continue; // ##other extensions are skipped
    if (c.name === 'note') out.notes.push(...notesOf([c], lang));
    else if (c.name === 'other') out.other.push(...notesOf([c], lang));
    else out.activities.push(c.name);
  }
  return out;
}

function userInputOf(node: XmlNode | undefined): UserInput | undefined {
  if (!node) return undefined;
  const v = text(node).trim();
  return v === 'active' || v === 'idle' ? v : undefined;
}

function optionalText(node: XmlNode | undefined): string | undefined {
  return node ? text(node).trim() : undefined;
}

function parseTuple(node: XmlNode, inherited: string | undefined): PidfTuple {
  const id = node.attrs.get('id')?.trim();
  if (!id) throw new PidfError('PIDF tuple without id');
  const lang = langOf(node, inherited);
  const tuple: PidfTuple = { id, notes: notesOf(children(node, PIDF_NS, 'note'), lang) };
  if (lang !== undefined) tuple.lang = lang;

  const status = child(node, PIDF_NS, 'status');
  if (status) {
    const basic = child(status, PIDF_NS, 'basic');
    if (basic) {
      const v = text(basic).trim();
      if (v !== 'open' && v !== 'closed') throw new PidfError('Invalid PIDF basic status');
      tuple.basic = v;
    }
    const show = child(status, JABBER_CLIENT_NS, 'show');
    if (show) tuple.show = text(show).trim();
  }
  const statusLang = status ? langOf(status, lang) : lang;
  const activities =
    (status && activitiesOf(child(status, RPID_NS, 'activities'), statusLang)) ?? activitiesOf(child(node, RPID_NS, 'activities'), lang);
  if (activities) tuple.activities = activities;
  const userInput = userInputOf(child(node, RPID_NS, 'user-input') ?? (status && child(status, RPID_NS, 'user-input')));
  if (userInput) tuple.userInput = userInput;

  const contact = child(node, PIDF_NS, 'contact');
  if (contact) {
    const uri = text(contact).trim();
    if (uri !== '') tuple.contact = uri;
    const priority = contact.attrs.get('priority');
    if (priority !== undefined) tuple.priority = priority;
  }
  const timestamp = optionalText(child(node, PIDF_NS, 'timestamp'));
  if (timestamp) tuple.timestamp = timestamp;
  return tuple;
}

function parsePerson(node: XmlNode, inherited: string | undefined): PidfPerson {
  const lang = langOf(node, inherited);
  const person: PidfPerson = { notes: notesOf(children(node, DATA_MODEL_NS, 'note'), lang) };
  const id = node.attrs.get('id');
  if (id !== undefined) person.id = id;
  const activities = activitiesOf(child(node, RPID_NS, 'activities'), lang);
  if (activities) person.activities = activities;
  const userInput = userInputOf(child(node, RPID_NS, 'user-input'));
  if (userInput) person.userInput = userInput;
  const timestamp = optionalText(child(node, DATA_MODEL_NS, 'timestamp'));
  if (timestamp) person.timestamp = timestamp;
  return person;
}

/**
 * Parses an `application/pidf+xml` body. Throws PidfError when the XML is refused by safe-xml, the root
 * is not a PIDF `<presence>`, `entity` is missing or empty, a tuple has no id or a duplicated one, or a
 * `<basic>` is neither `open` nor `closed` (RFC 3863 §4.1.4).
 */
export function parsePidf(body: Buffer | Uint8Array | string, limits?: Partial<SafeXmlLimits>): PidfDocument {
  let root: XmlNode;
  try {
    root = parseSafeXml(body, limits);
  } catch (e) {
    if (e instanceof SafeXmlError) throw new PidfError(SAFE_XML_REASONS[e.problem], { cause: e });
    throw e;
  }
  if (root.ns !== PIDF_NS || root.name !== 'presence') throw new PidfError('Not a PIDF document');
  const entity = root.attrs.get('entity')?.trim();
  if (!entity) throw new PidfError('PIDF presence without entity');
  const lang = langOf(root, undefined);

  const tuples: PidfTuple[] = [];
  const ids = new Set<string>();
  const persons: PidfPerson[] = [];
  for (const c of root.children) {
    if (typeof c === 'string') continue;
    if (c.ns === PIDF_NS && c.name === 'tuple') {
      const t = parseTuple(c, lang);
      if (ids.has(t.id)) throw new PidfError('Duplicate PIDF tuple id');
      ids.add(t.id);
      tuples.push(t);
    } else if (c.ns === DATA_MODEL_NS && c.name === 'person') {
      persons.push(parsePerson(c, lang));
    }
  }
  return { entity, tuples, notes: notesOf(children(root, PIDF_NS, 'note'), lang), persons };
}

// ------------------------------------------------------------------------------------------ building

/** XML 1.0 (5th ed.) NCName: what xs:ID allows. */
const NC_NAME = /^[A-Z_a-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\u{10000}-\u{EFFFF}][-.0-9A-Z_a-z\u00B7\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u037D\u037F-\u1FFF\u200C-\u200D\u203F\u2040\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\u{10000}-\u{EFFFF}]*$/u;

/** Whether `s` is a valid xs:ID (an NCName). */
export function isXmlId(s: string): boolean {
  return NC_NAME.test(s);
}

/** `inherited`: the language in scope; a note without one then says xml:lang="" so as not to inherit it. */
function noteEls(name: string, notes: readonly PidfNote[], inherited?: string): XmlOutElement[] {
  return notes.map((n) => ({ name, attrs: [['xml:lang', n.lang ?? (inherited === undefined ? undefined : '')]], children: [n.text] }));
}

function activitiesEl(a: RpidActivities, inherited?: string): XmlOutElement {
  return {
    name: 'rpid:activities',
    // RFC 4480 §5.1: notes first, then the activities.
    children: [
      ...noteEls('rpid:note', a.notes, inherited),
      ...a.activities.map((name) => ({ name: `rpid:${name}` })),
      ...noteEls('rpid:other', a.other, inherited),
    ],
  };
}

function userInputEl(u: UserInput): XmlOutElement {
  return { name: 'rpid:user-input', children: [u] };
}

function checkActivities(a: RpidActivities | undefined): void {
  // Activity names become element names: only the RFC 4480 vocabulary can be written.
  for (const name of a?.activities ?? []) {
    if (!(RPID_ACTIVITIES as readonly string[]).includes(name)) throw new PidfError('Unknown RPID activity');
  }
}

function tupleEl(t: PidfTuple): XmlOutElement {
  if (!isXmlId(t.id)) throw new PidfError('PIDF tuple id is not an xs:ID');
  checkActivities(t.activities);
  const status: XmlOutElement[] = [];
  if (t.basic) status.push({ name: 'basic', children: [t.basic] });
  if (t.show !== undefined) status.push({ name: 'show', attrs: [['xmlns', JABBER_CLIENT_NS]], children: [t.show] });
  if (status.length === 0) throw new PidfError('PIDF tuple status needs a child');
  // RFC 3863 §4.1.2 order: status, extensions, contact, note, timestamp.
  const kids: XmlOutElement[] = [{ name: 'status', children: status }];
  if (t.activities) kids.push(activitiesEl(t.activities, t.lang));
  if (t.userInput) kids.push(userInputEl(t.userInput));
  // parsePidf keeps the priority of a `<contact>` without a URI: written back empty, it is kept again.
  if (t.contact !== undefined || t.priority !== undefined) {
    kids.push({ name: 'contact', attrs: [['priority', t.priority]], children: t.contact === undefined ? [] : [t.contact] });
  }
  kids.push(...noteEls('note', t.notes, t.lang));
  if (t.timestamp !== undefined) kids.push({ name: 'timestamp', children: [t.timestamp] });
  return { name: 'tuple', attrs: [['id', t.id], ['xml:lang', t.lang]], children: kids };
}

function personEl(p: PidfPerson, index: number): XmlOutElement {
  const id = p.id ?? `p${index + 1}`;
  if (!isXmlId(id)) throw new PidfError('PIDF person id is not an xs:ID');
  checkActivities(p.activities);
  // RFC 4479 person: extensions, then notes, then timestamp.
  const kids: XmlOutElement[] = [];
  if (p.activities) kids.push(activitiesEl(p.activities));
  if (p.userInput) kids.push(userInputEl(p.userInput));
  kids.push(...noteEls('dm:note', p.notes));
  if (p.timestamp !== undefined) kids.push({ name: 'dm:timestamp', children: [p.timestamp] });
  return { name: 'dm:person', attrs: [['id', id]], children: kids };
}

/**
 * Writes a PIDF document (UTF-8, with XML declaration). The `dm` and `rpid` prefixes are declared on the
 * root only when used. Throws PidfError for what would make the document invalid: an empty entity, an id
 * that is not an xs:ID, a duplicate id, a tuple whose `<status>` would be empty, an unknown activity.
 */
export function buildPidf(doc: PidfDocument): string {
  if (doc.entity.trim() === '') throw new PidfError('PIDF presence without entity');
  const ids = new Set<string>();
  const tuples = doc.tuples.map((t) => {
    if (ids.has(t.id)) throw new PidfError('Duplicate PIDF tuple id');
    ids.add(t.id);
    return tupleEl(t);
  });
  const persons = doc.persons.map((p, i) => {
    const el = personEl(p, i);
    const id = el.attrs?.[0]?.[1] ?? '';
    if (ids.has(id)) throw new PidfError('Duplicate PIDF id');
    ids.add(id);
    return el;
  });
  const usesRpid =
    doc.persons.some((p) => p.activities !== undefined || p.userInput !== undefined) ||
    doc.tuples.some((t) => t.activities !== undefined || t.userInput !== undefined);
  return serializeXml({
    name: 'presence',
    attrs: [
      ['xmlns', PIDF_NS],
      ['xmlns:dm', persons.length > 0 ? DATA_MODEL_NS : undefined],
      ['xmlns:rpid', usesRpid ? RPID_NS : undefined],
      ['entity', doc.entity],
    ],
    // RFC 3863 §4.1.1 order: tuples, notes, then extensions (the data-model persons).
    children: [...tuples, ...noteEls('note', doc.notes), ...persons],
  });
}
