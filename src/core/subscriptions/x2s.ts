/**
 * X2S presence subscriptions: an XMPP user U watches a SIP contact C (mapping reference §3.2, §3.7, §3.8;
 * RFC 8048 §5.2, §7.1, §8.1; RFC 6665). Sans-I/O: `handle(event)` returns the actions to execute.
 *
 * One long-lived subscription per (U bare JID, C bare JID), keyed by `x2sKey(U, C)`; a probe opens a
 * separate short-lived fetch dialog keyed by `x2sFetchKey(U, C)`. The table also tracks which of U's
 * resources are available (from `xmpp-user-presence`), shared by all of U's subscriptions.
 *
 * States (persisted in `SubscriptionRecord.state`):
 * - `subscribing`  a SUBSCRIBE with Expires > 0 is in flight (initial, refresh or retry);
 * - `subscribed`   the dialog is alive (a 2xx or a NOTIFY was seen) and nothing is in flight;
 * - `probing`      a refresh is due: the §8.1 probe went to U's bare JID, the refresh waits for U's answer;
 * - `waiting`      no dialog; a retry is armed for `retryAt`;
 * - `idle`         no dialog, U offline: the authorization is kept, the next session re-subscribes;
 * - `invariant`    the notifier ended the dialog with reason=invariant: keep the last presence, no re-SUBSCRIBE;
 * - `unsubscribing` U sent unsubscribe; the Expires: 0 SUBSCRIBE is in flight (or waits for the dialog).
 * In memory only: `restoring` (restored after a restart, re-SUBSCRIBE armed for restoreAt) and `closing`
 * (unsubscribe done, lingering to answer the terminating NOTIFY with 200, reference §3.2 note 1).
 *
 * Choices where the reference leaves one:
 * - The refresh check (§3.2 row, §3.7, RFC 8048 §8.1): ahead of expiry, if U has an available resource, a
 *   `probe` goes from C's bare JID (or `probeFrom`) to U's bare JID; the in-dialog re-SUBSCRIBE is sent when
 *   any available presence of U arrives before the dialog expires. No answer means no refresh: RFC 6121
 *   §4.3.2 has U's server answer every probe (available presences, unavailable, or unsubscribed), so silence
 *   or a refusal is not a confirmation, and §8.1 exists to stop refreshes nobody confirms. The dialog then
 *   lapses and the subscription goes `idle` until U's next session.
 * - U offline (no available resource left): stop refreshing and let the dialog expire, no `Expires: 0`
 *   (§3.7 [D] allows either). A session that resumes before expiry reuses the live dialog, and each
 *   `Expires: 0` would cost a SUBSCRIBE plus a NOTIFY (§8.1 amplification).
 * - A pending authorization (no `active` NOTIFY yet) is refreshed without the online check: the SIP side
 *   records a late approval only when a SUBSCRIBE arrives (§3.1), and U's pending-out request persists
 *   across sessions (RFC 6121 §3.1.2).
 * - A probe from U while the authorization is granted but `idle` re-SUBSCRIBEs in a new dialog instead of
 *   fetching: RFC 8048 §5.2.2 calls a new SUBSCRIBE on session start "functionally equivalent" to a probe,
 *   and a probe is often the only sign of U's session the gateway sees (U's server sends C its presence only
 *   when C has a `from` subscription). Every other probe is a fetch (TV-P9).
 * - Whenever `unsubscribed` goes to U, `unavailable` first goes from each of C's resources U was shown
 *   (RFC 6121 §3.2.1, §3.3.1: the contact's server sends unavailable on cancellation). The same
 *   unavailables go when a dialog ends and is not immediately replaced while U is online, so U never keeps
 *   a stale "available"; `invariant` keeps the last presence (§3.2 row).
 * - Failures (§3.2 rows, RFC 8048 §5.2.2): 403/489/603 cancel the authorization; 423 retries with
 *   Min-Expires and 481 with a new dialog (each at most `maxTransientRetries` times in a row); any other
 *   failure of a refresh keeps the live dialog until it expires (RFC 6665 §4.1.2.2); with no live dialog it
 *   sends `<presence type="error">` and then either forgets a still-pending request or, for a granted
 *   authorization, retries with exponential backoff.
 * - terminated;reason=timeout/deactivated (and no or an unknown reason, RFC 6665 §4.1.3 "MAY re-subscribe")
 *   re-subscribe at once the first time and with backoff after that, so a notifier terminating every new
 *   dialog cannot make the gateway loop. The counter resets when an in-dialog refresh succeeds or U's
 *   session starts.
 * - Fetch (probe) results and failures go to the prober's JID (the bare JID when several probes coalesce);
 *   a fetch never changes the authorization (RFC 8048 §7.1 describes it as a one-time poll).
 * - A PIDF with more tuples than `maxResources` is cut to the first `maxResources` (a stanza per tuple).
 */
import {
  bareOf,
  resourceOf,
  SUBSCRIPTION_RECORD_VERSION,
  type PresenceLike,
  type SipSubscribeAction,
  type SubscriptionAction,
  type SipNotifyAction,
  type SubscriptionRecord,
  type TimerEvent,
  type X2SStateName,
  type XmppErrorInfo,
} from './types.js';

/** RFC 8048 §5.2.2 classes of a failed SUBSCRIBE; the same strings as core/errors.ts subscribeFailureAction. */
export type SubscribeFailureKind = 'cancel-authorization' | 'retry-with-min-expires' | 'new-dialog' | 'map-error';

export interface X2SConfig {
  /** Expires (s) of each SUBSCRIBE. Default 3600 (RFC 3856 §6.4; TV-P1). */
  expires?: number;
  /** First retry delay after a failure; doubles per consecutive failure. Default 30 s. */
  retryBaseMs?: number;
  /** Cap of the retry delay. Default 1 h. */
  retryMaxMs?: number;
  /** How long a finished dialog waits for its terminating NOTIFY, and a fetch for its NOTIFY. Default 32 s (64×T1). */
  lingerMs?: number;
  /** `from` of the §8.1 refresh probe. Default: the contact's bare JID (the gateway address U's roster knows). */
  probeFrom?: string;
  /** Consecutive 423/481 retries before the failure is treated as any other. Default 3. */
  maxTransientRetries?: number;
  /** Most tuples translated per NOTIFY. Default 64. */
  maxResources?: number;
  /** SIP status (3xx–6xx, or 408 for a transaction timeout) → XMPP error, e.g. core/errors.ts sipStatusToXmppError. */
  mapSipError: (status: number, reason?: string) => XmppErrorInfo;
  /** Default: 403/489/603 cancel, 423 retry with Min-Expires, 481 new dialog (RFC 8048 §5.2.2), else map. */
  subscribeFailure?: (status: number) => SubscribeFailureKind;
}

/** U (`user`, bare or full) sent `<presence type="subscribe">` to C (`contact`, whose SIP AOR is `aor`). */
export interface X2SSubscribeEvent {
  kind: 'xmpp-subscribe';
  now: number;
  user: string;
  contact: string;
  aor: string;
}

/** U sent `<presence type="unsubscribe">` to C. */
export interface X2SUnsubscribeEvent {
  kind: 'xmpp-unsubscribe';
  now: number;
  user: string;
  contact: string;
}

/** `<presence type="probe">` from U (`user` as stamped: bare or full) to C. */
export interface X2SProbeEvent {
  kind: 'xmpp-probe';
  now: number;
  user: string;
  contact: string;
  aor: string;
}

/**
 * A presence of U's own (no type, or `unavailable`) addressed to any JID the gateway serves: broadcast,
 * directed, or the answer to a refresh probe. `jid` is the full JID (bare for a bare-JID unavailable, which
 * RFC 6121 §4.3.2 uses to say U has no available resource).
 */
export interface X2SUserPresenceEvent {
  kind: 'xmpp-user-presence';
  now: number;
  jid: string;
  available: boolean;
}

/** The final response to the last SUBSCRIBE sent under `key` (408 for a transaction timeout). */
export interface X2SResponseEvent {
  kind: 'sip-response';
  now: number;
  key: string;
  status: number;
  reason?: string;
  /** The response's Expires (s). */
  expires?: number;
  /** The 423's Min-Expires (s). */
  minExpires?: number;
  /** Retry-After (s), if any. */
  retryAfter?: number;
}

/**
 * A NOTIFY in the dialog held under `key` (the dialog layer matched Call-ID and tags; an unmatched NOTIFY
 * never reaches the machine). `request` identifies it for the `sip-respond` the machine returns.
 * `body`: the PIDF parsed into one presence per tuple, or `'no-body'` (keep the last document, RFC 3856 §6.8).
 */
export interface X2SNotifyEvent<P extends PresenceLike = PresenceLike> {
  kind: 'sip-notify';
  now: number;
  key: string;
  request: string;
  state: 'pending' | 'active' | 'terminated';
  expires?: number;
  reason?: string;
  retryAfter?: number;
  body: readonly P[] | 'no-body';
}

export type X2SEvent<P extends PresenceLike = PresenceLike> =
  | X2SSubscribeEvent
  | X2SUnsubscribeEvent
  | X2SProbeEvent
  | X2SUserPresenceEvent
  | X2SResponseEvent
  | X2SNotifyEvent<P>
  | TimerEvent;

export type X2SAction<P extends PresenceLike = PresenceLike> = Exclude<SubscriptionAction<P>, SipNotifyAction<P>>;

/** The key of U's long-lived subscription to C. Both are bare JIDs as the address mapping normalized them. */
export function x2sKey(user: string, contact: string): string {
  return `x2s ${bareOf(user)} ${bareOf(contact)}`;
}

/** The key of the short-lived fetch dialog a probe from U to C opens. */
export function x2sFetchKey(user: string, contact: string): string {
  return `x2s-fetch ${bareOf(user)} ${bareOf(contact)}`;
}

type X2SInternalState = X2SStateName | 'restoring' | 'closing';

// One plain object per subscription; behaviour lives on the table, so nothing is allocated per subscription
// beyond these fields, the key and the short `shown` array.
interface X2SSub {
  key: string;
  user: string;
  contact: string;
  aor: string;
  state: X2SInternalState;
  granted: boolean;
  /** The dialog layer holds a dialog that is alive (2xx or NOTIFY seen, not terminated, not expired). */
  live: boolean;
  expiresAt: number;
  refreshAt: number;
  expires: number;
  retryCount: number;
  retryAt: number;
  /** `unsubscribing`: the Expires 0 waits for the initial SUBSCRIBE's answer; `restoring`: restoring one. */
  unsubAfter: boolean;
  /** Resources of C shown available to U ('' = C's bare JID). */
  shown: string[] | undefined;
  timerAt: number;
}

interface X2SFetch {
  key: string;
  user: string;
  /** Where the answer goes: the prober's JID, or U's bare JID once several probes coalesced. */
  to: string;
  contact: string;
  timerAt: number;
}

const CANCEL = new Set([403, 489, 603]);
const MAX_USER_RESOURCES = 64;

function defaultFailure(status: number): SubscribeFailureKind {
  if (CANCEL.has(status)) return 'cancel-authorization';
  if (status === 423) return 'retry-with-min-expires';
  if (status === 481) return 'new-dialog';
  return 'map-error';
}

/** How long before expiry a refresh starts: 10 % of the duration, at least 60 s, at most half of it. */
function refreshLead(durationMs: number): number {
  return Math.min(durationMs / 2, Math.max(durationMs / 10, 60_000));
}

export class X2SSubscriptions<P extends PresenceLike = PresenceLike> {
  private readonly subs = new Map<string, X2SSub>();
  private readonly byUser = new Map<string, X2SSub[]>();
  private readonly online = new Map<string, string[]>();
  private readonly fetches = new Map<string, X2SFetch>();
  private readonly expires: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly lingerMs: number;
  private readonly maxTransient: number;
  private readonly maxResources: number;
  private readonly classify: (status: number) => SubscribeFailureKind;

  constructor(private readonly config: X2SConfig) {
    this.expires = config.expires ?? 3600;
    this.retryBaseMs = config.retryBaseMs ?? 30_000;
    this.retryMaxMs = config.retryMaxMs ?? 3_600_000;
    this.lingerMs = config.lingerMs ?? 32_000;
    this.maxTransient = config.maxTransientRetries ?? 3;
    this.maxResources = config.maxResources ?? 64;
    this.classify = config.subscribeFailure ?? defaultFailure;
    if (!Number.isInteger(this.expires) || this.expires <= 0) throw new RangeError('X2S expires must be a positive integer');
  }

  /** Number of long-lived subscriptions held (fetches excluded). */
  get size(): number {
    return this.subs.size;
  }

  /** The record as it would be persisted now, for inspection. */
  record(key: string): SubscriptionRecord | undefined {
    const sub = this.subs.get(key);
    return sub === undefined ? undefined : this.toRecord(sub);
  }

  /** The machine state of `key`, including the in-memory `restoring` and `closing`. */
  state(key: string): string | undefined {
    return this.subs.get(key)?.state ?? (this.fetches.has(key) ? 'fetching' : undefined);
  }

  /** Whether U (bare JID) has an available resource, as far as the machine knows. */
  isOnline(user: string): boolean {
    return (this.online.get(bareOf(user))?.length ?? 0) > 0;
  }

  handle(ev: X2SEvent<P>): X2SAction<P>[] {
    const out: X2SAction<P>[] = [];
    switch (ev.kind) {
      case 'xmpp-subscribe':
        this.onSubscribe(ev, out);
        break;
      case 'xmpp-unsubscribe':
        this.onUnsubscribe(ev, out);
        break;
      case 'xmpp-probe':
        this.onProbe(ev, out);
        break;
      case 'xmpp-user-presence':
        this.onUserPresence(ev, out);
        break;
      case 'sip-response':
        this.onResponse(ev, out);
        break;
      case 'sip-notify':
        this.onNotify(ev, out);
        break;
      case 'timer':
        this.onTimer(ev, out);
        break;
    }
    return out;
  }

  /**
   * Re-creates a subscription from its record after a restart. A live or pending subscription is
   * re-established by a re-SUBSCRIBE at `restoreAt` (in the stored dialog while `expiresAt` is ahead,
   * else in a new one): the caller spreads `restoreAt` over the restored set. `waiting` resumes its retry
   * (not before `restoreAt`), `invariant` stays quiet, and an unfinished unsubscribe is finished at
   * `restoreAt`. The online map is empty after a restart, so refreshes wait for U's presence as usual.
   */
  restore(record: SubscriptionRecord, now: number, restoreAt: number): X2SAction<P>[] {
    if (record.direction !== 'x2s') throw new RangeError(`not an x2s record: ${record.key}`);
    const out: X2SAction<P>[] = [];
    const old = this.subs.get(record.key);
    if (old !== undefined) this.detach(old);
    const live = record.expiresAt > now;
    const sub: X2SSub = {
      key: record.key,
      user: record.xmppJid,
      contact: record.sipJid,
      aor: record.sipAor,
      state: 'restoring',
      granted: record.authorization === 'granted',
      live,
      expiresAt: live ? record.expiresAt : 0,
      refreshAt: 0,
      expires: record.expires > 0 ? record.expires : this.expires,
      retryCount: record.retryCount,
      retryAt: 0,
      unsubAfter: record.state === 'unsubscribing',
      shown: undefined,
      timerAt: old?.timerAt ?? 0,
    };
    this.attach(sub);
    const state = record.state as X2SStateName;
    if (state === 'invariant') {
      sub.state = 'invariant';
      this.setTimer(sub, 0, out);
    } else if (state === 'waiting') {
      sub.state = 'waiting';
      sub.retryAt = Math.max(record.retryAt, restoreAt);
      this.setTimer(sub, sub.retryAt, out);
    } else {
      this.setTimer(sub, restoreAt, out);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------------ XMPP in

  private onSubscribe(ev: X2SSubscribeEvent, out: X2SAction<P>[]): void {
    const user = bareOf(ev.user);
    const contact = bareOf(ev.contact);
    const key = x2sKey(user, contact);
    let sub = this.subs.get(key);
    if (sub === undefined) {
      sub = {
        key, user, contact, aor: ev.aor, state: 'subscribing', granted: false, live: false, expiresAt: 0,
        refreshAt: 0, expires: this.expires, retryCount: 0, retryAt: 0, unsubAfter: false, shown: undefined,
        timerAt: 0,
      };
      this.attach(sub);
      this.sendSubscribe(sub, out, resourceOf(ev.user));
      this.persist(sub, out);
      return;
    }
    // RFC 6121 §3.1.3: a request for an existing authorization is acknowledged again.
    if (sub.granted && sub.state !== 'unsubscribing' && sub.state !== 'closing') {
      out.push({ kind: 'xmpp-presence', from: contact, to: user, type: 'subscribed' });
    }
    switch (sub.state) {
      case 'closing':
      case 'unsubscribing':
        // U changed her mind: the old dialog is being torn down, so ask again in a new one.
        if (sub.state === 'unsubscribing' && sub.unsubAfter) {
          sub.unsubAfter = false;
          sub.state = 'subscribing';
        } else {
          sub.live = false;
          sub.expiresAt = 0;
          sub.granted = false;
          sub.shown = undefined;
          sub.retryCount = 0;
          this.sendSubscribe(sub, out, resourceOf(ev.user));
        }
        this.persist(sub, out);
        return;
      case 'waiting':
      case 'idle':
      case 'invariant':
        sub.retryCount = 0;
        sub.retryAt = 0;
        this.sendSubscribe(sub, out, resourceOf(ev.user));
        this.persist(sub, out);
        return;
      default:
        return; // a SUBSCRIBE is in flight or the dialog is alive: nothing new to ask
    }
  }

  private onUnsubscribe(ev: X2SUnsubscribeEvent, out: X2SAction<P>[]): void {
    const sub = this.subs.get(x2sKey(ev.user, ev.contact));
    // RFC 6121 §3.3.3: an unsubscribe for no subscription is ignored.
    if (sub === undefined || sub.state === 'unsubscribing' || sub.state === 'closing') return;
    if (sub.live) {
      sub.state = 'unsubscribing';
      this.setTimer(sub, 0, out);
      this.pushSubscribe(sub, 0, out);
      this.persist(sub, out);
    } else if (sub.state === 'subscribing') {
      // The initial SUBSCRIBE has no dialog yet: cancel once its answer creates one.
      sub.state = 'unsubscribing';
      sub.unsubAfter = true;
      this.persist(sub, out);
    } else {
      this.finishUnsubscribe(sub, ev.now, out, false);
    }
  }

  private onProbe(ev: X2SProbeEvent, out: X2SAction<P>[]): void {
    const user = bareOf(ev.user);
    const contact = bareOf(ev.contact);
    const sub = this.subs.get(x2sKey(user, contact));
    if (sub !== undefined && sub.granted && sub.state === 'idle') {
      sub.retryCount = 0;
      this.sendSubscribe(sub, out, resourceOf(ev.user));
      this.persist(sub, out);
      return;
    }
    const key = x2sFetchKey(user, contact);
    const existing = this.fetches.get(key);
    if (existing !== undefined) {
      // Coalesce: one fetch in flight per (U, C); widen the answer to U's bare JID if another resource asked.
      if (existing.to !== ev.user) existing.to = user;
      return;
    }
    this.fetches.set(key, { key, user, to: ev.user, contact, timerAt: 0 });
    const action: SipSubscribeAction = {
      kind: 'sip-subscribe', key, newDialog: true, expires: 0, target: ev.aor, from: user,
      event: 'presence', accept: 'application/pidf+xml',
    };
    const res = resourceOf(ev.user) ?? this.anyResource(user);
    if (res !== undefined) action.contactResource = res;
    out.push(action);
  }

  private onUserPresence(ev: X2SUserPresenceEvent, out: X2SAction<P>[]): void {
    const user = bareOf(ev.jid);
    const res = resourceOf(ev.jid) ?? '';
    const list = this.online.get(user);
    if (!ev.available) {
      if (list === undefined) return;
      const i = list.indexOf(res);
      if (res === '') this.online.delete(user);
      else if (i >= 0) {
        list.splice(i, 1);
        if (list.length === 0) this.online.delete(user);
      }
      return;
    }
    const cameOnline = list === undefined;
    if (list === undefined) this.online.set(user, [res]);
    else if (!list.includes(res) && list.length < MAX_USER_RESOURCES) list.push(res);
    const subs = this.byUser.get(user);
    if (subs === undefined) return;
    for (const sub of subs) {
      if (sub.state === 'probing' || (cameOnline && (sub.state === 'subscribed' || sub.state === 'idle'))) {
        // §3.2: session start re-SUBSCRIBEs (acts like a probe); any available presence confirms a probe.
        if (cameOnline) sub.retryCount = 0;
        this.sendSubscribe(sub, out);
        if (!sub.live) this.persist(sub, out);
      }
    }
  }

  // ------------------------------------------------------------------------------------------- SIP in

  private onResponse(ev: X2SResponseEvent, out: X2SAction<P>[]): void {
    const fetch = this.fetches.get(ev.key);
    if (fetch !== undefined) {
      if (ev.status < 200) return;
      if (ev.status < 300) this.setTimer(fetch, ev.now + this.lingerMs, out);
      else {
        out.push({ kind: 'xmpp-presence', from: fetch.contact, to: fetch.to, type: 'error', error: this.config.mapSipError(ev.status, ev.reason) });
        this.dropFetch(fetch, out);
      }
      return;
    }
    const sub = this.subs.get(ev.key);
    if (sub === undefined || ev.status < 200) return;
    const ok = ev.status < 300;
    if (sub.state === 'unsubscribing') {
      if (sub.unsubAfter) {
        sub.unsubAfter = false;
        if (ok) {
          sub.live = true;
          this.pushSubscribe(sub, 0, out);
          return;
        }
      }
      this.finishUnsubscribe(sub, ev.now, out, ok && sub.live);
      return;
    }
    if (sub.state !== 'subscribing') return; // stale: nothing of ours is in flight
    if (ok) {
      if (sub.live) sub.retryCount = 0; // an in-dialog refresh worked: the dialog has proved itself
      sub.live = true;
      sub.state = 'subscribed';
      this.setExpiry(sub, ev.now, ev.expires ?? sub.expires, out);
      this.persist(sub, out);
      return;
    }
    const kind = this.classify(ev.status);
    if (kind === 'cancel-authorization') {
      this.cancelAuthorization(sub, out);
      return;
    }
    if (kind === 'retry-with-min-expires' && ev.minExpires !== undefined && ev.minExpires > sub.expires
      && sub.retryCount < this.maxTransient) {
      sub.expires = ev.minExpires;
      sub.retryCount++;
      this.sendSubscribe(sub, out);
      this.persist(sub, out);
      return;
    }
    if (kind === 'new-dialog' && sub.live && sub.retryCount < this.maxTransient) {
      sub.live = false;
      sub.expiresAt = 0;
      sub.retryCount++;
      this.sendSubscribe(sub, out);
      this.persist(sub, out);
      return;
    }
    if (sub.live && kind !== 'new-dialog') {
      // RFC 6665 §4.1.2.2: a failed refresh leaves the subscription valid until it expires.
      sub.state = 'subscribed';
      sub.refreshAt = sub.expiresAt;
      this.setTimer(sub, sub.expiresAt, out);
      return;
    }
    out.push({ kind: 'xmpp-presence', from: sub.contact, to: sub.user, type: 'error', error: this.config.mapSipError(ev.status, ev.reason) });
    sub.live = false;
    sub.expiresAt = 0;
    sub.shown = undefined;
    if (!sub.granted) this.drop(sub, out, true);
    else this.scheduleRetry(sub, ev.now, out, ev.retryAfter);
  }

  private onNotify(ev: X2SNotifyEvent<P>, out: X2SAction<P>[]): void {
    const fetch = this.fetches.get(ev.key);
    const sub = fetch === undefined ? this.subs.get(ev.key) : undefined;
    // RFC 6665 §4.1.3: a NOTIFY for a subscription we do not hold gets 481, which ends it at the notifier.
    out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: fetch !== undefined || sub !== undefined ? 200 : 481 });
    if (fetch !== undefined) {
      if (ev.state !== 'pending' && ev.body !== 'no-body') this.translate(fetch.contact, fetch.to, ev.body, undefined, out);
      if (ev.state === 'terminated') this.dropFetch(fetch, out);
      return;
    }
    if (sub === undefined) return;
    if (sub.state === 'closing') {
      if (ev.state === 'terminated') this.drop(sub, out, false);
      return;
    }
    if (sub.state === 'unsubscribing') {
      if (ev.state === 'terminated' && !sub.unsubAfter) sub.live = false;
      return;
    }
    if (sub.state === 'restoring' && sub.unsubAfter) {
      // An unsubscribe interrupted by the restart: the restore timer finishes it, in this dialog if alive.
      sub.live = ev.state !== 'terminated';
      return;
    }
    if (ev.state !== 'terminated') {
      const before = this.toRecordState(sub);
      const wasExpiresAt = sub.expiresAt;
      sub.live = true;
      if (sub.state === 'idle' || sub.state === 'waiting' || sub.state === 'restoring' || sub.state === 'invariant') {
        sub.state = 'subscribed';
        sub.retryAt = 0;
      }
      if (ev.state === 'active' && !sub.granted) {
        sub.granted = true;
        out.push({ kind: 'xmpp-presence', from: sub.contact, to: sub.user, type: 'subscribed' });
      }
      // §3.7: the NOTIFY's expires is authoritative.
      if (ev.expires !== undefined) this.setExpiry(sub, ev.now, ev.expires, out);
      else if (sub.expiresAt === 0) this.setExpiry(sub, ev.now, sub.expires, out);
      else this.reschedule(sub, out);
      // §3.2: pending NOTIFYs are answered and otherwise ignored, so nothing leaks before authorization.
      if (ev.state === 'active' && ev.body !== 'no-body') this.translate(sub.contact, sub.user, ev.body, sub, out);
      if (this.toRecordState(sub) !== before || Math.abs(sub.expiresAt - wasExpiresAt) > 2000) this.persist(sub, out);
      return;
    }
    const reason = ev.reason?.toLowerCase();
    const wasLive = sub.live || sub.state === 'subscribing';
    sub.live = false;
    sub.expiresAt = 0;
    if (reason === 'rejected' || reason === 'noresource') {
      // RFC 6665 §4.1.3: the notifier refused, or the resource is gone: do not retry (§3.2 [D] rows).
      this.cancelAuthorization(sub, out);
      return;
    }
    // The end of a dialog already given up on (lapsed, or replaced by a retry) decides nothing new, and a
    // restored subscription re-subscribes in a new dialog at its paced time anyway.
    if (!wasLive || sub.state === 'restoring') return;
    if (sub.granted && ev.body !== 'no-body') this.translate(sub.contact, sub.user, ev.body, sub, out);
    if (reason === 'invariant') {
      sub.state = 'invariant';
      sub.retryAt = 0;
      this.setTimer(sub, 0, out);
      this.persist(sub, out);
    } else if (reason === 'probation' || reason === 'giveup') {
      this.lapse(sub, out);
      this.scheduleRetry(sub, ev.now, out, ev.retryAfter);
    } else if (sub.state === 'subscribing') {
      // Our SUBSCRIBE is still in flight in the dead dialog: re-subscribe in a new one at once.
      this.resubscribe(sub, ev.now, out);
    } else {
      this.dialogEnded(sub, ev.now, out);
    }
  }

  // ------------------------------------------------------------------------------------------- timers

  private onTimer(ev: TimerEvent, out: X2SAction<P>[]): void {
    const fetch = this.fetches.get(ev.key);
    if (fetch !== undefined) {
      if (fetch.timerAt !== 0) {
        fetch.timerAt = 0;
        this.dropFetch(fetch, out);
      }
      return;
    }
    const sub = this.subs.get(ev.key);
    if (sub === undefined || sub.timerAt === 0) return;
    sub.timerAt = 0;
    const now = ev.now;
    switch (sub.state) {
      case 'closing':
        this.drop(sub, out, false);
        return;
      case 'restoring':
        if (sub.unsubAfter) {
          sub.unsubAfter = false;
          if (sub.live) {
            sub.state = 'unsubscribing';
            this.pushSubscribe(sub, 0, out);
          } else this.finishUnsubscribe(sub, now, out, false);
        } else {
          this.sendSubscribe(sub, out);
        }
        return;
      case 'waiting':
        if (now < sub.retryAt) this.setTimer(sub, sub.retryAt, out);
        else {
          sub.retryAt = 0;
          if (sub.granted && !this.isOnline(sub.user)) {
            sub.state = 'idle';
            this.persist(sub, out);
          } else this.sendSubscribe(sub, out);
        }
        return;
      case 'subscribed':
        if (now >= sub.expiresAt) {
          sub.live = false;
          sub.expiresAt = 0;
          this.dialogEnded(sub, now, out);
        } else if (now >= sub.refreshAt) {
          if (!sub.granted) this.sendSubscribe(sub, out);
          else if (this.isOnline(sub.user)) {
            // §3.2 / RFC 8048 §8.1: check with U's server before refreshing.
            out.push({ kind: 'xmpp-presence', from: this.config.probeFrom ?? sub.contact, to: sub.user, type: 'probe' });
            sub.state = 'probing';
            this.setTimer(sub, sub.expiresAt, out);
          } else {
            sub.refreshAt = sub.expiresAt;
            this.setTimer(sub, sub.expiresAt, out);
          }
        } else this.setTimer(sub, sub.refreshAt, out);
        return;
      case 'probing':
        if (now >= sub.expiresAt) {
          // Nobody confirmed U's session: let the authorization rest until the next one.
          sub.live = false;
          sub.expiresAt = 0;
          this.lapse(sub, out);
          sub.state = 'idle';
          this.persist(sub, out);
        } else this.setTimer(sub, sub.expiresAt, out);
        return;
      default:
        return;
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  /** The dialog ended (terminated timeout/deactivated/unknown, or expired): §3.2 timeout rows. */
  private dialogEnded(sub: X2SSub, now: number, out: X2SAction<P>[]): void {
    if (sub.state !== 'probing' && (!sub.granted || this.isOnline(sub.user))) {
      this.resubscribe(sub, now, out);
      return;
    }
    this.lapse(sub, out);
    sub.state = 'idle';
    sub.retryAt = 0;
    this.setTimer(sub, 0, out);
    this.persist(sub, out);
  }

  /** Re-subscribe in a new dialog: at once the first time, with backoff when it keeps ending. */
  private resubscribe(sub: X2SSub, now: number, out: X2SAction<P>[]): void {
    if (sub.retryCount === 0) {
      sub.retryCount = 1;
      this.sendSubscribe(sub, out);
      this.persist(sub, out);
    } else {
      this.lapse(sub, out);
      this.scheduleRetry(sub, now, out);
    }
  }

  private scheduleRetry(sub: X2SSub, now: number, out: X2SAction<P>[], retryAfterS?: number): void {
    sub.retryCount++;
    const backoff = Math.min(this.retryBaseMs * 2 ** Math.min(sub.retryCount - 1, 30), this.retryMaxMs);
    sub.retryAt = now + (retryAfterS !== undefined && retryAfterS >= 0 ? retryAfterS * 1000 : backoff);
    sub.state = 'waiting';
    this.setTimer(sub, sub.retryAt, out);
    this.persist(sub, out);
  }

  /** U no longer sees C's presence kept fresh: take back the resources shown, if U can see them at all. */
  private lapse(sub: X2SSub, out: X2SAction<P>[]): void {
    if (sub.shown !== undefined && this.isOnline(sub.user)) this.unavailables(sub, out);
    sub.shown = undefined;
  }

  private unavailables(sub: X2SSub, out: X2SAction<P>[]): void {
    for (const r of sub.shown ?? []) {
      out.push({ kind: 'xmpp-presence', from: r === '' ? sub.contact : `${sub.contact}/${r}`, to: sub.user, type: 'unavailable' });
    }
    sub.shown = undefined;
  }

  /** §3.2: the authorization is permanently cancelled (403/489/603, rejected, noresource). */
  private cancelAuthorization(sub: X2SSub, out: X2SAction<P>[]): void {
    this.unavailables(sub, out);
    out.push({ kind: 'xmpp-presence', from: sub.contact, to: sub.user, type: 'unsubscribed' });
    this.drop(sub, out, true);
  }

  /** TV-P3: U's unsubscribe is done on the SIP side (or there was nothing to cancel). */
  private finishUnsubscribe(sub: X2SSub, now: number, out: X2SAction<P>[], linger: boolean): void {
    this.unavailables(sub, out);
    out.push({ kind: 'xmpp-presence', from: sub.contact, to: sub.user, type: 'unsubscribed' });
    if (!linger) {
      this.drop(sub, out, true);
      return;
    }
    // Reference §3.2 note 1: the notifier still sends the terminating NOTIFY; answer it with 200.
    out.push({ kind: 'forget', key: sub.key });
    sub.state = 'closing';
    this.setTimer(sub, now + this.lingerMs, out);
  }

  /** A SUBSCRIBE with the subscription's Expires: in the live dialog, else in a new one. */
  private sendSubscribe(sub: X2SSub, out: X2SAction<P>[], resource?: string): void {
    sub.state = 'subscribing';
    if (!sub.live) sub.expiresAt = 0;
    // The transaction layer guarantees a final response (408 at worst), so no timer runs meanwhile.
    this.setTimer(sub, 0, out);
    this.pushSubscribe(sub, sub.expires, out, resource);
  }

  private pushSubscribe(sub: X2SSub, expires: number, out: X2SAction<P>[], resource?: string): void {
    const action: SipSubscribeAction = {
      kind: 'sip-subscribe', key: sub.key, newDialog: !sub.live, expires, target: sub.aor, from: sub.user,
      event: 'presence', accept: 'application/pidf+xml',
    };
    const res = resource ?? this.anyResource(sub.user);
    if (res !== undefined) action.contactResource = res;
    out.push(action);
  }

  private anyResource(user: string): string | undefined {
    const r = this.online.get(user)?.find((x) => x !== '');
    return r;
  }

  /** Sets the dialog's expiry and the refresh point, and re-arms the timer unless a request is in flight. */
  private setExpiry(sub: X2SSub, now: number, seconds: number, out: X2SAction<P>[]): void {
    const ms = Math.max(0, seconds) * 1000;
    sub.expiresAt = now + ms;
    sub.refreshAt = sub.expiresAt - refreshLead(ms);
    this.reschedule(sub, out);
  }

  private reschedule(sub: X2SSub, out: X2SAction<P>[]): void {
    if (sub.state === 'subscribed') this.setTimer(sub, Math.min(sub.refreshAt, sub.expiresAt), out);
    else if (sub.state === 'probing') this.setTimer(sub, sub.expiresAt, out);
  }

  private setTimer(sub: { key: string; timerAt: number }, at: number, out: X2SAction<P>[]): void {
    if (sub.timerAt === at) return;
    if (at === 0) out.push({ kind: 'cancel-timer', key: sub.key });
    else out.push({ kind: 'arm-timer', key: sub.key, at });
    sub.timerAt = at;
  }

  private dropFetch(f: X2SFetch, out: X2SAction<P>[]): void {
    this.setTimer(f, 0, out);
    this.fetches.delete(f.key);
    out.push({ kind: 'forget', key: f.key });
  }

  private translate(contact: string, to: string, body: readonly P[], sub: X2SSub | undefined, out: X2SAction<P>[]): void {
    const next: string[] = [];
    const seen: string[] = [];
    for (const p of body.slice(0, this.maxResources)) {
      const r = p.resource ?? '';
      seen.push(r);
      const action: X2SAction<P> = { kind: 'xmpp-presence', from: r === '' ? contact : `${contact}/${r}`, to, presence: p };
      if (!p.available) action.type = 'unavailable';
      out.push(action);
      if (p.available && !next.includes(r)) next.push(r);
    }
    if (sub === undefined) return;
    // RFC 3856 §6.8: each NOTIFY body is the complete state, so a tuple that vanished has gone away.
    for (const r of sub.shown ?? []) {
      if (!seen.includes(r)) out.push({ kind: 'xmpp-presence', from: r === '' ? contact : `${contact}/${r}`, to, type: 'unavailable' });
    }
    sub.shown = next.length > 0 ? next : undefined;
  }

  private attach(sub: X2SSub): void {
    this.subs.set(sub.key, sub);
    const list = this.byUser.get(sub.user);
    if (list === undefined) this.byUser.set(sub.user, [sub]);
    else list.push(sub);
  }

  private detach(sub: X2SSub): void {
    this.subs.delete(sub.key);
    const list = this.byUser.get(sub.user);
    if (list === undefined) return;
    const i = list.indexOf(sub);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.byUser.delete(sub.user);
  }

  /** Remove from memory; `forget` also deletes the record and the dialog layer's state. */
  private drop(sub: X2SSub, out: X2SAction<P>[], forget: boolean): void {
    this.setTimer(sub, 0, out);
    this.detach(sub);
    if (forget) out.push({ kind: 'forget', key: sub.key });
  }

  private persist(sub: X2SSub, out: X2SAction<P>[]): void {
    out.push({ kind: 'persist', record: this.toRecord(sub) });
  }

  private toRecordState(sub: X2SSub): X2SStateName {
    switch (sub.state) {
      case 'restoring':
        return sub.unsubAfter ? 'unsubscribing' : 'subscribing';
      case 'closing':
        return 'unsubscribing';
      default:
        return sub.state;
    }
  }

  private toRecord(sub: X2SSub): SubscriptionRecord {
    return {
      v: SUBSCRIPTION_RECORD_VERSION,
      key: sub.key,
      direction: 'x2s',
      xmppJid: sub.user,
      sipAor: sub.aor,
      sipJid: sub.contact,
      authorization: sub.granted ? 'granted' : 'pending',
      state: this.toRecordState(sub),
      expiresAt: sub.live ? sub.expiresAt : 0,
      expires: sub.expires,
      subscribedSent: sub.granted,
      pendingApproval: false,
      retryCount: sub.retryCount,
      retryAt: sub.retryAt,
    };
  }
}
