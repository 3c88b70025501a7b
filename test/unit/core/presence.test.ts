import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MappingTableError } from '../../../src/core/mapping-tables.js';
import { defaultPresenceTables, readPackageFile } from '../../../src/mappings.js';
import {
  closedPidf,
  loadPresenceTables,
  pidfToPresence,
  pidfToPriority,
  PresenceDocumentError,
  presenceToPidf,
  priorityToPidf,
  resourceToTupleId,
  SHOWS,
  tupleIdToResource,
  type ResourcePresence,
  type Show,
} from '../../../src/core/presence.js';
import { isXmlId, parsePidf, RPID_NS } from '../../../src/formats/pidf.js';

const tables = defaultPresenceTables();
const fixture = (name: string): string => readFileSync(new URL(`../../fixtures/pidf/${name}`, import.meta.url), 'utf8');

/** A PIDF document with one open tuple and the given extra markup (RPID prefixed `r`, data model `dm`). */
function doc(tupleExtra: string, topExtra = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:r="${RPID_NS}" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" entity="pres:romeo@example.net">
  <tuple id="ID-orchard"><status><basic>open</basic></status>${tupleExtra}</tuple>${topExtra}
</presence>`;
}
const personWith = (inner: string): string => `<dm:person id="p">${inner}</dm:person>`;
const onlyResource = (body: string): ResourcePresence => {
  const { resources } = pidfToPresence(body, tables);
  expect(resources).toHaveLength(1);
  return resources[0] as ResourcePresence;
};

function errorOf(body: Buffer | string): PresenceDocumentError {
  try {
    pidfToPresence(body, tables);
  } catch (e) {
    expect(e).toBeInstanceOf(PresenceDocumentError);
    return e as PresenceDocumentError;
  }
  throw new Error('expected the document to be refused');
}

// ---------------------------------------------------------------------------------------------------------

describe('reference §9.2 presence vectors (document parts)', () => {
  it('TV-P2 (RFC 8048 Ex. 4 → Ex. 6): the first NOTIFY body gives available presence from resource dr4hcr0st3lup4c, with the embedded show copied', () => {
    // Ex. 6 shows no <show/>; §6.3 Table 2 note 3 makes the gateway responsible for copying it, so
    // Ex. 6 is the minimum. The Content-Length of Ex. 4 (193) is wrong and irrelevant here.
    const out = pidfToPresence(fixture('rfc8048-ex4-away.xml'), tables);
    expect(out.entity).toBe('pres:romeo@example.net');
    expect(out.resources).toEqual([{ resource: 'dr4hcr0st3lup4c', available: true, show: 'away', statuses: [] }]);
  });

  it('TV-P7 (RFC 8048 Ex. 18 → Ex. 19): available presence from juliet@example.com/yn0cl4bnw0yr3vym gives an open tuple ID-yn0cl4bnw0yr3vym for pres:juliet@example.com', () => {
    const contact = new Map([['yn0cl4bnw0yr3vym', 'sip:juliet@example.com;gr=yn0cl4bnw0yr3vym']]);
    // Ex. 18 exactly as printed (no <show/>).
    const ex18 = presenceToPidf('pres:juliet@example.com', [{ resource: 'yn0cl4bnw0yr3vym', available: true, statuses: [] }], tables, contact);
    const d18 = parsePidf(ex18.body);
    expect(d18.entity).toBe('pres:juliet@example.com');
    expect(d18.tuples).toHaveLength(1);
    expect(d18.tuples[0]).toMatchObject({ id: 'ID-yn0cl4bnw0yr3vym', basic: 'open', contact: 'sip:juliet@example.com;gr=yn0cl4bnw0yr3vym' });
    expect(d18.tuples[0]?.show).toBeUndefined();
    expect(ex18.contentLanguage).toBeUndefined();

    // Ex. 19's body has <show>away</show> although Ex. 18 has none (the pair is inconsistent): with the
    // show added, the tuple's meaning equals Ex. 19's.
    const ex19 = presenceToPidf('pres:juliet@example.com', [{ resource: 'yn0cl4bnw0yr3vym', available: true, show: 'away', statuses: [] }], tables);
    const ours = parsePidf(ex19.body);
    const rfc = parsePidf(fixture('rfc8048-ex19-away.xml'));
    expect(ours.entity).toBe(rfc.entity);
    expect(ours.tuples).toEqual(rfc.tuples);
    // Plus the RPID activity of reference §3.6, in <dm:person> as in the reference §8.2 RPID version.
    expect(ours.persons.map((p) => p.activities?.activities)).toEqual([['away']]);
  });

  it('TV-P8 (RFC 8048 Ex. 20 → Ex. 21): a closed tuple gives unavailable presence for resource dr4hcr0st3lup4c', () => {
    // Ex. 21 uses the bare JID as from; mapping the tuple to its resource is the RFC 7247 §6.4 step 8 reading. Both are accepted.
    expect(pidfToPresence(fixture('rfc8048-ex20-closed.xml'), tables)).toEqual({
      entity: 'pres:romeo@example.net',
      resources: [{ resource: 'dr4hcr0st3lup4c', available: false, statuses: [] }],
    });
  });

  it('TV-P10 (RFC 8048 Ex. 24, RFC 6665 §4.4.3): a poll answered from the cache carries the cached state; reference §3.3 cancel sends closed', () => {
    // Reference §3.8: the cache holds each resource's show, statuses and priority; the poll's
    // NOTIFY (terminated;reason=timeout) is built from it.
    const cached: ResourcePresence[] = [
      { resource: 'yn0cl4bnw0yr3vym', available: true, show: 'dnd', statuses: [{ text: 'with Romeo', lang: 'en' }], priority: 5 },
      { resource: 'chamber', available: false, statuses: [] },
    ];
    const { body } = presenceToPidf('pres:juliet@example.com', cached, tables);
    expect(pidfToPresence(body, tables)).toEqual({ entity: 'pres:juliet@example.com', resources: cached });

    const closed = pidfToPresence(closedPidf('pres:juliet@example.com'), tables);
    expect(closed).toEqual({ entity: 'pres:juliet@example.com', resources: [{ available: false, statuses: [] }] });
    expect(parsePidf(closedPidf('pres:juliet@example.com')).tuples.map((t) => t.basic)).toEqual(['closed']);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('priority (reference §3.5 note 1, RFC 8048 §6.2)', () => {
  it.each([
    [1, '0.007'],
    [2, '0.015'],
    [126, '0.992'],
    [127, '1'],
    [0, '0'],
  ])('%i → %s', (p, q) => {
    expect(priorityToPidf(p)).toBe(q);
  });

  it('never maps a negative priority', () => {
    for (const p of [-1, -128, -0.5]) expect(priorityToPidf(p)).toBeUndefined();
    expect(priorityToPidf(Number.NaN)).toBeUndefined();
  });

  it('clamps above 127 and truncates fractions', () => {
    expect(priorityToPidf(500)).toBe('1');
    expect(priorityToPidf(1.9)).toBe('0.007');
  });

  it('inverts exactly for all 128 values, keeps them distinct, and writes at most 3 decimals', () => {
    const seen = new Set<string>();
    for (let p = 0; p <= 127; p++) {
      const q = priorityToPidf(p) as string;
      expect(q).toMatch(/^(?:0|1|0\.\d{1,3})$/);
      seen.add(q);
      expect(pidfToPriority(q)).toBe(p);
    }
    expect(seen.size).toBe(128);
  });

  it('reads any decimal in 0..1 and ignores the rest', () => {
    expect(pidfToPriority('1.0')).toBe(127);
    expect(pidfToPriority('0.8')).toBe(102);
    expect(pidfToPriority(' .5 ')).toBe(64);
    expect(pidfToPriority('-0')).toBe(0);
    for (const bad of ['', 'abc', '1.5', '-0.1', '0x1', '1e-1', 'NaN', '0.5.1']) expect(pidfToPriority(bad)).toBeUndefined();
  });

  it('travels in <contact priority> and only for available resources', () => {
    const { body } = presenceToPidf(
      'pres:juliet@example.com',
      [
        { resource: 'a', available: true, statuses: [], priority: 126 },
        { resource: 'b', available: true, statuses: [], priority: -5 },
        { resource: 'c', available: false, statuses: [], priority: 50 },
      ],
      tables,
    );
    const tuples = parsePidf(body).tuples;
    // With no contact URI known the priority still needs a <contact>: the presentity URI stands in.
    expect(tuples[0]).toMatchObject({ contact: 'pres:juliet@example.com', priority: '0.992' });
    expect(tuples[1]?.contact).toBeUndefined();
    expect(tuples[2]?.contact).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('reference §3.6 RPID ⇄ <show/> table [P], every row both ways', () => {
  // The rows as printed in reference §3.6 (not read from the YAML, so a drifted table fails here).
  const s2x: Array<[Show | undefined, string[]]> = [
    ['away', ['away', 'meal', 'breakfast', 'lunch', 'dinner', 'shopping', 'in-transit', 'steering', 'travel']],
    ['xa', ['vacation', 'holiday', 'sleeping', 'permanent-absence']],
    ['dnd', ['busy', 'on-the-phone', 'meeting', 'appointment', 'performance', 'presentation', 'worship']],
    [undefined, ['unknown']],
  ];
  const x2s: Array<[Show | undefined, string[]]> = [
    [undefined, []],
    ['chat', []],
    ['away', ['away']],
    ['xa', ['away']],
    ['dnd', ['busy']],
  ];

  it.each(x2s)('X2S: show %s → open + embedded <show> + person activities %j', (show, activities) => {
    const r: ResourcePresence = { resource: 'r', available: true, statuses: [] };
    if (show) r.show = show;
    const d = parsePidf(presenceToPidf('pres:a@example.com', [r], tables).body);
    expect(d.tuples[0]?.basic).toBe('open');
    expect(d.tuples[0]?.show).toBe(show);
    expect(d.persons.flatMap((p) => p.activities?.activities ?? [])).toEqual(activities);
    // And back: the embedded show is what S2X reads first.
    expect(onlyResource(presenceToPidf('pres:a@example.com', [r], tables).body).show).toBe(show);
  });

  for (const [show, activities] of s2x) {
    it.each(activities)(`S2X: person activity <rpid:%s/> → show ${show ?? '(none)'}`, (activity) => {
      expect(onlyResource(doc('', personWith(`<r:activities><r:${activity}/></r:activities>`))).show).toBe(show);
      // The same activity at tuple level (pre-RFC 4480 placement) maps the same way.
      expect(onlyResource(doc(`<r:activities><r:${activity}/></r:activities>`)).show).toBe(show);
    });
  }

  it('S2X: no activities → plain available', () => {
    expect(onlyResource(doc('')).show).toBeUndefined();
    expect(onlyResource(doc('', personWith('<r:activities/>'))).show).toBeUndefined();
  });

  it('S2X: <rpid:user-input>idle</rpid:user-input> → away; active → plain available', () => {
    expect(onlyResource(doc('<r:user-input>idle</r:user-input>')).show).toBe('away');
    expect(onlyResource(doc('<r:user-input>active</r:user-input>')).show).toBeUndefined();
    expect(onlyResource(doc('', personWith('<r:user-input idle-threshold="600">idle</r:user-input>'))).show).toBe('away');
  });

  it('S2X: activities RFC 4480 lists but the table does not (working, tv, …) → plain available', () => {
    for (const a of ['working', 'tv', 'playing', 'spectator', 'looking-for-work']) {
      expect(onlyResource(doc('', personWith(`<r:activities><r:${a}/></r:activities>`))).show).toBeUndefined();
    }
  });

  it('S2X: <other>text</other> → <status>text</status> when there is no note', () => {
    expect(onlyResource(doc('', personWith('<r:activities><r:other xml:lang="en">Gardening</r:other></r:activities>'))).statuses).toEqual([
      { lang: 'en', text: 'Gardening' },
    ]);
  });

  it('S2X: the rpid:note in <activities> and the person <dm:note> become statuses only without a tuple note', () => {
    const person = personWith('<r:activities><r:note>Far away</r:note><r:away/></r:activities><dm:note xml:lang="fr">Loin</dm:note>');
    expect(onlyResource(doc('', person)).statuses).toEqual([{ lang: 'fr', text: 'Loin' }, { text: 'Far away' }]);
    expect(onlyResource(doc('<note>tuple note</note>', person)).statuses).toEqual([{ text: 'tuple note' }]);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('S2X show resolution', () => {
  it('the embedded show wins over tuple and person activities', () => {
    const body = doc('<r:activities><r:busy/></r:activities>', personWith('<r:activities><r:vacation/></r:activities>')).replace(
      '<basic>open</basic>',
      '<basic>open</basic><show xmlns="jabber:client">chat</show>',
    );
    expect(onlyResource(body).show).toBe('chat');
  });

  it('an embedded show that is not an RFC 6121 value is ignored', () => {
    const body = doc('', personWith('<r:activities><r:busy/></r:activities>')).replace(
      '<basic>open</basic>',
      '<basic>open</basic><show xmlns="jabber:client"> busy </show>',
    );
    expect(onlyResource(body).show).toBe('dnd');
  });

  it('tuple activities, even unmapped ones, hide the person activities', () => {
    expect(onlyResource(doc('<r:activities><r:working/></r:activities>', personWith('<r:activities><r:busy/></r:activities>'))).show).toBeUndefined();
    expect(onlyResource(doc('<r:activities><r:meal/></r:activities>', personWith('<r:activities><r:busy/></r:activities>'))).show).toBe('away');
  });

  it('several activities: the table precedence decides (dnd before xa before away)', () => {
    expect(onlyResource(doc('', personWith('<r:activities><r:travel/><r:on-the-phone/></r:activities>'))).show).toBe('dnd');
    expect(onlyResource(doc('', personWith('<r:activities><r:away/><r:vacation/></r:activities>'))).show).toBe('xa');
    expect(onlyResource(doc('', personWith('<r:activities><r:tv/><r:dinner/></r:activities>'))).show).toBe('away');
  });

  it('an activity outranks user-input; user-input applies when the activities give no show', () => {
    expect(onlyResource(doc('<r:user-input>idle</r:user-input>', personWith('<r:activities><r:busy/></r:activities>'))).show).toBe('dnd');
    expect(onlyResource(doc('<r:user-input>idle</r:user-input>', personWith('<r:activities><r:unknown/></r:activities>'))).show).toBe('away');
  });

  it('no show on unavailable presence', () => {
    const body = doc('', personWith('<r:activities><r:busy/></r:activities>')).replace('<basic>open</basic>', '<basic>closed</basic>');
    expect(onlyResource(body)).toEqual({ resource: 'orchard', available: false, statuses: [] });
  });

  it('a tuple without <basic> counts as unavailable (reference §3.2: unknown is "closed")', () => {
    expect(onlyResource(doc('').replace('<basic>open</basic>', '<show xmlns="jabber:client">chat</show>')).available).toBe(false);
  });

  it('user-input fixture: tuple idle → away; the other tuple takes the person active → plain', () => {
    const { resources } = pidfToPresence(fixture('user-input-idle.xml'), tables);
    expect(resources.map((r) => [r.resource, r.show])).toEqual([
      ['orchard', 'away'],
      ['pocket', undefined],
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('documents as SIP UAs write them', () => {
  it('multi-tuple: one presence per tuple, in order, with priorities, escaped and foreign ids', () => {
    const out = pidfToPresence(fixture('multi-tuple.xml'), tables);
    expect(out.resources).toEqual([
      { resource: 'balcony', available: true, show: 'chat', priority: 127, statuses: [{ lang: 'en', text: 'Wherefore art thou?' }] },
      { resource: 'chamber', available: true, show: 'dnd', priority: 1, statuses: [] },
      { resource: "Juliet's phone📱", available: true, priority: 0, statuses: [] },
      { resource: 'tomb', available: false, statuses: [{ text: 'gone' }] },
      { resource: 'sip-ua-7f3a', available: true, statuses: [] },
    ]);
  });

  it('person-level fallback: a tuple without show or notes takes them from <dm:person>; a tuple with its own keeps them', () => {
    const out = pidfToPresence(fixture('person-fallback.xml'), tables);
    expect(out.entity).toBe('sip:romeo@example.net');
    expect(out.resources).toEqual([
      { resource: 'orchard', available: true, show: 'dnd', statuses: [{ lang: 'it', text: 'In riunione' }, { lang: 'en', text: 'In a meeting until 5' }] },
      { resource: 'desk', available: true, show: 'chat', statuses: [{ text: 'at my desk' }] },
    ]);
  });

  it('arbitrary prefixes and default namespaces read the same as the reference §8.2 document', () => {
    const expected = {
      entity: 'pres:juliet@example.com',
      resources: [{ resource: 'yn0cl4bnw0yr3vym', available: true, show: 'away', priority: 1, statuses: [{ lang: 'en', text: 'retired to the chamber' }] }],
    };
    expect(pidfToPresence(fixture('reference-8.2-rpid.xml'), tables)).toEqual(expected);
    expect(pidfToPresence(fixture('odd-prefixes.xml'), tables)).toEqual(expected);
    expect(pidfToPresence(Buffer.from(fixture('default-namespaces.xml')), tables)).toEqual(expected);
  });

  it('unknown extensions are ignored (an RFC 3922 <im:im>busy</im:im> and a vendor <show> included)', () => {
    expect(pidfToPresence(fixture('foreign-extensions.xml'), tables).resources).toEqual([
      { resource: 'dr4hcr0st3lup4c', available: true, statuses: [{ text: 'hello' }] },
    ]);
  });

  it('the RFC 4480 §4 example: three open tuples take the person away activity and, lacking notes of their own, its notes', () => {
    const out = pidfToPresence(fixture('rfc4480-example.xml'), tables);
    expect(out.resources.map((r) => [r.resource, r.show, r.priority])).toEqual([
      ['bs35r9', 'away', 102],
      ['ty4658', 'away', 127],
      ['eg92n8', 'away', 127],
    ]);
    expect(out.resources[0]?.statuses).toEqual([
      { lang: 'en', text: "Don't Disturb Please!" },
      { lang: 'fr', text: "Ne derangez pas, s'il vous plait" },
    ]);
    // Person <dm:note> and <rpid:note> share the default language: one <status/> per language.
    expect(out.resources[1]?.statuses).toEqual([{ text: 'Scoring 120' }]);
  });

  it('a document without tuples gives no resources', () => {
    expect(pidfToPresence('<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="pres:a@b"/>', tables)).toEqual({ entity: 'pres:a@b', resources: [] });
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('xml:lang ⇄ statuses and Content-Language (RFC 8048 Table 1, reference §3.5)', () => {
  it('notes keep their languages; the root xml:lang is inherited; one status per language', () => {
    const { resources } = pidfToPresence(fixture('xml-lang.xml'), tables);
    expect(resources[0]).toEqual({
      resource: 'balcony',
      available: true,
      lang: 'en',
      statuses: [
        { lang: 'en', text: 'Parting is such sweet sorrow & all that' },
        { lang: 'de', text: 'Scheiden ist so süßes Leid' },
        { lang: 'fr', text: "Partir, c'est mourir un peu <3" },
      ],
    });
    expect(resources[1]).toEqual({ resource: 'nolang', available: true, statuses: [{ text: 'no language' }] });
  });

  it('statuses → <note xml:lang> (the stanza language when the status has none) and back', () => {
    const r: ResourcePresence = {
      resource: 'balcony',
      available: true,
      lang: 'en',
      statuses: [{ text: 'hello' }, { lang: 'de', text: 'hallo' }],
    };
    const out = presenceToPidf('pres:juliet@example.com', [r], tables);
    expect(out.contentLanguage).toBe('en');
    expect(parsePidf(out.body).tuples[0]?.notes).toEqual([
      { text: 'hello', lang: 'en' },
      { text: 'hallo', lang: 'de' },
    ]);
    expect(onlyResource(out.body).statuses).toEqual([
      { lang: 'en', text: 'hello' },
      { lang: 'de', text: 'hallo' },
    ]);
  });

  it('Content-Language only when the resources agree', () => {
    const a: ResourcePresence = { resource: 'a', available: true, statuses: [], lang: 'en' };
    const b: ResourcePresence = { resource: 'b', available: true, statuses: [], lang: 'fr' };
    const c: ResourcePresence = { resource: 'c', available: true, statuses: [] };
    expect(presenceToPidf('pres:x@y', [a, c], tables).contentLanguage).toBe('en');
    expect(presenceToPidf('pres:x@y', [a, b], tables).contentLanguage).toBeUndefined();
    expect('contentLanguage' in presenceToPidf('pres:x@y', [c], tables)).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('X2S documents', () => {
  it('escapes status text with markup characters and round-trips it exactly', () => {
    const nasty = `</note></tuple><tuple id="ID-evil"><status><basic>open</basic></status> & &amp; ]]> "quotes" 'apos' <![CDATA[x]]>`;
    const out = presenceToPidf('pres:a@example.com', [{ resource: 'r', available: true, statuses: [{ text: nasty }] }], tables);
    const back = pidfToPresence(out.body, tables);
    expect(back.resources).toEqual([{ resource: 'r', available: true, statuses: [{ text: nasty }] }]);
  });

  it('escapes the entity and contact URIs', () => {
    const entity = 'pres:a&b"<c>@example.com';
    const out = presenceToPidf(entity, [{ resource: 'r', available: true, statuses: [], priority: 3 }], tables, new Map([['r', 'sip:x@y;gr=a&b']]));
    const d = parsePidf(out.body);
    expect(d.entity).toBe(entity);
    expect(d.tuples[0]?.contact).toBe('sip:x@y;gr=a&b');
  });

  it('multi-resource: one tuple per resource; person activities only when every available resource agrees', () => {
    const rs: ResourcePresence[] = [
      { resource: 'a', available: true, show: 'away', statuses: [] },
      { resource: 'b', available: true, show: 'xa', statuses: [] },
      { resource: 'c', available: false, statuses: [] },
    ];
    const agree = parsePidf(presenceToPidf('pres:x@y', rs, tables).body);
    expect(agree.tuples.map((t) => [t.id, t.basic, t.show])).toEqual([
      ['ID-a', 'open', 'away'],
      ['ID-b', 'open', 'xa'],
      ['ID-c', 'closed', undefined],
    ]);
    expect(agree.persons[0]?.activities?.activities).toEqual(['away']);

    const disagree = [...rs, { resource: 'd', available: true, statuses: [] }];
    expect(parsePidf(presenceToPidf('pres:x@y', disagree, tables).body).persons).toEqual([]);
    // Round trip stays exact: the plain-available resource does not pick up someone else's activity.
    expect(pidfToPresence(presenceToPidf('pres:x@y', disagree, tables).body, tables).resources).toEqual(disagree);
  });

  it('a resource listed twice: the last entry wins', () => {
    const d = parsePidf(
      presenceToPidf(
        'pres:x@y',
        [
          { resource: 'a', available: true, statuses: [] },
          { resource: 'b', available: true, statuses: [] },
          { resource: 'a', available: false, statuses: [] },
        ],
        tables,
      ).body,
    );
    expect(d.tuples.map((t) => [t.id, t.basic])).toEqual([
      ['ID-b', 'open'],
      ['ID-a', 'closed'],
    ]);
  });

  it('no show and no priority on an unavailable resource', () => {
    const d = parsePidf(presenceToPidf('pres:x@y', [{ resource: 'a', available: false, show: 'dnd', priority: 9, statuses: [{ text: 'bye' }] }], tables).body);
    expect(d.tuples[0]).toEqual({ id: 'ID-a', basic: 'closed', notes: [{ text: 'bye' }] });
    expect(d.persons).toEqual([]);
  });

  it('refuses an empty presentity URI', () => {
    expect(() => presenceToPidf(' ', [], tables)).toThrow(PresenceDocumentError);
    expect(() => closedPidf('')).toThrow(PresenceDocumentError);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('tuple id ⇄ resource (reference §3.5: ID- prefix)', () => {
  it('keeps ordinary resources readable', () => {
    expect(resourceToTupleId('yn0cl4bnw0yr3vym')).toBe('ID-yn0cl4bnw0yr3vym');
    expect(resourceToTupleId('gajim.X7Q2-v')).toBe('ID-gajim.X7Q2-v');
    expect(resourceToTupleId(undefined)).toBe('ID-');
    expect(resourceToTupleId("Juliet's phone📱")).toBe('ID-Juliet_27_s_20_phone_1F4F1_');
  });

  it('writes an ASCII xs:ID for any resource and inverts exactly', () => {
    const resources = [
      'a b',
      'under_score',
      '_5F_',
      'ID-nested',
      'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66',
      'Küche',
      '日本語',
      '😀/@&<>"\'',
      '1starts-with-digit',
      '_',
      ' ',
      'a\u0301',
      'x'.repeat(300),
    ];
    for (const r of resources) {
      const id = resourceToTupleId(r);
      expect(isXmlId(id), id).toBe(true);
      expect(id).toMatch(/^[\x21-\x7e]+$/);
      expect(tupleIdToResource(id)).toBe(r);
    }
    expect(tupleIdToResource('ID-')).toBeUndefined();
  });

  it('leaves ids it did not write alone', () => {
    expect(tupleIdToResource('bs35r9')).toBe('bs35r9');
    expect(tupleIdToResource('ID-a_b')).toBe('a_b');
    expect(tupleIdToResource('ID-a_0020_b')).toBe('a_0020_b');
    expect(tupleIdToResource('ID-a_20_')).toBe('a ');
    expect(tupleIdToResource('ID-x_D800_')).toBe('x_D800_');
    expect(tupleIdToResource('ID-x_110000_')).toBe('x_110000_');
    expect(tupleIdToResource('ID-x_41_')).toBe('x_41_');
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('hostile and malformed documents → PresenceDocumentError', () => {
  it('billion laughs is refused without expansion', () => {
    const t0 = performance.now();
    const e = errorOf(fixture('billion-laughs.xml'));
    expect(performance.now() - t0).toBeLessThan(50);
    expect(e.reason).toBe('DTD not allowed in PIDF');
    expect(e.sipStatus).toBe(400);
  });

  it('an external entity is refused', () => {
    expect(errorOf(fixture('xxe.xml')).reason).toBe('DTD not allowed in PIDF');
  });

  it('deep nesting is refused', () => {
    const deep = doc(`<v:x xmlns:v="urn:v">${'<v:x>'.repeat(40)}${'</v:x>'.repeat(40)}</v:x>`);
    expect(errorOf(deep).reason).toBe('PIDF nesting too deep');
  });

  it('an oversized body is refused with 413', () => {
    const big = doc(`<note>${'x'.repeat(70_000)}</note>`);
    const e = errorOf(Buffer.from(big));
    expect(e.reason).toBe('PIDF body too large');
    expect(e.sipStatus).toBe(413);
  });

  it('a missing or empty entity is refused', () => {
    expect(errorOf(fixture('missing-entity.xml')).reason).toBe('PIDF presence without entity');
    expect(errorOf(fixture('empty-entity.xml')).reason).toBe('PIDF presence without entity');
  });

  it.each([
    ['not XML', 'hello'],
    ['an empty body', ''],
    ['truncated XML', fixture('rfc8048-ex4-away.xml').slice(0, 150)],
    ['an undefined entity', doc('<note>&nbsp;</note>')],
    ['invalid UTF-8', Buffer.from([0x3c, 0x70, 0xc3, 0x28, 0x2f, 0x3e])],
    ['a duplicated tuple id', doc('', '<tuple id="ID-orchard"><status><basic>open</basic></status></tuple>')],
    ['a bad <basic>', doc('').replace('<basic>open</basic>', '<basic>maybe</basic>')],
    ['a non-PIDF root', '<presence xmlns="urn:example:x" entity="pres:a@b"/>'],
  ] as Array<[string, Buffer | string]>)('refuses %s with a reason fit for a Reason-Phrase', (_what, body) => {
    const e = errorOf(body);
    expect(e.sipStatus).toBe(400);
    expect(e.reason).toMatch(/^[\x20-\x7e]{5,40}$/);
  });
});

// ---------------------------------------------------------------------------------------------------------

describe('mappings/rpid-show.yaml', () => {
  const yaml = readPackageFile('mappings/rpid-show.yaml');

  it('loads the shipped table', () => {
    const t = loadPresenceTables(yaml);
    expect([...t.showToActivities.keys()].sort()).toEqual([...SHOWS].sort());
    expect(t.activityToShow.get('unknown')).toBeNull();
    expect(t.userInputToShow.get('idle')).toBe('away');
    expect(t.precedence).toEqual(['dnd', 'xa', 'away', 'chat']);
  });

  const invalid = (mutate: (s: string) => string): string[] => {
    try {
      loadPresenceTables(mutate(yaml));
    } catch (e) {
      expect(e).toBeInstanceOf(MappingTableError);
      return [...(e as MappingTableError).issues];
    }
    throw new Error('expected the table to be refused');
  };

  it.each([
    ['a show missing from toRpid', (s: string) => s.replace('  dnd: [busy]\n', ''), /toRpid\.dnd/],
    ['an emitted activity outside RFC 4480', (s: string) => s.replace('dnd: [busy]', 'dnd: [bussy]'), /toRpid\.dnd\.0: not an RFC 4480/],
    ['an unknown show value', (s: string) => s.replace('meeting: dnd', 'meeting: busy'), /fromRpid\.activities\.meeting: expected one of/],
    ['an unknown key', (s: string) => s.replace('precedence:', 'extra: 1\nprecedence:'), /extra: unknown key/],
    ['a precedence missing a show', (s: string) => s.replace('[dnd, xa, away, chat]', '[dnd, xa, away]'), /precedence: must list each/],
    ['a duplicate YAML key', (s: string) => s.replace('    busy: dnd\n', '    busy: dnd\n    busy: away\n'), /YAML/],
    ['a wrong version', (s: string) => s.replace('version: 1', 'version: 2'), /version/],
  ])('refuses %s, naming the key', (_what, mutate, issue) => {
    expect(invalid(mutate).join('\n')).toMatch(issue);
  });
});

// ---------------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------------

describe('mutated documents (a seeded mini-fuzz over safe-xml, pidf and presence)', () => {
  let seed = 20240611;
  /** mulberry32, so a failure replays. */
  const random = (): number => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const samples = ['reference-8.2-rpid.xml', 'multi-tuple.xml', 'person-fallback.xml', 'xml-lang.xml', 'rfc4480-example.xml', 'odd-prefixes.xml'].map(fixture);
  const tokens = ['<', '>', '&', '&amp;', '&#0;', '&#x1F600;', '"', "'", '/>', '</', '<!--', '-->', '<![CDATA[', ']]>', '<!DOCTYPE x>', 'xmlns=""', 'xmlns:p="urn:x"', 'p:', ':', 'xml:lang="de"', '\u0000', '\ud800', 'é', ' ', 'ID-', '_20_', 'open', 'closed'];

  function mutate(s: string): string {
    let out = s;
    for (let r = 1 + Math.floor(random() * 3); r > 0; r--) {
      const at = Math.floor(random() * (out.length + 1));
      switch (Math.floor(random() * 5)) {
        case 0:
          out = out.slice(0, at) + pick(tokens) + out.slice(at);
          break;
        case 1:
          out = out.slice(0, at) + out.slice(at + Math.floor(random() * 30));
          break;
        case 2:
          out = out.slice(0, at) + out.slice(Math.max(0, at - 50), at) + out.slice(at);
          break;
        case 3:
          out = out.slice(0, at);
          break;
        default:
          out = out.slice(0, at) + String.fromCharCode(Math.floor(random() * 0x3000)) + out.slice(at + 1);
      }
    }
    return out;
  }

  it('only PresenceDocumentError escapes, and whatever parses can be written back and re-read', () => {
    let parsed = 0;
    for (let i = 0; i < 3000; i++) {
      const body = mutate(pick(samples));
      let out: ReturnType<typeof pidfToPresence>;
      try {
        out = pidfToPresence(body, tables);
      } catch (e) {
        if (!(e instanceof PresenceDocumentError)) throw new Error(`seed run ${i}: ${String(e)}\n${body}`);
        expect(e.reason).toMatch(/^[\x20-\x7e]+$/);
        continue;
      }
      parsed++;
      const rebuilt = pidfToPresence(presenceToPidf(out.entity, out.resources, tables).body, tables);
      const key = (r: ResourcePresence): unknown[] => [r.resource, r.available, r.show, r.priority];
      const unique = new Set(out.resources.map((r) => r.resource)).size === out.resources.length;
      if (unique) expect(rebuilt.resources.map(key)).toEqual(out.resources.map(key));
    }
    // The mutations must leave enough documents intact for the second half of the check to mean something.
    expect(parsed).toBeGreaterThan(300);
  });
});
