/**
 * Presence notification content: XMPP presence ⇄ PIDF (RFC 8048 §6.2 Table 1, §6.3 Table 2; reference
 * §3.5, §3.6, §8.2). Pure functions over plain data: the XMPP stanza codec (src/xmpp) produces and
 * consumes ResourcePresence, the SIP side carries the body text.
 *
 * Choices where the reference leaves one (each also noted where it is made):
 *  - tuple id ⇄ resource: `ID-` + the resource, with every character outside [A-Za-z0-9.-] written
 *    `_HEX_` (its code point, uppercase hex). The result is an NCName under every XML edition, and decoding
 *    only accepts the canonical form, so it inverts exactly and leaves foreign ids alone.
 *  - RPID activities are written once, in `<dm:person>`, and only when every available resource maps to
 *    the same activities; per-resource state always travels in the embedded `<show/>`.
 *  - A tuple without `<basic>` counts as closed (reference §3.2: unknown counts as "closed").
 *  - Statuses come from the first non-empty source in: tuple `<note>`, tuple `<rpid:note>`, person
 *    `<dm:note>`/`<rpid:note>`, presence-level `<note>`, `<rpid:other>`; then one per language, as
 *    RFC 6121 §4.7.2.2 allows only one `<status/>` per xml:lang.
 */
import { z } from 'zod';
import {
  buildPidf,
  parsePidf,
  PidfError,
  RPID_ACTIVITIES,
  type PidfDocument,
  type PidfNote,
  type PidfPerson,
  type PidfTuple,
  type RpidActivities,
  type UserInput,
} from '../formats/pidf.js';
import { SafeXmlError } from '../formats/safe-xml.js';
import { parseMappingTable } from './mapping-tables.js';

export const SHOWS = ['away', 'chat', 'dnd', 'xa'] as const;
export type Show = (typeof SHOWS)[number];

/** One XMPP resource's presence as plain data (RFC 6121 §4.7). */
export interface ResourcePresence {
  resource?: string;
  available: boolean;
  show?: Show;
  statuses: Array<{ lang?: string; text: string }>;
  /** -128..127 (RFC 6121 §4.7.2.3). */
  priority?: number;
  /** The stanza's xml:lang. */
  lang?: string;
}

/** The §3.6 table (mappings/rpid-show.yaml) as loaded. `null` means plain available: no `<show/>`. */
export interface PresenceTables {
  /** X2S: RPID activities for each `<show/>` (empty: none). */
  showToActivities: ReadonlyMap<Show, readonly string[]>;
  /** S2X: RPID activity → show. Activities not in the map give no `<show/>`. */
  activityToShow: ReadonlyMap<string, Show | null>;
  /** S2X: RFC 4480 §3.14 `<user-input>` → show. */
  userInputToShow: ReadonlyMap<UserInput, Show | null>;
  /** S2X: among several mapped activities, the show earliest here wins. */
  precedence: readonly Show[];
}

/**
 * A SIP-side presence document that cannot be translated. `reason` is short fixed ASCII text (never
 * echoes the input), usable as a SIP Reason-Phrase; `sipStatus` is 413 for an oversized body, else 400.
 */
export class PresenceDocumentError extends Error {
  readonly reason: string;
  readonly sipStatus: 400 | 413;

  constructor(reason: string, options?: { cause?: unknown; sipStatus?: 400 | 413 }) {
    super(reason, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PresenceDocumentError';
    this.reason = reason;
    this.sipStatus = options?.sipStatus ?? 400;
  }
}

// ------------------------------------------------------------------------------------------ tables

const showOrNone = z.enum([...SHOWS, 'none'], {
  error: (iss) => `expected one of ${SHOWS.join(', ')} or none, got ${JSON.stringify(iss.input)}`,
});
const emittedActivity = z.enum(
  RPID_ACTIVITIES.filter((a) => a !== 'unknown'),
  { error: (iss) => `not an RFC 4480 §3.2 activity: ${JSON.stringify(iss.input)}` },
);
// Received activity names are only looked up, so any RPID-looking element name may be listed.
const activityKey = z.string().regex(/^[a-z][a-z0-9-]*$/, { error: (iss) => `not an activity element name: '${String(iss.input)}'` });

const tablesSchema = z.strictObject({
  version: z.literal(1, { error: 'unsupported version (expected 1)' }),
  toRpid: z.strictObject({
    away: z.array(emittedActivity),
    chat: z.array(emittedActivity),
    dnd: z.array(emittedActivity),
    xa: z.array(emittedActivity),
  }),
  fromRpid: z.strictObject({
    activities: z.record(activityKey, showOrNone),
    userInput: z.strictObject({ idle: showOrNone, active: showOrNone }),
  }),
  precedence: z
    .array(z.enum(SHOWS, { error: (iss) => `not a <show/> value: ${JSON.stringify(iss.input)}` }))
    .refine((a) => a.length === SHOWS.length && new Set(a).size === SHOWS.length, {
      error: `must list each of ${SHOWS.join(', ')} exactly once`,
    }),
});

const orNull = (v: Show | 'none'): Show | null => (v === 'none' ? null : v);

/** Parses and validates the RPID ⇄ show table; throws MappingTableError naming each bad key path. */
export function loadPresenceTables(yamlText: string): PresenceTables {
  const doc = parseMappingTable(yamlText, tablesSchema, 'RPID/show table');
  return {
    showToActivities: new Map(SHOWS.map((s) => [s, doc.toRpid[s]] as const)),
    activityToShow: new Map(Object.entries(doc.fromRpid.activities).map(([a, s]) => [a, orNull(s)] as const)),
    userInputToShow: new Map<UserInput, Show | null>([
      ['idle', orNull(doc.fromRpid.userInput.idle)],
      ['active', orNull(doc.fromRpid.userInput.active)],
    ]),
    precedence: doc.precedence,
  };
}


// ------------------------------------------------------------------------------------------ priority

/**
 * XMPP priority → PIDF `<contact priority>` (reference §3.5 note 1): floor(p*1000/127)/1000, which gives
 * the RFC 8048 examples (1 → 0.007, 2 → 0.015, 126 → 0.992), 0 → 0, 127 → 1, and keeps all 128 values
 * distinct. A negative priority MUST NOT be mapped: undefined. Values are clamped to 127 and truncated
 * to integers first (RFC 6121 §4.7.2.3 allows only integers up to 127).
 */
export function priorityToPidf(p: number): string | undefined {
  if (!Number.isFinite(p) || p < 0) return undefined;
  const n = Math.min(127, Math.trunc(p));
  return String(Math.floor((n * 1000) / 127) / 1000);
}

const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** PIDF priority → XMPP priority: round(x*127), the exact inverse of priorityToPidf; undefined if not a decimal in 0..1. */
export function pidfToPriority(q: string): number | undefined {
  const s = q.trim();
  if (!DECIMAL.test(s)) return undefined;
  const x = Number(s);
  if (!(x >= 0 && x <= 1)) return undefined;
  return Math.round(x * 127) + 0; // + 0 turns -0 into 0
}

// ------------------------------------------------------------------------------------------ tuple ids

const PLAIN_RESOURCE = /^[-.0-9A-Za-z]*$/;
const ID_LITERAL = /[-.0-9A-Za-z]/;
const ESCAPE = /_([0-9A-F]{1,6})_/g;

/**
 * RFC 8048 §6.2: tuple id = `ID-` + resource (xs:ID may not start with a digit). Characters outside
 * [A-Za-z0-9.-] are written `_HEX_` so any resource gives a valid id; ASCII-only because SIP UAs' parsers
 * may predate the XML 1.0 5th-edition name rules. No resource (a bare-JID presence) gives `ID-`.
 */
export function resourceToTupleId(resource: string | undefined): string {
  if (resource === undefined) return 'ID-';
  if (PLAIN_RESOURCE.test(resource)) return 'ID-' + resource;
  let out = 'ID-';
  for (const ch of resource) {
    out += ID_LITERAL.test(ch) ? ch : `_${(ch.codePointAt(0) ?? 0).toString(16).toUpperCase()}_`;
  }
  return out;
}

/**
 * Inverse of resourceToTupleId (reference §3.5 [D]: strip `ID-`). The escapes are decoded only when the
 * id is exactly what resourceToTupleId would write for the result; otherwise the part after `ID-` is kept
 * as it is. An id without `ID-` is itself the resource; `ID-` alone means no resource.
 */
export function tupleIdToResource(id: string): string | undefined {
  if (!id.startsWith('ID-')) return id;
  const rest = id.slice(3);
  if (rest === '') return undefined;
  if (!rest.includes('_')) return rest;
  let valid = true;
  const decoded = rest.replace(ESCAPE, (_m, hex: string) => {
    const cp = Number.parseInt(hex, 16);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      valid = false;
      return '';
    }
    return String.fromCodePoint(cp);
  });
  return valid && resourceToTupleId(decoded) === id ? decoded : rest;
}

// ------------------------------------------------------------------------------------------ X2S

function sameActivities(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The person's activities: those every available resource agrees on, else none (see module comment). */
function personActivities(resources: readonly ResourcePresence[], tables: PresenceTables): readonly string[] {
  let common: readonly string[] | undefined;
  for (const r of resources) {
    if (!r.available) continue;
    const acts = r.show ? (tables.showToActivities.get(r.show) ?? []) : [];
    if (common === undefined) common = acts;
    else if (!sameActivities(common, acts)) return [];
  }
  return common ?? [];
}

/**
 * The Content-Language of a NOTIFY (RFC 8048 Table 1: xml:lang ⇄ Content-Language): the stanza language
 * the resources agree on. When they disagree there is none; every `<note>` carries its own xml:lang.
 */
function commonLang(resources: readonly ResourcePresence[]): string | undefined {
  let lang: string | undefined;
  for (const r of resources) {
    if (r.lang === undefined) continue;
    if (lang === undefined) lang = r.lang;
    else if (lang !== r.lang) return undefined;
  }
  return lang;
}

/**
 * XMPP → PIDF (X2S NOTIFY body, RFC 8048 §6.2 Table 1). One tuple per resource, in the given order (a
 * resource listed twice: the last entry wins): `<basic>` open/closed, the `<show/>` embedded in
 * `<status>`, `<contact priority>` for available resources with a non-negative priority (the contact is
 * `contactUris.get(resource)`, else the entity), one `<note xml:lang>` per status (the status's language,
 * else the stanza's). `entity` is the presentity URI; RFC 8048 Example 19 uses `pres:`. An empty
 * `resources` gives a document without tuples; send closedPidf() when the contact is simply offline.
 */
export function presenceToPidf(
  entity: string,
  resources: readonly ResourcePresence[],
  tables: PresenceTables,
  contactUris?: ReadonlyMap<string, string>,
): { body: string; contentLanguage?: string } {
  if (entity.trim() === '') throw new PresenceDocumentError('Missing presentity URI');
  const byId = new Map<string, ResourcePresence>();
  for (const r of resources) {
    const id = resourceToTupleId(r.resource);
    byId.delete(id); // re-insert so the last entry also takes the last position
    byId.set(id, r);
  }
  const unique = [...byId.values()];

  const tuples: PidfTuple[] = [];
  for (const [id, r] of byId) {
    const tuple: PidfTuple = {
      id,
      basic: r.available ? 'open' : 'closed',
      notes: r.statuses.filter((s) => s.text !== '').map((s) => note(s.text, s.lang ?? r.lang)),
    };
    // RFC 6121 §4.7.2.1: <show/> qualifies available presence only.
    if (r.available && r.show) tuple.show = r.show;
    const contactUri = r.resource === undefined ? undefined : contactUris?.get(r.resource);
    const priority = r.available && r.priority !== undefined ? priorityToPidf(r.priority) : undefined;
    if (priority !== undefined || contactUri !== undefined) {
      tuple.contact = contactUri ?? entity;
      if (priority !== undefined) tuple.priority = priority;
    }
    tuples.push(tuple);
  }

  const persons: PidfPerson[] = [];
  const acts = personActivities(unique, tables);
  if (acts.length > 0) persons.push({ id: 'p', activities: { activities: [...acts], notes: [], other: [] }, notes: [] });

  const body = buildPidf({ entity, tuples, notes: [], persons });
  const contentLanguage = commonLang(unique);
  return contentLanguage === undefined ? { body } : { body, contentLanguage };
}

/** The `closed` document sent with the NOTIFY that ends a SIP-side subscription (RFC 8048 §5.3.3, reference §3.3). */
export function closedPidf(entity: string): string {
  if (entity.trim() === '') throw new PresenceDocumentError('Missing presentity URI');
  return buildPidf({ entity, tuples: [{ id: resourceToTupleId(undefined), basic: 'closed', notes: [] }], notes: [], persons: [] });
}

function note(text: string, lang: string | undefined): PidfNote {
  return lang === undefined ? { text } : { text, lang };
}

// ------------------------------------------------------------------------------------------ S2X

const isShow = (s: string | undefined): s is Show => s !== undefined && (SHOWS as readonly string[]).includes(s);

/** undefined: no listed activity; null: listed, but as plain available. */
function showFromActivities(a: RpidActivities | undefined, tables: PresenceTables): Show | null | undefined {
  if (!a) return undefined;
  let best: Show | undefined;
  let mapped = false;
  for (const name of a.activities) {
    const s = tables.activityToShow.get(name);
    if (s === undefined) continue;
    mapped = true;
    if (s !== null && (best === undefined || tables.precedence.indexOf(s) < tables.precedence.indexOf(best))) best = s;
  }
  return best ?? (mapped ? null : undefined);
}

interface PersonLevel {
  activities?: RpidActivities;
  userInput?: UserInput;
  notes: PidfNote[];
  presenceNotes: PidfNote[];
}

/** All `<dm:person>` elements folded into one (documents normally have one). */
function personLevel(doc: PidfDocument): PersonLevel {
  const level: PersonLevel = { notes: [], presenceNotes: doc.notes };
  for (const p of doc.persons) {
    if (p.activities) {
      level.activities ??= { activities: [], notes: [], other: [] };
      level.activities.activities.push(...p.activities.activities);
      level.activities.notes.push(...p.activities.notes);
      level.activities.other.push(...p.activities.other);
    }
    level.userInput ??= p.userInput;
    level.notes.push(...p.notes);
  }
  return level;
}

/**
 * Embedded `<show/>` first (RFC 8048 §6.3 note 3); then the tuple's activities, or the person's when the
 * tuple lists none; then `<user-input>` (tuple, else person). An activity is a deliberate statement, so
 * it outranks the inferred idle state.
 */
function resolveShow(t: PidfTuple, person: PersonLevel, tables: PresenceTables): Show | undefined {
  if (isShow(t.show)) return t.show;
  const tupleHasActivities = t.activities !== undefined && t.activities.activities.length > 0;
  const fromActs = showFromActivities(tupleHasActivities ? t.activities : person.activities, tables);
  if (fromActs) return fromActs;
  const ui = t.userInput ?? person.userInput;
  const fromInput = ui === undefined ? undefined : tables.userInputToShow.get(ui);
  return fromInput ?? undefined;
}

const nonEmpty = (notes: readonly PidfNote[] | undefined): PidfNote[] => (notes ?? []).filter((n) => n.text.trim() !== '');

function resolveStatuses(t: PidfTuple, person: PersonLevel): Array<{ lang?: string; text: string }> {
  const levels: Array<readonly PidfNote[] | undefined> = [
    t.notes,
    t.activities?.notes,
    [...(person.notes ?? []), ...(person.activities?.notes ?? [])],
    person.presenceNotes,
    [...(t.activities?.other ?? []), ...(person.activities?.other ?? [])],
  ];
  for (const level of levels) {
    const notes = nonEmpty(level);
    if (notes.length === 0) continue;
    const seen = new Set<string | undefined>();
    const out: Array<{ lang?: string; text: string }> = [];
    for (const n of notes) {
      if (seen.has(n.lang)) continue;
      seen.add(n.lang);
      out.push(n.lang === undefined ? { text: n.text } : { lang: n.lang, text: n.text });
    }
    return out;
  }
  return [];
}

function toResourcePresence(t: PidfTuple, person: PersonLevel, tables: PresenceTables): ResourcePresence {
  // A tuple without <basic> says nothing about availability: treated like "closed" (reference §3.2).
  const available = t.basic === 'open';
  const rp: ResourcePresence = { available, statuses: resolveStatuses(t, person) };
  const resource = tupleIdToResource(t.id);
  if (resource !== undefined) rp.resource = resource;
  if (available) {
    const show = resolveShow(t, person, tables);
    if (show) rp.show = show;
    const priority = t.priority === undefined ? undefined : pidfToPriority(t.priority);
    if (priority !== undefined) rp.priority = priority;
  }
  if (t.lang !== undefined) rp.lang = t.lang;
  return rp;
}

/**
 * PIDF → XMPP (S2X, RFC 8048 §6.3 Table 2): one ResourcePresence per tuple, in document order. A
 * document without tuples gives none (the caller treats the contact as unavailable). Throws
 * PresenceDocumentError for a malformed or hostile body, a root that is not PIDF, a missing entity,
 * tuple ids missing or duplicated, or a `<basic>` other than open/closed.
 */
export function pidfToPresence(body: Buffer | string, tables: PresenceTables): { entity: string; resources: ResourcePresence[] } {
  let doc: PidfDocument;
  try {
    doc = parsePidf(body);
  } catch (e) {
    if (e instanceof PidfError) {
      const tooLarge = e.cause instanceof SafeXmlError && e.cause.problem === 'too-large';
      throw new PresenceDocumentError(e.reason, { cause: e, sipStatus: tooLarge ? 413 : 400 });
    }
    throw e;
  }
  const person = personLevel(doc);
  return { entity: doc.entity, resources: doc.tuples.map((t) => toResourcePresence(t, person, tables)) };
}
