import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseDocument } from 'yaml';
import { loadErrorTables, STANZA_ERROR_CONDITIONS } from '../../../src/core/errors.js';
import { MappingTableError } from '../../../src/core/mapping-tables.js';
import { packageFile } from '../../../src/package-root.js';

const shipped = readFileSync(packageFile('mappings/errors.yaml'), 'utf8');

/** The shipped table with one edit applied at `path` (undefined value = delete the key). */
function edited(path: readonly (string | number)[], value?: unknown): string {
  const doc = parseDocument(shipped);
  if (value === undefined) doc.deleteIn(path);
  else doc.setIn(path, value);
  return doc.toString();
}

function loadError(text: string): MappingTableError {
  try {
    loadErrorTables(text);
  } catch (e) {
    if (e instanceof MappingTableError) return e;
    throw e;
  }
  throw new Error('expected a MappingTableError');
}

describe('packageFile', () => {
  it('finds mappings/errors.yaml from the source tree', () => {
    expect(readFileSync(packageFile('mappings/errors.yaml'), 'utf8')).toContain('xmppToSip:');
  });
});

describe('errors.yaml validation (RFC 7247 §7 tables as data)', () => {
  it('the shipped table loads and is complete over RFC 6120 §8.3.3', () => {
    const t = loadErrorTables(shipped);
    for (const c of STANZA_ERROR_CONDITIONS) {
      expect(t.xmppToSip.has(c)).toBe(true);
      expect(t.conditionTypes.has(c)).toBe(true);
    }
    for (const code of [300, 400, 500, 600]) expect(t.sipToXmpp.has(code)).toBe(true);
  });

  it('unknown condition is rejected with its key path', () => {
    const e = loadError(edited(['sipToXmpp', 404, 'condition'], 'foo'));
    expect(e.message).toContain("sipToXmpp.404.condition: unknown condition 'foo'");
    expect(e.issues).toEqual(["sipToXmpp.404.condition: unknown condition 'foo'"]);
  });

  it('unknown condition as an xmppToSip key is rejected with its key path', () => {
    expect(loadError(edited(['xmppToSip', 'payment-required'], { status: 402 })).message).toContain(
      "xmppToSip.payment-required: unknown condition 'payment-required'",
    );
  });

  it('non-numeric code is rejected with its key path', () => {
    expect(loadError(edited(['xmppToSip', 'bad-request', 'status'], 'four hundred')).message).toContain(
      'xmppToSip.bad-request.status: expected a SIP status code (integer 300-699), got "four hundred"',
    );
    expect(loadError(edited(['xmppToSip', 'conflict', 'status'], '400')).message).toContain('xmppToSip.conflict.status: expected');
    expect(loadError(edited(['xmppToSip', 'forbidden', 'bareJid'], 6030)).message).toContain('xmppToSip.forbidden.bareJid: expected');
  });

  it('non-numeric status key is rejected with its key path', () => {
    const e = loadError(edited(['sipToXmpp', '4o4'], { condition: 'item-not-found' }));
    expect(e.message).toContain("sipToXmpp.4o4: not a status code 300-699: '4o4'");
  });

  it('2xx codes cannot be mapped (RFC 7247 §7: only 3xx-6xx)', () => {
    expect(loadError(edited(['sipToXmpp', 200], { condition: 'bad-request' })).message).toContain('sipToXmpp.200: not a status code');
  });

  it('a missing required condition is rejected with its key path', () => {
    expect(loadError(edited(['xmppToSip', 'conflict'])).message).toContain(
      'xmppToSip.conflict: missing: every RFC 6120 §8.3.3 condition needs a SIP code',
    );
    expect(loadError(edited(['conditions', 'gone'])).message).toContain('conditions.gone: missing');
  });

  it('a missing class default is rejected (RFC 7247 §7.2)', () => {
    expect(loadError(edited(['sipToXmpp', 500])).message).toContain('sipToXmpp.500: missing: the 5xx class default');
  });

  it('503 for an XMPP condition is rejected (RFC 7247 §7.1 note 5)', () => {
    expect(loadError(edited(['xmppToSip', 'service-unavailable', 'status'], 503)).message).toContain(
      'xmppToSip.service-unavailable.status: 503 must not be emitted',
    );
  });

  it('an emitted code without a reason phrase is rejected', () => {
    expect(loadError(edited(['xmppToSip', 'conflict', 'status'], 409)).message).toContain(
      'xmppToSip.conflict.status: no reasonPhrases entry for 409',
    );
  });

  it('a reason phrase with CR/LF is rejected', () => {
    expect(loadError(edited(['reasonPhrases', 404], 'Not\r\nFound')).message).toContain('reasonPhrases.404: must not contain control');
  });

  it('unknown error type and unknown keys are rejected with their paths', () => {
    expect(loadError(edited(['conditions', 'gone'], 'later')).message).toContain("conditions.gone: unknown error type 'later'");
    expect(loadError(edited(['sipToXmpp', 404, 'colour'], 'red')).message).toContain('sipToXmpp.404.colour: unknown key');
    expect(loadError(edited(['extra'], 1)).message).toContain('extra: unknown key');
  });

  it('reports every problem, not only the first', () => {
    const doc = parseDocument(shipped);
    doc.setIn(['sipToXmpp', 404, 'condition'], 'foo');
    doc.deleteIn(['xmppToSip', 'gone']);
    const e = loadError(doc.toString());
    expect(e.issues.length).toBeGreaterThanOrEqual(2);
  });

  it('YAML syntax errors and duplicate keys are rejected', () => {
    expect(loadError('version: 1\nconditions: [unclosed').message).toMatch(/^invalid errors table: YAML: /);
    expect(loadError(`${shipped}\nversion: 1\n`).message).toMatch(/YAML: .*[Mm]ap keys must be unique/);
  });

  it('an empty or non-mapping document is rejected', () => {
    expect(() => loadErrorTables('')).toThrow(MappingTableError);
    expect(() => loadErrorTables('- 1\n- 2\n')).toThrow(MappingTableError);
  });

  it('a per-row type override is honoured', () => {
    const t = loadErrorTables(edited(['sipToXmpp', 503, 'type'], 'wait'));
    expect(t.sipToXmpp.get(503)).toEqual({ condition: 'internal-server-error', type: 'wait', address: false });
  });
});
