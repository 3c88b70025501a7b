import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.js';
import { formatVia, parseNameAddr, parseVia, type Via } from './header-values.js';
import { type InboundMessage, type SipEndpoint, type SipRequest, type SipResponse } from './message.js';
import { parseMessage } from './parser.js';
import { createResolver, type SipResolver } from './resolver.js';
import { serializeMessage } from './serializer.js';
import { buildResponse, newBranch, TransactionLayer, type ClientHandlers, type ClientTransaction, type ServerTransaction, type TransactionTarget } from './transaction/index.js';
import { createTransport, type ReceivedBytes, type Transport, type TransportLimits } from './transport/index.js';
import { parseUri, type SipUri } from './uri.js';

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
  tls?: { cert: string; key: string; ca?: string };
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

export class SipStack {
  readonly stats: SipStackStats = {
    requestsIn: 0,
    responsesIn: 0,
    badRequests: 0,
    dropped: { unparseable: 0, framing: 0, 'no-via': 0, 'send-failed': 0 },
  };
  private readonly transports: Transport[] = [];
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly resolver: SipResolver;
  private readonly outboundProxy?: SipUri;
  private readonly ownAddresses = new Set<string>();
  private readonly domains: Set<string>;
  private layer?: TransactionLayer;
  private app?: SipApplication;

  constructor(private readonly opts: SipStackOptions) {
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
    this.layer = new TransactionLayer({
      clock: this.clock,
      timers: this.opts.timers,
      sendRequest: (req, target) => this.transmit(req, target.endpoint, target.connectionId),
      sendResponse: (res, inbound) => this.sendResponse(res, inbound),
      onRequest: (tx) => this.onNewRequest(tx),
      onStrayAck: (inbound) => this.app?.onStrayAck?.(inbound),
      onStrayResponse: (inbound) =>
        this.log.debug({ callId: inbound.message.headers.get('call-id'), status: (inbound.message as SipResponse).status }, 'response matches no transaction'),
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
          { limits: { maxMessageBytes: this.opts.maxMessageBytes, ...this.opts.limits }, tls: this.opts.tls },
        );
        this.transports.push(transport);
        this.ownAddresses.add(endpointKey(transport.local));
        this.log.info({ listen: `${transport.protocol}://${hostForHeader(transport.local.address)}:${transport.local.port}` }, 'SIP listener up');
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.layer?.close();
    await Promise.allSettled(this.transports.map((t) => t.close()));
    this.transports.length = 0;
  }

  /** Build a response with Stox's Server header; `reason` overrides the default phrase. */
  response(req: SipRequest, status: number, reason?: string, extra?: Iterable<[string, string]>): SipResponse {
    const res = buildResponse(req, status, reason, extra);
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
    const v6 = stripBrackets(dest.address).includes(':');
    return (
      this.transports.find((t) => t.protocol === dest.transport && stripBrackets(t.local.address).includes(':') === v6) ??
      this.transports.find((t) => t.protocol === dest.transport)
    );
  }

  private transmit(msg: SipRequest | SipResponse, dest: SipEndpoint, connectionId?: string): void {
    const transport = this.transportFor(dest);
    const callId = msg.headers.get('call-id');
    if (!transport) {
      this.stats.dropped['send-failed']++;
      this.log.warn({ callId, dest }, 'no listener for the destination transport');
      return;
    }
    let bytes: Buffer;
    try {
      bytes = serializeMessage(msg);
    } catch (err) {
      this.stats.dropped['send-failed']++;
      this.log.error({ callId, err: (err as Error).message }, 'refused to serialize message');
      return;
    }
    transport.send(bytes, dest, connectionId).catch((err: Error) => {
      this.stats.dropped['send-failed']++;
      this.log.warn({ callId, dest, err: err.message }, 'send failed');
    });
  }

  /** RFC 3261 §18.2.2 with RFC 3581: reliable → same connection; UDP → received/rport, else sent-by. */
  private sendResponse(res: SipResponse, inbound: InboundMessage): void {
    const topVia = res.headers.get('via');
    if (!topVia) {
      this.stats.dropped['no-via']++;
      return;
    }
    let via: Via;
    try {
      via = parseVia(topVia);
    } catch {
      this.stats.dropped['no-via']++;
      return;
    }
    if (inbound.source.transport !== 'udp') {
      this.transmit(res, inbound.source, inbound.connectionId);
      return;
    }
    const received = via.params.get('received');
    const rport = via.params.get('rport');
    const address = received ?? stripBrackets(via.host);
    const port = rport ? Number(rport) : (via.port ?? 5060);
    this.transmit(res, { transport: 'udp', address, port }, undefined);
  }

  private onBytes(m: ReceivedBytes): void {
    const outcome = parseMessage(m.data, { maxSize: this.opts.maxMessageBytes, stream: m.source.transport !== 'udp' });
    const inbound = (message: SipRequest | SipResponse): InboundMessage => ({
      message,
      source: m.source,
      local: m.local,
      connectionId: m.connectionId,
      tlsIdentities: m.tlsIdentities,
    });
    if (!outcome.ok) {
      if (outcome.partial && outcome.partial.method !== 'ACK') {
        this.stats.badRequests++;
        const partial = outcome.partial;
        this.stampVia(partial, m);
        const status = outcome.tooLarge ? 513 : /version/i.test(outcome.reason) ? 505 : 400;
        this.log.info({ callId: partial.headers.get('call-id'), source: m.source, reason: outcome.reason, status }, 'refusing malformed request');
        this.sendResponse(this.response(partial, status, outcome.reason), inbound(partial));
      } else {
        this.stats.dropped.unparseable++;
        this.log.debug({ source: m.source, reason: outcome.reason }, 'dropping unparseable message');
      }
      return;
    }
    const msg = outcome.message;
    if (msg.kind === 'response') {
      this.stats.responsesIn++;
      this.layer?.receive(inbound(msg));
      return;
    }
    this.stats.requestsIn++;
    this.stampVia(msg, m);
    this.layer?.receive(inbound(msg));
  }

  /** RFC 3261 §18.2.1 `received` and RFC 3581 `rport` on the top Via, so answers find their way back. */
  private stampVia(req: SipRequest, m: ReceivedBytes): void {
    const top = req.headers.get('via');
    if (!top) return;
    let via: Via;
    try {
      via = parseVia(top);
    } catch {
      return;
    }
    const sourceHost = stripBrackets(m.source.address);
    if (stripBrackets(via.host).toLowerCase() !== sourceHost.toLowerCase()) via.params.set('received', sourceHost);
    if (via.params.has('rport')) {
      via.params.set('rport', String(m.source.port));
      via.params.set('received', sourceHost);
    }
    req.headers.entries[req.headers.entries.findIndex((e) => e[0] === 'via')]![1] = formatVia(via);
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
        this.sendResponse(this.response(partial, status, reason), { message: partial, source: e.source, local: e.local, connectionId: e.connectionId });
        return;
      }
    }
    this.stats.dropped.framing++;
    this.log.info({ source: e.source, reason: e.reason }, 'dropping message the transport could not frame');
  }

  private onNewRequest(tx: ServerTransaction): void {
    const req = tx.request;
    const callId = req.headers.get('call-id');
    const log = this.log.child({ callId, method: req.method });
    const reply = (status: number, reason?: string, extra?: Iterable<[string, string]>): void =>
      tx.respond(this.response(req, status, reason, extra));

    const loop = this.detectLoop(req);
    if (loop) {
      log.warn({ via: loop }, 'loop detected');
      return reply(482);
    }
    let target: SipUri;
    try {
      target = parseUri(req.uri);
    } catch (err) {
      return reply(400, `Bad Request-URI: ${(err as Error).message}`.replace(/[\r\n]/g, ' ').slice(0, 100));
    }
    if (target.scheme !== 'sip' && target.scheme !== 'sips') return reply(416);

    const app = this.app;
    const known = new Set<string>([...STACK_METHODS, ...(app?.methods ?? [])]);
    if (!known.has(req.method)) {
      log.info('method not allowed');
      return reply(405, undefined, this.capabilityHeaders().slice(0, 1));
    }
    const toUser = target.user !== undefined && target.user !== '';
    if (req.method === 'OPTIONS' && (!toUser || this.isSelf(target))) {
      return reply(200, undefined, this.capabilityHeaders());
    }
    // RFC 3261 §16.3 step 3 applies to what Stox relays on: a request it must pass on with no hops left.
    const maxForwards = req.headers.get('max-forwards');
    if (maxForwards !== undefined && Number(maxForwards) <= 0 && req.method !== 'OPTIONS') {
      log.info('Max-Forwards exhausted');
      return reply(483);
    }
    if (!app || !app.hasRoute(target, req)) {
      log.info({ ruri: req.uri }, 'no route for request target');
      return reply(404, 'No route to user');
    }
    if (req.method === 'OPTIONS' && maxForwards !== undefined && Number(maxForwards) <= 0) {
      return reply(200, undefined, this.capabilityHeaders());
    }
    app.onRequest(tx, target, log);
  }

  private isSelf(target: SipUri): boolean {
    const host = stripBrackets(target.host).toLowerCase();
    return this.ownAddresses.has(`${host}:${target.port ?? 5060}`) || (target.port === undefined && [...this.ownAddresses].some((a) => a.startsWith(`${host}:`)));
  }

  /** RFC 3261 §16.3 step 4 style: a Via of ours below the top means the request came back to us. */
  private detectLoop(req: SipRequest): string | undefined {
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

