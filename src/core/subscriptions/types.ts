/**
 * Shared vocabulary of the two presence subscription machines (mapping reference §3, RFC 8048).
 *
 * The machines are sans-I/O: every input is an event carrying `now` (ms since the epoch, from the
 * gateway's clock), every output is one of the actions below, executed by the gateway in the order
 * returned. Nothing here holds a socket, a Node timer or a store handle.
 *
 * Keys. Each subscription has a `key` string. The same key names its store record, its SIP dialog in the
 * dialog layer (which persists Call-ID, tags, CSeq, route set and remote target itself) and its timer.
 */

/**
 * The part of a per-resource presence the machines look at. The gateway instantiates the machines with
 * core/presence.ts's `ResourcePresence` (which has these two fields); everything else in it (show,
 * statuses, priority, lang) is carried through untouched into the actions.
 * `resource` is the XMPP resource (X2S: the PIDF tuple id minus `ID-`; S2X: the `from` JID's resource);
 * absent means the bare JID.
 */
export interface PresenceLike {
  readonly resource?: string;
  readonly available: boolean;
}

/** RFC 6665 §4.1.3 Subscription-State values. */
export type SubscriptionStateValue = 'pending' | 'active' | 'terminated';

/** RFC 6665 §4.1.3 / §6.2 `reason` values a notifier uses. */
export type TerminationReason = 'deactivated' | 'probation' | 'rejected' | 'timeout' | 'giveup' | 'noresource' | 'invariant';

/** An XMPP stanza error as it goes on the wire: `<error type><condition/><text/></error>`. */
export interface XmppErrorInfo {
  condition: string;
  type: string;
  text?: string;
}

export type XmppPresenceType = 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed' | 'unavailable' | 'probe' | 'error';

// ------------------------------------------------------------------------------------------- actions

/**
 * Send a `<presence/>`. `from` and `to` are JIDs, bare or full, already in the gateway's address space
 * (the machines never map addresses). With no `type` it is an available presence; `presence` then holds
 * the content to render (show, status, priority, lang). With type `unavailable` `presence` may hold the
 * statuses of the closed tuple.
 */
export interface XmppPresenceAction<P extends PresenceLike = PresenceLike> {
  kind: 'xmpp-presence';
  from: string;
  to: string;
  type?: XmppPresenceType;
  presence?: P;
  error?: XmppErrorInfo;
}

/**
 * X2S: send a SUBSCRIBE (reference §3.2, TV-P1/P3/P9). The dialog layer builds the request:
 * - `newDialog: true`: discard any dialog held under `key` and open a new one (new Call-ID and From tag):
 *   Request-URI and To = `target`; From = `from` (the XMPP user's bare JID) mapped to `sip:`;
 *   Contact = that URI with `;gr=<contactResource>` when given.
 * - `newDialog: false`: send it inside the dialog held under `key` (next CSeq, route set, remote target).
 * Headers in both cases: `Event: presence`, `Accept: application/pidf+xml`, `Expires: <expires>`.
 * `expires: 0` is an unsubscribe (in dialog) or a fetch (new dialog, TV-P9).
 * Exactly one `sip-response` event must come back per SUBSCRIBE (a transaction timeout is status 408,
 * reference §2.2 [D]); responses to a SUBSCRIBE superseded by a later one under the same key are dropped
 * by the dialog layer.
 */
export interface SipSubscribeAction {
  kind: 'sip-subscribe';
  key: string;
  newDialog: boolean;
  expires: number;
  target: string;
  from: string;
  contactResource?: string;
  event: 'presence';
  accept: 'application/pidf+xml';
}

/**
 * What a NOTIFY carries (RFC 3856 §6.8: no body, or a complete document):
 * - `none`: no body, Content-Length 0;
 * - `closed`: a PIDF for `presentity` with one tuple whose basic status is closed (§3.3 cancel row);
 * - `presence`: the complete PIDF built from `resources` (one tuple per resource, §3.5), e.g. with
 *   core/presence.ts's presenceToPidf.
 */
export type NotifyBody<P extends PresenceLike = PresenceLike> =
  | { type: 'none' }
  | { type: 'closed' }
  | { type: 'presence'; resources: readonly P[] };

/**
 * S2X: send a NOTIFY in the dialog held under `key`, with `Event: presence` and
 * `Subscription-State: <state>[;expires=<expires>][;reason=<reason>][;retry-after=<retryAfter>]`.
 * `presentity` is the watched XMPP contact's bare JID (the PIDF `entity` is `pres:` + its mapping).
 * After a `terminated` NOTIFY the machine also emits `forget` for the key.
 */
export interface SipNotifyAction<P extends PresenceLike = PresenceLike> {
  kind: 'sip-notify';
  key: string;
  presentity: string;
  state: SubscriptionStateValue;
  expires?: number;
  reason?: TerminationReason;
  retryAfter?: number;
  body: NotifyBody<P>;
}

/**
 * Answer the SIP request identified by `request` (the opaque id the gateway put in the event).
 * `expires` → `Expires` (200 to a SUBSCRIBE), `minExpires` → `Min-Expires` (423),
 * `allowEvents` → `Allow-Events` (489), `accept` → `Accept` (406).
 */
export interface SipRespondAction {
  kind: 'sip-respond';
  key: string;
  request: string;
  status: number;
  expires?: number;
  minExpires?: number;
  allowEvents?: readonly string[];
  accept?: readonly string[];
}

/** Write (insert or replace) the record for `record.key`. */
export interface PersistAction {
  kind: 'persist';
  record: SubscriptionRecord;
}

/**
 * The subscription under `key` is over: delete its record (if any) and the dialog layer's state for `key`.
 * Also emitted for short-lived dialogs that were never persisted (fetches, polls).
 */
export interface ForgetAction {
  kind: 'forget';
  key: string;
}

/** Fire a `timer` event for `key` at `at` (ms epoch). Arming a key replaces the timer armed under it. */
export interface ArmTimerAction {
  kind: 'arm-timer';
  key: string;
  at: number;
}

export interface CancelTimerAction {
  kind: 'cancel-timer';
  key: string;
}

export type SubscriptionAction<P extends PresenceLike = PresenceLike> =
  | XmppPresenceAction<P>
  | SipSubscribeAction
  | SipNotifyAction<P>
  | SipRespondAction
  | PersistAction
  | ForgetAction
  | ArmTimerAction
  | CancelTimerAction;

/** Timer expiry, for a key this machine armed. Route it back to the machine that emitted the arm-timer. */
export interface TimerEvent {
  kind: 'timer';
  now: number;
  key: string;
}

// -------------------------------------------------------------------------------------------- records

export const SUBSCRIPTION_RECORD_VERSION = 1;

/** States an X2S record can be in (see x2s.ts for their meaning). */
export type X2SStateName = 'subscribing' | 'subscribed' | 'probing' | 'waiting' | 'idle' | 'invariant' | 'unsubscribing';

/** States an S2X record can be in (see s2x.ts). */
export type S2XStateName = 'pending' | 'active';

/**
 * What must survive a restart for one long-lived subscription (reference §3.8), as plain JSON.
 * SIP dialog details (Call-ID, tags, CSeq, route set, remote target, Event/Accept) are NOT here: the dialog
 * layer persists them under the same `key`. Short-lived fetches (X2S probe) and polls (S2X Expires 0) are
 * never persisted.
 */
export interface SubscriptionRecord {
  v: typeof SUBSCRIPTION_RECORD_VERSION;
  key: string;
  direction: 'x2s' | 's2x';
  /** Bare JID of the XMPP party: the watcher U (x2s) or the watched contact X (s2x). */
  xmppJid: string;
  /** The SIP party's AOR in its exact form (§1.5, §3.8): the watched contact C (x2s) or the watcher S (s2x). */
  sipAor: string;
  /** The SIP party's bare JID as the address mapping gave it: the `from`/`to` of stanzas about it. */
  sipJid: string;
  /**
   * Presence authorization in this record's direction (§3.8): x2s `pending` = U's subscribe awaits the SIP
   * side's first `active` NOTIFY; s2x `pending` = S's SUBSCRIBE awaits X's `subscribed`.
   */
  authorization: 'pending' | 'granted';
  state: X2SStateName | S2XStateName;
  /** When the notification dialog expires (ms epoch); 0 when no dialog is believed alive. */
  expiresAt: number;
  /** The Expires value (s) to ask for (x2s, raised by a 423's Min-Expires) or last granted (s2x). */
  expires: number;
  /** x2s: `subscribed` has gone to U (emitted once, §3.8); s2x: the `active` NOTIFY has been sent. */
  subscribedSent: boolean;
  /** s2x: a `subscribe` to X awaits `subscribed`/`unsubscribed` (§3.8 "pending XMPP subscribe requests"). */
  pendingApproval: boolean;
  /** Retry bookkeeping: consecutive failed (re-)establishments and when the next attempt is due (0: none). */
  retryCount: number;
  retryAt: number;
  /** s2x: the `gr` of the watcher's Contact (RFC 5627), the instance full-JID directed presence may target. */
  watcherInstance?: string;
}

const X2S_STATES: ReadonlySet<string> = new Set<X2SStateName>([
  'subscribing', 'subscribed', 'probing', 'waiting', 'idle', 'invariant', 'unsubscribing',
]);
const S2X_STATES: ReadonlySet<string> = new Set<S2XStateName>(['pending', 'active']);

/** Validates a record read back from the store (a corrupt or foreign row must not reach a machine). */
export function isSubscriptionRecord(x: unknown): x is SubscriptionRecord {
  if (typeof x !== 'object' || x === null) return false;
  const r = x as Record<string, unknown>;
  const str = (k: string): boolean => typeof r[k] === 'string' && (r[k] as string).length > 0;
  const num = (k: string): boolean => typeof r[k] === 'number' && Number.isFinite(r[k]) && (r[k] as number) >= 0;
  if (r['v'] !== SUBSCRIPTION_RECORD_VERSION) return false;
  if (!str('key') || !str('xmppJid') || !str('sipAor') || !str('sipJid')) return false;
  if (r['authorization'] !== 'pending' && r['authorization'] !== 'granted') return false;
  if (!num('expiresAt') || !num('expires') || !num('retryCount') || !num('retryAt')) return false;
  if (typeof r['subscribedSent'] !== 'boolean' || typeof r['pendingApproval'] !== 'boolean') return false;
  if (r['watcherInstance'] !== undefined && typeof r['watcherInstance'] !== 'string') return false;
  if (r['direction'] === 'x2s') return typeof r['state'] === 'string' && X2S_STATES.has(r['state']);
  if (r['direction'] === 's2x') return typeof r['state'] === 'string' && S2X_STATES.has(r['state']);
  return false;
}

// ------------------------------------------------------------------------------------------- helpers

/** `user@domain/resource` → `user@domain`. The first `/` ends the domain: neither localpart nor domain holds one. */
export function bareOf(jid: string): string {
  const i = jid.indexOf('/');
  return i < 0 ? jid : jid.slice(0, i);
}

/** The resource of a full JID, or undefined for a bare one. */
export function resourceOf(jid: string): string | undefined {
  const i = jid.indexOf('/');
  return i < 0 ? undefined : jid.slice(i + 1);
}

/** `expiresAt` → the seconds left, for `Expires`/`;expires=` (never negative). */
export function secondsLeft(expiresAt: number, now: number): number {
  return Math.max(0, Math.ceil((expiresAt - now) / 1000));
}
