import xml from '@xmpp/xml';
import { randomBytes } from 'node:crypto';
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import { AddressError, jidToSip, parseSipUriText, sipToJid, formatSipUri, type ComponentAddressing, type SipAddress } from '../core/address.js';
import { sipStatusToXmppError, sipTimeoutToXmppError, xmppErrorToSip, type ErrorTables, type StanzaErrorCondition, type XmppStanzaError } from '../core/errors.js';
import { formatJid, parseJid, type Jid } from '../core/jid.js';
import { sipPageToXmpp, xmppPageToSip, X2S_IGNORE, type SipPage } from '../core/messages.js';
import type { StoxConfig } from '../config/schema.js';
import { decodePage, encodePage } from '../sip/page-codec.js';
import { detached } from '../sip/detached.js';
import type { SipRequest } from '../sip/message.js';
import type { SipStack } from '../sip/stack.js';
import type { ServerTransaction } from '../sip/transaction/index.js';
import type { SipUri } from '../sip/uri.js';
import { ComponentUnavailableError, type XmppComponent } from '../xmpp/component.js';
import { DeliveryTracker, type DeliveryOutcome, type StanzaErrorInfo } from '../xmpp/delivery.js';
import { PolicyGate } from './policy-gate.js';
import { noMetrics, type GatewayRecorder, type MessageResult } from '../ops/metrics.js';
import { errorReply, MessageStanzaError, stanzaToXmppPage, xmppPageToStanza } from '../xmpp/message-stanza.js';

/** What a late bounce needs to tell the SIP sender (README, "Delivery failures"). */
export interface SentToXmpp {
  senderUri: string;
  recipient: Jid;
  callId: string;
  /** Date.now() when it was handed over; formatted only for the rare notice. */
  sentAt: number;
}

export interface GatewayComponent {
  component: XmppComponent;
  addressing: ComponentAddressing;
  delivery: DeliveryTracker<SentToXmpp>;
}

/**
 * Headers the stack adds after encoding (Via, Max-Forwards, User-Agent, maybe Route): counted against
 * im.maxMessageBytes so the 1300-byte rule covers the whole request as sent (reference §4.5 [D]).
 */
const STACK_HEADER_ALLOWANCE = 200;

const NO_ROUTE = 'no-route';
const SHUTTING_DOWN = 'shutting-down';

function domainOfJid(jid: string): string {
  const slash = jid.indexOf('/');
  const bare = slash < 0 ? jid : jid.slice(0, slash);
  return bare.slice(bare.indexOf('@') + 1).toLowerCase();
}

/**
 * Ids for stanzas and Call-IDs: a random per-process part (so ids never repeat across restarts or
 * gateways) and a counter. Drawing random bytes for every message cost more than the rest of the id work
 * together under load.
 */
const ID_BASE = randomBytes(9).toString('base64url');
let idSeq = 0;
function newId(prefix: string): string {
  idSeq = (idSeq + 1) % Number.MAX_SAFE_INTEGER;
  return `${prefix}${ID_BASE}.${idSeq.toString(36)}`;
}

/**
 * SIP URI text → mapped XMPP address, remembered: the same few senders and recipients repeat message after
 * message, and the mapping (IDNA, nameprep, XEP-0106 escaping) is pure and costly. Bounded by clearing
 * when full, which is cheap and keeps memory flat whatever the senders do.
 */
const MAX_CACHED_ADDRESSES = 10_000;

interface MappedSender {
  via: GatewayComponent;
  from: string;
  /** The sender's SIP domain, the peer the policy judges. */
  host: string;
}

interface MappedRecipient {
  jid: Jid;
  text: string;
}

/**
 * XMPP → SIP MESSAGEs awaiting their final answer, at most. Past it a message is refused at once with
 * <resource-constraint/> (type wait, RFC 6120 §8.3.3.18) instead of queueing: under overload each one
 * holds a SIP client transaction until answered, and without a bound the IM benchmark saw Stox grow past
 * 1 GB. Normal operation has rate × round trip in flight (tens to hundreds).
 */
const MAX_X2S_IN_FLIGHT = 10_000;

/** The stanza's name and addressing, all errorReply needs of the original. */
function replyHeader(stanza: Element): Element {
  const attrs: Record<string, string> = {};
  for (const name of ['from', 'to', 'id']) {
    const v: unknown = stanza.attrs[name];
    if (typeof v === 'string') attrs[name] = v;
  }
  return xml(stanza.name, attrs);
}

/**
 * The request's size on the wire as serializeMessage would write it, without building it: the start
 * line, `Name: value` CRLF per header (canonical names differ from the stored ones only in case), the
 * Content-Length the serializer adds, the blank line and the body.
 */
function requestBytes(req: SipRequest): number {
  let n = Buffer.byteLength(req.method) + 1 + Buffer.byteLength(req.uri) + 10;
  for (const [name, value] of req.headers.entries) {
    if (name !== 'content-length') n += name.length + 2 + Buffer.byteLength(value) + 2;
  }
  return n + 'Content-Length: \r\n\r\n'.length + String(req.body.length).length + req.body.length;
}

/** Page-mode IM both ways (RFC 7572): the glue between the SIP stack, the core mapping and the components. */
export class PageModeBridge {
  private readonly byDomain = new Map<string, GatewayComponent>();
  private readonly escaped?: GatewayComponent;
  private readonly log: Logger;
  private readonly senders = new Map<string, MappedSender>();
  private readonly recipients = new Map<string, MappedRecipient>();
  private readonly xmppSenders = new Map<string, string>();
  /** XMPP → SIP MESSAGEs sent and not yet answered (final response, timeout or no route). */
  /** XMPP → SIP messages awaiting the SIP answer: each entry settles its message (once). */
  private readonly x2sPending = new Set<(status: number | undefined, reason?: string) => void>();
  /** SIP → XMPP MESSAGEs not answered yet: a shutdown waits for them and answers the rest 503. */
  private readonly s2xPending = new Set<ServerTransaction>();
  private readonly xmppRecipients = new Map<string, { uri: string; host: string }>();
  /** From `drain()` on (shutdown): new XMPP messages are refused; those in flight still get their answer. */
  private draining = false;

  constructor(
    private readonly sip: SipStack,
    components: GatewayComponent[],
    private readonly errors: ErrorTables,
    private readonly im: StoxConfig['im'],
    private readonly gate: PolicyGate,
    logger: Logger,
    private readonly metrics: GatewayRecorder = noMetrics,
  ) {
    this.log = logger.child({ component: 'im' });
    for (const c of components) {
      this.byDomain.set(c.component.domain.toLowerCase(), c);
      c.delivery.onLateBounce((meta, error) => this.reportLateBounce(c, meta, error));
    }
    this.escaped = components.find((c) => c.addressing.mode === 'escaped');
  }

  /** SIP requests for users in XMPP domains are ours; local SIP users and our own components are not. */
  hasRoute(target: SipUri): boolean {
    if (!target.user) return false;
    const host = target.host.toLowerCase();
    return !this.sip.isLocalDomain(host) && !this.byDomain.has(host);
  }

  // ------------------------------------------------------------------------------------- SIP → XMPP

  onSipMessage(tx: ServerTransaction, log: Logger): void {
    this.s2xPending.add(tx);
    this.deliverToXmpp(tx, log).then(
      () => this.s2xPending.delete(tx),
      (err: unknown) => {
        this.s2xPending.delete(tx);
        log.error({ err: (err as Error).message }, 'unexpected failure delivering MESSAGE');
        if (tx.finalSent) return;
        this.metrics.message('sip_to_xmpp', 'failed');
        this.metrics.error('sip', 500);
        tx.respond(this.sip.response(tx.request, 500, 'Internal error'));
      },
    );
  }

  /** Shutdown has begun: new XMPP → SIP messages get `<service-unavailable/>` (type wait). */
  drain(): void {
    this.draining = true;
  }

  /** Messages awaiting their final answer, each way. */
  get inFlight(): { s2x: number; x2s: number } {
    return { s2x: this.s2xPending.size, x2s: this.x2sPending.size };
  }

  /**
   * Answers every SIP → XMPP MESSAGE still waiting (shutdown deadline): never silence, never a 2xx for a
   * message whose fate is unknown. Returns how many were answered.
   */
  refusePending(status: number, reason: string, extra: ReadonlyArray<[string, string]>): number {
    let n = 0;
    for (const tx of this.s2xPending) {
      if (tx.finalSent) continue;
      this.metrics.message('sip_to_xmpp', 'unavailable');
      this.metrics.error('sip', status);
      tx.respond(this.sip.response(tx.request, status, reason, extra));
      n++;
    }
    this.s2xPending.clear();
    // XMPP has no positive answer, so silence would read as delivered: the sender learns that Stox could
    // not learn the outcome, as when the SIP transaction times out.
    for (const settle of [...this.x2sPending]) {
      settle(undefined, SHUTTING_DOWN);
      n++;
    }
    return n;
  }

  private pickComponent(sender: SipAddress): GatewayComponent | undefined {
    const own = this.byDomain.get(sender.host.toLowerCase());
    if (own && own.addressing.mode === 'domain') return own;
    return this.escaped;
  }

  /** The component a SIP sender's messages go out on and the sender's JID there; undefined: not served. */
  private mapSender(uri: string): MappedSender | undefined {
    const hit = this.senders.get(uri);
    if (hit) return hit;
    const sender = parseSipUriText(uri);
    const via = this.pickComponent(sender);
    if (!via) return undefined;
    const mapped = { via, from: formatJid(sipToJid(sender, via.addressing)), host: sender.host.toLowerCase() };
    if (this.senders.size >= MAX_CACHED_ADDRESSES) this.senders.clear();
    this.senders.set(uri, mapped);
    return mapped;
  }

  private mapRecipient(uri: string): MappedRecipient {
    const hit = this.recipients.get(uri);
    if (hit) return hit;
    const jid = sipToJid(parseSipUriText(uri));
    const mapped = { jid, text: formatJid(jid) };
    if (this.recipients.size >= MAX_CACHED_ADDRESSES) this.recipients.clear();
    this.recipients.set(uri, mapped);
    return mapped;
  }

  private async deliverToXmpp(tx: ServerTransaction, log: Logger): Promise<void> {
    const req = tx.request;
    const reply = (status: number, reason?: string, extra?: Iterable<[string, string]>, result?: MessageResult): void => {
      // A shutdown deadline may have answered it already (refusePending); count each message once.
      if (tx.finalSent) return;
      if (status < 300) this.metrics.message('sip_to_xmpp', 'delivered');
      else {
        this.metrics.message('sip_to_xmpp', result ?? (status === 503 ? 'unavailable' : 'rejected'));
        this.metrics.error('sip', status);
      }
      tx.respond(this.sip.response(req, status, reason, extra));
    };
    const handed = this.handOff(tx, reply, log);
    if (!handed) return;
    // Only what the answer needs lives across the wait: the decoded page, the translation and the stanza
    // are garbage once handed over. Kept alive for the barrier's round trip they outlived two scavenges
    // and were promoted, and at 10,000 messages/s that promoted garbage was most of Stox's heap growth.
    const { delivery, to, via, stanzaId } = handed;
    let outcome;
    try {
      outcome = await delivery;
    } catch (err) {
      if (err instanceof ComponentUnavailableError) {
        return reply(503, 'XMPP server unreachable', [['retry-after', String(this.im.retryAfterSeconds)]]);
      }
      throw err;
    }
    if (outcome.status === 'accepted') {
      log.debug({ stanzaId, confirmed: outcome.confirmed }, 'MESSAGE handed to XMPP');
      return reply(this.im.successCode);
    }
    const mapped = xmppErrorToSip(this.errors, outcome.error.condition, { about: to, text: outcome.error.text, address: outcome.error.address, via: via.addressing });
    log.info({ stanzaId, condition: outcome.error.condition, status: mapped.status }, 'XMPP server bounced the message');
    const extra: Array<[string, string]> = mapped.contact ? [['contact', `<${formatSipUri(mapped.contact)}>`]] : [];
    return reply(mapped.status, mapped.reason, extra, 'bounced');
  }

  /**
   * Decode, map, judge and translate a MESSAGE and hand the stanza to its component: the delivery to wait
   * for, or undefined once `reply` has answered the request (refused, or not translatable).
   */
  private handOff(
    tx: ServerTransaction,
    reply: (status: number, reason?: string, extra?: Iterable<[string, string]>, result?: MessageResult) => void,
    log: Logger,
  ): { delivery: Promise<DeliveryOutcome>; to: Jid; via: GatewayComponent; stanzaId: string } | undefined {
    const req = tx.request;
    let page: SipPage;
    let sender: MappedSender | undefined;
    let recipient: MappedRecipient;
    try {
      page = decodePage(req);
      sender = this.mapSender(page.from.uri);
      if (!sender) return void reply(403, 'Sender domain not served by this gateway');
      recipient = this.mapRecipient(page.requestUri);
    } catch (err) {
      if (err instanceof AddressError) {
        const warning = err.sipWarning ? ([['warning', `${err.sipWarning.code} stox "${err.sipWarning.text}"`]] as Array<[string, string]>) : [];
        log.info({ err: err.message, status: err.sipStatus }, 'address cannot be mapped');
        return void reply(err.sipStatus, err.message.replace(/[\r\n]/g, ' ').slice(0, 120), warning);
      }
      return void reply(400, (err as Error).message.replace(/[\r\n]/g, ' ').slice(0, 120));
    }
    const denied = this.gate.check('s2x', 'im', sender.host, recipient.jid.domain, { inbound: tx.inbound, sizeBytes: req.body.length });
    if (denied) return void reply(denied.sip.status, denied.text, PolicyGate.sipHeaders(denied), 'refused');
    const via = sender.via;
    const to = recipient.jid;
    const stanzaId = newId('stox-');
    const result = sipPageToXmpp(page, { from: sender.from, to: recipient.text, stanzaId });
    if (!result.ok) {
      log.info({ status: result.status, reason: result.reason }, 'MESSAGE cannot be translated');
      return void reply(result.status, result.reason, result.accept ? [['accept', result.accept.join(', ')]] : []);
    }
    const component = via.component;
    if (!component.connected) {
      log.warn({ domain: component.domain }, 'XMPP component down: refusing MESSAGE');
      return void reply(503, 'XMPP server unreachable', [['retry-after', String(this.im.retryAfterSeconds)]]);
    }
    const meta: SentToXmpp = { senderUri: detached(page.from.uri), recipient: to, callId: detached(page.callId), sentAt: Date.now() };
    return { delivery: via.delivery.deliver(xmppPageToStanza(result.page), meta), to, via, stanzaId };
  }

  /**
   * A bounce after the SIP sender already had its 2xx: tell them with a MESSAGE from the recipient's
   * address whose In-Reply-To names the original Call-ID (RFC 3261 §20.21), so a client can thread it.
   */
  private reportLateBounce(c: GatewayComponent, meta: SentToXmpp, error: StanzaErrorInfo): void {
    let recipientUri: string;
    try {
      recipientUri = formatSipUri(jidToSip(meta.recipient));
    } catch {
      return;
    }
    const text = `Stox: your message to ${recipientUri} sent at ${new Date(meta.sentAt).toISOString()} was not delivered: ${error.condition}${error.text ? ` (${error.text})` : ''}.`;
    const req = encodePage({
      requestUri: meta.senderUri,
      from: { uri: recipientUri },
      to: { uri: meta.senderUri },
      callId: newId('stox-notice-'),
      subject: 'Message not delivered',
      contentType: 'text/plain;charset=UTF-8',
      body: Buffer.from(text, 'utf8'),
    });
    req.headers.append('in-reply-to', meta.callId);
    this.log.info({ callId: meta.callId, condition: error.condition, domain: c.component.domain }, 'late bounce: notifying SIP sender');
    this.sendSip(req, () => undefined);
  }

  // ------------------------------------------------------------------------------------- XMPP → SIP

  /** Every stanza from a component that is not a built-in query. */
  onStanza(c: GatewayComponent, stanza: Element): void {
    if (c.delivery.handleIncoming(stanza)) return;
    if (stanza.name !== 'message' || stanza.attrs.type === 'error') return;
    const stanzaId = stanza.attrs.id as string | undefined;
    // A child logger per message is costly at thousands per second; only paths that log build one.
    let childLog: Logger | undefined;
    const log = (): Logger => (childLog ??= this.log.child({ stanzaId, domain: c.component.domain }));
    // What an error reply needs of the stanza (its name and addresses): the callback below lives until the
    // SIP side answers, and should not keep the whole received element alive that long.
    const original = replyHeader(stanza);
    const fail = (e: XmppStanzaError | { condition: string; type?: string; text?: string }, result: MessageResult = 'rejected'): void => {
      this.metrics.message('xmpp_to_sip', result);
      this.metrics.error('xmpp', e.condition);
      const type = 'type' in e && e.type ? e.type : (this.errors.conditionTypes.get(e.condition as StanzaErrorCondition) ?? 'cancel');
      log().info({ condition: e.condition }, 'XMPP message refused');
      c.component.send(errorReply(original, e.condition, type, e.text)).catch((err: Error) => log().warn({ err: err.message }, 'cannot send error reply'));
    };
    if (this.draining) return fail({ condition: 'service-unavailable', type: 'wait', text: 'gateway shutting down; retry later' }, 'unavailable');
    if (this.x2sPending.size >= MAX_X2S_IN_FLIGHT) {
      return fail({ condition: 'resource-constraint', type: 'wait', text: 'too many messages awaiting an answer from the SIP side; retry later' }, 'unavailable');
    }
    let req: SipRequest;
    try {
      const page = stanzaToXmppPage(stanza);
      const fromUri = this.mapXmppSender(page.from);
      const { uri: toUri, host: toHost } = this.mapXmppRecipient(c, page.to);
      const bodyBytes = page.bodies.reduce((n, b) => n + Buffer.byteLength(b.text, 'utf8'), 0);
      const denied = this.gate.check('x2s', 'im', domainOfJid(page.from), toHost, { sizeBytes: bodyBytes });
      if (denied) return fail({ condition: denied.xmpp.condition, type: denied.xmpp.type, text: denied.text }, 'refused');
      const r = xmppPageToSip(page, { fromUri, toUri, maxBodyBytes: this.im.maxMessageBytes, callId: newId('stox-') });
      if (!r.ok) {
        if (r.condition === X2S_IGNORE) return;
        return fail({ condition: r.condition, text: r.text });
      }
      req = encodePage(r.page);
    } catch (err) {
      if (err instanceof AddressError || err instanceof MessageStanzaError) return fail({ condition: err.condition, text: err.message });
      log().error({ err: (err as Error).message }, 'cannot translate XMPP message');
      return fail({ condition: 'internal-server-error' }, 'failed');
    }
    const size = requestBytes(req) + STACK_HEADER_ALLOWANCE;
    if (size > this.im.maxMessageBytes) {
      return fail({ condition: 'policy-violation', text: `message too large for SIP page mode (${size} > ${this.im.maxMessageBytes} bytes, RFC 3428 §8)` });
    }
    const callId = req.headers.get('call-id');
    const settle = (status: number | undefined, reason?: string): void => {
      // Once only: a shutdown deadline may have settled it before the SIP side answered.
      if (!this.x2sPending.delete(settle)) return;
      if (status !== undefined && status < 300) {
        this.metrics.message('xmpp_to_sip', 'delivered');
        if (this.log.isLevelEnabled('debug')) log().debug({ callId, status }, 'MESSAGE delivered to SIP');
        return;
      }
      const e =
        status === undefined
          ? reason === NO_ROUTE
            ? { condition: 'remote-server-not-found', text: 'no SIP route to the recipient' }
            : reason === SHUTTING_DOWN
              ? { condition: 'remote-server-timeout', type: 'wait', text: 'the gateway shut down before the SIP side answered; the message may not have been delivered' }
              : sipTimeoutToXmppError(this.errors)
          : sipStatusToXmppError(this.errors, status, { reason });
      log().info({ callId, status, condition: e.condition }, 'SIP side refused the message');
      fail(e, status === undefined ? 'failed' : 'bounced');
    };
    this.x2sPending.add(settle);
    this.sendSip(req, settle);
  }

  /** An XMPP sender's JID (full, its resource becoming the GRUU) → SIP URI. */
  private mapXmppSender(jid: string): string {
    let uri = this.xmppSenders.get(jid);
    if (uri === undefined) {
      uri = formatSipUri(jidToSip(parseJid(jid)));
      if (this.xmppSenders.size >= MAX_CACHED_ADDRESSES) this.xmppSenders.clear();
      this.xmppSenders.set(jid, uri);
    }
    return uri;
  }

  /** A JID at one of our components → the SIP URI it stands for, by that component's addressing. */
  private mapXmppRecipient(c: GatewayComponent, jid: string): { uri: string; host: string } {
    const key = `${c.component.domain}\n${jid}`;
    let mapped = this.xmppRecipients.get(key);
    if (mapped === undefined) {
      const sip = jidToSip(parseJid(jid), c.addressing);
      mapped = { uri: formatSipUri(sip), host: sip.host.toLowerCase() };
      if (this.xmppRecipients.size >= MAX_CACHED_ADDRESSES) this.xmppRecipients.clear();
      this.xmppRecipients.set(key, mapped);
    }
    return mapped;
  }

  /** Send a SIP request; `done` gets the final status, or undefined with NO_ROUTE / nothing on timeout. */
  private sendSip(req: SipRequest, done: (status: number | undefined, reason?: string) => void): void {
    this.sip
      .request(req, {
        onFinal: (res) => done(res.status, res.reason),
        onTimeout: () => done(undefined),
        // A refused connection or failed TLS handshake: the next hop is unreachable, not slow.
        onTransportError: (err) => {
          this.log.warn({ callId: req.headers.get('call-id'), err: err.message }, 'SIP next hop unreachable');
          done(undefined, NO_ROUTE);
        },
      })
      .catch((err: Error) => {
        this.log.warn({ callId: req.headers.get('call-id'), err: err.message }, 'cannot send SIP request');
        done(undefined, NO_ROUTE);
      });
  }
}
