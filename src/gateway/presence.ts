import { randomBytes } from 'node:crypto';
import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import { AddressError, formatSipUri, jidToSip, parseSipUriText, sipToJid, type ComponentAddressing } from '../core/address.js';
import { sipStatusToXmppError, type ErrorTables } from '../core/errors.js';
import { bareJid, formatJid, parseJid, type Jid } from '../core/jid.js';
import { closedPidf, pidfToPresence, PresenceDocumentError, presenceToPidf, type PresenceTables, type ResourcePresence } from '../core/presence.js';
import { S2XSubscriptions, X2SSubscriptions, isSubscriptionRecord, type SubscriptionAction, type SubscriptionRecord } from '../core/subscriptions/index.js';
import type { StoxConfig } from '../config/schema.js';
import { acceptInDialogRequest, confirmFromNotify, confirmFromResponse, dialogFromOutgoing, dialogFromRequest, inDialogRequest, type DialogState } from '../sip/dialog.js';
import { parseEvent, parseSubscriptionState } from '../sip/event-headers.js';
import { parseNameAddr } from '../sip/header-values.js';
import { createRequest, type SipRequest, type SipResponse } from '../sip/message.js';
import type { SipStack } from '../sip/stack.js';
import { newTag, toTagFor, type ServerTransaction } from '../sip/transaction/index.js';
import { formatUri } from '../sip/uri.js';
import type { Store } from '../store/index.js';
import type { XmppComponent } from '../xmpp/component.js';
import { MessageStanzaError } from '../xmpp/message-stanza.js';
import { presenceToStanza, stanzaToPresence, type PresenceStanza } from '../xmpp/presence-stanza.js';
import { PolicyGate } from './policy-gate.js';
import { TimerWheel } from './timer-wheel.js';
import { noMetrics, type GatewayRecorder, type PresenceResult } from '../ops/metrics.js';
import type { Clock } from '../sip/clock.js';

const PIDF = 'application/pidf+xml';

export interface PresenceComponent {
  component: XmppComponent;
  addressing: ComponentAddressing;
}

/**
 * A dialog Stox holds, with its state kept inline (one object per dialog: with 100k held subscriptions
 * every object and string per dialog counts; bench/presence.ts measures it).
 */
interface HeldDialog extends DialogState {
  /** The subscription key it belongs to (the same string the machine holds). */
  readonly key: string;
  role: 'notifier' | 'subscriber';
  /**
   * Was held before its remote tag was known (a SUBSCRIBE Stox sent, RFC 6665 §4.1.2.4): NOTIFYs match it
   * by Call-ID and local tag alone, whatever tag the notifier picked.
   */
  early: boolean;
  /** The number of the last SUBSCRIBE sent, so responses to a superseded one are dropped. */
  lastSubscribe: number;
}

/** A generous bound on reading and restoring one subscription row at start (see restore()). */
const RESTORE_READ_US_PER_ROW = 20;

/** Dialogs without a route set share this one; dialog.ts replaces a route set, never edits it. */
const NO_ROUTES: string[] = [];

type Direction = 'x2s' | 's2x';

/**
 * Presence both ways (RFC 8048): routes stanzas and SIP requests into the two subscription machines of
 * src/core/subscriptions, executes their actions (SIP dialogs, stanzas, store, timers) and restores
 * everything from the store at start.
 */
export class PresenceBridge {
  private readonly x2s: X2SSubscriptions<ResourcePresence>;
  private readonly s2x: S2XSubscriptions<ResourcePresence>;
  /** One wheel per machine, so a timer key is the subscription key itself, not a new string. */
  private readonly wheels: Record<Direction, TimerWheel>;
  private readonly dialogs = new Map<string, HeldDialog>();
  /**
   * Call-ID → the dialog(s) with it; the tags are compared on the dialog itself. Keyed by the Call-ID string
   * the dialog already holds rather than a built `callId|tag|tag` id, which would cost a string per dialog.
   */
  private readonly byCallId = new Map<string, HeldDialog | HeldDialog[]>();
  private readonly pendingRequests = new Map<string, ServerTransaction>();
  private readonly byDomain = new Map<string, PresenceComponent>();
  private readonly escaped?: PresenceComponent;
  private readonly caps = new Map<PresenceComponent, Element>();
  private readonly log: Logger;
  private subscribeSeq = 0;

  constructor(
    private readonly sip: SipStack,
    components: PresenceComponent[],
    private readonly store: Store,
    private readonly errors: ErrorTables,
    private readonly tables: PresenceTables,
    private readonly config: StoxConfig['presence'],
    private readonly clock: Clock,
    private readonly gate: PolicyGate,
    logger: Logger,
    private readonly metrics: GatewayRecorder = noMetrics,
  ) {
    this.log = logger.child({ component: 'presence' });
    for (const c of components) this.byDomain.set(c.component.domain.toLowerCase(), c);
    this.escaped = components.find((c) => c.addressing.mode === 'escaped');
    this.x2s = new X2SSubscriptions<ResourcePresence>({
      expires: config.subscribeExpires,
      mapSipError: (status, reason) => sipStatusToXmppError(errors, status, { reason }),
    });
    this.s2x = new S2XSubscriptions<ResourcePresence>({
      defaultExpires: Math.min(3600, config.maxExpires),
      maxExpires: config.maxExpires,
      minExpires: config.minExpires,
      notifyIntervalMs: config.notifyIntervalMs,
    });
    this.wheels = {
      x2s: new TimerWheel(clock, (key, now) => this.run('x2s', this.x2s.handle({ kind: 'timer', now, key }))),
      s2x: new TimerWheel(clock, (key, now) => this.run('s2x', this.s2x.handle({ kind: 'timer', now, key }))),
    };
  }

  get counts(): { x2s: number; s2x: number; dialogs: number; timers: number } {
    return { x2s: this.x2s.size, s2x: this.s2x.size, dialogs: this.dialogs.size, timers: this.wheels.x2s.size + this.wheels.s2x.size };
  }

  // ---------------------------------------------------------------------------------------- restart

  /**
   * Load persisted dialogs and subscriptions. S2X dialogs resume as they were (the next NOTIFY uses the
   * same Call-ID, tags and the next CSeq); X2S subscriptions re-SUBSCRIBE, spread at
   * presence.resumePerSecond so a restart does not flood the proxy.
   */
  restore(): { x2s: number; s2x: number } {
    const started = this.clock.now();
    // Strings that repeat across rows are kept once (each row read from the store is a new copy): the
    // XMPP user's URI in each of her dialogs, and for X2S the watched contact and the notifier's Contact
    // (one presence server for a whole SIP domain), for S2X the proxy in the route set. The watcher's
    // addresses of an S2X dialog are mostly its own, so looking them up would only cost time.
    const pool = new Map<string, string>();
    const intern = (v: string): string => {
      const had = pool.get(v);
      if (had !== undefined) return had;
      pool.set(v, v);
      return v;
    };
    // Route sets too: every dialog through the same proxy holds the same one (dialog.ts never edits one).
    const routeSets = new Map<string, string[]>();
    const routes = (set: string[]): string[] => {
      const k = set.join('\n');
      const had = routeSets.get(k);
      if (had !== undefined) return had;
      const own = set.map(intern);
      routeSets.set(k, own);
      return own;
    };
    for (const row of this.store.allDialogs()) {
      const x2s = row.role !== 'notifier';
      this.holdDialog({
        key: row.key,
        callId: row.callId,
        localTag: row.localTag,
        remoteTag: row.remoteTag,
        localCseq: row.localCseq,
        remoteCseq: row.remoteCseq,
        localUri: intern(row.localUri),
        remoteUri: x2s ? intern(row.remoteUri) : row.remoteUri,
        remoteTarget: row.remoteTarget !== null && x2s ? intern(row.remoteTarget) : row.remoteTarget,
        routeSet: row.routeSet.length === 0 ? NO_ROUTES : routes(row.routeSet),
        role: x2s ? 'subscriber' : 'notifier',
        early: false,
        lastSubscribe: 0,
      });
    }
    // The paced slots start once every row has been read: slots counted from before a slow read would all
    // be due at once, the very flood pacing is there to prevent. Reading is ~5–12 µs a row (bench/presence.ts);
    // the head start allows 20, so the first slot is not late. Records are handed over as they are read:
    // holding them all first would keep every parsed record alive at once (~120 bytes each at 100k).
    const now = this.clock.now();
    const origin = now + Math.ceil((this.store.countSubscriptions() * RESTORE_READ_US_PER_ROW) / 1000);
    const spacing = 1000 / this.config.resumePerSecond;
    let x = 0;
    let s = 0;
    for (const row of this.store.allSubscriptions()) {
      if (!isSubscriptionRecord(row.state)) {
        this.log.warn({ key: row.key }, 'unreadable subscription record dropped');
        this.store.deleteSubscription(row.key);
        continue;
      }
      const record: SubscriptionRecord = row.state;
      // The machine keeps the record's key: make it the very string the dialog already holds.
      record.key = this.dialogs.get(record.key)?.key ?? record.key;
      record.xmppJid = intern(record.xmppJid);
      if (record.direction === 'x2s') {
        record.sipJid = intern(record.sipJid);
        record.sipAor = intern(record.sipAor);
        this.run('x2s', this.x2s.restore(record, now, origin + x++ * spacing));
      } else {
        this.run('s2x', this.s2x.restore(record, now, origin + s++ * spacing * 0.1));
      }
    }
    const done = this.clock.now();
    this.log.info({ x2s: x, s2x: s, dialogs: this.dialogs.size, dialogsMs: now - started, subscriptionsMs: done - now, firstSlotLateMs: Math.max(0, done - origin) }, 'presence state restored');
    return { x2s: x, s2x: s };
  }

  close(): void {
    this.wheels.x2s.close();
    this.wheels.s2x.close();
  }

  // ---------------------------------------------------------------------------------- XMPP stanzas

  /** A `<presence/>` from the XMPP server to one of our components' JIDs. */
  onStanza(stanza: Element): void {
    let p: PresenceStanza;
    try {
      p = stanzaToPresence(stanza);
    } catch (err) {
      if (err instanceof MessageStanzaError) this.log.info({ err: err.message }, 'malformed presence ignored');
      this.metrics.presence('xmpp_to_sip', 'rejected');
      return;
    }
    const now = this.clock.now();
    const toBare = bare(p.to);
    const c = this.byDomain.get(domainOf(p.to));
    if (!c) return;
    let aor: string;
    try {
      aor = formatSipUri({ ...jidToSip(parseJid(toBare), c.addressing), gr: undefined });
    } catch (err) {
      if (err instanceof AddressError) {
        this.metrics.presence('xmpp_to_sip', 'rejected');
        return this.refuse(c, p, err.condition);
      }
      throw err;
    }
    if (p.type === 'subscribe' || p.type === 'probe') {
      // New authorizations and fetches pass the policy; what is already granted keeps flowing (SIGHUP).
      const denied = this.gate.check('x2s', 'presence', domainOf(p.from), parseSipUriText(aor).host);
      if (denied) {
        this.metrics.presence('xmpp_to_sip', 'refused');
        return this.refuse(c, p, denied.xmpp.condition, denied.xmpp.type);
      }
    }
    this.metrics.presence('xmpp_to_sip', 'accepted');
    switch (p.type) {
      case 'subscribe':
        return this.run('x2s', this.x2s.handle({ kind: 'xmpp-subscribe', now, user: p.from, contact: toBare, aor }));
      case 'unsubscribe':
        return this.run('x2s', this.x2s.handle({ kind: 'xmpp-unsubscribe', now, user: p.from, contact: toBare }));
      case 'probe':
        return this.run('x2s', this.x2s.handle({ kind: 'xmpp-probe', now, user: p.from, contact: toBare, aor }));
      case 'subscribed':
      case 'unsubscribed':
        return this.run('s2x', this.s2x.handle({ kind: p.type === 'subscribed' ? 'xmpp-subscribed' : 'xmpp-unsubscribed', now, from: p.from, to: p.to }));
      case 'error': {
        const e = stanza.getChild('error');
        const condition = e?.children.find((ch): ch is Element => typeof ch !== 'string' && ch.name !== 'text')?.name ?? 'undefined-condition';
        return this.run('s2x', this.s2x.handle({ kind: 'xmpp-presence-error', now, from: p.from, to: p.to, error: { condition, type: e?.attrs.type ?? 'cancel' } }));
      }
      case 'available':
      case 'unavailable': {
        const presence = p.presence!;
        this.run('x2s', this.x2s.handle({ kind: 'xmpp-user-presence', now, jid: p.from, available: presence.available }));
        this.run('s2x', this.s2x.handle({ kind: 'xmpp-presence', now, from: p.from, to: p.to, presence }));
        return;
      }
    }
  }

  private refuse(c: PresenceComponent, p: PresenceStanza, condition: string, errorType?: string): void {
    if (p.type === 'error' || p.type === 'unavailable' || p.type === 'available') return;
    this.metrics.error('xmpp', condition);
    const type = errorType ?? this.errors.conditionTypes.get(condition as never) ?? 'cancel';
    const el = presenceToStanza({ from: p.to, to: p.from, type: 'error' });
    el.c('error', { type }).c(condition, { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' });
    c.component.send(el).catch(() => undefined);
  }

  // ----------------------------------------------------------------------------------- SIP requests

  /** Every final answer to a SUBSCRIBE or NOTIFY goes through here, so each event is counted once. */
  private answer(tx: ServerTransaction, status: number, reason?: string, extra?: Iterable<[string, string]>, result?: PresenceResult): void {
    if (tx.finalSent) return;
    if (status >= 200) {
      this.metrics.presence('sip_to_xmpp', result ?? (status < 300 ? 'accepted' : 'rejected'));
      if (status >= 300) this.metrics.error('sip', status);
    }
    tx.respond(this.sip.response(tx.request, status, reason, extra));
  }

  /** SIP requests handed to a subscription machine and not answered yet. */
  get pendingRequestCount(): number {
    return this.pendingRequests.size;
  }

  /** Answers every SIP request still waiting for its machine (shutdown deadline); returns how many. */
  refusePending(status: number, reason: string, extra: ReadonlyArray<[string, string]>): number {
    let n = 0;
    for (const tx of this.pendingRequests.values()) {
      if (tx.finalSent) continue;
      this.answer(tx, status, reason, extra);
      n++;
    }
    this.pendingRequests.clear();
    return n;
  }

  /** The SIP dialogs held, for the admin API (a snapshot of what each one needs to be recognised). */
  heldDialogs(): Array<{ role: 'notifier' | 'subscriber'; callId: string; localUri: string; remoteUri: string; confirmed: boolean }> {
    const out = [];
    for (const d of this.dialogs.values()) out.push({ role: d.role, callId: d.callId, localUri: d.localUri, remoteUri: d.remoteUri, confirmed: d.remoteTag !== null });
    return out;
  }

  /** SUBSCRIBE and NOTIFY that reached the application (routable, well-formed). */
  onSipRequest(tx: ServerTransaction, log: Logger): void {
    const req = tx.request;
    if (req.method === 'SUBSCRIBE') return this.onSubscribe(tx, log);
    if (req.method === 'NOTIFY') return this.onNotify(tx, log);
    this.answer(tx, 405);
  }

  private onSubscribe(tx: ServerTransaction, log: Logger): void {
    const req = tx.request;
    const now = this.clock.now();
    let event: string;
    try {
      event = parseEvent(req.headers.get('event') ?? '').package;
    } catch {
      return this.answer(tx, 400, 'Missing or bad Event');
    }
    const expiresHeader = req.headers.get('expires');
    const expires = expiresHeader !== undefined && /^\d+$/.test(expiresHeader.trim()) ? Number(expiresHeader.trim()) : undefined;
    const acceptHeader = req.headers.getAll('accept');
    const accept = acceptHeader.length > 0 ? acceptHeader.map((a) => a.split(';')[0]!.trim().toLowerCase()) : undefined;

    const toTag = parseNameAddr(req.headers.get('to') ?? '').params.get('tag');
    if (toTag) {
      const held = this.findDialog(req.headers.get('call-id') ?? '', toTag, parseNameAddr(req.headers.get('from') ?? '').params.get('tag') ?? null, false);
      if (!held || held.role !== 'notifier') return this.answer(tx, 481);
      const key = held.key;
      if (acceptInDialogRequest(held, req) === 'out-of-order') return this.answer(tx, 500, 'Out of order CSeq');
      this.persistDialog(held);
      this.pendingRequests.set(tx.id, tx);
      return this.run('s2x', this.s2x.handle({ kind: 'sip-resubscribe', now, key, request: tx.id, event, expires }));
    }

    let watcherJid: string;
    let presentity: string;
    let watcherAor: string;
    let watcherInstance: string | undefined;
    try {
      const from = parseNameAddr(req.headers.get('from') ?? '');
      const sender = parseSipUriText(formatUri({ ...from.uri, params: new Map() }));
      const via = this.pickComponent(sender.host);
      if (!via) return this.answer(tx, 403, 'Watcher domain not served by this gateway');
      watcherAor = formatSipUri(sender);
      watcherJid = formatJidOf(sipToJid(sender, via.addressing));
      presentity = formatJidOf(sipToJid(parseSipUriText(req.uri)));
      const denied = this.gate.check('s2x', 'presence', sender.host, domainOf(presentity), { inbound: tx.inbound });
      if (denied) return this.answer(tx, denied.sip.status, denied.text, PolicyGate.sipHeaders(denied), 'refused');
      const contact = req.headers.get('contact');
      if (contact) {
        const na = parseNameAddr(contact);
        const gr = na.uri.params.get('gr') ?? na.params.get('gr');
        if (gr) watcherInstance = gr;
      }
    } catch (err) {
      if (err instanceof AddressError) return this.answer(tx, err.sipStatus, err.message.replace(/[\r\n]/g, ' ').slice(0, 100));
      return this.answer(tx, 400, 'Bad From or Request-URI');
    }
    const key = `s2x:${req.headers.get('call-id')};${parseNameAddr(req.headers.get('from')!).params.get('tag') ?? ''}`;
    this.holdDialog(this.heldFrom(key, dialogFromRequest(req, toTagFor(req)), 'notifier'));
    this.pendingRequests.set(tx.id, tx);
    log.debug({ key, presentity, watcherJid }, 'SUBSCRIBE from SIP watcher');
    this.run('s2x', this.s2x.handle({ kind: 'sip-subscribe', now, key, request: tx.id, event, expires, accept, watcherAor, watcherJid, watcherInstance, presentity }));
  }

  private onNotify(tx: ServerTransaction, log: Logger): void {
    const req = tx.request;
    const now = this.clock.now();
    const to = parseNameAddr(req.headers.get('to') ?? '');
    const localTag = to.params.get('tag');
    const callId = req.headers.get('call-id') ?? '';
    const remoteTag = parseNameAddr(req.headers.get('from') ?? '').params.get('tag') ?? null;
    const held = localTag ? this.findDialog(callId, localTag, remoteTag, true) : undefined;
    if (!held || held.role !== 'subscriber') return this.answer(tx, 481);
    const key = held.key;
    let state;
    try {
      state = parseSubscriptionState(req.headers.get('subscription-state') ?? '');
    } catch {
      return this.answer(tx, 400, 'Missing or bad Subscription-State');
    }
    if (state.state !== 'active' && state.state !== 'pending' && state.state !== 'terminated') {
      return this.answer(tx, 400, 'Unknown subscription state');
    }
    let body: readonly ResourcePresence[] | 'no-body' = 'no-body';
    if (req.body.length > 0) {
      const type = (req.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (type !== PIDF) return this.answer(tx, 415, undefined, [['accept', PIDF]]);
      try {
        body = pidfToPresence(req.body, this.tables).resources;
      } catch (err) {
        if (err instanceof PresenceDocumentError) return this.answer(tx, err.sipStatus, err.reason);
        throw err;
      }
    }
    const target = held.remoteTarget;
    const confirming = held.remoteTag === null;
    if (confirming) confirmFromNotify(held, req);
    if (acceptInDialogRequest(held, req) === 'out-of-order') return this.answer(tx, 500, 'Out of order CSeq');
    // A NOTIFY that only moves the remote CSeq on is not written: at up to thousands per second it would
    // be one SQLite commit each, and after a restart Stox re-SUBSCRIBEs every X2S dialog anyway, so the
    // notifier's next NOTIFY carries a higher CSeq than any stored one. What a restart needs (the dialog's
    // remote tag, target and route set) is written when it changes.
    if (confirming || held.remoteTarget !== target) this.persistDialog(held);
    this.pendingRequests.set(tx.id, tx);
    log.debug({ key, state: state.state }, 'NOTIFY for an XMPP watcher');
    this.run('x2s', this.x2s.handle({ kind: 'sip-notify', now, key, request: tx.id, state: state.state, expires: state.expires, reason: state.reason, retryAfter: state.retryAfter, body }));
  }

  private pickComponent(host: string): PresenceComponent | undefined {
    const own = this.byDomain.get(host.toLowerCase());
    if (own && own.addressing.mode === 'domain') return own;
    return this.escaped;
  }

  // ---------------------------------------------------------------------------------------- actions

  private run(direction: Direction, actions: ReadonlyArray<SubscriptionAction<ResourcePresence>>): void {
    for (const a of actions) {
      try {
        this.execute(direction, a);
      } catch (err) {
        this.log.error({ err: (err as Error).message, action: a.kind, direction }, 'presence action failed');
      }
    }
  }

  private execute(direction: Direction, a: SubscriptionAction<ResourcePresence>): void {
    switch (a.kind) {
      case 'arm-timer':
        return this.wheels[direction].arm(a.key, a.at);
      case 'cancel-timer':
        return this.wheels[direction].cancel(a.key);
      case 'persist':
        return this.store.putSubscription({
          key: a.record.key,
          direction: a.record.direction,
          xmppJid: a.record.xmppJid,
          sipAor: a.record.sipAor,
          expiresAt: a.record.expiresAt ?? null,
          state: a.record,
          updatedAt: this.clock.now(),
        });
      case 'forget':
        return this.forget(a.key);
      case 'xmpp-presence':
        return this.sendPresence(a);
      case 'sip-respond':
        return this.respond(a);
      case 'sip-subscribe':
        return this.sendSubscribe(a);
      case 'sip-notify':
        return this.sendNotify(a);
    }
  }

  private forget(key: string): void {
    this.store.deleteSubscription(key);
    const held = this.dialogs.get(key);
    if (held) {
      this.forgetDialogOnly(held);
      this.store.deleteDialog(key);
    }
  }

  private sendPresence(a: Extract<SubscriptionAction<ResourcePresence>, { kind: 'xmpp-presence' }>): void {
    const c = this.byDomain.get(domainOf(a.from));
    if (!c) {
      this.log.warn({ from: a.from }, 'no component for presence sender');
      return;
    }
    const type = a.type ?? 'available';
    const el = presenceToStanza(
      { from: a.from, to: a.to, type, presence: a.presence ?? (type === 'unavailable' ? { available: false, statuses: [] } : undefined) },
      type === 'available' ? [this.capsFor(c)] : [],
    );
    if (a.error) el.c('error', { type: a.error.type }).c(a.error.condition, { xmlns: 'urn:ietf:params:xml:ns:xmpp-stanzas' });
    c.component.send(el).catch((err: Error) => this.log.warn({ err: err.message, to: a.to }, 'presence not sent'));
  }

  /**
   * The XEP-0115 `<c/>` for a component's users. Its hash covers the component's disco#info, fixed at
   * start, so it is computed once (a SHA-1 and sorts, per available presence otherwise); each stanza gets
   * its own copy because an element belongs to one parent.
   */
  private capsFor(c: PresenceComponent): Element {
    let caps = this.caps.get(c);
    if (caps === undefined) {
      caps = c.component.discovery.userCaps();
      this.caps.set(c, caps);
    }
    return xml(caps.name, { ...caps.attrs });
  }

  private respond(a: Extract<SubscriptionAction<ResourcePresence>, { kind: 'sip-respond' }>): void {
    const tx = this.pendingRequests.get(a.request);
    if (!tx) return;
    this.pendingRequests.delete(a.request);
    const extra: Array<[string, string]> = [];
    if (a.expires !== undefined) extra.push(['expires', String(a.expires)]);
    if (a.minExpires !== undefined) extra.push(['min-expires', String(a.minExpires)]);
    if (a.allowEvents) extra.push(['allow-events', a.allowEvents.join(', ')]);
    if (a.accept) extra.push(['accept', a.accept.join(', ')]);
    const held = this.dialogs.get(a.key);
    if (a.status < 300 && tx.request.method === 'SUBSCRIBE' && held) extra.push(['contact', this.contactFor(held.localUri, tx.inbound.local.transport)]);
    this.answer(tx, a.status, undefined, extra);
  }

  /** Stox's own address in Contact, so in-dialog requests come straight back without DNS (README). */
  private contactFor(localUri: string, transport: string, gr?: string): string {
    const uri = parseNameAddr(localUri).uri;
    const listener = this.sip.listeners.find((l) => l.transport === transport) ?? this.sip.listeners[0]!;
    const params = new Map<string, string | null>();
    if (listener.transport !== 'udp') params.set('transport', listener.transport);
    if (gr) params.set('gr', gr);
    const host = listener.address.includes(':') ? `[${listener.address}]` : listener.address;
    return `<${formatUri({ scheme: 'sip', user: uri.user, host, port: listener.port, params, headers: new Map() })}>`;
  }

  private sendSubscribe(a: Extract<SubscriptionAction<ResourcePresence>, { kind: 'sip-subscribe' }>): void {
    let held = this.dialogs.get(a.key);
    let req: SipRequest;
    if (a.newDialog || !held || held.remoteTag === null) {
      if (held) this.forgetDialogOnly(held);
      const fromUri = formatSipUri({ ...jidToSip(parseJid(bare(a.from))), gr: undefined });
      req = createRequest('SUBSCRIBE', a.target, [
        ['from', `<${fromUri}>;tag=${newTag()}`],
        ['to', `<${a.target}>`],
        ['call-id', `${randomBytes(12).toString('base64url')}@stox`],
        ['cseq', '1 SUBSCRIBE'],
      ]);
      held = this.heldFrom(a.key, dialogFromOutgoing(req), 'subscriber');
      this.holdDialog(held);
    } else {
      req = inDialogRequest(held, 'SUBSCRIBE');
    }
    const h = req.headers;
    h.set('contact', this.contactFor(held.localUri, 'udp', a.contactResource));
    h.set('event', a.event);
    h.set('accept', a.accept);
    h.set('expires', String(a.expires));
    this.persistDialog(held);
    const seq = ++this.subscribeSeq;
    held.lastSubscribe = seq;
    const dialog = held;
    const deliver = (status: number, res?: SipResponse): void => {
      if (dialog.lastSubscribe !== seq || this.dialogs.get(a.key) !== dialog) return;
      if (res && status < 300) {
        confirmFromResponse(dialog, res);
        this.persistDialog(dialog);
      }
      const num = (name: string): number | undefined => {
        const v = res?.headers.get(name)?.trim();
        return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
      };
      this.run('x2s', this.x2s.handle({ kind: 'sip-response', now: this.clock.now(), key: a.key, status, reason: res?.reason, expires: num('expires'), minExpires: num('min-expires'), retryAfter: num('retry-after') }));
    };
    this.sip.request(req, { onFinal: (res) => deliver(res.status, res), onTimeout: () => deliver(408) }).catch((err: Error) => {
      this.log.warn({ callId: req.headers.get('call-id'), err: err.message }, 'SUBSCRIBE not sent');
      deliver(408);
    });
  }

  private sendNotify(a: Extract<SubscriptionAction<ResourcePresence>, { kind: 'sip-notify' }>): void {
    const held = this.dialogs.get(a.key);
    if (!held) {
      this.log.warn({ key: a.key }, 'NOTIFY for an unknown dialog dropped');
      return;
    }
    const entity = formatSipUri(jidToSip(parseJid(a.presentity), undefined, { scheme: 'pres' }));
    let body: string | undefined;
    let lang: string | undefined;
    if (a.body.type === 'closed') body = closedPidf(entity);
    else if (a.body.type === 'presence') ({ body, contentLanguage: lang } = presenceToPidf(entity, a.body.resources, this.tables));
    const req = inDialogRequest(held, 'NOTIFY', body);
    const h = req.headers;
    h.set('event', 'presence');
    let ss: string = a.state;
    if (a.reason) ss += `;reason=${a.reason}`;
    if (a.expires !== undefined && a.state !== 'terminated') ss += `;expires=${a.expires}`;
    if (a.retryAfter !== undefined) ss += `;retry-after=${a.retryAfter}`;
    h.set('subscription-state', ss);
    h.set('contact', this.contactFor(held.localUri, 'udp'));
    if (body !== undefined) h.set('content-type', PIDF);
    if (lang) h.set('content-language', lang);
    this.persistDialog(held);
    const callId = held.callId;
    this.sip
      .request(req, {
        onFinal: (res) => {
          // RFC 6665 §4.2.2: a 481 (or other failure) to a NOTIFY means the watcher has gone.
          if (res.status >= 300 && this.dialogs.get(a.key) === held) {
            this.log.info({ callId, status: res.status }, 'watcher refused NOTIFY; ending subscription');
            this.run('s2x', this.s2x.handle({ kind: 'sip-resubscribe', now: this.clock.now(), key: a.key, request: '', event: 'presence', expires: 0 }));
          }
        },
        onTimeout: () => this.log.info({ callId }, 'NOTIFY timed out'),
      })
      .catch((err: Error) => this.log.warn({ callId, err: err.message }, 'NOTIFY not sent'));
  }

  // ------------------------------------------------------------------------------------ dialog state

  private heldFrom(key: string, state: DialogState, role: HeldDialog['role']): HeldDialog {
    return {
      key,
      callId: state.callId,
      localTag: state.localTag,
      remoteTag: state.remoteTag,
      localCseq: state.localCseq,
      remoteCseq: state.remoteCseq,
      localUri: state.localUri,
      remoteUri: state.remoteUri,
      remoteTarget: state.remoteTarget,
      routeSet: state.routeSet.length === 0 ? NO_ROUTES : state.routeSet,
      role,
      early: false,
      lastSubscribe: 0,
    };
  }

  private holdDialog(held: HeldDialog): void {
    held.early = held.remoteTag === null;
    this.dialogs.set(held.key, held);
    const had = this.byCallId.get(held.callId);
    if (had === undefined) this.byCallId.set(held.callId, held);
    else if (Array.isArray(had)) had.push(held);
    else this.byCallId.set(held.callId, [had, held]);
  }

  /**
   * The dialog a request from the peer belongs to (RFC 3261 §12.2.2): same Call-ID, our tag, their tag.
   * With `early`, a dialog held before the remote tag was known also matches by Call-ID and our tag.
   */
  private findDialog(callId: string, localTag: string, remoteTag: string | null, early: boolean): HeldDialog | undefined {
    const had = this.byCallId.get(callId);
    if (had === undefined) return undefined;
    const list = Array.isArray(had) ? had : [had];
    let loose: HeldDialog | undefined;
    for (const d of list) {
      if (d.localTag !== localTag) continue;
      if (d.remoteTag === remoteTag) return d;
      if (early && d.early) loose ??= d;
    }
    return loose;
  }

  private forgetDialogOnly(held: HeldDialog): void {
    if (this.dialogs.get(held.key) === held) this.dialogs.delete(held.key);
    const had = this.byCallId.get(held.callId);
    if (had === held) this.byCallId.delete(held.callId);
    else if (Array.isArray(had)) {
      const i = had.indexOf(held);
      if (i >= 0) had.splice(i, 1);
      if (had.length === 1) this.byCallId.set(held.callId, had[0]!);
      else if (had.length === 0) this.byCallId.delete(held.callId);
    }
  }

  private persistDialog(held: HeldDialog): void {
    this.store.putDialog({
      key: held.key,
      callId: held.callId,
      localTag: held.localTag,
      remoteTag: held.remoteTag,
      localCseq: held.localCseq,
      remoteCseq: held.remoteCseq,
      routeSet: held.routeSet,
      remoteTarget: held.remoteTarget,
      localUri: held.localUri,
      remoteUri: held.remoteUri,
      localContact: null,
      expiresAt: null,
      role: held.role,
      transport: null,
      updatedAt: this.clock.now(),
    });
  }
}

function bare(jid: string): string {
  const slash = jid.indexOf('/');
  return slash < 0 ? jid : jid.slice(0, slash);
}

function domainOf(jid: string): string {
  const b = bare(jid);
  return b.slice(b.indexOf('@') + 1).toLowerCase();
}

function formatJidOf(j: Jid): string {
  return formatJid(bareJid(j));
}
