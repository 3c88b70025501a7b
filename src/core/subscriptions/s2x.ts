/**
 * S2X presence subscriptions: a SIP user S watches an XMPP contact X (mapping reference §3.3, §3.4, §3.7,
 * §3.8; RFC 8048 §5.3, §6.2, §7.2, §8.2; RFC 6665; RFC 3856). Sans-I/O: `handle(event)` returns actions.
 *
 * One entry per SUBSCRIBE dialog, keyed by the gateway (any string unique per dialog, e.g. Call-ID plus
 * the subscriber's tag). Dialogs are grouped per (X bare JID, S bare JID) "pair"; the pair holds the last
 * presence X sent to S, one entry per resource, shared by S's dialogs for X. XMPP presence is per
 * recipient (X's server sends each watcher its own copy, and may send different ones), so a presence
 * addressed to S feeds only S's pair: nothing reaches another watcher (RFC 8048 §8.2, reference §3.7).
 *
 * States (persisted): `pending` (200 sent, NOTIFY pending, `subscribe` sent to X, no answer yet) and
 * `active` (X approved). Polls (`Expires: 0` out of dialog) live in memory only until answered.
 *
 * Choices where the reference leaves one:
 * - The machine answers every SUBSCRIBE, including 489 for an Event other than `presence` (with
 *   `Allow-Events: presence`) and 406 for an Accept without `application/pidf+xml` (RFC 3856 §6.5), so
 *   that all of RFC 6665 §4.2.1's decisions sit in one testable place.
 * - Expires: absent → `defaultExpires` (3600, RFC 3856 §6.4); the granted value is min(requested,
 *   `maxExpires`); 0 < requested < `minExpires` → 423 with Min-Expires (RFC 6665 §4.2.1.4).
 * - On `subscribed` the `active` NOTIFY is empty (TV-P5) unless the pair's presence is already known
 *   (another of S's devices watches X): then it carries that document, because X's server does not resend
 *   presence for an authorization that already existed. If nothing is known, a `probe` goes to X.
 * - Rate limit (RFC 3856 §6.10): presence NOTIFYs in one dialog are at least `notifyIntervalMs` apart; a
 *   change inside the window arms the dialog's timer and the latest state goes when it fires. NOTIFYs that
 *   RFC 6665 requires at once (answers to SUBSCRIBE, state changes) are never delayed, but they start a
 *   new window.
 * - Poll without cache (TV-P10): `probe` to X, NOTIFY terminated;reason=timeout with the answer, or without
 *   a body after `pollTimeoutMs`. Probes per pair are at most one per `probeIntervalMs`.
 * - Cancel (`Expires: 0` in dialog, §3.3): the closed PIDF is sent only on an `active` dialog; a pending
 *   one gets no body (X never said anything). `unavailable` goes from S's JID with the dialog's `gr` as
 *   resource when known (only that device stopped watching), else from the bare JID.
 * - Expiry without refresh: NOTIFY terminated;reason=timeout without body; no XMPP stanza (the reference
 *   and RFC 8048 §5.3 ask for none).
 * - `<presence type="error">` from X answering our `subscribe` or `probe`: pending dialogs and polls of the
 *   pair end with terminated; reason `noresource` for item-not-found / remote-server-not-found / gone /
 *   jid-malformed, `probation` with retry-after `waitRetryAfter` for type `wait`, else `rejected`.
 *   Active dialogs are left alone: an error bounced on some other stanza says nothing about X's consent.
 * - Presence to S's full JID (directed at one SIP device, `S/gr`) goes only to dialogs whose Contact
 *   carried that `gr`, and is kept with that dialog, never in the pair: other devices never see it.
 * - `unsubscribed` from X ends every dialog and poll of the pair with terminated;reason=rejected.
 * - After a restart, at `restoreAt`: a dialog whose expiry passed ends (terminated;reason=timeout); a
 *   pending one re-sends `subscribe` (the answer may have been lost while the gateway was down; XMPP
 *   servers answer a repeated request idempotently, RFC 6121 §3.1.3); an active one probes X so the next
 *   NOTIFY in the same dialog carries fresh presence.
 */
import {
  bareOf,
  resourceOf,
  secondsLeft,
  SUBSCRIPTION_RECORD_VERSION,
  type NotifyBody,
  type PresenceLike,
  type S2XStateName,
  type SipNotifyAction,
  type SipSubscribeAction,
  type SubscriptionAction,
  type SubscriptionRecord,
  type TerminationReason,
  type TimerEvent,
  type XmppErrorInfo,
} from './types.js';

export interface S2XConfig {
  /** Expires (s) when the SUBSCRIBE has none. Default 3600 (RFC 3856 §6.4). */
  defaultExpires?: number;
  /** Longest Expires (s) granted. Default 3600. */
  maxExpires?: number;
  /** Shortest Expires (s) accepted; shorter gets 423. Default 60. */
  minExpires?: number;
  /** Minimum spacing of presence NOTIFYs in one dialog. Default 5000 ms (RFC 3856 §6.10). */
  notifyIntervalMs?: number;
  /** How long a poll waits for the probe's answer. Default 5000 ms. */
  pollTimeoutMs?: number;
  /** Minimum spacing of probes from one watcher to one contact. Default 30 000 ms. */
  probeIntervalMs?: number;
  /** retry-after (s) on terminated;reason=probation after a `wait` error. Default 60. */
  waitRetryAfter?: number;
  /** Most resources kept per pair (and per directed override). Default 64. */
  maxResources?: number;
}

/** An out-of-dialog SUBSCRIBE: a new subscription, or a poll when `expires` is 0 (TV-P4, TV-P10). */
export interface S2XSubscribeEvent {
  kind: 'sip-subscribe';
  now: number;
  /** The key the gateway gives the dialog this SUBSCRIBE creates. */
  key: string;
  /** Opaque id of the server transaction, echoed in `sip-respond`. */
  request: string;
  /** The Event package (without parameters). */
  event: string;
  /** Expires header in seconds; undefined when absent. */
  expires?: number;
  /** Accept header's media types; undefined when absent. */
  accept?: readonly string[];
  /** S's AOR (From), exact form. */
  watcherAor: string;
  /** S's JID as mapped from its AOR. */
  watcherJid: string;
  /** The `gr` parameter of S's Contact, if any. */
  watcherInstance?: string;
  /** X's JID, mapped from the Request-URI (which is authoritative, TV-P4 note). */
  presentity: string;
}

/** A SUBSCRIBE inside the dialog held under `key`: refresh, or cancel when `expires` is 0. */
export interface S2XResubscribeEvent {
  kind: 'sip-resubscribe';
  now: number;
  key: string;
  request: string;
  event: string;
  expires?: number;
}

/** `<presence type="subscribed">` or `unsubscribed` from X (`from`) to S (`to`). */
export interface S2XAuthorizationEvent {
  kind: 'xmpp-subscribed' | 'xmpp-unsubscribed';
  now: number;
  from: string;
  to: string;
}

/** A presence notification (no type or `unavailable`) from X to S. `presence.resource` = `from`'s resource. */
export interface S2XPresenceEvent<P extends PresenceLike = PresenceLike> {
  kind: 'xmpp-presence';
  now: number;
  from: string;
  to: string;
  presence: P;
}

/** `<presence type="error">` from X to S. */
export interface S2XPresenceErrorEvent {
  kind: 'xmpp-presence-error';
  now: number;
  from: string;
  to: string;
  error: XmppErrorInfo;
}

export type S2XEvent<P extends PresenceLike = PresenceLike> =
  | S2XSubscribeEvent
  | S2XResubscribeEvent
  | S2XAuthorizationEvent
  | S2XPresenceEvent<P>
  | S2XPresenceErrorEvent
  | TimerEvent;

export type S2XAction<P extends PresenceLike = PresenceLike> = Exclude<SubscriptionAction<P>, SipSubscribeAction>;

interface S2XPair<P> {
  presentity: string;
  watcher: string;
  /** X's presence as sent to S: the available resources, or a single unavailable one; undefined = unknown. */
  resources: P[] | undefined;
  probeAt: number;
  members: S2XSub<P>[];
}

// One plain object per dialog; the behaviour lives on the table.
interface S2XSub<P> {
  key: string;
  pair: S2XPair<P>;
  watcherAor: string;
  watcherInstance: string | undefined;
  state: S2XStateName | 'poll';
  expiresAt: number;
  expires: number;
  pendingApproval: boolean;
  lastNotifyAt: number;
  /** A presence NOTIFY is owed once the rate-limit window closes. */
  dirty: boolean;
  /** Presence X directed at this dialog's device (`S/gr`), layered over the pair's. */
  directed: P[] | undefined;
  restoreAt: number;
  timerAt: number;
}

const PIDF = 'application/pidf+xml';
const NORESOURCE = new Set(['item-not-found', 'remote-server-not-found', 'gone', 'jid-malformed']);

function acceptsPidf(accept: readonly string[] | undefined): boolean {
  if (accept === undefined || accept.length === 0) return true;
  return accept.some((a) => {
    const t = (a.split(';')[0] ?? '').trim().toLowerCase();
    return t === PIDF || t === 'application/*' || t === '*/*';
  });
}

/**
 * Folds one presence into the per-resource state: a complete document has the available resources, or when
 * none is left, the last unavailable one alone (one closed tuple), so the state stays bounded.
 */
export function foldPresence<P extends PresenceLike>(current: readonly P[] | undefined, p: P, max = 64): P[] {
  const r = p.resource ?? '';
  const others = (current ?? []).filter((q) => q.available && (q.resource ?? '') !== r);
  if (p.available) {
    if (others.length >= max) others.splice(0, others.length - max + 1);
    others.push(p);
    return others;
  }
  // A bare-JID unavailable means every resource went.
  if (r === '' || others.length === 0) return [p];
  return others;
}

export class S2XSubscriptions<P extends PresenceLike = PresenceLike> {
  private readonly subs = new Map<string, S2XSub<P>>();
  private readonly pairs = new Map<string, S2XPair<P>>();
  private readonly defaultExpires: number;
  private readonly maxExpires: number;
  private readonly minExpires: number;
  private readonly interval: number;
  private readonly pollTimeout: number;
  private readonly probeInterval: number;
  private readonly waitRetryAfter: number;
  private readonly maxResources: number;

  constructor(config: S2XConfig = {}) {
    this.defaultExpires = config.defaultExpires ?? 3600;
    this.maxExpires = config.maxExpires ?? 3600;
    this.minExpires = config.minExpires ?? 60;
    this.interval = config.notifyIntervalMs ?? 5000;
    this.pollTimeout = config.pollTimeoutMs ?? 5000;
    this.probeInterval = config.probeIntervalMs ?? 30_000;
    this.waitRetryAfter = config.waitRetryAfter ?? 60;
    this.maxResources = config.maxResources ?? 64;
    if (this.minExpires > this.maxExpires) throw new RangeError('S2X minExpires exceeds maxExpires');
  }

  /** Dialogs held, polls included. */
  get size(): number {
    return this.subs.size;
  }

  record(key: string): SubscriptionRecord | undefined {
    const sub = this.subs.get(key);
    return sub === undefined || sub.state === 'poll' ? undefined : this.toRecord(sub);
  }

  state(key: string): string | undefined {
    return this.subs.get(key)?.state;
  }

  handle(ev: S2XEvent<P>): S2XAction<P>[] {
    const out: S2XAction<P>[] = [];
    switch (ev.kind) {
      case 'sip-subscribe':
        this.onSubscribe(ev, out);
        break;
      case 'sip-resubscribe':
        this.onResubscribe(ev, out);
        break;
      case 'xmpp-subscribed':
        this.onSubscribed(ev, out);
        break;
      case 'xmpp-unsubscribed':
        this.onUnsubscribed(ev, out);
        break;
      case 'xmpp-presence':
        this.onPresence(ev, out);
        break;
      case 'xmpp-presence-error':
        this.onPresenceError(ev, out);
        break;
      case 'timer':
        this.onTimer(ev, out);
        break;
    }
    return out;
  }

  /**
   * Re-creates a dialog from its record after a restart; the dialog layer restores the dialog itself.
   * The work (expire, re-send `subscribe`, or probe) happens when the timer armed for `restoreAt` fires.
   */
  restore(record: SubscriptionRecord, _now: number, restoreAt: number): S2XAction<P>[] {
    if (record.direction !== 's2x') throw new RangeError(`not an s2x record: ${record.key}`);
    const out: S2XAction<P>[] = [];
    const old = this.subs.get(record.key);
    if (old !== undefined) this.detach(old);
    const sub: S2XSub<P> = {
      key: record.key,
      pair: this.pairFor(record.xmppJid, record.sipJid),
      watcherAor: record.sipAor,
      watcherInstance: record.watcherInstance,
      state: record.state === 'active' ? 'active' : 'pending',
      expiresAt: record.expiresAt,
      expires: record.expires,
      pendingApproval: record.pendingApproval,
      lastNotifyAt: 0,
      dirty: false,
      directed: undefined,
      restoreAt,
      timerAt: old?.timerAt ?? 0,
    };
    this.attach(sub);
    this.reschedule(sub, out);
    return out;
  }

  // ------------------------------------------------------------------------------------------- SIP in

  private onSubscribe(ev: S2XSubscribeEvent, out: S2XAction<P>[]): void {
    if (this.subs.has(ev.key)) {
      this.onResubscribe({ kind: 'sip-resubscribe', now: ev.now, key: ev.key, request: ev.request, event: ev.event, expires: ev.expires }, out);
      return;
    }
    if (!this.checkRequest(ev, out)) return;
    const requested = ev.expires ?? this.defaultExpires;
    const pair = this.pairFor(bareOf(ev.presentity), bareOf(ev.watcherJid));
    if (requested === 0) {
      this.poll(ev, pair, out);
      return;
    }
    if (requested < this.minExpires) {
      out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 423, minExpires: this.minExpires });
      this.dropPairIfEmpty(pair);
      return;
    }
    const granted = Math.min(requested, this.maxExpires);
    const sub: S2XSub<P> = {
      key: ev.key, pair, watcherAor: ev.watcherAor, watcherInstance: ev.watcherInstance, state: 'pending',
      expiresAt: ev.now + granted * 1000, expires: granted, pendingApproval: true, lastNotifyAt: ev.now,
      dirty: false, directed: undefined, restoreAt: 0, timerAt: 0,
    };
    this.attach(sub);
    // §3.3 first row, TV-P4: 200 at once, NOTIFY pending (RFC 6665 §4.2.1.2), `subscribe` from S's bare JID.
    out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 200, expires: granted });
    out.push({ kind: 'sip-notify', key: ev.key, presentity: pair.presentity, state: 'pending', expires: granted, body: { type: 'none' } });
    out.push({ kind: 'xmpp-presence', from: pair.watcher, to: pair.presentity, type: 'subscribe' });
    out.push({ kind: 'persist', record: this.toRecord(sub) });
    this.reschedule(sub, out);
  }

  private checkRequest(ev: { key: string; request: string; event: string; accept?: readonly string[] }, out: S2XAction<P>[]): boolean {
    if (ev.event.trim().toLowerCase() !== 'presence') {
      out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 489, allowEvents: ['presence'] });
      return false;
    }
    if (!acceptsPidf(ev.accept)) {
      out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 406, accept: [PIDF] });
      return false;
    }
    return true;
  }

  /** §3.3 poll row, TV-P10: answer from what X sent S, else probe and answer when X does. */
  private poll(ev: S2XSubscribeEvent, pair: S2XPair<P>, out: S2XAction<P>[]): void {
    out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 200, expires: 0 });
    if (pair.resources !== undefined) {
      out.push(this.terminated(ev.key, pair, 'timeout', { type: 'presence', resources: pair.resources }));
      out.push({ kind: 'forget', key: ev.key });
      this.dropPairIfEmpty(pair);
      return;
    }
    const sub: S2XSub<P> = {
      key: ev.key, pair, watcherAor: ev.watcherAor, watcherInstance: ev.watcherInstance, state: 'poll',
      expiresAt: ev.now + this.pollTimeout, expires: 0, pendingApproval: false, lastNotifyAt: 0, dirty: false,
      directed: undefined, restoreAt: 0, timerAt: 0,
    };
    this.attach(sub);
    this.probe(pair, ev.now, out);
    this.reschedule(sub, out);
  }

  private onResubscribe(ev: S2XResubscribeEvent, out: S2XAction<P>[]): void {
    const sub = this.subs.get(ev.key);
    if (sub === undefined || sub.state === 'poll') {
      out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 481 });
      return;
    }
    if (!this.checkRequest(ev, out)) return;
    const requested = ev.expires ?? this.defaultExpires;
    const pair = sub.pair;
    if (requested === 0) {
      // §3.3 cancel row (RFC 8048 §5.3.3): closed PIDF + `unavailable` to X.
      out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 200, expires: 0 });
      out.push(this.terminated(sub.key, pair, 'timeout', sub.state === 'active' ? { type: 'closed' } : { type: 'none' }));
      const from = sub.watcherInstance !== undefined ? `${pair.watcher}/${sub.watcherInstance}` : pair.watcher;
      out.push({ kind: 'xmpp-presence', from, to: pair.presentity, type: 'unavailable' });
      this.drop(sub, out);
      return;
    }
    if (requested < this.minExpires) {
      out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 423, minExpires: this.minExpires });
      return;
    }
    const granted = Math.min(requested, this.maxExpires);
    sub.expiresAt = ev.now + granted * 1000;
    sub.expires = granted;
    out.push({ kind: 'sip-respond', key: ev.key, request: ev.request, status: 200, expires: granted });
    if (sub.state === 'pending') {
      out.push({ kind: 'sip-notify', key: sub.key, presentity: pair.presentity, state: 'pending', expires: granted, body: { type: 'none' } });
    } else {
      // §3.3 refresh row: the document if known, else an empty NOTIFY (a MUST); learn it for next time.
      out.push(this.activeNotify(sub, ev.now));
      if (this.current(sub) === undefined) this.probe(pair, ev.now, out);
    }
    sub.lastNotifyAt = ev.now;
    sub.dirty = false;
    out.push({ kind: 'persist', record: this.toRecord(sub) });
    this.reschedule(sub, out);
  }

  // ------------------------------------------------------------------------------------------ XMPP in

  private onSubscribed(ev: S2XAuthorizationEvent, out: S2XAction<P>[]): void {
    const pair = this.pairs.get(pairKey(bareOf(ev.from), bareOf(ev.to)));
    if (pair === undefined) return;
    let activated = false;
    for (const sub of pair.members) {
      if (sub.state !== 'pending') continue;
      // §3.3 second row, TV-P5: NOTIFY active with ;expires (RFC 6665 §4.1.3).
      sub.state = 'active';
      sub.pendingApproval = false;
      sub.lastNotifyAt = ev.now;
      sub.dirty = false;
      out.push(this.activeNotify(sub, ev.now));
      out.push({ kind: 'persist', record: this.toRecord(sub) });
      activated = true;
    }
    if (activated && pair.resources === undefined) this.probe(pair, ev.now, out);
  }

  private onUnsubscribed(ev: S2XAuthorizationEvent, out: S2XAction<P>[]): void {
    const pair = this.pairs.get(pairKey(bareOf(ev.from), bareOf(ev.to)));
    if (pair === undefined) return;
    // §3.3 third row, TV-P6; X revoking a granted authorization ends the active dialogs the same way.
    for (const sub of [...pair.members]) {
      out.push(this.terminated(sub.key, pair, 'rejected', { type: 'none' }));
      this.drop(sub, out);
    }
  }

  private onPresence(ev: S2XPresenceEvent<P>, out: S2XAction<P>[]): void {
    const pair = this.pairs.get(pairKey(bareOf(ev.from), bareOf(ev.to)));
    if (pair === undefined) return; // nobody here asked for X's presence on S's behalf: deliver nothing
    const instance = resourceOf(ev.to);
    if (instance !== undefined) {
      for (const sub of [...pair.members]) {
        if (sub.watcherInstance !== instance) continue;
        sub.directed = foldPresence(sub.directed, ev.presence, this.maxResources);
        this.deliver(sub, ev.now, out);
      }
      return;
    }
    pair.resources = foldPresence(pair.resources, ev.presence, this.maxResources);
    for (const sub of [...pair.members]) this.deliver(sub, ev.now, out);
  }

  private onPresenceError(ev: S2XPresenceErrorEvent, out: S2XAction<P>[]): void {
    const pair = this.pairs.get(pairKey(bareOf(ev.from), bareOf(ev.to)));
    if (pair === undefined) return;
    let reason: TerminationReason = 'rejected';
    if (ev.error.type === 'wait') reason = 'probation';
    else if (NORESOURCE.has(ev.error.condition)) reason = 'noresource';
    for (const sub of [...pair.members]) {
      if (sub.state === 'active') continue;
      const n = this.terminated(sub.key, pair, reason, { type: 'none' });
      if (reason === 'probation') n.retryAfter = this.waitRetryAfter;
      out.push(n);
      this.drop(sub, out);
    }
  }

  // ------------------------------------------------------------------------------------------- timers

  private onTimer(ev: TimerEvent, out: S2XAction<P>[]): void {
    const sub = this.subs.get(ev.key);
    if (sub === undefined || sub.timerAt === 0) return;
    sub.timerAt = 0;
    const now = ev.now;
    const pair = sub.pair;
    if (sub.state === 'poll') {
      if (now < sub.expiresAt) {
        this.reschedule(sub, out);
        return;
      }
      out.push(this.terminated(sub.key, pair, 'timeout', { type: 'none' }));
      this.drop(sub, out);
      return;
    }
    if (sub.restoreAt !== 0) {
      // Restored dialogs wait for their paced slot, even one that expired while the gateway was down.
      if (now < sub.restoreAt) {
        this.flushOwed(sub, now, out);
        this.reschedule(sub, out);
        return;
      }
      sub.restoreAt = 0;
      if (now < sub.expiresAt) {
        if (sub.state === 'pending') out.push({ kind: 'xmpp-presence', from: pair.watcher, to: pair.presentity, type: 'subscribe' });
        else this.probe(pair, now, out);
      }
    }
    if (now >= sub.expiresAt) {
      out.push(this.terminated(sub.key, pair, 'timeout', { type: 'none' }));
      this.drop(sub, out);
      return;
    }
    this.flushOwed(sub, now, out);
    this.reschedule(sub, out);
  }

  /** Sends the NOTIFY the rate limit held back, once its window has closed. */
  private flushOwed(sub: S2XSub<P>, now: number, out: S2XAction<P>[]): void {
    if (sub.dirty && now >= sub.lastNotifyAt + this.interval) {
      sub.dirty = false;
      sub.lastNotifyAt = now;
      out.push(this.activeNotify(sub, now));
    }
  }

  // ------------------------------------------------------------------------------------------ helpers

  /** New presence for this dialog's watcher: answer a poll, or NOTIFY an active dialog within the rate limit. */
  private deliver(sub: S2XSub<P>, now: number, out: S2XAction<P>[]): void {
    if (sub.state === 'poll') {
      const resources = this.current(sub);
      if (resources === undefined) return;
      out.push(this.terminated(sub.key, sub.pair, 'timeout', { type: 'presence', resources }));
      this.drop(sub, out);
      return;
    }
    if (sub.state !== 'active') return; // pending: X has not authorized S yet
    if (!sub.dirty && now >= sub.lastNotifyAt + this.interval) {
      sub.lastNotifyAt = now;
      out.push(this.activeNotify(sub, now));
      return;
    }
    sub.dirty = true;
    this.reschedule(sub, out);
  }

  /** The document for this dialog: the pair's resources with this device's directed presence on top. */
  private current(sub: S2XSub<P>): readonly P[] | undefined {
    if (sub.directed === undefined) return sub.pair.resources;
    let doc = sub.pair.resources;
    for (const p of sub.directed) doc = foldPresence(doc, p, this.maxResources);
    return doc;
  }

  private activeNotify(sub: S2XSub<P>, now: number): S2XAction<P> {
    const resources = this.current(sub);
    const body: NotifyBody<P> = resources === undefined ? { type: 'none' } : { type: 'presence', resources };
    return { kind: 'sip-notify', key: sub.key, presentity: sub.pair.presentity, state: 'active', expires: secondsLeft(sub.expiresAt, now), body };
  }

  private terminated(key: string, pair: S2XPair<P>, reason: TerminationReason, body: NotifyBody<P>): SipNotifyAction<P> {
    // RFC 6665 §4.1.3: terminated carries a reason and no expires.
    return { kind: 'sip-notify', key, presentity: pair.presentity, state: 'terminated', reason, body };
  }

  private probe(pair: S2XPair<P>, now: number, out: S2XAction<P>[]): void {
    if (pair.probeAt !== 0 && now - pair.probeAt < this.probeInterval) return;
    pair.probeAt = now;
    out.push({ kind: 'xmpp-presence', from: pair.watcher, to: pair.presentity, type: 'probe' });
  }

  private reschedule(sub: S2XSub<P>, out: S2XAction<P>[]): void {
    // Until its restore slot a restored dialog never expires early: the slot decides, in order.
    let at = sub.restoreAt !== 0 ? sub.restoreAt : sub.expiresAt;
    if (sub.dirty) at = Math.min(at, sub.lastNotifyAt + this.interval);
    this.setTimer(sub, at, out);
  }

  private setTimer(sub: S2XSub<P>, at: number, out: S2XAction<P>[]): void {
    if (sub.timerAt === at) return;
    if (at === 0) out.push({ kind: 'cancel-timer', key: sub.key });
    else out.push({ kind: 'arm-timer', key: sub.key, at });
    sub.timerAt = at;
  }

  private pairFor(presentity: string, watcher: string): S2XPair<P> {
    const k = pairKey(presentity, watcher);
    let pair = this.pairs.get(k);
    if (pair === undefined) {
      pair = { presentity, watcher, resources: undefined, probeAt: 0, members: [] };
      this.pairs.set(k, pair);
    }
    return pair;
  }

  private dropPairIfEmpty(pair: S2XPair<P>): void {
    if (pair.members.length === 0) this.pairs.delete(pairKey(pair.presentity, pair.watcher));
  }

  private attach(sub: S2XSub<P>): void {
    this.subs.set(sub.key, sub);
    sub.pair.members.push(sub);
  }

  private detach(sub: S2XSub<P>): void {
    this.subs.delete(sub.key);
    const members = sub.pair.members;
    const i = members.indexOf(sub);
    if (i >= 0) members.splice(i, 1);
    this.dropPairIfEmpty(sub.pair);
  }

  private drop(sub: S2XSub<P>, out: S2XAction<P>[]): void {
    this.setTimer(sub, 0, out);
    this.detach(sub);
    out.push({ kind: 'forget', key: sub.key });
  }

  private toRecord(sub: S2XSub<P>): SubscriptionRecord {
    const r: SubscriptionRecord = {
      v: SUBSCRIPTION_RECORD_VERSION,
      key: sub.key,
      direction: 's2x',
      xmppJid: sub.pair.presentity,
      sipAor: sub.watcherAor,
      sipJid: sub.pair.watcher,
      authorization: sub.state === 'active' ? 'granted' : 'pending',
      state: sub.state === 'active' ? 'active' : 'pending',
      expiresAt: sub.expiresAt,
      expires: sub.expires,
      subscribedSent: sub.state === 'active',
      pendingApproval: sub.pendingApproval,
      retryCount: 0,
      retryAt: 0,
    };
    if (sub.watcherInstance !== undefined) r.watcherInstance = sub.watcherInstance;
    return r;
  }
}

// A space cannot occur in a bare JID (RFC 7622 forbids it in localpart and domainpart), so this is unambiguous.
function pairKey(presentity: string, watcher: string): string {
  return `${presentity} ${watcher}`;
}
