// S2X presence subscriptions: mapping reference §3.3 (one test per row), §3.7, §3.8, §8.2 leaks,
// RFC 3856 §6.10 rate limit, TV-P4/P5/P6/P7/P10.
import { describe, expect, it } from 'vitest';
import {
  S2XSubscriptions,
  foldPresence,
  isSubscriptionRecord,
  type S2XAction,
  type S2XConfig,
  type S2XEvent,
  type S2XSubscribeEvent,
} from '../../../../src/core/subscriptions/index.js';

interface RP {
  resource?: string;
  available: boolean;
  show?: 'away' | 'chat' | 'dnd' | 'xa';
  statuses: Array<{ lang?: string; text: string }>;
}

// RFC 8048 §5.3 actors: romeo (SIP user S) watches juliet (XMPP contact X).
const S = 'romeo@example.net';
const S_AOR = 'sip:romeo@example.net';
const S_GR = 'dr4hcr0st3lup4c';
const X = 'juliet@example.com';
const X_RES = 'yn0cl4bnw0yr3vym';
const KEY = 's2x AA5A8BE5-CBB7-42B9-8181-6230012B1E11;xfg9';
const T0 = 1_700_000_000_000;

const open = (resource: string, show?: RP['show']): RP => ({ resource, available: true, statuses: [], ...(show ? { show } : {}) });
const closed = (resource?: string): RP => ({ ...(resource !== undefined ? { resource } : {}), available: false, statuses: [] });

const machine = (cfg: S2XConfig = {}): S2XSubscriptions<RP> => new S2XSubscriptions<RP>(cfg);

let req = 0;
/** RFC 8048 Example 11 as decoded by the SIP side (no Expires header). */
const sub = (now: number, over: Partial<S2XSubscribeEvent> = {}): S2XEvent<RP> => ({
  kind: 'sip-subscribe', now, key: KEY, request: `r${++req}`, event: 'presence', accept: ['application/pidf+xml'],
  watcherAor: S_AOR, watcherJid: S, watcherInstance: S_GR, presentity: X, ...over,
});
const resub = (now: number, expires?: number, key = KEY): S2XEvent<RP> => ({
  kind: 'sip-resubscribe', now, key, request: `r${++req}`, event: 'presence', ...(expires !== undefined ? { expires } : {}),
});
const presence = (now: number, p: RP, from = `${X}/${p.resource ?? ''}`, to = S): S2XEvent<RP> => ({
  kind: 'xmpp-presence', now, from: p.resource === undefined ? X : from, to, presence: p,
});
const subscribed = (now: number, to = S): S2XEvent<RP> => ({ kind: 'xmpp-subscribed', now, from: X, to });
const timer = (now: number, key = KEY): S2XEvent<RP> => ({ kind: 'timer', now, key });

const notifies = (acts: S2XAction<RP>[]) => acts.flatMap((a) => (a.kind === 'sip-notify' ? [a] : []));
const stanzas = (acts: S2XAction<RP>[]) => acts.flatMap((a) => (a.kind === 'xmpp-presence' ? [a] : []));
const responds = (acts: S2XAction<RP>[]) => acts.flatMap((a) => (a.kind === 'sip-respond' ? [a] : []));
const timers = (acts: S2XAction<RP>[]) => acts.flatMap((a) => (a.kind === 'arm-timer' ? [a] : []));

/** S subscribed (TV-P4), X approved (TV-P5). */
function active(m = machine(), over: Partial<S2XSubscribeEvent> = {}, now = T0): S2XSubscriptions<RP> {
  m.handle(sub(now, over));
  m.handle(subscribed(now + 100, over.watcherJid ?? S));
  return m;
}

describe('§3.3 S2X: a SIP user asks to see an XMPP contact (RFC 8048 §5.3)', () => {
  it('§3.3 row "initial SUBSCRIBE": 200 at once, NOTIFY pending;expires with no body, `subscribe` from the SIP user\'s bare JID (TV-P4)', () => {
    const m = machine();
    const acts = m.handle(sub(T0));
    expect(acts).toEqual([
      { kind: 'sip-respond', key: KEY, request: `r${req}`, status: 200, expires: 3600 }, // no Expires ⇒ 3600 (RFC 3856 §6.4)
      { kind: 'sip-notify', key: KEY, presentity: X, state: 'pending', expires: 3600, body: { type: 'none' } },
      { kind: 'xmpp-presence', from: S, to: X, type: 'subscribe' }, // RFC 8048 Example 12
      { kind: 'persist', record: expect.objectContaining({ direction: 's2x', xmppJid: X, sipAor: S_AOR, sipJid: S, state: 'pending', authorization: 'pending', pendingApproval: true, watcherInstance: S_GR, expiresAt: T0 + 3_600_000 }) },
      { kind: 'arm-timer', key: KEY, at: T0 + 3_600_000 },
    ]);
    const rec = m.record(KEY);
    expect(isSubscriptionRecord(JSON.parse(JSON.stringify(rec)))).toBe(true);
  });

  it('§3.3 row "initial SUBSCRIBE" / §3.7: the granted Expires is min(requested, max); too short gets 423 with Min-Expires', () => {
    const m = machine({ maxExpires: 1800, minExpires: 120 });
    expect(responds(m.handle(sub(T0, { expires: 7200 })))[0]).toMatchObject({ status: 200, expires: 1800 });
    const short = machine({ minExpires: 120 }).handle(sub(T0, { expires: 30 }));
    expect(short).toEqual([{ kind: 'sip-respond', key: KEY, request: `r${req}`, status: 423, minExpires: 120 }]);
  });

  it('§3.3 row "initial SUBSCRIBE": other events get 489 with Allow-Events, an Accept without PIDF gets 406 (answered by the machine)', () => {
    expect(machine().handle(sub(T0, { event: 'message-summary' }))).toEqual([
      { kind: 'sip-respond', key: KEY, request: `r${req}`, status: 489, allowEvents: ['presence'] },
    ]);
    expect(machine().handle(sub(T0, { accept: ['application/xpidf+xml'] }))).toEqual([
      { kind: 'sip-respond', key: KEY, request: `r${req}`, status: 406, accept: ['application/pidf+xml'] },
    ]);
    expect(responds(machine().handle(sub(T0, { accept: ['*/*'] })))[0]?.status).toBe(200);
    expect(responds(machine().handle(sub(T0, { accept: undefined })))[0]?.status).toBe(200);
  });

  it('§3.3 row "XMPP subscribed from the contact": empty NOTIFY active WITH ;expires (TV-P5)', () => {
    const m = machine();
    m.handle(sub(T0));
    // RFC 8048 Example 13
    const acts = m.handle(subscribed(T0 + 1000));
    expect(notifies(acts)).toEqual([
      // Example 14 + the ;expires RFC 6665 §4.1.3 requires
      { kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: 3599, body: { type: 'none' } },
    ]);
    expect(m.record(KEY)).toMatchObject({ state: 'active', authorization: 'granted', pendingApproval: false, subscribedSent: true });
    // Nothing known about X yet: ask, so the SIP side is not left with nothing.
    expect(stanzas(acts)).toEqual([{ kind: 'xmpp-presence', from: S, to: X, type: 'probe' }]);
  });

  it('§3.3 row "XMPP unsubscribed from the contact": empty NOTIFY terminated;reason=rejected (TV-P6)', () => {
    const m = machine();
    m.handle(sub(T0));
    // RFC 8048 Example 15
    const acts = m.handle({ kind: 'xmpp-unsubscribed', now: T0 + 1000, from: X, to: S });
    // Example 16
    expect(notifies(acts)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'terminated', reason: 'rejected', body: { type: 'none' } }]);
    expect(acts).toContainEqual({ kind: 'forget', key: KEY });
    expect(m.size).toBe(0);
  });

  it('§3.3 row "refresh SUBSCRIBE": NOTIFY with the PIDF when the contact\'s presence is known, empty otherwise', () => {
    const m = active();
    const unknown = m.handle(resub(T0 + 60_000, 3600));
    expect(responds(unknown)[0]).toMatchObject({ status: 200, expires: 3600 });
    expect(notifies(unknown)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: 3600, body: { type: 'none' } }]);
    m.handle(presence(T0 + 70_000, open(X_RES, 'away')));
    const known = m.handle(resub(T0 + 120_000));
    expect(notifies(known)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: 3600, body: { type: 'presence', resources: [open(X_RES, 'away')] } }]);
    expect(m.record(KEY)?.expiresAt).toBe(T0 + 120_000 + 3_600_000);
    // A refresh while still pending re-states pending.
    const p = machine();
    p.handle(sub(T0));
    expect(notifies(p.handle(resub(T0 + 10, 600)))).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'pending', expires: 600, body: { type: 'none' } }]);
  });

  it('§3.3 row "SUBSCRIBE Expires: 0 inside the dialog": NOTIFY terminated;reason=timeout with a closed PIDF + `unavailable` to the contact', () => {
    const m = active();
    m.handle(presence(T0 + 500, open(X_RES)));
    const acts = m.handle(resub(T0 + 10_000, 0));
    expect(acts).toEqual([
      { kind: 'sip-respond', key: KEY, request: `r${req}`, status: 200, expires: 0 },
      { kind: 'sip-notify', key: KEY, presentity: X, state: 'terminated', reason: 'timeout', body: { type: 'closed' } },
      { kind: 'xmpp-presence', from: `${S}/${S_GR}`, to: X, type: 'unavailable' },
      { kind: 'cancel-timer', key: KEY },
      { kind: 'forget', key: KEY },
    ]);
    expect(m.size).toBe(0);
  });

  it('§3.3 row "SUBSCRIBE Expires: 0 in a new dialog (poll)": nothing cached → `probe`, answered when the contact answers (TV-P10)', () => {
    const m = machine();
    const POLL = 's2x 717B1B84-F080-4F12-9F44-0EC1ADE767B9;yt66';
    // RFC 8048 Example 24 (no Accept header)
    const acts = m.handle(sub(T0, { key: POLL, expires: 0, accept: undefined }));
    expect(acts).toEqual([
      { kind: 'sip-respond', key: POLL, request: `r${req}`, status: 200, expires: 0 },
      { kind: 'xmpp-presence', from: S, to: X, type: 'probe' }, // Example 25
      { kind: 'arm-timer', key: POLL, at: T0 + 5000 },
    ]);
    expect(m.record(POLL)).toBeUndefined(); // never persisted
    const answer = m.handle(presence(T0 + 300, open(X_RES, 'away')));
    expect(notifies(answer)).toEqual([{ kind: 'sip-notify', key: POLL, presentity: X, state: 'terminated', reason: 'timeout', body: { type: 'presence', resources: [open(X_RES, 'away')] } }]);
    expect(answer).toContainEqual({ kind: 'forget', key: POLL });
    expect(m.size).toBe(0);
  });

  it('§3.3 row "poll": answered from the cache with NOTIFY terminated;reason=timeout (RFC 6665 §4.4.3); no answer → empty terminated after the timeout', () => {
    const m = active();
    m.handle(presence(T0 + 500, open(X_RES)));
    const POLL = 'poll-1';
    const cached = m.handle(sub(T0 + 1000, { key: POLL, expires: 0 }));
    expect(notifies(cached)).toEqual([{ kind: 'sip-notify', key: POLL, presentity: X, state: 'terminated', reason: 'timeout', body: { type: 'presence', resources: [open(X_RES)] } }]);
    expect(stanzas(cached)).toEqual([]);

    const q = machine();
    q.handle(sub(T0, { key: POLL, expires: 0 }));
    const timeout = q.handle(timer(T0 + 5000, POLL));
    expect(notifies(timeout)).toEqual([{ kind: 'sip-notify', key: POLL, presentity: X, state: 'terminated', reason: 'timeout', body: { type: 'none' } }]);
    expect(q.size).toBe(0);
  });

  it('§3.3 row "the XMPP contact sends available or unavailable presence": NOTIFY in the dialog with the PIDF (TV-P7)', () => {
    const m = active();
    // RFC 8048 Example 18: <presence from='juliet@example.com/yn0cl4bnw0yr3vym'/>
    const on = m.handle(presence(T0 + 10_000, open(X_RES)));
    expect(notifies(on)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: 3590, body: { type: 'presence', resources: [open(X_RES)] } }]);
    const off = m.handle(presence(T0 + 20_000, closed(X_RES)));
    expect(notifies(off)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: 3580, body: { type: 'presence', resources: [closed(X_RES)] } }]);
  });

  it('§3.3 row "the XMPP server auto-approves (authorization already in the roster)": handled like subscribed', () => {
    const m = machine();
    const first = m.handle(sub(T0));
    expect(stanzas(first)).toEqual([{ kind: 'xmpp-presence', from: S, to: X, type: 'subscribe' }]);
    const auto = m.handle(subscribed(T0 + 5));
    expect(notifies(auto)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: 3600, body: { type: 'none' } }]);
    expect(m.state(KEY)).toBe('active');
  });

  it('a second device of the same SIP user gets the known document in its active NOTIFY', () => {
    const m = active();
    m.handle(presence(T0 + 1000, open(X_RES, 'dnd')));
    m.handle(sub(T0 + 2000, { key: 'dev2', watcherInstance: 'other' }));
    const acts = m.handle(subscribed(T0 + 2001));
    expect(notifies(acts)).toEqual([{ kind: 'sip-notify', key: 'dev2', presentity: X, state: 'active', expires: 3600, body: { type: 'presence', resources: [open(X_RES, 'dnd')] } }]);
    expect(stanzas(acts)).toEqual([]);
  });
});

describe('§3.7 S2X expiry and errors', () => {
  it('expiry without refresh: NOTIFY terminated;reason=timeout and the record is forgotten', () => {
    const m = active();
    const acts = m.handle(timer(T0 + 3_600_000));
    expect(acts).toEqual([
      { kind: 'sip-notify', key: KEY, presentity: X, state: 'terminated', reason: 'timeout', body: { type: 'none' } },
      { kind: 'forget', key: KEY },
    ]);
    expect(m.size).toBe(0);
  });

  it('a refresh for an unknown dialog gets 481; a refresh shorter than Min-Expires gets 423 and changes nothing', () => {
    const m = active();
    expect(responds(m.handle(resub(T0, 3600, 'nope')))[0]?.status).toBe(481);
    expect(m.handle(resub(T0 + 1, 10))).toEqual([{ kind: 'sip-respond', key: KEY, request: `r${req}`, status: 423, minExpires: 60 }]);
    expect(m.record(KEY)?.expiresAt).toBe(T0 + 3_600_000);
  });

  it('a presence error from the contact ends the pending dialogs: noresource, probation for wait, rejected otherwise; active ones stay', () => {
    const cases: Array<[string, string, string]> = [
      ['item-not-found', 'cancel', 'noresource'],
      ['remote-server-timeout', 'wait', 'probation'],
      ['forbidden', 'auth', 'rejected'],
    ];
    for (const [condition, type, reason] of cases) {
      const m = machine();
      m.handle(sub(T0));
      const acts = m.handle({ kind: 'xmpp-presence-error', now: T0 + 10, from: X, to: S, error: { condition, type } });
      expect(notifies(acts)).toEqual([{
        kind: 'sip-notify', key: KEY, presentity: X, state: 'terminated', reason, body: { type: 'none' },
        ...(reason === 'probation' ? { retryAfter: 60 } : {}),
      }]);
    }
    const a = active();
    expect(a.handle({ kind: 'xmpp-presence-error', now: T0 + 200, from: X, to: S, error: { condition: 'forbidden', type: 'auth' } })).toEqual([]);
  });

  it('X revoking a granted authorization ends the active dialog with rejected', () => {
    const m = active();
    const acts = m.handle({ kind: 'xmpp-unsubscribed', now: T0 + 1000, from: X, to: S });
    expect(notifies(acts)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'terminated', reason: 'rejected', body: { type: 'none' } }]);
  });
});

describe('RFC 3856 §6.10 rate limit: one presence NOTIFY per 5 s per dialog, latest state wins', () => {
  it('coalesces a burst into one NOTIFY carrying the latest state when the window closes', () => {
    const m = active();
    const t = T0 + 100_000;
    expect(notifies(m.handle(presence(t, open(X_RES, 'away'))))).toHaveLength(1);
    const burst1 = m.handle(presence(t + 1000, open(X_RES, 'dnd')));
    expect(notifies(burst1)).toEqual([]);
    expect(timers(burst1)).toEqual([{ kind: 'arm-timer', key: KEY, at: t + 5000 }]);
    expect(m.handle(presence(t + 2000, open(X_RES, 'xa')))).toEqual([]); // timer already armed
    expect(m.handle(presence(t + 3000, open('desk')))).toEqual([]);
    const fired = m.handle(timer(t + 5000));
    expect(notifies(fired)).toEqual([{
      kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: secondsLeftAt(t + 5000),
      body: { type: 'presence', resources: [open(X_RES, 'xa'), open('desk')] },
    }]);
    // Back to the expiry timer.
    expect(timers(fired)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 3_600_000 }]);
    // Another change right after: wait again.
    expect(notifies(m.handle(presence(t + 6000, open('desk', 'chat'))))).toEqual([]);
    expect(notifies(m.handle(timer(t + 10_000)))).toHaveLength(1);
    // Quiet for longer than the window: immediate.
    expect(notifies(m.handle(presence(t + 20_000, closed(X_RES))))).toHaveLength(1);
  });

  it('the activation NOTIFY opens a window: presence right after `subscribed` waits for it', () => {
    const m = machine();
    m.handle(sub(T0));
    m.handle(subscribed(T0 + 100));
    expect(notifies(m.handle(presence(T0 + 200, open(X_RES))))).toEqual([]);
    expect(notifies(m.handle(timer(T0 + 5100)))).toEqual([
      { kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: secondsLeftAt(T0 + 5100), body: { type: 'presence', resources: [open(X_RES)] } },
    ]);
  });

  it('a refresh sends the latest state at once and clears the owed NOTIFY', () => {
    const m = active();
    m.handle(presence(T0 + 10_000, open(X_RES)));
    m.handle(presence(T0 + 11_000, open(X_RES, 'away')));
    const r = m.handle(resub(T0 + 12_000));
    expect(notifies(r)[0]?.body).toEqual({ type: 'presence', resources: [open(X_RES, 'away')] });
    expect(notifies(m.handle(timer(T0 + 15_000)))).toEqual([]);
  });

  it('is per dialog: another watcher\'s window does not delay this one', () => {
    const m = active();
    active(m, { key: 'k2', watcherJid: 'benvolio@example.net', watcherAor: 'sip:benvolio@example.net', watcherInstance: undefined }, T0 + 3000);
    m.handle(presence(T0 + 10_000, open(X_RES)));
    const other = m.handle(presence(T0 + 11_000, open(X_RES), `${X}/${X_RES}`, 'benvolio@example.net'));
    expect(notifies(other).map((n) => n.key)).toEqual(['k2']);
  });
});

function secondsLeftAt(now: number): number {
  return Math.ceil((T0 + 3_600_000 - now) / 1000);
}

describe('RFC 8048 §8.2 / reference §3.7: no presence leaks', () => {
  const B = 'benvolio@example.net';
  const B_KEY = 's2x benvolio';

  function twoWatchers(): S2XSubscriptions<RP> {
    const m = active();
    active(m, { key: B_KEY, watcherJid: B, watcherAor: `sip:${B}`, watcherInstance: 'bphone' }, T0);
    return m;
  }

  it('two watchers of the same contact: presence addressed to one NOTIFYs only that one', () => {
    const m = twoWatchers();
    const toRomeo = m.handle(presence(T0 + 10_000, open(X_RES, 'away'), `${X}/${X_RES}`, S));
    expect(notifies(toRomeo).map((n) => n.key)).toEqual([KEY]);
    const toBen = m.handle(presence(T0 + 20_000, open(X_RES, 'dnd'), `${X}/${X_RES}`, B));
    expect(notifies(toBen).map((n) => n.key)).toEqual([B_KEY]);
    expect(notifies(toBen)[0]?.body).toEqual({ type: 'presence', resources: [open(X_RES, 'dnd')] });
    // Benvolio's refresh shows what X told Benvolio, never what X told Romeo.
    const r = m.handle(resub(T0 + 30_000, 3600, B_KEY));
    expect(notifies(r)[0]?.body).toEqual({ type: 'presence', resources: [open(X_RES, 'dnd')] });
  });

  it('a contact nobody watches, or a watcher with only a pending dialog, gets nothing', () => {
    const m = twoWatchers();
    expect(m.handle(presence(T0 + 10_000, open(X_RES), `${X}/${X_RES}`, 'tybalt@example.net'))).toEqual([]);
    expect(m.handle(presence(T0 + 10_000, open('r'), 'nurse@example.com/r', S))).toEqual([]);
    const p = machine();
    p.handle(sub(T0));
    expect(notifies(p.handle(presence(T0 + 10, open(X_RES))))).toEqual([]);
  });

  it('presence directed at one SIP device (full JID) reaches only that device\'s dialog and never the shared state', () => {
    const m = active();
    m.handle(sub(T0 + 10, { key: 'romeo-desk', watcherInstance: 'desk' }));
    m.handle(subscribed(T0 + 20));
    m.handle(presence(T0 + 10_000, open(X_RES)));
    const directed = m.handle(presence(T0 + 20_000, open(X_RES, 'chat'), `${X}/${X_RES}`, `${S}/${S_GR}`));
    expect(notifies(directed).map((n) => n.key)).toEqual([KEY]);
    expect(notifies(directed)[0]?.body).toEqual({ type: 'presence', resources: [open(X_RES, 'chat')] });
    const deskRefresh = m.handle(resub(T0 + 30_000, 3600, 'romeo-desk'));
    expect(notifies(deskRefresh)[0]?.body).toEqual({ type: 'presence', resources: [open(X_RES)] });
    // Directed at a device with no dialog here: nobody to deliver it to.
    expect(m.handle(presence(T0 + 40_000, open(X_RES, 'xa'), `${X}/${X_RES}`, `${S}/unknown`))).toEqual([]);
  });

  it('`subscribed` and `unsubscribed` for one watcher never touch another watcher\'s dialogs', () => {
    const m = machine();
    m.handle(sub(T0));
    m.handle(sub(T0, { key: B_KEY, watcherJid: B, watcherAor: `sip:${B}` }));
    expect(notifies(m.handle(subscribed(T0 + 10, B))).map((n) => n.key)).toEqual([B_KEY]);
    expect(m.state(KEY)).toBe('pending');
    expect(notifies(m.handle({ kind: 'xmpp-unsubscribed', now: T0 + 20, from: X, to: B })).map((n) => n.key)).toEqual([B_KEY]);
    expect(m.state(KEY)).toBe('pending');
  });
});

describe('S2X restore after restart (§3.8)', () => {
  it('an active dialog resumes: at the paced time it probes the contact, and the answer goes out as a NOTIFY in the same dialog', () => {
    const before = active();
    const rec = JSON.parse(JSON.stringify(before.record(KEY))) as unknown;
    if (!isSubscriptionRecord(rec)) throw new Error('bad record');
    const m = machine();
    const at = T0 + 60_000;
    expect(m.restore(rec, T0 + 50_000, at)).toEqual([{ kind: 'arm-timer', key: KEY, at }]);
    const fire = m.handle(timer(at));
    expect(stanzas(fire)).toEqual([{ kind: 'xmpp-presence', from: S, to: X, type: 'probe' }]);
    expect(timers(fire)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 3_600_000 }]);
    const n = m.handle(presence(at + 100, open(X_RES)));
    expect(notifies(n)).toEqual([{ kind: 'sip-notify', key: KEY, presentity: X, state: 'active', expires: secondsLeftAt(at + 100), body: { type: 'presence', resources: [open(X_RES)] } }]);
  });

  it('a pending dialog re-sends `subscribe`; the approval then activates it', () => {
    const before = machine();
    before.handle(sub(T0));
    const rec = before.record(KEY);
    if (rec === undefined) throw new Error('no record');
    const m = machine();
    m.restore(rec, T0 + 1000, T0 + 2000);
    expect(stanzas(m.handle(timer(T0 + 2000)))).toEqual([{ kind: 'xmpp-presence', from: S, to: X, type: 'subscribe' }]);
    expect(notifies(m.handle(subscribed(T0 + 2100)))[0]).toMatchObject({ state: 'active' });
  });

  it('a dialog that expired during the downtime ends with terminated;reason=timeout at its paced slot', () => {
    const rec = active().record(KEY);
    if (rec === undefined) throw new Error('no record');
    const m = machine();
    const at = T0 + 4_000_000;
    expect(m.restore(rec, at - 10, at)).toEqual([{ kind: 'arm-timer', key: KEY, at }]);
    expect(m.handle(timer(at))).toEqual([
      { kind: 'sip-notify', key: KEY, presentity: X, state: 'terminated', reason: 'timeout', body: { type: 'none' } },
      { kind: 'forget', key: KEY },
    ]);
  });

  it('presence before the slot is notified, rate limited as usual, without waiting for the slot', () => {
    const rec = active().record(KEY);
    if (rec === undefined) throw new Error('no record');
    const m = machine();
    m.restore(rec, T0 + 1000, T0 + 600_000);
    expect(notifies(m.handle(presence(T0 + 2000, open(X_RES))))).toHaveLength(1);
    const held = m.handle(presence(T0 + 3000, open(X_RES, 'away')));
    expect(timers(held)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 7000 }]);
    const fired = m.handle(timer(T0 + 7000));
    expect(notifies(fired)[0]?.body).toEqual({ type: 'presence', resources: [open(X_RES, 'away')] });
    expect(timers(fired)).toEqual([{ kind: 'arm-timer', key: KEY, at: T0 + 600_000 }]);
  });

  it('a refresh before the slot is served normally', () => {
    const rec = active().record(KEY);
    if (rec === undefined) throw new Error('no record');
    const m = machine();
    m.restore(rec, T0 + 1000, T0 + 9000);
    const r = m.handle(resub(T0 + 2000));
    expect(responds(r)[0]).toMatchObject({ status: 200, expires: 3600 });
    expect(notifies(r)[0]).toMatchObject({ state: 'active', body: { type: 'none' } });
    expect(() => m.restore({ ...rec, direction: 'x2s', state: 'subscribed' }, T0, T0)).toThrow(RangeError);
  });
});

describe('foldPresence: the per-resource document stays complete and bounded', () => {
  it('replaces per resource, keeps only available ones, and a last or bare unavailable stands alone', () => {
    let doc = foldPresence<RP>(undefined, open('a'));
    doc = foldPresence(doc, open('b', 'away'));
    doc = foldPresence(doc, open('a', 'dnd'));
    expect(doc).toEqual([open('b', 'away'), open('a', 'dnd')]);
    doc = foldPresence(doc, closed('a'));
    expect(doc).toEqual([open('b', 'away')]);
    doc = foldPresence(doc, closed('b'));
    expect(doc).toEqual([closed('b')]);
    expect(foldPresence([open('a'), open('b')], closed())).toEqual([closed()]);
    expect(foldPresence(Array.from({ length: 5 }, (_, i) => open(`r${i}`)), open('new'), 3)).toHaveLength(3);
  });
});
