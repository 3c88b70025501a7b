// Mapping reference §9.2 presence vectors TV-P1..TV-P10 (RFC 8048 examples) as event sequences, and §3.4's
// quick reference, one test per row, both columns. Compared by meaning: the SIP and XMPP wire forms are the
// dialog layer's and stanza codec's business; here the machines must decide the same things.
import { describe, expect, it } from 'vitest';
import { sipStatusToXmppError } from '../../../../src/core/errors.js';
import { defaultErrorTables } from '../../../../src/mappings.js';
import {
  S2XSubscriptions,
  X2SSubscriptions,
  x2sFetchKey,
  x2sKey,
  type S2XAction,
  type X2SAction,
} from '../../../../src/core/subscriptions/index.js';

interface RP {
  resource?: string;
  available: boolean;
  show?: 'away' | 'chat' | 'dnd' | 'xa';
  statuses: Array<{ lang?: string; text: string }>;
}

const tables = defaultErrorTables();
const x2s = (): X2SSubscriptions<RP> => new X2SSubscriptions<RP>({ mapSipError: (s, r) => sipStatusToXmppError(tables, s, { reason: r }) });
const s2x = (): S2XSubscriptions<RP> => new S2XSubscriptions<RP>();

const T0 = 1_480_000_000_000;
const JULIET = 'juliet@example.com';
const ROMEO = 'romeo@example.net';
const ROMEO_AOR = 'sip:romeo@example.net';
const J_RES = 'yn0cl4bnw0yr3vym';
const R_RES = 'dr4hcr0st3lup4c';
const X2S_KEY = x2sKey(JULIET, ROMEO);

const onlyKind = <A extends { kind: string }, K extends A['kind']>(acts: A[], kind: K): Extract<A, { kind: K }>[] =>
  acts.filter((a): a is Extract<A, { kind: K }> => a.kind === kind);
const xmppOut = (acts: Array<X2SAction<RP> | S2XAction<RP>>) => onlyKind(acts, 'xmpp-presence');

/** Juliet (XMPP) online and subscribed to Romeo (SIP); the SIP side said 200. */
function x2sSubscribed(): X2SSubscriptions<RP> {
  const m = x2s();
  m.handle({ kind: 'xmpp-user-presence', now: T0, jid: `${JULIET}/${J_RES}`, available: true });
  m.handle({ kind: 'xmpp-subscribe', now: T0, user: JULIET, contact: ROMEO, aor: ROMEO_AOR });
  m.handle({ kind: 'sip-response', now: T0 + 10, key: X2S_KEY, status: 200, expires: 3600 });
  return m;
}

describe('§9.2 presence vectors (RFC 8048)', () => {
  it('TV-P1 — XMPP subscribe → SIP SUBSCRIBE (Examples 1→2)', () => {
    const m = x2s();
    m.handle({ kind: 'xmpp-user-presence', now: T0, jid: `${JULIET}/${J_RES}`, available: true });
    const acts = m.handle({ kind: 'xmpp-subscribe', now: T0, user: JULIET, contact: ROMEO, aor: ROMEO_AOR });
    const [s] = onlyKind(acts, 'sip-subscribe');
    // Request-URI = mapped contact; Event presence; Accept PIDF; Expires present; From = bare JID; Contact ;gr=resource.
    expect(s).toMatchObject({ newDialog: true, target: ROMEO_AOR, event: 'presence', accept: 'application/pidf+xml', expires: 3600, from: JULIET, contactResource: J_RES });
  });

  it('TV-P2 — first NOTIFY (active, PIDF) → XMPP subscribed + available presence with the embedded show (Examples 4→5, 4→6)', () => {
    const m = x2sSubscribed();
    const acts = m.handle({
      kind: 'sip-notify', now: T0 + 20, key: X2S_KEY, request: 'cseq2', state: 'active', expires: 499,
      body: [{ resource: R_RES, available: true, show: 'away', statuses: [] }],
    });
    expect(onlyKind(acts, 'sip-respond')).toEqual([{ kind: 'sip-respond', key: X2S_KEY, request: 'cseq2', status: 200 }]);
    expect(xmppOut(acts)).toEqual([
      { kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'subscribed' },
      { kind: 'xmpp-presence', from: `${ROMEO}/${R_RES}`, to: JULIET, presence: { resource: R_RES, available: true, show: 'away', statuses: [] } },
    ]);
  });

  it('TV-P3 — XMPP unsubscribe → SUBSCRIBE Expires: 0 → unsubscribed; the terminating NOTIFY is received and answered (Examples 7→8, 9, 10)', () => {
    const m = x2sSubscribed();
    m.handle({ kind: 'sip-notify', now: T0 + 20, key: X2S_KEY, request: 'n2', state: 'active', expires: 3600, body: 'no-body' });
    const a = m.handle({ kind: 'xmpp-unsubscribe', now: T0 + 1000, user: JULIET, contact: ROMEO });
    expect(onlyKind(a, 'sip-subscribe')).toEqual([expect.objectContaining({ key: X2S_KEY, newDialog: false, expires: 0, target: ROMEO_AOR, from: JULIET })]);
    const b = m.handle({ kind: 'sip-response', now: T0 + 1100, key: X2S_KEY, status: 200, expires: 0 });
    expect(xmppOut(b)).toEqual([{ kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'unsubscribed' }]);
    const c = m.handle({ kind: 'sip-notify', now: T0 + 1200, key: X2S_KEY, request: 'n43', state: 'terminated', body: 'no-body' });
    expect(onlyKind(c, 'sip-respond')[0]?.status).toBe(200);
    expect(xmppOut(c)).toEqual([]);
  });

  it('TV-P4 — SIP SUBSCRIBE → XMPP subscribe (Examples 11→12); no Expires ⇒ 3600', () => {
    const m = s2x();
    const acts = m.handle({
      kind: 'sip-subscribe', now: T0, key: 'AA5A8BE5;xfg9', request: 'cseq1', event: 'presence', accept: ['application/pidf+xml'],
      watcherAor: ROMEO_AOR, watcherJid: ROMEO, watcherInstance: R_RES, presentity: JULIET,
    });
    expect(onlyKind(acts, 'sip-respond')).toEqual([{ kind: 'sip-respond', key: 'AA5A8BE5;xfg9', request: 'cseq1', status: 200, expires: 3600 }]);
    expect(xmppOut(acts)).toEqual([{ kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'subscribe' }]);
  });

  const s2xPending = (): S2XSubscriptions<RP> => {
    const m = s2x();
    m.handle({
      kind: 'sip-subscribe', now: T0, key: 'AA5A8BE5;xfg9', request: 'cseq1', event: 'presence',
      watcherAor: ROMEO_AOR, watcherJid: ROMEO, watcherInstance: R_RES, presentity: JULIET,
    });
    return m;
  };

  it('TV-P5 — XMPP subscribed → NOTIFY active, empty, with ;expires (Examples 13→14)', () => {
    const m = s2xPending();
    const acts = m.handle({ kind: 'xmpp-subscribed', now: T0 + 2000, from: JULIET, to: ROMEO });
    expect(onlyKind(acts, 'sip-notify')).toEqual([{ kind: 'sip-notify', key: 'AA5A8BE5;xfg9', presentity: JULIET, state: 'active', expires: 3598, body: { type: 'none' } }]);
  });

  it('TV-P6 — XMPP unsubscribed (decline) → NOTIFY terminated;reason=rejected (Examples 15→16)', () => {
    const m = s2xPending();
    const acts = m.handle({ kind: 'xmpp-unsubscribed', now: T0 + 2000, from: JULIET, to: ROMEO });
    expect(onlyKind(acts, 'sip-notify')).toEqual([{ kind: 'sip-notify', key: 'AA5A8BE5;xfg9', presentity: JULIET, state: 'terminated', reason: 'rejected', body: { type: 'none' } }]);
  });

  it('TV-P7 — XMPP available presence → NOTIFY with a PIDF: basic open, tuple for the resource (Examples 18→19)', () => {
    const m = s2xPending();
    m.handle({ kind: 'xmpp-subscribed', now: T0 + 100, from: JULIET, to: ROMEO });
    const acts = m.handle({ kind: 'xmpp-presence', now: T0 + 10_000, from: `${JULIET}/${J_RES}`, to: ROMEO, presence: { resource: J_RES, available: true, statuses: [] } });
    const [n] = onlyKind(acts, 'sip-notify');
    expect(n).toMatchObject({ state: 'active', presentity: JULIET, body: { type: 'presence', resources: [{ resource: J_RES, available: true }] } });
    expect(n?.expires).toBeGreaterThan(0);
  });

  it('TV-P8 — NOTIFY basic=closed → XMPP unavailable (Examples 20→21)', () => {
    const m = x2sSubscribed();
    m.handle({ kind: 'sip-notify', now: T0 + 20, key: X2S_KEY, request: 'n2', state: 'active', expires: 499, body: [{ resource: R_RES, available: true, statuses: [] }] });
    const acts = m.handle({ kind: 'sip-notify', now: T0 + 30, key: X2S_KEY, request: 'n8', state: 'active', expires: 499, body: [{ resource: R_RES, available: false, statuses: [] }] });
    // Example 21 has the bare JID; the GRUU → resource mapping gives the full one, which the vector accepts.
    expect(xmppOut(acts)).toEqual([{ kind: 'xmpp-presence', from: `${ROMEO}/${R_RES}`, to: JULIET, type: 'unavailable', presence: { resource: R_RES, available: false, statuses: [] } }]);
  });

  it('TV-P9 — XMPP probe → SUBSCRIBE Expires: 0 in a new dialog (Examples 22→23)', () => {
    const m = x2s();
    const acts = m.handle({ kind: 'xmpp-probe', now: T0, user: `${JULIET}/chamber`, contact: ROMEO, aor: ROMEO_AOR });
    expect(onlyKind(acts, 'sip-subscribe')).toEqual([expect.objectContaining({ key: x2sFetchKey(JULIET, ROMEO), newDialog: true, expires: 0, target: ROMEO_AOR, from: JULIET, event: 'presence', accept: 'application/pidf+xml' })]);
  });

  it('TV-P10 — SIP SUBSCRIBE Expires: 0 (poll) → XMPP probe when nothing is cached (Examples 24→25)', () => {
    const m = s2x();
    const acts = m.handle({
      kind: 'sip-subscribe', now: T0, key: '717B1B84;yt66', request: 'cseq1', event: 'presence', expires: 0,
      watcherAor: ROMEO_AOR, watcherJid: ROMEO, watcherInstance: R_RES, presentity: JULIET,
    });
    expect(xmppOut(acts)).toEqual([{ kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'probe' }]);
  });
});

describe('§3.4 quick reference: XMPP presence type ⇄ SIP', () => {
  /** Romeo (SIP) watches Juliet (XMPP), active. */
  function s2xActive(): S2XSubscriptions<RP> {
    const m = s2x();
    m.handle({ kind: 'sip-subscribe', now: T0, key: 'k', request: 'r', event: 'presence', watcherAor: ROMEO_AOR, watcherJid: ROMEO, presentity: JULIET });
    m.handle({ kind: 'xmpp-subscribed', now: T0, from: JULIET, to: ROMEO });
    return m;
  }
  /** Juliet (XMPP) watches Romeo (SIP), active. */
  function x2sActive(): X2SSubscriptions<RP> {
    const m = x2sSubscribed();
    m.handle({ kind: 'sip-notify', now: T0 + 20, key: X2S_KEY, request: 'n', state: 'active', expires: 3600, body: 'no-body' });
    return m;
  }

  it('§3.4 row "(no type) = available": presence → NOTIFY PIDF open; NOTIFY open → available presence', () => {
    const n = onlyKind(s2xActive().handle({ kind: 'xmpp-presence', now: T0 + 10_000, from: `${JULIET}/a`, to: ROMEO, presence: { resource: 'a', available: true, statuses: [] } }), 'sip-notify');
    expect(n[0]?.body).toEqual({ type: 'presence', resources: [{ resource: 'a', available: true, statuses: [] }] });
    const p = xmppOut(x2sActive().handle({ kind: 'sip-notify', now: T0 + 30, key: X2S_KEY, request: 'n', state: 'active', body: [{ resource: 'b', available: true, statuses: [] }] }));
    expect(p).toEqual([{ kind: 'xmpp-presence', from: `${ROMEO}/b`, to: JULIET, presence: { resource: 'b', available: true, statuses: [] } }]);
    expect(p[0]?.type).toBeUndefined();
  });

  it('§3.4 row "unavailable": → NOTIFY closed; ← NOTIFY closed, and SUBSCRIBE Expires 0 cancelling a dialog', () => {
    const m = s2xActive();
    const n = onlyKind(m.handle({ kind: 'xmpp-presence', now: T0 + 10_000, from: `${JULIET}/a`, to: ROMEO, presence: { resource: 'a', available: false, statuses: [] } }), 'sip-notify');
    expect(n[0]?.body).toEqual({ type: 'presence', resources: [{ resource: 'a', available: false, statuses: [] }] });
    const cancel = m.handle({ kind: 'sip-resubscribe', now: T0 + 20_000, key: 'k', request: 'c', event: 'presence', expires: 0 });
    expect(xmppOut(cancel)).toEqual([{ kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'unavailable' }]);
    const p = xmppOut(x2sActive().handle({ kind: 'sip-notify', now: T0 + 30, key: X2S_KEY, request: 'n', state: 'active', body: [{ resource: 'b', available: false, statuses: [] }] }));
    expect(p[0]?.type).toBe('unavailable');
  });

  it('§3.4 row "subscribe": → new SUBSCRIBE (Expires > 0); ← initial SUBSCRIBE', () => {
    const s = onlyKind(x2s().handle({ kind: 'xmpp-subscribe', now: T0, user: JULIET, contact: ROMEO, aor: ROMEO_AOR }), 'sip-subscribe');
    expect(s[0]?.newDialog).toBe(true);
    expect(s[0]?.expires).toBeGreaterThan(0);
    const x = xmppOut(s2x().handle({ kind: 'sip-subscribe', now: T0, key: 'k', request: 'r', event: 'presence', watcherAor: ROMEO_AOR, watcherJid: ROMEO, presentity: JULIET }));
    expect(x).toEqual([{ kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'subscribe' }]);
  });

  it('§3.4 row "subscribed": ← the first NOTIFY active; → empty NOTIFY active', () => {
    const m = x2sSubscribed();
    const x = xmppOut(m.handle({ kind: 'sip-notify', now: T0 + 20, key: X2S_KEY, request: 'n', state: 'active', body: 'no-body' }));
    expect(x).toEqual([{ kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'subscribed' }]);
    const s = s2x();
    s.handle({ kind: 'sip-subscribe', now: T0, key: 'k', request: 'r', event: 'presence', watcherAor: ROMEO_AOR, watcherJid: ROMEO, presentity: JULIET });
    const n = onlyKind(s.handle({ kind: 'xmpp-subscribed', now: T0, from: JULIET, to: ROMEO }), 'sip-notify');
    expect(n).toEqual([expect.objectContaining({ state: 'active', body: { type: 'none' } })]);
  });

  it('§3.4 row "unsubscribe": → SUBSCRIBE Expires 0 in the dialog; S2X never emits unsubscribe (RFC 8048 §5.3.3 keeps option (b) only)', () => {
    const s = onlyKind(x2sActive().handle({ kind: 'xmpp-unsubscribe', now: T0 + 100, user: JULIET, contact: ROMEO }), 'sip-subscribe');
    expect(s).toEqual([expect.objectContaining({ newDialog: false, expires: 0 })]);
    const m = s2xActive();
    const all = [
      ...m.handle({ kind: 'sip-resubscribe', now: T0 + 100, key: 'k', request: 'c', event: 'presence', expires: 0 }),
    ];
    expect(xmppOut(all).some((a) => a.type === 'unsubscribe')).toBe(false);
  });

  it('§3.4 row "unsubscribed": ← 403/489/603 or terminated;rejected; → NOTIFY terminated;reason=rejected', () => {
    const a = x2sSubscribed();
    expect(xmppOut(a.handle({ kind: 'sip-notify', now: T0 + 20, key: X2S_KEY, request: 'n', state: 'terminated', reason: 'rejected', body: 'no-body' })).at(-1)?.type).toBe('unsubscribed');
    const b = x2s();
    b.handle({ kind: 'xmpp-subscribe', now: T0, user: JULIET, contact: ROMEO, aor: ROMEO_AOR });
    expect(xmppOut(b.handle({ kind: 'sip-response', now: T0 + 10, key: X2S_KEY, status: 603 })).at(-1)?.type).toBe('unsubscribed');
    const n = onlyKind(s2xActive().handle({ kind: 'xmpp-unsubscribed', now: T0 + 100, from: JULIET, to: ROMEO }), 'sip-notify');
    expect(n).toEqual([expect.objectContaining({ state: 'terminated', reason: 'rejected' })]);
  });

  it('§3.4 row "probe": → SUBSCRIBE Expires 0 (new dialog); ← SUBSCRIBE Expires 0 poll with no cache', () => {
    const s = onlyKind(x2s().handle({ kind: 'xmpp-probe', now: T0, user: JULIET, contact: ROMEO, aor: ROMEO_AOR }), 'sip-subscribe');
    expect(s).toEqual([expect.objectContaining({ newDialog: true, expires: 0 })]);
    const x = xmppOut(s2x().handle({ kind: 'sip-subscribe', now: T0, key: 'p', request: 'r', event: 'presence', expires: 0, watcherAor: ROMEO_AOR, watcherJid: ROMEO, presentity: JULIET }));
    expect(x).toEqual([{ kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'probe' }]);
  });

  it('§3.4 row "error": ← from a SIP failure response (§2.2); → NOTIFY terminated', () => {
    const b = x2s();
    b.handle({ kind: 'xmpp-subscribe', now: T0, user: JULIET, contact: ROMEO, aor: ROMEO_AOR });
    expect(xmppOut(b.handle({ kind: 'sip-response', now: T0 + 10, key: X2S_KEY, status: 486 }))).toEqual([
      { kind: 'xmpp-presence', from: ROMEO, to: JULIET, type: 'error', error: { condition: 'recipient-unavailable', type: 'wait' } },
    ]);
    const s = s2x();
    s.handle({ kind: 'sip-subscribe', now: T0, key: 'k', request: 'r', event: 'presence', watcherAor: ROMEO_AOR, watcherJid: ROMEO, presentity: JULIET });
    const n = onlyKind(s.handle({ kind: 'xmpp-presence-error', now: T0 + 10, from: JULIET, to: ROMEO, error: { condition: 'service-unavailable', type: 'cancel' } }), 'sip-notify');
    expect(n).toEqual([expect.objectContaining({ state: 'terminated', reason: 'rejected' })]);
  });

  it('§3.4 note: only no-type and unavailable presences become NOTIFYs (the others are handled as authorization or probes)', () => {
    const m = s2xActive();
    const before = m.size;
    expect(onlyKind(m.handle({ kind: 'xmpp-subscribed', now: T0 + 10_000, from: JULIET, to: ROMEO }), 'sip-notify')).toEqual([]);
    expect(m.size).toBe(before);
  });
});
