import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import type { Logger } from 'pino';
import { NS_PING, NS_STANZAS } from './builtins.js';
import { ComponentUnavailableError, type XmppComponent } from './component.js';

/**
 * "No false success" for messages handed to the XMPP server. XMPP has no positive acknowledgement, but a
 * server handles one stream's stanzas in order: an XEP-0199 ping sent to the recipient's domain right
 * after a message comes back only after the server has dealt with that message, so a bounce it generates
 * at once (unknown user, refused by policy) arrives before the ping's answer. The messages of one
 * event-loop turn share a ping sent right behind them, and pings are pipelined (several may be in flight)
 * but spaced at least BARRIER_SPACING_MS apart: a message waits one round trip plus at most that spacing,
 * not for the previous ping to come back first (1.5 round trips on average), and the server answers a few
 * hundred pings a second at most, however many messages. Bounces that come later (a remote server, a slow
 * client) are reported through `onLateBounce`.
 */

export interface StanzaErrorInfo {
  condition: string;
  type: string;
  text?: string;
  /** Character data of the condition element (`<gone/>`, `<redirect/>`: an XMPP URI). */
  address?: string;
}

export type DeliveryOutcome = { status: 'accepted'; confirmed: boolean } | { status: 'bounced'; error: StanzaErrorInfo };

export interface DeliveryOptions {
  /**
   * Longest wait for the barrier's answer; then the message counts as accepted, unconfirmed. 0 sends no
   * barrier at all: a message is accepted, unconfirmed, once the socket has taken it.
   */
  confirmTimeoutMs: number;
  /** How long an accepted message's metadata is kept to recognise a late bounce. */
  lateWindowMs?: number;
  /** Upper bound on remembered accepted messages; the oldest go first, so memory stays bounded under load. */
  maxRemembered?: number;
  /**
   * Upper bound on messages sent and not yet settled. Past it `deliver` refuses (ComponentUnavailableError,
   * which the SIP side answers 503 with Retry-After) instead of queueing: when the XMPP server falls
   * seconds behind, each waiting message holds its SIP transaction and request, and an unbounded backlog
   * grew Stox to over 1 GB in the IM benchmark while senders retransmitted into it. Default 10 000
   * (normal operation has rate × barrier round trip waiting: tens to hundreds).
   */
  maxPending?: number;
  logger: Logger;
}

interface Pending<M> {
  meta: M;
  resolve: (o: DeliveryOutcome) => void;
  settled: boolean;
}

interface Barrier<M> {
  covers: Array<{ id: string; entry: Pending<M> }>;
  timer: NodeJS.Timeout;
}

interface DomainState<M> {
  /** Pings sent and not answered, by id. */
  inFlight: Map<string, Barrier<M>>;
  /** Messages sent that no ping covers yet; the scheduled one will. */
  uncovered: Array<{ id: string; entry: Pending<M> }>;
  /** Cancels the ping scheduled to cover `uncovered`, if one is. */
  scheduled?: () => void;
  lastSentAt: number;
}

/** Least time between two pings to one domain. */
export const BARRIER_SPACING_MS = 5;

const UNCONFIRMED: DeliveryOutcome = Object.freeze({ status: 'accepted', confirmed: false });
const FORGET_EVERY = 256;

/** Parse the `<error/>` child of an error stanza (RFC 6120 §8.3.2). */
export function stanzaErrorInfo(stanza: Element): StanzaErrorInfo {
  const error = stanza.getChild('error');
  const info: StanzaErrorInfo = { condition: 'undefined-condition', type: error?.attrs.type ?? 'cancel' };
  for (const child of error?.children ?? []) {
    if (typeof child === 'string' || child.attrs.xmlns !== NS_STANZAS) continue;
    if (child.name === 'text') info.text = child.getText();
    else {
      info.condition = child.name;
      const data = child.getText();
      if (data) info.address = data;
    }
  }
  return info;
}

function domainOf(jid: string): string {
  const at = jid.indexOf('@');
  const slash = jid.indexOf('/', at + 1);
  return jid.slice(at + 1, slash < 0 ? undefined : slash);
}

export class DeliveryTracker<M> {
  private readonly pending = new Map<string, Pending<M>>();
  private readonly accepted = new Map<string, { meta: M; at: number }>();
  private readonly domains = new Map<string, DomainState<M>>();
  private barrierSeq = 0;
  /** Messages remembered since the last scan for old ones (without barriers, which otherwise trigger it). */
  private sinceForget = 0;
  private lateHandler?: (meta: M, error: StanzaErrorInfo) => void;
  private readonly lateWindowMs: number;
  private readonly maxRemembered: number;
  private readonly maxPending: number;

  constructor(
    private readonly component: Pick<XmppComponent, 'domain' | 'send'>,
    private readonly opts: DeliveryOptions,
  ) {
    this.lateWindowMs = opts.lateWindowMs ?? 120_000;
    this.maxRemembered = opts.maxRemembered ?? 100_000;
    this.maxPending = opts.maxPending ?? 10_000;
  }

  onLateBounce(handler: (meta: M, error: StanzaErrorInfo) => void): void {
    this.lateHandler = handler;
  }

  /** Messages awaiting confirmation and accepted ones still remembered (for metrics and tests). */
  get sizes(): { pending: number; remembered: number } {
    return { pending: this.pending.size, remembered: this.accepted.size };
  }

  /**
   * Send a `<message/>` (it must carry a unique id) and settle once the server has either bounced it or
   * answered the barrier behind it. Rejects, without tracking anything, when the component cannot send.
   */
  deliver(stanza: Element, meta: M): Promise<DeliveryOutcome> {
    const id = stanza.attrs.id as string | undefined;
    const to = stanza.attrs.to as string | undefined;
    if (!id || !to) return Promise.reject(new Error('a tracked message needs an id and a to'));
    if (this.pending.size >= this.maxPending) {
      return Promise.reject(new ComponentUnavailableError(`${this.pending.size} messages await the XMPP server's confirmation; refusing more`));
    }
    // Sent here, outside any closure: a closure that outlives the call would keep the stanza's tree alive.
    const sent = this.component.send(stanza);
    if (this.opts.confirmTimeoutMs === 0) {
      // No barrier: handed over is all the SIP sender waits for; a bounce, whenever it comes, is a notice.
      return sent.then(() => this.acceptUnconfirmed(id, meta));
    }
    return this.track(sent, id, to, meta);
  }

  private acceptUnconfirmed(id: string, meta: M): DeliveryOutcome {
    const now = Date.now();
    this.accepted.set(id, { meta, at: now });
    if (this.accepted.size > this.maxRemembered || ++this.sinceForget >= FORGET_EVERY) {
      this.sinceForget = 0;
      this.forgetOld(now);
    }
    return UNCONFIRMED;
  }

  private track(sent: Promise<void>, id: string, to: string, meta: M): Promise<DeliveryOutcome> {
    return new Promise<DeliveryOutcome>((resolve, reject) => {
      const entry: Pending<M> = { meta, resolve, settled: false };
      // Tracked from the moment it is written, not once the socket has taken it: the barrier goes out behind
      // it in the same write, and a message the socket then loses is taken back here before the barrier's
      // own failure (write callbacks run in order) could count it as handed over.
      sent.catch((err: unknown) => {
        this.pending.delete(id);
        if (entry.settled) return;
        entry.settled = true;
        reject(err);
      });
      this.pending.set(id, entry);
      const domain = domainOf(to);
      let state = this.domains.get(domain);
      if (!state) {
        state = { inFlight: new Map(), uncovered: [], lastSentAt: -Infinity };
        this.domains.set(domain, state);
      }
      state.uncovered.push({ id, entry });
      if (state.scheduled === undefined) this.scheduleBarrier(domain, state);
    });
  }

  /**
   * The ping goes out after the messages of this turn: the component writes a turn's stanzas at its end
   * (setImmediate, queued when the first was sent), and this runs after that, so the ping follows them.
   */
  private scheduleBarrier(domain: string, state: DomainState<M>): void {
    const wait = state.lastSentAt + BARRIER_SPACING_MS - Date.now();
    const send = (): void => this.sendBarrier(domain, state);
    if (wait > 0) {
      const timer = setTimeout(send, wait);
      state.scheduled = () => clearTimeout(timer);
    } else {
      const immediate = setImmediate(send);
      state.scheduled = () => clearImmediate(immediate);
    }
  }

  /** Offer every incoming stanza; returns true when it was a bounce or barrier answer consumed here. */
  handleIncoming(stanza: Element): boolean {
    const id = stanza.attrs.id as string | undefined;
    if (id === undefined || stanza.attrs.type !== 'error' && stanza.attrs.type !== 'result') return false;
    if (stanza.name === 'iq' && id.startsWith('stox-barrier-')) {
      const domain = domainOf(String(stanza.attrs.from ?? ''));
      const state = this.domains.get(domain);
      if (state) this.completeBarrier(domain, state, id);
      return true;
    }
    if (stanza.name !== 'message' || stanza.attrs.type !== 'error') return false;
    const error = stanzaErrorInfo(stanza);
    const entry = this.pending.get(id);
    if (entry) {
      this.pending.delete(id);
      if (!entry.settled) {
        entry.settled = true;
        entry.resolve({ status: 'bounced', error });
      }
      return true;
    }
    const late = this.accepted.get(id);
    if (late) {
      this.accepted.delete(id);
      this.lateHandler?.(late.meta, error);
      return true;
    }
    return false;
  }

  /** Settle everything still waiting as accepted-unconfirmed (shutdown). */
  close(): void {
    for (const state of this.domains.values()) {
      for (const barrier of state.inFlight.values()) clearTimeout(barrier.timer);
      state.scheduled?.();
    }
    this.domains.clear();
    for (const entry of this.pending.values()) this.settleAccepted(entry, false);
    this.pending.clear();
  }

  private sendBarrier(domain: string, state: DomainState<M>): void {
    state.scheduled = undefined;
    state.lastSentAt = Date.now();
    const id = `stox-barrier-${++this.barrierSeq}`;
    const covers = state.uncovered;
    state.uncovered = [];
    const timer = setTimeout(() => {
      // Handed over but not confirmed: a server this slow would otherwise hold the SIP answer past the
      // sender's retransmissions. A later bounce still becomes a notice.
      this.opts.logger.warn({ component: 'xmpp', domain, id, covered: covers.length }, 'no answer to delivery barrier in time; accepting unconfirmed');
      this.completeBarrier(domain, state, id, false);
    }, this.opts.confirmTimeoutMs);
    state.inFlight.set(id, { covers, timer });
    const ping = xml('iq', { type: 'get', id, from: this.component.domain, to: domain }, xml('ping', { xmlns: NS_PING }));
    this.component.send(ping).catch(() => {
      // The messages were written before the component went away; they count as handed over.
      this.completeBarrier(domain, state, id, false);
    });
  }

  private completeBarrier(domain: string, state: DomainState<M>, id: string, confirmed = true): void {
    const barrier = state.inFlight.get(id);
    if (!barrier) return;
    clearTimeout(barrier.timer);
    state.inFlight.delete(id);
    const now = Date.now();
    for (const { id: messageId, entry } of barrier.covers) {
      if (entry.settled) continue;
      this.pending.delete(messageId);
      this.settleAccepted(entry, confirmed);
      this.accepted.set(messageId, { meta: entry.meta, at: now });
    }
    this.forgetOld(now);
    if (state.inFlight.size === 0 && state.scheduled === undefined && this.domains.get(domain) === state) this.domains.delete(domain);
  }

  private settleAccepted(entry: Pending<M>, confirmed: boolean): void {
    if (entry.settled) return;
    entry.settled = true;
    entry.resolve({ status: 'accepted', confirmed });
  }

  /** Once per barrier, not per message: the scan costs an iterator, and batches are what arrive. */
  private forgetOld(now: number): void {
    // Map iteration is insertion order, so the oldest entries are first.
    for (const [oldId, v] of this.accepted) {
      if (this.accepted.size <= this.maxRemembered && now - v.at <= this.lateWindowMs) break;
      this.accepted.delete(oldId);
    }
  }
}
