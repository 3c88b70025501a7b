import { describe, expect, it } from 'vitest';
import { AddressError, parseSipUriText, sipToJid, formatSipUri } from '../../../src/core/address.js';
import {
  msrpSizeError,
  msrpStatusToXmppError,
  pageModeSizeError,
  sanitizeErrorText,
  sipStatusToXmppError,
  sipTimeoutToXmppError,
  STANZA_ERROR_CONDITIONS,
  subscribeFailureAction,
  xmppErrorToMsrpStatus,
  xmppErrorToSip,
} from '../../../src/core/errors.js';
import { defaultErrorTables } from '../../../src/mappings.js';
import { formatJid, parseJid } from '../../../src/core/jid.js';

const t = defaultErrorTables();

describe('reference §9.6 error vectors', () => {
  it('E1 (X2S MESSAGE): SIP 404 Not Found => <item-not-found/> type cancel, <text>Not Found</text>, addresses swapped back', () => {
    // The 404 to the MESSAGE of RFC 7572 Example 1 (id e1), as the SIP side would hand it over.
    const from = parseSipUriText('<sip:juliet@example.com;gr=yn0cl4bnw0yr3vym>;tag=12345');
    const to = parseSipUriText('<sip:nobody@example.net>;tag=qwe1');
    const err = sipStatusToXmppError(t, 404, { reason: 'Not Found' });
    expect(err).toEqual({ condition: 'item-not-found', type: 'cancel', text: 'Not Found' });
    // The error stanza goes from the MESSAGE's To to its From (an XMPP reply swaps, reference §1.7).
    expect(formatJid(sipToJid(to))).toBe('nobody@example.net');
    expect(formatJid(sipToJid(from))).toBe('juliet@example.com/yn0cl4bnw0yr3vym');
  });

  it('E2: 486 Busy Here => <recipient-unavailable/> type wait', () => {
    expect(sipStatusToXmppError(t, 486)).toEqual({ condition: 'recipient-unavailable', type: 'wait' });
  });

  it('E3: 488 Not Acceptable Here => <not-acceptable/> type modify', () => {
    expect(sipStatusToXmppError(t, 488)).toEqual({ condition: 'not-acceptable', type: 'modify' });
  });

  it('E4: 503 Service Unavailable => <internal-server-error/>, not <service-unavailable/>', () => {
    expect(sipStatusToXmppError(t, 503).condition).toBe('internal-server-error');
  });

  it.each([
    [399, 'redirect'],
    [499, 'bad-request'],
    [599, 'internal-server-error'],
    [699, 'recipient-unavailable'],
  ] as const)('E5: unlisted %i maps by class (RFC 7247 §7.2) => <%s/>', (status, condition) => {
    expect(sipStatusToXmppError(t, status).condition).toBe(condition);
  });

  it('E6: 301 Moved Permanently + Contact <sip:romeo@example.org> => <gone>xmpp:romeo@example.org</gone>, type cancel', () => {
    const contact = parseSipUriText('<sip:romeo@example.org>');
    expect(sipStatusToXmppError(t, 301, { contact, reason: 'Moved Permanently' })).toEqual({
      condition: 'gone',
      type: 'cancel',
      text: 'Moved Permanently',
      address: 'xmpp:romeo@example.org',
    });
    // Through an escaped-mode component the address is the JID that represents the SIP user.
    expect(sipStatusToXmppError(t, 301, { contact, via: { domain: 'gw.example.com', mode: 'escaped' } }).address).toBe(
      'xmpp:romeo%5C40example.org@gw.example.com',
    );
  });

  it('E7: 410 Gone => <gone/> with no address (even if a Contact is present)', () => {
    const err = sipStatusToXmppError(t, 410, { contact: parseSipUriText('<sip:romeo@example.org>') });
    expect(err).toEqual({ condition: 'gone', type: 'cancel' });
  });

  it('E8: SIP transaction timeout => <remote-server-timeout/> type wait', () => {
    expect(sipTimeoutToXmppError(t)).toEqual({ condition: 'remote-server-timeout', type: 'wait' });
  });

  it('E9 (S2X): <feature-not-implemented/> about a full JID => 405, about a bare JID => 501', () => {
    expect(xmppErrorToSip(t, 'feature-not-implemented', { about: parseJid('juliet@example.com/balcony') }).status).toBe(405);
    expect(xmppErrorToSip(t, 'feature-not-implemented', { about: parseJid('juliet@example.com') }).status).toBe(501);
  });

  it('E10: <item-not-found/> full JID => 404, bare JID => 604', () => {
    expect(xmppErrorToSip(t, 'item-not-found', { about: parseJid('juliet@example.com/balcony') })).toEqual({ status: 404, reason: 'Not Found' });
    expect(xmppErrorToSip(t, 'item-not-found', { about: parseJid('juliet@example.com') })).toEqual({
      status: 604,
      reason: 'Does Not Exist Anywhere',
    });
  });

  it('E11: <forbidden/> full JID => 403, bare JID => 603', () => {
    expect(xmppErrorToSip(t, 'forbidden', { about: parseJid('juliet@example.com/balcony') }).status).toBe(403);
    expect(xmppErrorToSip(t, 'forbidden', { about: parseJid('juliet@example.com') }).status).toBe(603);
  });

  it('E12: <gone>xmpp:juliet@example.org</gone> => 301 + Contact <sip:juliet@example.org>; <gone/> => 410', () => {
    const moved = xmppErrorToSip(t, 'gone', { address: 'xmpp:juliet@example.org' });
    expect(moved.status).toBe(301);
    expect(moved.reason).toBe('Moved Permanently');
    expect(moved.contact && formatSipUri(moved.contact)).toBe('sip:juliet@example.org');
    expect(xmppErrorToSip(t, 'gone')).toEqual({ status: 410, reason: 'Gone' });
  });

  it('E13: <service-unavailable/> => 403 (or 405), never 503', () => {
    expect(xmppErrorToSip(t, 'service-unavailable').status).toBe(403);
    expect(xmppErrorToSip(t, 'service-unavailable', { about: parseJid('juliet@example.com') }).status).toBe(403);
    for (const c of STANZA_ERROR_CONDITIONS) expect(xmppErrorToSip(t, c).status).not.toBe(503);
  });

  it('E14: <remote-server-not-found/> => 404 if the domain does not exist, 408 if it cannot be resolved', () => {
    expect(xmppErrorToSip(t, 'remote-server-not-found').status).toBe(404);
    expect(xmppErrorToSip(t, 'remote-server-not-found', { remoteServer: 'nonexistent' }).status).toBe(404);
    expect(xmppErrorToSip(t, 'remote-server-not-found', { remoteServer: 'unresolvable' }).status).toBe(408);
  });

  it('E15 (RFC 7572 §6): a MESSAGE over 1300 bytes => nothing sent, <policy-violation/> type modify', () => {
    expect(pageModeSizeError(t, 1301)).toEqual({ condition: 'policy-violation', type: 'modify' });
    expect(pageModeSizeError(t, 1300)).toBeUndefined();
  });

  it.each([403, 489, 603])('E16 (RFC 8048 §5.2.2): SUBSCRIBE answered %i => authorization cancelled (presence unsubscribed)', (s) => {
    expect(subscribeFailureAction(t, s)).toBe('cancel-authorization');
  });

  it('E17 (RFC 8048 §5.2.2): 423 Interval Too Brief => no XMPP output, retry with Min-Expires; 481 => new dialog', () => {
    expect(subscribeFailureAction(t, 423)).toBe('retry-with-min-expires');
    expect(subscribeFailureAction(t, 481)).toBe('new-dialog');
    expect(subscribeFailureAction(t, 404)).toBe('map-error');
  });

  it('E18 (RFC 7573 §8): SEND with Byte-Range 1-2048/50000 over a 10000 limit => MSRP 413', () => {
    expect(msrpSizeError(t, 50000, 10000)).toBe(413);
    expect(msrpSizeError(t, 10000, 10000)).toBeUndefined();
    expect(msrpSizeError(t, '*', 10000)).toBeUndefined();
  });

  it('E19 (RFC 7247 §8, RFC 5630 §5.1.2): Request-URI sips:juliet@example.com => not translated, 480 + Warning 380', () => {
    let caught: unknown;
    try {
      sipToJid(parseSipUriText('sips:juliet@example.com'));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(AddressError);
    const err = caught as AddressError;
    expect(err.sipStatus).toBe(480);
    expect(err.sipWarning).toEqual({ code: 380, text: 'SIPS Not Allowed' });
  });
});

describe('RFC 7247 §7.1 Table 2 (reference §2.1), every row', () => {
  // [condition, full-JID/default code, bare-JID code, type per RFC 6120 §8.3.3 as chosen in errors.yaml]
  const table2 = [
    ['bad-request', 400, 400],
    ['conflict', 400, 400],
    ['feature-not-implemented', 405, 501],
    ['forbidden', 403, 603],
    ['gone', 410, 410],
    ['internal-server-error', 500, 500],
    ['item-not-found', 404, 604],
    ['jid-malformed', 400, 400],
    ['not-acceptable', 406, 606],
    ['not-allowed', 403, 403],
    ['not-authorized', 401, 401],
    ['policy-violation', 403, 403],
    ['recipient-unavailable', 480, 600],
    ['redirect', 302, 302],
    ['registration-required', 407, 407],
    ['remote-server-not-found', 404, 404],
    ['remote-server-timeout', 408, 408],
    ['resource-constraint', 500, 500],
    ['service-unavailable', 403, 403],
    ['subscription-required', 400, 400],
    ['undefined-condition', 400, 400],
    ['unexpected-request', 491, 491],
  ] as const;

  it('covers all 22 conditions of RFC 6120 §8.3.3', () => {
    expect(table2.map((r) => r[0]).sort()).toEqual([...STANZA_ERROR_CONDITIONS].sort());
  });

  it.each(table2)('<%s/> => %i (full JID) / %i (bare JID)', (condition, full, bare) => {
    expect(xmppErrorToSip(t, condition, { about: parseJid('juliet@example.com/balcony') }).status).toBe(full);
    expect(xmppErrorToSip(t, condition, { about: parseJid('juliet@example.com') }).status).toBe(bare);
  });

  it('RFC 6120 §8.3.2: an unknown condition is treated as <undefined-condition/> => 400', () => {
    expect(xmppErrorToSip(t, 'payment-required')).toEqual({ status: 400, reason: 'Bad Request' });
  });

  it('RFC 7247 §7: the XMPP <text/> becomes the Reason-Phrase, stripped of CR/LF (no header injection)', () => {
    expect(xmppErrorToSip(t, 'item-not-found', { text: 'No such user' }).reason).toBe('No such user');
    const r = xmppErrorToSip(t, 'item-not-found', { text: 'x\r\nVia: SIP/2.0/UDP evil\r\n\r\nbody' }).reason;
    expect(r).not.toMatch(/[\r\n]/);
    expect(r).toBe('x Via: SIP/2.0/UDP evil body');
    expect(xmppErrorToSip(t, 'item-not-found', { text: ' \r\n ' }).reason).toBe('Not Found');
    expect([...(xmppErrorToSip(t, 'bad-request', { text: 'a'.repeat(5000) }).reason)].length).toBe(200);
  });

  it('note 3: a <gone/> address that cannot be mapped to SIP gives 410, not a 301 without Contact', () => {
    expect(xmppErrorToSip(t, 'gone', { address: 'not a uri' }).status).toBe(410);
    expect(xmppErrorToSip(t, 'gone', { address: 'xmpp:bad<jid@example.org' }).status).toBe(410);
  });

  it('<redirect/> with an address carries it as Contact; the address maps through an escaped component', () => {
    const r = xmppErrorToSip(t, 'redirect', {
      address: 'xmpp:romeo%5C40example.net@gw.example.com',
      via: { domain: 'gw.example.com', mode: 'escaped' },
    });
    expect(r.status).toBe(302);
    expect(r.contact && formatSipUri(r.contact)).toBe('sip:romeo@example.net');
  });
});

describe('RFC 7247 §7.2 Table 3 (reference §2.2), every row', () => {
  const table3 = [
    [300, 'redirect'], [301, 'gone'], [302, 'redirect'], [305, 'redirect'], [380, 'not-acceptable'],
    [400, 'bad-request'], [401, 'not-authorized'], [402, 'bad-request'], [403, 'forbidden'], [404, 'item-not-found'],
    [405, 'feature-not-implemented'], [406, 'not-acceptable'], [407, 'registration-required'], [408, 'remote-server-timeout'],
    [410, 'gone'], [413, 'policy-violation'], [414, 'policy-violation'], [415, 'not-acceptable'], [416, 'not-acceptable'],
    [420, 'feature-not-implemented'], [421, 'not-acceptable'], [423, 'resource-constraint'], [430, 'recipient-unavailable'],
    [439, 'feature-not-implemented'], [440, 'policy-violation'], [480, 'recipient-unavailable'], [481, 'item-not-found'],
    [482, 'not-acceptable'], [483, 'not-acceptable'], [484, 'item-not-found'], [485, 'item-not-found'],
    [486, 'recipient-unavailable'], [487, 'recipient-unavailable'], [488, 'not-acceptable'], [489, 'policy-violation'],
    [491, 'unexpected-request'], [493, 'bad-request'], [500, 'internal-server-error'], [501, 'feature-not-implemented'],
    [502, 'remote-server-not-found'], [503, 'internal-server-error'], [504, 'remote-server-timeout'], [505, 'not-acceptable'],
    [513, 'policy-violation'], [600, 'recipient-unavailable'], [603, 'recipient-unavailable'], [604, 'item-not-found'],
    [606, 'not-acceptable'],
  ] as const;

  it('the shipped table has exactly these 48 rows', () => {
    expect([...t.sipToXmpp.keys()].sort()).toEqual(table3.map((r) => r[0]).sort());
  });

  it.each(table3)('%i => <%s/>', (status, condition) => {
    const err = sipStatusToXmppError(t, status);
    expect(err.condition).toBe(condition);
    expect(err.type).toBe(t.conditionTypes.get(condition));
  });

  it.each([100, 180, 200, 202, 299, 700, 0, 404.5])('%s has no XMPP error (only 3xx-6xx are mapped): RangeError', (s) => {
    expect(() => sipStatusToXmppError(t, s)).toThrow(RangeError);
  });

  it('the Reason-Phrase becomes <text/>, sanitised', () => {
    expect(sipStatusToXmppError(t, 486, { reason: 'Busy\u0007 Here' }).text).toBe('Busy Here');
  });

  it('301 with an unmappable or missing Contact yields <gone/> without an address (never invented)', () => {
    expect(sipStatusToXmppError(t, 301)).toEqual({ condition: 'gone', type: 'cancel' });
    expect(sipStatusToXmppError(t, 301, { contact: parseSipUriText('<sips:romeo@example.org>') })).toEqual({
      condition: 'gone',
      type: 'cancel',
    });
  });

  it('302 with a Contact carries it in <redirect/> (RFC 6120 §8.3.3.14)', () => {
    expect(sipStatusToXmppError(t, 302, { contact: parseSipUriText('<sip:romeo@example.org;gr=abc>') }).address).toBe(
      'xmpp:romeo@example.org/abc',
    );
  });
});

describe('reference §2.3 MSRP error rules', () => {
  it('TV-G6 (RFC 7702 §5.6): MSRP 425 => <conflict/> type cancel', () => {
    expect(msrpStatusToXmppError(t, 425)).toEqual({ condition: 'conflict', type: 'cancel' });
  });
  it('TV-G11 (RFC 7702 §6.4): <conflict/> => MSRP 425', () => {
    expect(xmppErrorToMsrpStatus(t, 'conflict')).toBe(425);
  });
  it('RFC 7701 §10.3 [D]: 424 <=> <jid-malformed/>, 428 <=> <feature-not-implemented/>, 404 <=> <item-not-found/>', () => {
    expect(msrpStatusToXmppError(t, 424).condition).toBe('jid-malformed');
    expect(msrpStatusToXmppError(t, 428).condition).toBe('feature-not-implemented');
    expect(msrpStatusToXmppError(t, 404).condition).toBe('item-not-found');
    expect(xmppErrorToMsrpStatus(t, 'jid-malformed')).toBe(424);
    expect(xmppErrorToMsrpStatus(t, 'not-acceptable')).toBe(428);
    expect(xmppErrorToMsrpStatus(t, 'item-not-found')).toBe(404);
  });
  it('other MSRP codes keep their SIP meaning; unknown XMPP conditions get 400', () => {
    expect(msrpStatusToXmppError(t, 413).condition).toBe('policy-violation');
    expect(msrpStatusToXmppError(t, 481).condition).toBe('item-not-found');
    expect(xmppErrorToMsrpStatus(t, 'internal-server-error')).toBe(400);
    expect(xmppErrorToMsrpStatus(t, 'no-such-condition')).toBe(400);
  });
});

describe('sanitizeErrorText', () => {
  it('returns undefined for nothing useful', () => {
    expect(sanitizeErrorText(undefined)).toBeUndefined();
    expect(sanitizeErrorText('\r\n\t')).toBeUndefined();
  });
});
