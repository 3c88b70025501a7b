import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  buildPidf,
  DATA_MODEL_NS,
  isXmlId,
  parsePidf,
  PidfError,
  RPID_NS,
  type PidfDocument,
} from '../../../src/formats/pidf.js';
import { SafeXmlError } from '../../../src/formats/safe-xml.js';

const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/pidf/${name}`, import.meta.url), 'utf8');

function reasonOf(body: string): string {
  try {
    parsePidf(body);
  } catch (e) {
    expect(e).toBeInstanceOf(PidfError);
    return (e as PidfError).reason;
  }
  throw new Error('expected the document to be refused');
}

describe('parsePidf (RFC 3863 §4.1, RFC 4479, RFC 4480)', () => {
  it('reads the RFC 8048 Example 4 body (reference §9.2 TV-P2)', () => {
    expect(parsePidf(fixture('rfc8048-ex4-away.xml'))).toEqual({
      entity: 'pres:romeo@example.net',
      tuples: [{ id: 'ID-dr4hcr0st3lup4c', basic: 'open', show: 'away', notes: [] }],
      notes: [],
      persons: [],
    });
  });

  it('reads the RFC 4480 §4 example: tuples, contact priority, notes by language, person RPID; skips devices and other RPID', () => {
    const doc = parsePidf(fixture('rfc4480-example.xml'));
    expect(doc.entity).toBe('pres:someone@example.com');
    expect(doc.tuples.map((t) => [t.id, t.basic, t.contact, t.priority])).toEqual([
      ['bs35r9', 'open', 'im:someone@mobile.example.net', '0.8'],
      ['ty4658', 'open', 'mailto:secretary@example.com', '1.0'],
      ['eg92n8', 'open', 'mailto:someone@example.com', '1.0'],
    ]);
    expect(doc.tuples[0]?.notes).toEqual([
      { text: "Don't Disturb Please!", lang: 'en' },
      { text: "Ne derangez pas, s'il vous plait", lang: 'fr' },
    ]);
    expect(doc.tuples[0]?.timestamp).toBe('2005-10-27T16:49:29Z');
    expect(doc.tuples[0]?.activities).toBeUndefined();
    expect(doc.notes).toEqual([{ text: "I'll be in Tokyo next week" }]);
    expect(doc.persons).toEqual([
      {
        id: 'p1',
        activities: { activities: ['away'], notes: [{ text: 'Far away' }], other: [] },
        notes: [{ text: 'Scoring 120' }],
        timestamp: '2005-05-30T16:09:44+05:00',
      },
    ]);
  });

  it('resolves namespaces whatever the prefixes: prefixed PIDF, default-namespace redeclarations and a decoy prefix give one model', () => {
    const canonical = parsePidf(fixture('reference-8.2-rpid.xml'));
    expect(canonical.tuples[0]).toMatchObject({ show: 'away', priority: '0.007', notes: [{ text: 'retired to the chamber', lang: 'en' }] });
    expect(canonical.persons[0]?.activities?.activities).toEqual(['away']);
    expect(parsePidf(fixture('odd-prefixes.xml'))).toEqual(canonical);
    expect(parsePidf(fixture('default-namespaces.xml'))).toEqual(canonical);
  });

  it('skips unknown extensions in status, tuple and presence, including foreign elements named show, note and tuple', () => {
    const doc = parsePidf(fixture('foreign-extensions.xml'));
    expect(doc.tuples).toEqual([{ id: 'ID-dr4hcr0st3lup4c', basic: 'open', notes: [{ text: 'hello' }] }]);
    expect(doc.persons).toEqual([]);
  });

  it('gives notes their in-scope xml:lang; xml:lang="" removes it', () => {
    const doc = parsePidf(fixture('xml-lang.xml'));
    expect(doc.tuples[0]?.lang).toBe('en');
    expect(doc.tuples[0]?.notes).toEqual([
      { text: 'Parting is such sweet sorrow & all that', lang: 'en' },
      { text: 'Scheiden ist so süßes Leid', lang: 'de' },
      { text: "Partir, c'est mourir un peu <3", lang: 'fr' },
      { text: 'a second English note', lang: 'en' },
    ]);
    expect(doc.tuples[1]?.lang).toBeUndefined();
    expect(doc.tuples[1]?.notes).toEqual([{ text: 'no language' }]);
  });

  it('reads tuple-level activities (in the tuple or its status) and user-input', () => {
    const doc = parsePidf(`<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:r="${RPID_NS}" entity="sip:a@b">
      <tuple id="t1"><status><basic>open</basic><r:activities><r:busy/><r:other>Coding</r:other></r:activities></status></tuple>
      <tuple id="t2"><status><basic>open</basic></status><r:activities><r:unknown/></r:activities><r:user-input>idle</r:user-input></tuple>
      <tuple id="t3"><status><basic>open</basic></status><r:user-input>sleepy</r:user-input></tuple>
    </presence>`);
    expect(doc.tuples[0]?.activities).toEqual({ activities: ['busy'], notes: [], other: [{ text: 'Coding' }] });
    expect(doc.tuples[1]?.activities).toEqual({ activities: ['unknown'], notes: [], other: [] });
    expect(doc.tuples[1]?.userInput).toBe('idle');
    expect(doc.tuples[2]?.userInput).toBeUndefined();
  });

  it('accepts a tuple without <basic> and a document without tuples', () => {
    const doc = parsePidf(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t"><status/></tuple></presence>`);
    expect(doc.tuples[0]?.basic).toBeUndefined();
    expect(parsePidf(`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"/>`).tuples).toEqual([]);
  });

  it.each([
    ['a missing entity', fixture('missing-entity.xml'), 'PIDF presence without entity'],
    ['an empty entity', fixture('empty-entity.xml'), 'PIDF presence without entity'],
    ['a tuple without id', `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple><status><basic>open</basic></status></tuple></presence>`, 'PIDF tuple without id'],
    [
      'a duplicated tuple id',
      `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="x"><status/></tuple><tuple id="x"><status/></tuple></presence>`,
      'Duplicate PIDF tuple id',
    ],
    ['a basic that is not open/closed', `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="x"><status><basic>busy</basic></status></tuple></presence>`, 'Invalid PIDF basic status'],
    ['a root outside the PIDF namespace', `<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf" entity="sip:a@b"/>`, 'Not a PIDF document'],
    ['another document type', `<watcherinfo xmlns="urn:ietf:params:xml:ns:watcherinfo" version="0" state="full"/>`, 'Not a PIDF document'],
    ['billion laughs', fixture('billion-laughs.xml'), 'DTD not allowed in PIDF'],
    ['an external entity', fixture('xxe.xml'), 'DTD not allowed in PIDF'],
    ['broken XML', '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple>', 'Malformed PIDF XML'],
  ])('refuses %s', (_what, body, reason) => {
    expect(reasonOf(body)).toBe(reason);
  });

  it('keeps the safe-xml refusal as the cause', () => {
    try {
      parsePidf('x'.repeat(70_000));
      expect.unreachable();
    } catch (e) {
      expect((e as PidfError).reason).toBe('PIDF body too large');
      expect((e as PidfError).cause).toBeInstanceOf(SafeXmlError);
    }
  });
});

describe('buildPidf', () => {
  it('writes xml:lang="" on a note without language inside a tuple that has one, so it does not inherit it (found by fuzzing)', () => {
    const doc = parsePidf(
      '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@example.com"><tuple id="t" xml:lang="en"><status><basic>open</basic>' +
        '<activities xmlns="urn:ietf:params:xml:ns:pidf:rpid"><note xml:lang="">n</note><busy/></activities></status><note xml:lang="">none</note><note>english</note></tuple></presence>',
    );
    expect(doc.tuples[0]?.notes).toEqual([{ text: 'none' }, { text: 'english', lang: 'en' }]);
    expect(doc.tuples[0]?.activities?.notes).toEqual([{ text: 'n' }]);
    expect(parsePidf(buildPidf(doc))).toEqual(doc);
  });

  it('keeps the priority of a contact without a URI, as parsePidf reports it (found by fuzzing)', () => {
    const doc = parsePidf('<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@example.com"><tuple id="t"><status><basic>open</basic></status><contact priority="0.5"></contact></tuple></presence>');
    expect(doc.tuples[0]).toMatchObject({ priority: '0.5' });
    expect(doc.tuples[0]?.contact).toBeUndefined();
    expect(parsePidf(buildPidf(doc))).toEqual(doc);
  });

  const rich: PidfDocument = {
    entity: 'pres:juliet@example.com',
    tuples: [
      {
        id: 'ID-balcony',
        basic: 'open',
        show: 'away',
        activities: { activities: ['meal'], notes: [{ text: 'lunch', lang: 'en' }], other: [{ text: 'eating <soup> & bread', lang: 'en' }] },
        userInput: 'idle',
        contact: 'sip:juliet@example.com;gr=balcony',
        priority: '0.5',
        notes: [{ text: 'a "quoted" note\r\nwith lines', lang: 'en' }, { text: 'une note', lang: 'fr' }],
        timestamp: '2016-12-01T10:00:00Z',
        lang: 'en',
      },
      { id: 'ID-tomb', basic: 'closed', notes: [] },
    ],
    notes: [{ text: 'presence-level' }],
    persons: [{ id: 'p1', activities: { activities: ['busy', 'on-the-phone'], notes: [], other: [] }, userInput: 'active', notes: [{ text: 'person note' }], timestamp: '2016-12-01T10:00:01Z' }],
  };

  it('writes a document that parses back to the same model', () => {
    expect(parsePidf(buildPidf(rich))).toEqual(rich);
  });

  it('declares the data-model and RPID prefixes only when they are used', () => {
    const plain = buildPidf({ entity: 'pres:a@b', tuples: [{ id: 'ID-x', basic: 'open', notes: [] }], notes: [], persons: [] });
    expect(plain).not.toContain(DATA_MODEL_NS);
    expect(plain).not.toContain(RPID_NS);
    expect(buildPidf(rich)).toContain(`xmlns:dm="${DATA_MODEL_NS}"`);
  });

  it.each([
    ['an empty entity', { entity: ' ', tuples: [], notes: [], persons: [] }],
    ['a tuple id that is not an xs:ID', { entity: 'pres:a@b', tuples: [{ id: '1abc', basic: 'open', notes: [] }], notes: [], persons: [] }],
    ['a tuple id with markup', { entity: 'pres:a@b', tuples: [{ id: 'a"><x', basic: 'open', notes: [] }], notes: [], persons: [] }],
    ['duplicate ids', { entity: 'pres:a@b', tuples: [{ id: 'p1', basic: 'open', notes: [] }], notes: [], persons: [{ id: 'p1', notes: [] }] }],
    ['an empty status', { entity: 'pres:a@b', tuples: [{ id: 'x', notes: [] }], notes: [], persons: [] }],
    [
      'an activity outside RFC 4480',
      { entity: 'pres:a@b', tuples: [], notes: [], persons: [{ activities: { activities: ['x><script'], notes: [], other: [] }, notes: [] }] },
    ],
  ] as Array<[string, PidfDocument]>)('refuses %s', (_what, doc) => {
    expect(() => buildPidf(doc)).toThrow(PidfError);
  });

  it('isXmlId follows NCName', () => {
    expect(isXmlId('ID-yn0cl4bnw0yr3vym')).toBe(true);
    expect(isXmlId('ID-')).toBe(true);
    expect(isXmlId('Küche')).toBe(true);
    expect(isXmlId('0abc')).toBe(false);
    expect(isXmlId('-abc')).toBe(false);
    expect(isXmlId('a:b')).toBe(false);
    expect(isXmlId('a b')).toBe(false);
    expect(isXmlId('')).toBe(false);
  });
});
