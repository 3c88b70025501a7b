// X2S presence subscriptions: mapping reference §3.2 (one test per row), §3.7, §3.8, TV-P1/P2/P3/P8/P9.
import { describe, expect, it } from 'vitest';
import { sipStatusToXmppError } from '../../../../src/core/errors.js';
import { defaultErrorTables } from '../../../../src/mappings.js';
import {
  X2SSubscriptions,
  isSubscriptionRecord,
  x2sFetchKey,
  x2sKey,
  type X2SAction,
  type X2SConfig,
  type X2SEvent,
} from '../../../../src/core/subscriptions/index.js';

/** What core/presence.ts's ResourcePresence looks like, for the tests. */
interface RP {
  resource?: string;
  available: boolean;
  show?: 'away' | 'chat' | 'dnd' | 'xa';
  statuses: Array<{ lang?: string; text: string }>;
  priority?: number;
}

const tables = defaultErrorTables();
const mapSipError: X2SConfig['mapSipError'] = (status, reason) => sipStatusToXmppError(tables, status, { reason });

// RFC 8048 §5.2 actors: juliet (XMPP user U) watches romeo (SIP contact C).
const U = 'juliet@example.com';
const U_RES = 'yn0cl4bnw0yr3vym';
const U_FULL = `${U}/${U_RES}`;
const C = 'romeo@example.net';
const AOR = 'sip:romeo@example.net';
const KEY = x2sKey(U, C);
const T0 = 1_700_000_000_000;

const open = (resource: string, show?: RP['show']): RP => ({ resource, available: true, statuses: [], ...(show ? { show } : {}) });
const closed = (resource: string): RP => ({ resource, available: false, statuses: [] });

function machine(over: Partial<X2SConfig> = {}): X2SSubscriptions<RP> {
  return new X2SSubscriptions<RP>({ mapSipError, ...over });
}

const kinds = (acts: X2SAction<RP>[]): string[] => acts.map((a) => a.kind);
const stanzas = (acts: X2SAction<RP>[]) => acts.flatMap((a) => (a.kind === 'xmpp-presence' ? [a] : []));
const subscribes = (acts: X2SAction<RP>[]) => acts.flatMap((a) => (a.kind === 'sip-subscribe' ? [a] : []));
const responds = (acts: X2SAction<RP>[]) => acts.flatMap((a) => (a.kind === 'sip-respond' ? [a] : []));
const timers = (acts: X2SAction<RP>[]) => acts.flatMap((a) => (a.kind === 'arm-timer' ? [a] : []));
const persisted = (acts: X2SAction<RP>[]) => acts.flatMap((a) => (a.kind === 'persist' ? [a.record] : []));

let req = 0;
const notify = (now: number, state: 'pending' | 'active' | 'terminated', body: readonly RP[] | 'no-body', more: Partial<Extract<X2SEvent<RP>, { kind: 'sip-notify' }>> = {}): X2SEvent<RP> => ({
  kind: 'sip-notify', now, key: KEY, request: `n${++req}`, state, body, ...more,
});
const response = (now: number, status: number, more: Partial<Extract<X2SEvent<RP>, { kind: 'sip-response' }>> = {}): X2SEvent<RP> => ({
  kind: 'sip-response', now, key: KEY, status, ...more,
});
const online = (now: number, jid = U_FULL, available = true): X2SEvent<RP> => ({ kind: 'xmpp-user-presence', now, jid, available });
const subscribe = (now: number): X2SEvent<RP> => ({ kind: 'xmpp-subscribe', now, user: U, contact: C, aor: AOR });

/** U online, subscribed, SIP side accepted (200, Expires 3600) and sent the first active NOTIFY with `body`. */
function established(m = machine(), body: readonly RP[] | 'no-body' = [open('dr4hcr0st3lup4c', 'away')]): X2SSubscriptions<RP> {
  m.handle(online(T0));
  m.handle(subscribe(T0));
  m.handle(response(T0 + 50, 200, { expires: 3600 }));
  m.handle(notify(T0 + 60, 'active', body, { expires: 3600 }));
  return m;
}

describe('§3.2 X2S: XMPP user asks to see a SIP contact (RFC 8048 §5.2)', () => {
  it('§3.2 row "XMPP subscribe": a new SUBSCRIBE dialog with Event presence, Accept PIDF, Expires 3600, From bare JID, Contact ;gr=resource (TV-P1)', () => {
    const m = machine();
    m.handle(online(T0));
    const acts = m.handle(subscribe(T0));
    expect(subscribes(acts)).toEqual([{
      kind: 'sip-subscribe', key: KEY, newDialog: true, expires: 3600, target: AOR, from: U,
      contactResource: U_RES, event: 'presence', accept: 'application/pidf+xml',
    }]);
    expect(stanzas(acts)).toEqual([]);
    const rec = persisted(acts)[0];
    expect(rec).toMatchObject({ direction: 'x2s', xmppJid: U, sipAor: AOR, sipJid: C, authorization: 'pending', state: 'subscribing', subscribedSent: false });
    expect(isSubscriptionRecord(rec)).toBe(true);
  });

  it('§3.2 row "XMPP subscribe": Expires is configurable and a stanza from a full JID keys on the bare JID', () => {
    const m = machine({ expires: 600 });
    const acts = m.handle({ kind: 'xmpp-subscribe', now: T0, user: `${U}/balcony`, contact: C, aor: AOR });
    expect(subscribes(acts)[0]).toMatchObject({ key: KEY, expires: 600, from: U, contactResource: 'balcony' });
  });

  it('§3.2 row "SIP 200 OK": no XMPP output, state stays neutral until an active NOTIFY', () => {
    const m = machine();
    m.handle(online(T0));
    m.handle(subscribe(T0));
    const acts = m.handle(response(T0 + 50, 200, { expires: 3600 }));
    expect(stanzas(acts)).toEqual([]);
    expect(m.record(KEY)).toMatchObject({ state: 'subscribed', authorization: 'pending', subscribedSent: false });
    // The refresh is scheduled well before expiry (§3.7): 10 % of 3600 s ahead.
    expect(timers(acts)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 50 + 3240_000 }]);
  });

  it('§3.2 row "NOTIFY pending": answered 200, nothing sent to XMPP, even with a body', () => {
    const m = machine();
    m.handle(subscribe(T0));
    const acts = m.handle(notify(T0 + 10, 'pending', [open('dr4hcr0st3lup4c')], { expires: 3600 }));
    expect(responds(acts)).toEqual([{ kind: 'sip-respond', key: KEY, request: `n${req}`, status: 200 }]);
    expect(stanzas(acts)).toEqual([]);
    expect(m.record(KEY)?.authorization).toBe('pending');
  });

  it('§3.2 row "first NOTIFY active": 200, `subscribed` from the contact bare JID once, then the presence (TV-P2)', () => {
    const m = machine();
    m.handle(online(T0));
    m.handle(subscribe(T0));
    m.handle(response(T0 + 50, 200, { expires: 3600 }));
    // RFC 8048 Example 4: active;expires=499, one tuple ID-dr4hcr0st3lup4c, basic open, show away.
    const acts = m.handle(notify(T0 + 60, 'active', [open('dr4hcr0st3lup4c', 'away')], { expires: 499 }));
    expect(responds(acts)[0]?.status).toBe(200);
    expect(stanzas(acts)).toEqual([
      { kind: 'xmpp-presence', from: C, to: U, type: 'subscribed' }, // Example 5
      // Example 6 plus the embedded <show/> (§3.5 note: the gateway copies it)
      { kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, presence: open('dr4hcr0st3lup4c', 'away') },
    ]);
    expect(m.record(KEY)).toMatchObject({ authorization: 'granted', subscribedSent: true, expiresAt: T0 + 60 + 499_000 });
    // §3.8: `subscribed` exactly once.
    const later = m.handle(notify(T0 + 70, 'active', [open('dr4hcr0st3lup4c')], { expires: 489 }));
    expect(stanzas(later).filter((s) => s.type === 'subscribed')).toEqual([]);
  });

  it('§3.2 row "first NOTIFY active": an empty body means unknown/closed: `subscribed` only', () => {
    const m = machine();
    m.handle(subscribe(T0));
    const acts = m.handle(notify(T0 + 10, 'active', 'no-body', { expires: 3600 }));
    expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: C, to: U, type: 'subscribed' }]);
  });

  it('§3.2 row "later NOTIFY active + PIDF": translated per tuple; closed → unavailable (TV-P8); a vanished tuple → unavailable', () => {
    const m = established(machine(), [open('dr4hcr0st3lup4c'), open('desk')]);
    // RFC 8048 Example 20: basic closed for ID-dr4hcr0st3lup4c (Example 21: unavailable; full JID accepted).
    const acts = m.handle(notify(T0 + 1000, 'active', [closed('dr4hcr0st3lup4c')], { expires: 499 }));
    expect(stanzas(acts)).toEqual([
      { kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, type: 'unavailable', presence: closed('dr4hcr0st3lup4c') },
      { kind: 'xmpp-presence', from: `${C}/desk`, to: U, type: 'unavailable' },
    ]);
    // A NOTIFY without body keeps the last document (RFC 3856 §6.8): nothing to say.
    expect(stanzas(m.handle(notify(T0 + 2000, 'active', 'no-body', { expires: 498 })))).toEqual([]);
  });

  it('§3.2 row "NOTIFY terminated;reason=rejected": `unsubscribed` to the user, no retry, record forgotten', () => {
    const m = established();
    const acts = m.handle(notify(T0 + 1000, 'terminated', 'no-body', { reason: 'rejected' }));
    expect(responds(acts)[0]?.status).toBe(200);
    expect(stanzas(acts)).toEqual([
      { kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, type: 'unavailable' },
      { kind: 'xmpp-presence', from: C, to: U, type: 'unsubscribed' },
    ]);
    expect(subscribes(acts)).toEqual([]);
    expect(acts).toContainEqual({ kind: 'forget', key: KEY });
    expect(m.size).toBe(0);
  });

  it('§3.2 row "NOTIFY terminated, reason timeout or deactivated": keep the authorization, re-SUBSCRIBE at once while the user is online', () => {
    for (const reason of ['timeout', 'deactivated']) {
      const m = established();
      const acts = m.handle(notify(T0 + 1000, 'terminated', 'no-body', { reason }));
      expect(subscribes(acts)).toEqual([expect.objectContaining({ key: KEY, newDialog: true, expires: 3600 })]);
      expect(stanzas(acts)).toEqual([]);
      expect(m.record(KEY)?.authorization).toBe('granted');
    }
  });

  it('§3.2 row "NOTIFY terminated, reason timeout": user offline → no re-SUBSCRIBE, authorization kept (idle)', () => {
    const m = established();
    m.handle(online(T0 + 500, U_FULL, false));
    const acts = m.handle(notify(T0 + 1000, 'terminated', 'no-body', { reason: 'timeout' }));
    expect(subscribes(acts)).toEqual([]);
    expect(m.record(KEY)).toMatchObject({ state: 'idle', authorization: 'granted', expiresAt: 0 });
  });

  it('§3.2 row "NOTIFY terminated, reason timeout": a notifier that keeps terminating gets backoff, not a loop', () => {
    const m = established();
    m.handle(notify(T0 + 1000, 'terminated', 'no-body', { reason: 'deactivated' }));
    m.handle(response(T0 + 1100, 200, { expires: 3600 }));
    const acts = m.handle(notify(T0 + 1200, 'terminated', 'no-body', { reason: 'deactivated' }));
    expect(subscribes(acts)).toEqual([]);
    expect(m.record(KEY)).toMatchObject({ state: 'waiting', retryCount: 2, retryAt: T0 + 1200 + 60_000 });
  });

  it('§3.2 row "NOTIFY terminated, reason probation or giveup": keep the authorization, retry after retry-after', () => {
    for (const reason of ['probation', 'giveup']) {
      const m = established();
      const acts = m.handle(notify(T0 + 1000, 'terminated', 'no-body', { reason, retryAfter: 120 }));
      expect(subscribes(acts)).toEqual([]);
      expect(timers(acts)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 1000 + 120_000 }]);
      expect(m.record(KEY)).toMatchObject({ state: 'waiting', authorization: 'granted' });
      // The contact's state is unknown meanwhile: U does not keep a stale "available".
      expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, type: 'unavailable' }]);
      const retry = m.handle({ kind: 'timer', now: T0 + 121_000, key: KEY });
      expect(subscribes(retry)).toEqual([expect.objectContaining({ newDialog: true, expires: 3600 })]);
    }
  });

  it('§3.2 row "NOTIFY terminated, reason noresource": permanent → `unsubscribed`', () => {
    const m = established();
    const acts = m.handle(notify(T0 + 1000, 'terminated', 'no-body', { reason: 'noresource' }));
    expect(stanzas(acts).at(-1)).toEqual({ kind: 'xmpp-presence', from: C, to: U, type: 'unsubscribed' });
    expect(m.size).toBe(0);
  });

  it('§3.2 row "NOTIFY terminated, reason invariant": keep the last presence, never re-SUBSCRIBE on its own', () => {
    const m = established();
    const acts = m.handle(notify(T0 + 1000, 'terminated', [open('dr4hcr0st3lup4c', 'dnd')], { reason: 'invariant' }));
    expect(subscribes(acts)).toEqual([]);
    expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, presence: open('dr4hcr0st3lup4c', 'dnd') }]);
    expect(m.record(KEY)?.state).toBe('invariant');
    m.handle(online(T0 + 2000, U_FULL, false));
    expect(subscribes(m.handle(online(T0 + 3000)))).toEqual([]);
  });

  it('§3.2 row "final response 403 / 489 / 603": the authorization is permanently cancelled, the user is told', () => {
    for (const status of [403, 489, 603]) {
      // to the initial SUBSCRIBE
      const m = machine();
      m.handle(subscribe(T0));
      const acts = m.handle(response(T0 + 10, status));
      expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: C, to: U, type: 'unsubscribed' }]);
      expect(acts).toContainEqual({ kind: 'forget', key: KEY });
      // to a refresh
      const r = established();
      r.handle(online(T0 + 100, `${U}/other`));
      r.handle({ kind: 'timer', now: T0 + 3_240_060, key: KEY });
      r.handle(online(T0 + 3_240_100, `${U}/other`));
      const refused = r.handle(response(T0 + 3_240_200, status));
      expect(stanzas(refused).at(-1)).toEqual({ kind: 'xmpp-presence', from: C, to: U, type: 'unsubscribed' });
      expect(r.size).toBe(0);
    }
  });

  it('§3.2 row "final response 423 / 481": transient, the authorization is kept; 423 retries with Min-Expires, 481 opens a new dialog', () => {
    const m = machine();
    m.handle(online(T0));
    m.handle(subscribe(T0));
    const r423 = m.handle(response(T0 + 10, 423, { minExpires: 7200 }));
    expect(subscribes(r423)).toEqual([expect.objectContaining({ newDialog: true, expires: 7200 })]);
    expect(stanzas(r423)).toEqual([]);
    expect(m.record(KEY)?.expires).toBe(7200);

    const e = established();
    e.handle({ kind: 'timer', now: T0 + 3_240_060, key: KEY }); // refresh due → probe
    e.handle(online(T0 + 3_240_100, `${U}/other`)); // U's server answers: confirmed → in-dialog refresh
    const r481 = e.handle(response(T0 + 3_240_200, 481));
    expect(subscribes(r481)).toEqual([expect.objectContaining({ newDialog: true, expires: 3600 })]);
    expect(stanzas(r481)).toEqual([]);
    expect(e.record(KEY)?.authorization).toBe('granted');
  });

  it('§3.2 row "other non-2xx": `<presence type="error">` with the §2.2 condition', () => {
    const m = machine();
    m.handle(subscribe(T0));
    const acts = m.handle(response(T0 + 10, 404, { reason: 'Not Found' }));
    expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: C, to: U, type: 'error', error: { condition: 'item-not-found', type: 'cancel', text: 'Not Found' } }]);
    // A request that never got approved is gone; a granted authorization would be retried instead.
    expect(m.size).toBe(0);
  });

  it('§3.2 row "other non-2xx": a granted authorization survives, retried with backoff; a failed refresh keeps the live dialog (RFC 6665 §4.1.2.2)', () => {
    const m = established();
    m.handle({ kind: 'timer', now: T0 + 3_240_060, key: KEY });
    m.handle(online(T0 + 3_240_100, `${U}/other`));
    const refresh503 = m.handle(response(T0 + 3_240_200, 503));
    expect(stanzas(refresh503)).toEqual([]);
    expect(timers(refresh503)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 60 + 3_600_000 }]);
    // At expiry the dialog is gone; U is online: re-SUBSCRIBE in a new dialog, which fails too.
    const expiry = m.handle({ kind: 'timer', now: T0 + 60 + 3_600_000, key: KEY });
    expect(subscribes(expiry)).toEqual([expect.objectContaining({ newDialog: true })]);
    const failed = m.handle(response(T0 + 3_600_200, 500));
    expect(stanzas(failed)[0]).toMatchObject({ type: 'error', error: { condition: 'internal-server-error' } });
    expect(m.record(KEY)).toMatchObject({ state: 'waiting', authorization: 'granted', retryCount: 2 });
  });

  it('§3.2 row "the XMPP user sends initial presence": a new SUBSCRIBE (acts like a probe)', () => {
    const m = established();
    m.handle(online(T0 + 100, U_FULL, false)); // U's only resource leaves
    const lapse = m.handle({ kind: 'timer', now: T0 + 60 + 3_240_000, key: KEY });
    expect(subscribes(lapse)).toEqual([]); // offline: no refresh
    m.handle({ kind: 'timer', now: T0 + 60 + 3_600_000, key: KEY }); // dialog expires
    expect(m.record(KEY)?.state).toBe('idle');
    const back = m.handle(online(T0 + 4_000_000, `${U}/laptop`));
    expect(subscribes(back)).toEqual([expect.objectContaining({ newDialog: true, contactResource: 'laptop' })]);
    // With a live dialog the session start re-SUBSCRIBEs inside it.
    const live = established();
    live.handle(online(T0 + 100, U_FULL, false));
    expect(subscribes(live.handle(online(T0 + 200)))).toEqual([expect.objectContaining({ newDialog: false, expires: 3600 })]);
    // A second resource is not a session start.
    expect(subscribes(live.handle(online(T0 + 300, `${U}/phone`)))).toEqual([]);
  });

  it('§3.2 row "the dialog will expire while the user is online": FIRST a probe from the gateway to the bare JID, THEN re-SUBSCRIBE once confirmed', () => {
    const m = established();
    const due = m.handle({ kind: 'timer', now: T0 + 60 + 3_240_000, key: KEY });
    expect(stanzas(due)).toEqual([{ kind: 'xmpp-presence', from: C, to: U, type: 'probe' }]);
    expect(subscribes(due)).toEqual([]);
    expect(m.record(KEY)?.state).toBe('probing');
    // U's server answers the probe (RFC 6121 §4.3.2) with each available resource.
    const answer = m.handle(online(T0 + 60 + 3_240_100));
    expect(subscribes(answer)).toEqual([expect.objectContaining({ key: KEY, newDialog: false, expires: 3600 })]);
    const ok = m.handle(response(T0 + 60 + 3_240_200, 200, { expires: 3600 }));
    expect(timers(ok)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 60 + 3_240_200 + 3_240_000 }]);
  });

  it('§3.2 row "the dialog will expire while the user is online": an unanswered probe means no refresh; the dialog lapses to idle', () => {
    const m = established(machine({ probeFrom: 'example.net' }));
    const due = m.handle({ kind: 'timer', now: T0 + 60 + 3_240_000, key: KEY });
    expect(stanzas(due)).toEqual([{ kind: 'xmpp-presence', from: 'example.net', to: U, type: 'probe' }]);
    const expiry = m.handle({ kind: 'timer', now: T0 + 60 + 3_600_000, key: KEY });
    expect(subscribes(expiry)).toEqual([]);
    expect(stanzas(expiry)).toEqual([{ kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, type: 'unavailable' }]);
    expect(m.record(KEY)).toMatchObject({ state: 'idle', authorization: 'granted' });
    // The notifier's own terminated;timeout for that dialog changes nothing.
    expect(subscribes(m.handle(notify(T0 + 3_600_100, 'terminated', 'no-body', { reason: 'timeout' })))).toEqual([]);
  });

  it('§3.2 row "XMPP unsubscribe": SUBSCRIBE Expires 0 in the dialog, `unsubscribed` on 200, terminating NOTIFY answered 200 (TV-P3)', () => {
    const m = established();
    const acts = m.handle({ kind: 'xmpp-unsubscribe', now: T0 + 1000, user: U, contact: C });
    // RFC 8048 Example 8
    expect(subscribes(acts)).toEqual([{
      kind: 'sip-subscribe', key: KEY, newDialog: false, expires: 0, target: AOR, from: U, contactResource: U_RES,
      event: 'presence', accept: 'application/pidf+xml',
    }]);
    expect(stanzas(acts)).toEqual([]);
    const ok = m.handle(response(T0 + 1100, 200, { expires: 0 }));
    // Example 9, after the unavailable of the shown resource (RFC 6121 §3.3)
    expect(stanzas(ok)).toEqual([
      { kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, type: 'unavailable' },
      { kind: 'xmpp-presence', from: C, to: U, type: 'unsubscribed' },
    ]);
    expect(ok).toContainEqual({ kind: 'forget', key: KEY });
    // Example 10: the terminating NOTIFY is received and answered 200 (reference note 1).
    const fin = m.handle(notify(T0 + 1200, 'terminated', 'no-body'));
    expect(responds(fin)[0]?.status).toBe(200);
    expect(stanzas(fin)).toEqual([]);
    expect(m.size).toBe(0);
    // Later NOTIFYs for it get 481 (RFC 6665 §4.1.3).
    expect(responds(m.handle(notify(T0 + 1300, 'active', 'no-body')))[0]?.status).toBe(481);
  });

  it('§3.2 row "XMPP unsubscribe": while the initial SUBSCRIBE is in flight, the Expires 0 waits for its dialog', () => {
    const m = machine();
    m.handle(subscribe(T0));
    const early = m.handle({ kind: 'xmpp-unsubscribe', now: T0 + 5, user: U, contact: C });
    expect(subscribes(early)).toEqual([]);
    const ok = m.handle(response(T0 + 10, 200, { expires: 3600 }));
    expect(subscribes(ok)).toEqual([expect.objectContaining({ newDialog: false, expires: 0 })]);
    const done = m.handle(response(T0 + 20, 200, { expires: 0 }));
    expect(stanzas(done)).toEqual([{ kind: 'xmpp-presence', from: C, to: U, type: 'unsubscribed' }]);
  });

  it('§3.2 row "XMPP probe": SUBSCRIBE Expires 0 in a NEW dialog; its NOTIFY is translated like any other, to the prober (TV-P9)', () => {
    const m = machine();
    // RFC 8048 Example 22
    const acts = m.handle({ kind: 'xmpp-probe', now: T0, user: `${U}/chamber`, contact: C, aor: AOR });
    const fk = x2sFetchKey(U, C);
    // Example 23
    expect(subscribes(acts)).toEqual([{
      kind: 'sip-subscribe', key: fk, newDialog: true, expires: 0, target: AOR, from: U, contactResource: 'chamber',
      event: 'presence', accept: 'application/pidf+xml',
    }]);
    expect(acts.some((a) => a.kind === 'persist')).toBe(false); // short-lived, never stored
    // A second probe while in flight coalesces; the answer widens to the bare JID.
    expect(subscribes(m.handle({ kind: 'xmpp-probe', now: T0 + 1, user: `${U}/balcony`, contact: C, aor: AOR }))).toEqual([]);
    m.handle({ kind: 'sip-response', now: T0 + 10, key: fk, status: 200, expires: 0 });
    const n = m.handle({ kind: 'sip-notify', now: T0 + 20, key: fk, request: 'f1', state: 'terminated', reason: 'timeout', body: [open('dr4hcr0st3lup4c')] });
    expect(responds(n)[0]?.status).toBe(200);
    expect(stanzas(n)).toEqual([{ kind: 'xmpp-presence', from: `${C}/dr4hcr0st3lup4c`, to: U, presence: open('dr4hcr0st3lup4c') }]);
    expect(n).toContainEqual({ kind: 'forget', key: fk });
    expect(m.state(fk)).toBeUndefined();
  });

  it('§3.2 row "XMPP probe": a failed fetch answers the prober with an error and leaves the authorization alone', () => {
    const m = established();
    const fk = x2sFetchKey(U, C);
    m.handle({ kind: 'xmpp-probe', now: T0 + 100, user: U_FULL, contact: C, aor: AOR });
    const acts = m.handle({ kind: 'sip-response', now: T0 + 110, key: fk, status: 480 });
    expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: C, to: U_FULL, type: 'error', error: { condition: 'recipient-unavailable', type: 'wait' } }]);
    expect(m.record(KEY)?.authorization).toBe('granted');
  });

  it('a fetch whose NOTIFY never comes is dropped after the linger time', () => {
    const m = machine();
    const fk = x2sFetchKey(U, C);
    m.handle({ kind: 'xmpp-probe', now: T0, user: U, contact: C, aor: AOR });
    const ok = m.handle({ kind: 'sip-response', now: T0 + 10, key: fk, status: 200 });
    expect(timers(ok)).toEqual([{ kind: 'arm-timer', key: fk, at: T0 + 10 + 32_000 }]);
    expect(m.handle({ kind: 'timer', now: T0 + 32_010, key: fk })).toEqual([{ kind: 'forget', key: fk }]);
  });

  it('a probe for an idle granted authorization re-SUBSCRIBEs instead of fetching (RFC 8048 §5.2.2 equivalence)', () => {
    const m = established();
    m.handle(online(T0 + 100, U_FULL, false));
    m.handle({ kind: 'timer', now: T0 + 60 + 3_240_000, key: KEY });
    m.handle({ kind: 'timer', now: T0 + 60 + 3_600_000, key: KEY });
    expect(m.record(KEY)?.state).toBe('idle');
    const acts = m.handle({ kind: 'xmpp-probe', now: T0 + 4_000_000, user: U, contact: C, aor: AOR });
    expect(subscribes(acts)).toEqual([expect.objectContaining({ key: KEY, newDialog: true, expires: 3600 })]);
  });
});

describe('§3.7 X2S Expires and refresh', () => {
  it('stops refreshing when every resource is offline, without SUBSCRIBE Expires 0; the authorization persists', () => {
    const m = established();
    m.handle(online(T0 + 100, `${U}/phone`));
    m.handle(online(T0 + 200, U_FULL, false));
    expect(m.isOnline(U)).toBe(true);
    const last = m.handle(online(T0 + 300, `${U}/phone`, false));
    expect(kinds(last)).toEqual([]);
    const due = m.handle({ kind: 'timer', now: T0 + 60 + 3_240_000, key: KEY });
    expect(kinds(due)).toEqual(['arm-timer']);
    const expired = m.handle({ kind: 'timer', now: T0 + 60 + 3_600_000, key: KEY });
    expect(subscribes(expired)).toEqual([]);
    expect(m.record(KEY)).toMatchObject({ state: 'idle', authorization: 'granted', subscribedSent: true });
  });

  it('a pending authorization is refreshed without the online check, so a late approval still reaches the user', () => {
    const m = machine();
    m.handle(subscribe(T0));
    m.handle(response(T0 + 10, 200, { expires: 3600 }));
    m.handle(notify(T0 + 20, 'pending', 'no-body', { expires: 3600 }));
    const due = m.handle({ kind: 'timer', now: T0 + 20 + 3_240_000, key: KEY });
    expect(stanzas(due)).toEqual([]);
    expect(subscribes(due)).toEqual([expect.objectContaining({ newDialog: false, expires: 3600 })]);
  });

  it('a bare-JID unavailable (probe answer: no resource) clears the user and the refresh does not happen', () => {
    const m = established();
    m.handle({ kind: 'timer', now: T0 + 60 + 3_240_000, key: KEY });
    const acts = m.handle(online(T0 + 60 + 3_240_100, U, false));
    expect(subscribes(acts)).toEqual([]);
    expect(m.isOnline(U)).toBe(false);
  });

  it('423 with a Min-Expires that does not help, or repeated, ends as an error instead of looping', () => {
    const m = machine();
    m.handle(subscribe(T0));
    const acts = m.handle(response(T0 + 10, 423, { minExpires: 60 }));
    expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: C, to: U, type: 'error', error: { condition: 'resource-constraint', type: 'wait' } }]);
  });
});

describe('X2S restore after restart (§3.8)', () => {
  it('re-establishes a granted subscription with a re-SUBSCRIBE at the paced time, in the stored dialog while it lives', () => {
    const before = established();
    const rec = JSON.parse(JSON.stringify(before.record(KEY))) as unknown;
    expect(isSubscriptionRecord(rec)).toBe(true);
    if (!isSubscriptionRecord(rec)) return;
    const m = machine();
    const restoreAt = T0 + 100_000;
    const acts = m.restore(rec, T0 + 90_000, restoreAt);
    expect(acts).toEqual([{ kind: 'arm-timer', key: KEY, at: restoreAt }]);
    const fire = m.handle({ kind: 'timer', now: restoreAt, key: KEY });
    expect(subscribes(fire)).toEqual([{
      kind: 'sip-subscribe', key: KEY, newDialog: false, expires: 3600, target: AOR, from: U,
      event: 'presence', accept: 'application/pidf+xml',
    }]);
    // `subscribed` was already sent before the restart: not again.
    const n = m.handle(notify(restoreAt + 50, 'active', [open('dr4hcr0st3lup4c')], { expires: 3600 }));
    expect(stanzas(n).filter((s) => s.type === 'subscribed')).toEqual([]);
    expect(stanzas(n)).toHaveLength(1);
  });

  it('uses a new dialog when the stored one expired during the downtime; resumes a retry; leaves invariant alone', () => {
    const rec = established().record(KEY);
    if (rec === undefined) throw new Error('no record');
    const m = machine();
    m.restore(rec, T0 + 4_000_000_000, T0 + 4_000_000_100);
    expect(subscribes(m.handle({ kind: 'timer', now: T0 + 4_000_000_100, key: KEY }))).toEqual([expect.objectContaining({ newDialog: true })]);

    const w = machine();
    expect(w.restore({ ...rec, state: 'waiting', expiresAt: 0, retryAt: T0 + 500, retryCount: 2 }, T0, T0 + 100)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 500 }]);
    expect(w.restore({ ...rec, state: 'invariant', expiresAt: 0 }, T0, T0 + 100)).toEqual([{ kind: 'cancel-timer', key: KEY }]);
  });

  it('finishes an unsubscribe the restart interrupted: Expires 0 in the stored dialog, then `unsubscribed`', () => {
    const rec = established().record(KEY);
    if (rec === undefined) throw new Error('no record');
    const m = machine();
    m.restore({ ...rec, state: 'unsubscribing' }, T0 + 1000, T0 + 2000);
    const fire = m.handle({ kind: 'timer', now: T0 + 2000, key: KEY });
    expect(subscribes(fire)).toEqual([expect.objectContaining({ newDialog: false, expires: 0 })]);
    expect(stanzas(m.handle(response(T0 + 2100, 200)))).toEqual([{ kind: 'xmpp-presence', from: C, to: U, type: 'unsubscribed' }]);
  });

  it('rejects an S2X record', () => {
    const rec = established().record(KEY);
    if (rec === undefined) throw new Error('no record');
    expect(() => machine().restore({ ...rec, direction: 's2x', state: 'active' }, T0, T0)).toThrow(RangeError);
  });
});

describe('X2S isolation and bounds', () => {
  it('a NOTIFY in one subscription only ever produces stanzas to that subscription\'s user (RFC 8048 §8.2)', () => {
    const m = machine();
    const other = 'nurse@example.com';
    m.handle(subscribe(T0));
    m.handle({ kind: 'xmpp-subscribe', now: T0, user: other, contact: C, aor: AOR });
    m.handle(notify(T0 + 10, 'active', 'no-body', { expires: 3600 }));
    m.handle({ kind: 'sip-notify', now: T0 + 10, key: x2sKey(other, C), request: 'o1', state: 'active', body: 'no-body', expires: 3600 });
    const acts = m.handle(notify(T0 + 20, 'active', [open('dr4hcr0st3lup4c')], { expires: 3600 }));
    expect(stanzas(acts).map((s) => s.to)).toEqual([U]);
  });

  it('unknown keys: a NOTIFY gets 481, a response or timer does nothing', () => {
    const m = machine();
    expect(responds(m.handle(notify(T0, 'active', 'no-body')))).toEqual([{ kind: 'sip-respond', key: KEY, request: `n${req}`, status: 481 }]);
    expect(m.handle(response(T0, 200))).toEqual([]);
    expect(m.handle({ kind: 'timer', now: T0, key: KEY })).toEqual([]);
    expect(m.handle({ kind: 'xmpp-unsubscribe', now: T0, user: U, contact: C })).toEqual([]);
  });

  it('caps the tuples translated from one NOTIFY', () => {
    const m = established(machine({ maxResources: 3 }), 'no-body');
    const many = Array.from({ length: 50 }, (_, i) => open(`r${i}`));
    expect(stanzas(m.handle(notify(T0 + 100, 'active', many, { expires: 3600 })))).toHaveLength(3);
  });
});

describe('X2S restore: the stored dialog ends before the paced slot', () => {
  it('keeps the paced re-SUBSCRIBE, now in a new dialog', () => {
    const rec = established().record(KEY);
    if (rec === undefined) throw new Error('no record');
    const m = machine();
    m.restore(rec, T0 + 1000, T0 + 5000);
    const n = m.handle(notify(T0 + 2000, 'terminated', 'no-body', { reason: 'timeout' }));
    expect(kinds(n)).toEqual(['sip-respond']);
    expect(subscribes(m.handle({ kind: 'timer', now: T0 + 5000, key: KEY }))).toEqual([expect.objectContaining({ newDialog: true })]);
  });
});
