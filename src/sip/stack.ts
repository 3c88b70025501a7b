import type { Logger } from 'pino';
import { lazyChild } from '../ops/logging.js';
import { systemClock, type Clock } from './clock.js';
import { formatVia, parseNameAddr, parseVia, type Via } from './header-values.js';
import { type InboundMessage, type SipEndpoint, type SipRequest, type SipResponse } from './message.js';
import { parseMessage, type ParseOutcome } from './parser.js';
import { createResolver, type SipResolver } from './resolver.js';
import { serializeHead, serializeMessage } from './serializer.js';
import {
  buildResponse,
  buildStatelessResponse,
  newBranch,
  rebuildsStatelessly,
  TransactionLayer,
  type ClientHandlers,
  type ClientTransaction,
  type PreparedResponse,
  type ServerTransaction,
  type TransactionTarget,
} from './transaction/index.js';
import { createTransport, resolveLimits, type ReceivedBytes, type Transport, type TransportLimits, type TransportTlsOptions } from './transport/index.js';
import { UdpTransport } from './transport/udp.js';
import { parseUri, type SipUri } from './uri.js';

/** Requests whose 2xx may create a dialog (RFC 3261 §12.1, RFC 6665 §4.1, RFC 3515). */
const DIALOG_METHODS: ReadonlySet<string> = new Set(['INVITE', 'SUBSCRIBE', 'REFER']);

/** Methods the stack itself answers whatever the application registers. */
const STACK_METHODS = ['OPTIONS', 'ACK', 'CANCEL'] as const;

/**
 * What sits above the stack (the gateway's SIP side). The stack asks it which methods exist and whether a
 * user is reachable, so 405 and 404 are answered here consistently for every method.
 */
export interface SipApplication {
  /** Methods handled beyond OPTIONS/ACK/CANCEL, e.g. MESSAGE. */
  readonly methods: readonly string[];
  /** Body types accepted (the OPTIONS Accept header). */
  readonly accept: readonly string[];
  /** Option tags really supported (the OPTIONS Supported header). */
  readonly supported: readonly string[];
  /** Whether the Request-URI names someone Stox can reach. Requests for anyone else get 404. */
  hasRoute(target: SipUri, request: SipRequest): boolean;
  /** A new routable request; the application must answer through `tx.respond`. */
  onRequest(tx: ServerTransaction, target: SipUri, log: Logger): void;
  onStrayAck?(inbound: InboundMessage): void;
  onCancel?(tx: ServerTransaction): void;
}

export interface SipStackOptions {
  listen: readonly string[];
  domains: readonly string[];
  outboundProxy?: string;
  tls?: TransportTlsOptions;
  maxMessageBytes: number;
  userAgent: string;
  logger: Logger;
  clock?: Clock;
  resolver?: SipResolver;
  timers?: Partial<{ T1: number; T2: number; T4: number }>;
  limits?: Partial<TransportLimits>;
}

/** Why an incoming message was dropped without an answer: exposed for metrics and tests. */
export type DropReason = 'unparseable' | 'framing' | 'no-via' | 'send-failed';

export interface SipStackStats {
  requestsIn: number;
  responsesIn: number;
  badRequests: number;
  /** Requests answered without a transaction (RFC 3261 §8.2.7): OPTIONS to Stox, 404, 405, 416, 482, 483, 400/505/513. */
  statelessAnswers: number;
  dropped: Record<DropReason, number>;
}

function endpointKey(e: { address: string; port: number }): string {
  return `${e.address.replace(/^\[|\]$/g, '').toLowerCase()}:${e.port}`;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

function hostForHeader(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/**
 * An inbound request with the address its responses go to, worked out once from its top Via when it
 * arrived (RFC 3261 §18.2.2, RFC 3581) rather than by parsing the response's Via for every send.
 */
interface RoutedInbound extends InboundMessage {
  replyTo?: SipEndpoint;
}

/** What `screen` decided: answer here and now, or hand the request to the application for `target`. */
type Screening = { answer: number; reason?: string; extra?: ReadonlyArray<[string, string]> } | { target: SipUri };

export class SipStack {
  readonly stats: SipStackStats = {
    requestsIn: 0,
    responsesIn: 0,
    badRequests: 0,
    statelessAnswers: 0,
    dropped: { unparseable: 0, framing: 0, 'no-via': 0, 'send-failed': 0 },
  };
  private readonly transports: Transport[] = [];
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly resolver: SipResolver;
  private readonly outboundProxy?: SipUri;
  private readonly ownAddresses = new Set<string>();
  /** One rebuilding record per status code, shared by every completed transaction it answered. */
  private readonly rebuilders = new Map<number, PreparedResponse>();
  private readonly domains: Set<string>;
  private layer?: TransactionLayer;
  private app?: SipApplication;
  /** Fixed once the application is known: they are looked at for every request. */
  private knownMethods: ReadonlySet<string> = new Set(STACK_METHODS);
  private capabilities: ReadonlyArray<[string, string]> = [];
  /** The request `screen` just passed to the layer, and its parsed target, for `onNewRequest`. */
  private screened: { req: SipRequest; target: SipUri } | undefined;

  constructor(private opts: SipStackOptions) {
    this.log = opts.logger.child({ component: 'sip' });
    this.clock = opts.clock ?? systemClock;
    this.resolver = opts.resolver ?? createResolver();
    this.outboundProxy = opts.outboundProxy ? parseUri(opts.outboundProxy) : undefined;
    this.domains = new Set(opts.domains.map((d) => d.toLowerCase()));
  }

  /** Bound listeners (real ports when the config said port 0). */
  get listeners(): readonly SipEndpoint[] {
    return this.transports.map((t) => t.local);
  }

  get transactionCount(): number {
    return this.layer?.size ?? 0;
  }

  isLocalDomain(host: string): boolean {
    return this.domains.has(host.toLowerCase());
  }

  async start(app: SipApplication): Promise<void> {
    this.app = app;
    this.knownMethods = new Set<string>([...STACK_METHODS, ...app.methods]);
    this.capabilities = this.capabilityHeaders();
    this.layer = new TransactionLayer({
      clock: this.clock,
      timers: this.opts.timers,
      sendRequest: (req, target) => this.transmit(req, target.endpoint, target.connectionId),
      sendResponse: (res, inbound) => this.sendResponse(res, inbound),
      prepareResponse: (res, inbound) => this.prepareResponse(res, inbound),
      onRequest: (tx) => this.onNewRequest(tx),
      onStrayAck: (inbound) => this.app?.onStrayAck?.(inbound),
      onStrayResponse: (inbound) => {
        if (this.log.isLevelEnabled('debug')) {
          this.log.debug({ callId: inbound.message.headers.get('call-id'), status: (inbound.message as SipResponse).status }, 'response matches no transaction');
        }
      },
      onCancel: (tx) => {
        if (this.app?.onCancel) this.app.onCancel(tx);
        else if (!tx.finalSent) tx.respond(this.response(tx.request, 487));
      },
    });
    try {
      for (const url of this.opts.listen) {
        const transport = await createTransport(
          url,
          {
            onMessage: (m) => this.onBytes(m),
            onFramingError: (e) => this.onFramingError(e),
          },
          {
            limits: { maxMessageBytes: this.opts.maxMessageBytes, ...this.opts.limits },
            tls: this.opts.tls,
            // A connection cut off (slowloris, a peer not reading) or failing: the operator's only trace of it.
            onError: (err) => this.log.info({ err: err.message }, 'SIP connection error'),
          },
        );
        if (transport instanceof UdpTransport) transport.onSendFailure = (err) => this.sendFailed(err);
        this.transports.push(transport);
        this.ownAddresses.add(endpointKey(transport.local));
        this.log.info({ listen: `${transport.protocol}://${hostForHeader(transport.local.address)}:${transport.local.port}` }, 'SIP listener up');
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * A reloaded configuration (SIGHUP): connection limits and TLS material for what is accepted or dialed
   * from now on. Listen addresses are not changed live. Throws, changing nothing, on invalid limits.
   */
  reconfigure(change: { limits?: Partial<TransportLimits>; maxMessageBytes?: number; tls?: TransportTlsOptions }): void {
    const maxMessageBytes = change.maxMessageBytes ?? this.opts.maxMessageBytes;
    const limits = resolveLimits({ maxMessageBytes, ...change.limits });
    for (const t of this.transports) t.reconfigure({ limits, ...(change.tls ? { tls: change.tls } : {}) });
    this.opts = { ...this.opts, maxMessageBytes, limits: change.limits, ...(change.tls ? { tls: change.tls } : {}) };
  }

  async stop(): Promise<void> {
    this.layer?.close();
    await Promise.allSettled(this.transports.map((t) => t.close()));
    this.transports.length = 0;
  }

  /**
   * Build a response with Stox's Server header; `reason` overrides the default phrase. Requests that can
   * start a dialog get a random To tag (RFC 3261 §19.3); the rest get the tag derived from what their
   * retransmissions repeat, so a completed transaction can answer a retransmission by building the same
   * response again instead of holding its bytes for Timer J (see `prepareResponse`).
   */
  response(req: SipRequest, status: number, reason?: string, extra?: Iterable<[string, string]>): SipResponse {
    const res = DIALOG_METHODS.has(req.method) ? buildResponse(req, status, reason, extra) : buildStatelessResponse(req, status, reason, extra);
    res.headers.set('server', this.opts.userAgent);
    return res;
  }

  /** Allow/Accept/Supported as sent in OPTIONS and 405 answers (RFC 3261 §11.2, §21.4.6). */
  capabilityHeaders(): Array<[string, string]> {
    const app = this.app;
    const methods = [...STACK_METHODS, ...(app?.methods ?? [])];
    return [
      ['allow', [...new Set(methods)].join(', ')],
      ['accept', (app?.accept ?? []).join(', ')],
      ['supported', (app?.supported ?? []).join(', ')],
    ];
  }

  /**
   * Send a request Stox originates (B2BUA side). Adds Via, Max-Forwards and User-Agent, applies the
   * outbound proxy or RFC 3263, and runs a client transaction. Candidates are tried in order on a
   * transport failure (RFC 3263 §4.3).
   */
  async request(req: SipRequest, handlers: ClientHandlers): Promise<ClientTransaction> {
    if (!this.layer) throw new Error('SIP stack not started');
    if (this.outboundProxy && !req.headers.has('route')) req.headers.prepend('route', `<${this.opts.outboundProxy}>`);
    if (!req.headers.has('max-forwards')) req.headers.set('max-forwards', '70');
    if (!req.headers.has('user-agent')) req.headers.set('user-agent', this.opts.userAgent);

    const candidates = await this.resolver.resolve(this.nextHop(req));
    const usable = candidates.filter((c) => this.transportFor(c) !== undefined);
    if (usable.length === 0) {
      throw new Error(`no route to ${req.uri}: resolver found ${candidates.length} candidate(s), none on a transport Stox listens on`);
    }
    const attempt = (i: number): ClientTransaction => {
      const endpoint = usable[i]!;
      const transport = this.transportFor(endpoint)!;
      const via: Via = {
        protocol: 'SIP/2.0',
        transport: transport.protocol.toUpperCase(),
        host: hostForHeader(transport.local.address),
        port: transport.local.port,
        params: new Map<string, string | null>([['branch', newBranch()], ['rport', null]]),
      };
      req.headers.deleteFirst('via');
      req.headers.prepend('via', formatVia(via));
      const target: TransactionTarget = { endpoint };
      return this.layer!.request(req, target, {
        ...handlers,
        onTransportError: (err) => {
          if (i + 1 < usable.length) {
            this.log.warn({ callId: req.headers.get('call-id'), err: err.message, next: usable[i + 1] }, 'transport failure, trying next candidate');
            attempt(i + 1);
          } else if (handlers.onTransportError) handlers.onTransportError(err);
          else handlers.onTimeout();
        },
      });
    };
    return attempt(0);
  }

  /** RFC 3261 §8.1.2: the first Route if loose-routing, otherwise the Request-URI. */
  private nextHop(req: SipRequest): SipUri {
    const route = req.headers.get('route');
    if (route) {
      const first = parseNameAddr(route).uri;
      if (first.params.has('lr')) return first;
    }
    return parseUri(req.uri);
  }

  private transportFor(dest: SipEndpoint): Transport | undefined {
    // The usual case, one listener per transport, needs no address comparisons.
    let only: Transport | undefined;
    let count = 0;
    for (const t of this.transports) {
      if (t.protocol === dest.transport) {
        only = t;
        count++;
      }
    }
    if (count <= 1) return only;
    const v6 = stripBrackets(dest.address).includes(':');
    return (
      this.transports.find((t) => t.protocol === dest.transport && stripBrackets(t.local.address).includes(':') === v6) ??
      this.transports.find((t) => t.protocol === dest.transport)
    );
  }

  private transmit(msg: SipRequest | SipResponse, dest: SipEndpoint, connectionId?: string): void {
    const transport = this.transportFor(dest);
    if (!transport) {
      this.stats.dropped['send-failed']++;
      this.log.warn({ callId: msg.headers.get('call-id'), dest }, 'no listener for the destination transport');
      return;
    }
    let bytes: Buffer;
    try {
      bytes = serializeMessage(msg);
    } catch (err) {
      this.stats.dropped['send-failed']++;
      this.log.error({ callId: msg.headers.get('call-id'), err: (err as Error).message }, 'refused to serialize message');
      return;
    }
    if (transport instanceof UdpTransport) {
      try {
        transport.sendNow(bytes, dest);
      } catch (err) {
        this.stats.dropped['send-failed']++;
        this.log.warn({ callId: msg.headers.get('call-id'), dest, err: (err as Error).message }, 'send failed');
      }
      return;
    }
    transport.send(bytes, dest, connectionId).catch((err: Error) => {
      this.stats.dropped['send-failed']++;
      this.log.warn({ callId: msg.headers.get('call-id'), dest, err: err.message }, 'send failed');
      if (msg.kind === 'request') this.layer?.clientTransportFailed(msg, err);
    });
  }

  /** A fire-and-forget UDP send failed after the fact: no Call-ID to name, the error names the peer. */
  private sendFailed(err: Error): void {
    this.stats.dropped['send-failed']++;
    this.log.warn({ err: err.message }, 'send failed');
  }

  /** RFC 3261 §18.2.2 with RFC 3581: reliable → same connection; UDP → received/rport, else sent-by. */
  private sendResponse(res: SipResponse, inbound: InboundMessage): void {
    const dest = this.responseDestination(res, inbound);
    if (dest) this.transmit(res, dest, inbound.connectionId);
  }

  /**
   * For the transaction layer: a final response serialized once, kept to answer each retransmission of the
   * request with the same bytes. Over UDP the bytes go into the transport's shared slabs.
   */
  private prepareResponse(res: SipResponse, inbound: InboundMessage): PreparedResponse | undefined {
    const dest = this.responseDestination(res, inbound);
    if (!dest) return undefined;
    const transport = this.transportFor(dest);
    if (transport instanceof UdpTransport) {
      const again = this.rebuildable(res, inbound.message as SipRequest);
      if (again) return again;
      try {
        return transport.hold(serializeHead(res), res.body, dest);
      } catch (err) {
        // A value the serializer refuses, or a destination this socket cannot reach.
        this.stats.dropped['send-failed']++;
        this.log.error({ callId: res.headers.get('call-id'), dest, err: (err as Error).message }, 'cannot send response');
        return undefined;
      }
    }
    const connectionId = inbound.connectionId;
    return { send: () => this.transmit(res, dest, connectionId) };
  }

  /**
   * Timer J keeps a record per answered UDP request for 32 s, i.e. hundreds of thousands at IM rates. A
   * response that `response(req, status)` would build again byte for byte from a retransmission (only the
   * copied headers, the derived To tag, Server, no body, the default reason) is recorded as one shared
   * object per status instead of its serialized bytes.
   */
  private rebuildable(res: SipResponse, req: SipRequest): PreparedResponse | undefined {
    if (DIALOG_METHODS.has(req.method) || !rebuildsStatelessly(res, req, 'server', this.opts.userAgent)) return undefined;
    let again = this.rebuilders.get(res.status);
    if (!again) {
      const status = res.status;
      again = {
        rebuilds: true,
        // Only non-INVITE answers are rebuilt, so there is always a request to build from (no Timer G).
        send: (answered) => {
          if (answered) this.sendResponse(this.response(answered.message as SipRequest, status), answered);
        },
      };
      this.rebuilders.set(status, again);
    }
    return again;
  }

  private responseDestination(res: SipResponse, inbound: InboundMessage): SipEndpoint | undefined {
    const known = (inbound as RoutedInbound).replyTo;
    if (known) return known;
    const topVia = res.headers.get('via');
    // A connection needs no Via to find the peer, but a response without one is not a response (§8.2.6.2).
    if (inbound.source.transport !== 'udp' && topVia !== undefined) return inbound.source;
    let via: Via | undefined;
    try {
      via = topVia === undefined ? undefined : parseVia(topVia);
    } catch {
      via = undefined;
    }
    if (!via) {
      this.stats.dropped['no-via']++;
      return undefined;
    }
    return udpReplyDestination(via);
  }

  private onBytes(m: ReceivedBytes): void {
    const outcome = parseMessage(m.data, { maxSize: this.opts.maxMessageBytes, stream: m.source.transport !== 'udp' });
    if (!outcome.ok) {
      this.onUnparseable(outcome, m);
      return;
    }
    const msg = outcome.message;
    const inbound: RoutedInbound = { message: msg, source: m.source, local: m.local, connectionId: m.connectionId, tlsIdentities: m.tlsIdentities };
    const layer = this.layer;
    if (!layer) return;
    if (msg.kind === 'response') {
      this.stats.responsesIn++;
      layer.receive(inbound);
      return;
    }
    this.stats.requestsIn++;
    const top = outcome.vias?.[0];
    if (top) {
      this.stampVia(msg, m.source, top);
      if (m.source.transport === 'udp') inbound.replyTo = udpReplyDestination(top);
    }
    if (msg.method === 'ACK' || msg.method === 'CANCEL') {
      // ACK is never answered; CANCEL is answered by the INVITE's transaction, or 481 in onNewRequest.
      layer.receive(inbound);
      return;
    }
    const verdict = this.screen(msg, outcome, layer);
    if ('answer' in verdict) {
      this.answerStatelessly(msg, inbound, verdict.answer, verdict.reason, verdict.extra);
      return;
    }
    this.screened = { req: msg, target: verdict.target };
    try {
      layer.receive(inbound);
    } finally {
      this.screened = undefined;
    }
  }

  /**
   * What the stack answers by itself, decided from the request alone, before any transaction exists: these
   * answers are stateless (RFC 3261 §8.2.7, as Kamailio's sl_send_reply), so a flood of OPTIONS pings or
   * misrouted requests costs no memory. Anything else goes to the application through a transaction.
   */
  private screen(req: SipRequest, parsed: Extract<ParseOutcome, { ok: true }>, layer: TransactionLayer): Screening {
    const loop = this.detectLoop(req, parsed.vias);
    if (loop) {
      this.log.warn({ callId: req.headers.get('call-id'), method: req.method, via: loop }, 'loop detected');
      return { answer: 482 };
    }
    let target = parsed.requestUri;
    if (!target) {
      try {
        target = parseUri(req.uri);
      } catch (err) {
        return { answer: 400, reason: `Bad Request-URI: ${(err as Error).message}`.replace(/[\r\n]/g, ' ').slice(0, 100) };
      }
    }
    if (target.scheme !== 'sip' && target.scheme !== 'sips') return { answer: 416 };

    if (!this.knownMethods.has(req.method)) {
      this.log.info({ callId: req.headers.get('call-id'), method: req.method }, 'method not allowed');
      return { answer: 405, extra: this.capabilities.slice(0, 1) };
    }
    const toUser = target.user !== undefined && target.user !== '';
    if (req.method === 'OPTIONS' && (!toUser || this.isSelf(target))) return { answer: 200, extra: this.capabilities };
    // RFC 3261 §16.3 step 3 applies to what Stox relays on: a request it must pass on with no hops left.
    const maxForwards = req.headers.get('max-forwards');
    const noHops = maxForwards !== undefined && Number(maxForwards) <= 0;
    if (noHops && req.method !== 'OPTIONS') {
      this.log.info({ callId: req.headers.get('call-id'), method: req.method }, 'Max-Forwards exhausted');
      return { answer: 483 };
    }
    const app = this.app;
    if (!app || !app.hasRoute(target, req)) {
      // A retransmission of a request routed before must get its transaction's answer, not a new one.
      if (layer.matchesServerTransaction(req)) return { target };
      this.log.info({ callId: req.headers.get('call-id'), method: req.method, ruri: req.uri }, 'no route for request target');
      return { answer: 404, reason: 'No route to user' };
    }
    if (req.method === 'OPTIONS' && noHops) return { answer: 200, extra: this.capabilities };
    return { target };
  }

  private answerStatelessly(req: SipRequest, inbound: RoutedInbound, status: number, reason?: string, extra?: Iterable<[string, string]>): void {
    this.stats.statelessAnswers++;
    let res: SipResponse;
    try {
      res = buildStatelessResponse(req, status, reason, extra);
    } catch (err) {
      this.stats.dropped['send-failed']++;
      this.log.error({ callId: req.headers.get('call-id'), err: (err as Error).message }, 'cannot build response');
      return;
    }
    res.headers.append('server', this.opts.userAgent);
    this.sendResponse(res, inbound);
  }

  /** 400, 505 or 513 to a request that did not parse, when enough of it did to answer it; stateless too. */
  private onUnparseable(outcome: Extract<ParseOutcome, { ok: false }>, m: ReceivedBytes): void {
    const partial = outcome.partial;
    if (!partial || partial.method === 'ACK') {
      this.stats.dropped.unparseable++;
      if (this.log.isLevelEnabled('debug')) this.log.debug({ source: m.source, reason: outcome.reason }, 'dropping unparseable message');
      return;
    }
    this.stats.badRequests++;
    const inbound: RoutedInbound = { message: partial, source: m.source, local: m.local, connectionId: m.connectionId, tlsIdentities: m.tlsIdentities };
    const top = this.parseTopVia(partial);
    if (top) {
      this.stampVia(partial, m.source, top);
      if (m.source.transport === 'udp') inbound.replyTo = udpReplyDestination(top);
    }
    const status = outcome.tooLarge ? 513 : /version/i.test(outcome.reason) ? 505 : 400;
    this.log.info({ callId: partial.headers.get('call-id'), source: m.source, reason: outcome.reason, status }, 'refusing malformed request');
    this.answerStatelessly(partial, inbound, status, outcome.reason);
  }

  private parseTopVia(req: SipRequest): Via | undefined {
    const top = req.headers.get('via');
    if (top === undefined) return undefined;
    try {
      return parseVia(top);
    } catch {
      return undefined;
    }
  }

  /**
   * RFC 3261 §18.2.1 `received` and RFC 3581 `rport` on the top Via, so answers find their way back. `via`
   * is the parsed top Via; it is updated to match.
   */
  private stampVia(req: SipRequest, source: SipEndpoint, via: Via): void {
    const sourceHost = stripBrackets(source.address);
    let changed = false;
    if (stripBrackets(via.host).toLowerCase() !== sourceHost.toLowerCase()) {
      via.params.set('received', sourceHost);
      changed = true;
    }
    if (via.params.has('rport')) {
      via.params.set('rport', String(source.port));
      via.params.set('received', sourceHost);
      changed = true;
    }
    if (!changed) return;
    const entries = req.headers.entries;
    const i = entries.findIndex((e) => e[0] === 'via');
    if (i < 0) return;
    const original = entries[i]![1];
    // The sent-protocol and sent-by hold no ';', so the first one starts the parameters: they alone change.
    // Parameters as parsed are tokens with token, host or quoted-string values, and the two set here are an
    // address and a port, so they are written back as they are, without formatParams' re-validation.
    const semi = original.indexOf(';');
    let params = '';
    for (const [name, value] of via.params) params += value === null ? ';' + name : ';' + name + '=' + value;
    entries[i]![1] = (semi < 0 ? original : original.slice(0, semi)) + params;
  }

  private onFramingError(e: { reason: string; source: SipEndpoint; local: SipEndpoint; connectionId?: string; headerBlock?: Buffer; tooLarge?: boolean }): void {
    if (e.headerBlock) {
      // The headers alone may be enough to say "513" (oversize) or "400" to the sender.
      const outcome = parseMessage(e.headerBlock, { maxSize: Number.MAX_SAFE_INTEGER, stream: false });
      const partial = outcome.ok ? (outcome.message.kind === 'request' ? outcome.message : undefined) : outcome.partial;
      if (partial && partial.method !== 'ACK') {
        this.stats.badRequests++;
        const status = e.tooLarge ? 513 : 400;
        const reason = e.tooLarge ? 'Message Too Large' : e.reason;
        this.log.info({ callId: partial.headers.get('call-id'), source: e.source, reason, status }, 'refusing request the transport could not frame');
        partial.body = Buffer.alloc(0);
        const inbound: RoutedInbound = { message: partial, source: e.source, local: e.local, connectionId: e.connectionId };
        const top = this.parseTopVia(partial);
        if (top) {
          this.stampVia(partial, e.source, top);
          if (e.source.transport === 'udp') inbound.replyTo = udpReplyDestination(top);
        }
        this.answerStatelessly(partial, inbound, status, reason);
        return;
      }
    }
    this.stats.dropped.framing++;
    this.log.info({ source: e.source, reason: e.reason }, 'dropping message the transport could not frame');
  }

  /** A new server transaction from the layer: a request `screen` passed on, or a CANCEL that matched no INVITE. */
  private onNewRequest(tx: ServerTransaction): void {
    const req = tx.request;
    const screened = this.screened;
    let target: SipUri;
    if (screened && screened.req === req) {
      target = screened.target;
    } else if (req.method === 'CANCEL') {
      // RFC 3261 §9.2: nothing to cancel.
      tx.respond(this.response(req, 481));
      return;
    } else {
      // Not screened (a retransmission whose transaction ended meanwhile has no route now): answer as screen would.
      try {
        target = parseUri(req.uri);
      } catch {
        tx.respond(this.response(req, 400, 'Bad Request-URI'));
        return;
      }
      if (!this.app?.hasRoute(target, req)) {
        tx.respond(this.response(req, 404, 'No route to user'));
        return;
      }
    }
    const app = this.app;
    if (!app) {
      tx.respond(this.response(req, 404, 'No route to user'));
      return;
    }
    app.onRequest(tx, target, lazyChild(this.log, { callId: req.headers.get('call-id'), method: req.method }));
  }

  private isSelf(target: SipUri): boolean {
    const host = stripBrackets(target.host).toLowerCase();
    if (target.port !== undefined) return this.ownAddresses.has(`${host}:${target.port}`);
    if (this.ownAddresses.has(`${host}:5060`)) return true;
    for (const a of this.ownAddresses) if (a.startsWith(`${host}:`)) return true;
    return false;
  }

  /** RFC 3261 §16.3 step 4 style: a Via of ours below the top means the request came back to us. */
  private detectLoop(req: SipRequest, parsed: readonly Via[] | undefined): string | undefined {
    if (parsed) {
      for (let i = 1; i < parsed.length; i++) {
        const v = parsed[i]!;
        if (this.ownAddresses.has(endpointKey({ address: stripBrackets(v.host), port: v.port ?? 5060 }))) return req.headers.getAll('via')[i];
      }
      return undefined;
    }
    const vias = req.headers.getAll('via');
    for (const value of vias.slice(1)) {
      try {
        const v = parseVia(value);
        if (this.ownAddresses.has(endpointKey({ address: stripBrackets(v.host), port: v.port ?? 5060 }))) return value;
      } catch {
        // Malformed lower Vias are the previous hop's business, not a loop.
      }
    }
    return undefined;
  }
}

/** RFC 3261 §18.2.2 for UDP with RFC 3581: `received` (else the sent-by host) and `rport` (else the sent-by port). */
function udpReplyDestination(via: Via): SipEndpoint {
  const received = via.params.get('received');
  const rport = via.params.get('rport');
  return { transport: 'udp', address: received ?? stripBrackets(via.host), port: rport ? Number(rport) : (via.port ?? 5060) };
}
