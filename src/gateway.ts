import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/load.js';
import type { StoxConfig } from './config/schema.js';
import { createLogger } from './ops/logging.js';
import { defaultErrorTables, defaultPresenceTables } from './mappings.js';
import { PresenceBridge } from './gateway/presence.js';
import { PolicyGate } from './gateway/policy-gate.js';
import { PeeringPolicy, peeringLocalFromConfig } from './core/policy.js';
import { ConfigError, loadConfigFile } from './config/load.js';
import { systemClock } from './sip/clock.js';
import { openStore, type Store } from './store/index.js';
import { ACCEPTED_CONTENT_TYPES } from './core/messages.js';
import { PageModeBridge, type GatewayComponent, type SentToXmpp } from './gateway/page-mode.js';
import type { SipResolver } from './sip/resolver.js';
import { SipStack, type SipApplication } from './sip/stack.js';
import type { TransportTlsOptions } from './sip/transport/index.js';
import { XmppComponent } from './xmpp/component.js';
import { DeliveryTracker } from './xmpp/delivery.js';
import { VERSION } from './version.js';
import { GatewayMetrics } from './ops/metrics.js';
import { healthReport, type HealthReport } from './ops/health.js';
import { OpsHttpServer } from './ops/http.js';
import { parseHttpListen } from './ops/http-listen.js';
import { localDomains, peersReport, subscriptionsReport, type PeersReport, type SessionsReport, type SubscriptionsReport } from './ops/admin.js';
import { tagOf, type ServerTransaction } from './sip/transaction/index.js';

/** XMPP features Stox really implements on its users' behalf (advertised in disco#info and caps). */
const XMPP_FEATURES = ['http://jabber.org/protocol/xhtml-im'];

export interface GatewayOptions {
  logger?: Logger;
  resolver?: SipResolver;
}

/**
 * The composition root: the only place (with src/gateway/) that knows every part. Without an `xmpp`
 * section Stox knows no reachable user, so every user-addressed request is answered 404.
 */
export class Gateway {
  readonly log: Logger;
  readonly sip: SipStack;
  readonly components: GatewayComponent[] = [];
  private readonly pageMode: PageModeBridge;
  readonly store: Store;
  readonly presence: PresenceBridge;
  readonly policy: PolicyGate;
  readonly metrics: GatewayMetrics;
  /** Set by `start()` when the config has an `http` section. */
  http?: OpsHttpServer;
  /** From `shutdown()` on: new requests are refused, those in flight are answered. */
  private draining = false;
  private readonly startedAt = Date.now();

  constructor(readonly config: StoxConfig, opts: GatewayOptions = {}) {
    this.log = opts.logger ?? createLogger(config.log.level);
    const tls = tlsMaterial(config);
    this.sip = new SipStack({
      listen: config.sip.listen,
      domains: config.sip.domains,
      outboundProxy: config.sip.outboundProxy,
      tls,
      maxMessageBytes: config.sip.maxMessageBytes,
      limits: config.sip.limits,
      userAgent: `${config.sip.userAgent}/${VERSION}`,
      logger: this.log,
      resolver: opts.resolver,
    });
    for (const c of config.xmpp?.components ?? []) {
      const component = new XmppComponent({
        server: config.xmpp!.server,
        domain: c.domain,
        secret: c.secret,
        logger: this.log,
        builtins: { features: XMPP_FEATURES },
      });
      const delivery = new DeliveryTracker<SentToXmpp>(component, { confirmTimeoutMs: config.im.confirmTimeoutMs, logger: this.log });
      this.components.push({ component, addressing: { domain: c.domain, mode: c.addressing }, delivery });
    }
    // Read at scrape time only, so the sources may name parts built below.
    this.metrics = new GatewayMetrics({
      subscriptions: () => this.presence.counts,
      sipDialogs: () => this.presence.counts.dialogs,
      sipTransactions: () => this.sip.transactionCount,
      messagesInFlight: () => this.pageMode.inFlight,
      components: () => this.components.map((c) => ({ domain: c.component.domain, connected: c.component.connected })),
      policyCounters: () => this.policy.current.counters,
      sipDrops: () => this.sip.stats.dropped,
    });
    for (const c of this.components) c.component.onStateChange((state) => this.metrics.componentState(c.component.domain, state));
    const errors = defaultErrorTables();
    this.policy = new PolicyGate(PeeringPolicy.fromConfig(config.peering, peeringLocalFromConfig(config)), this.log);
    this.pageMode = new PageModeBridge(this.sip, this.components, errors, config.im, this.policy, this.log, this.metrics);
    this.store = openStore(config.store.path, { logger: this.log });
    this.presence = new PresenceBridge(this.sip, this.components, this.store, errors, defaultPresenceTables(), config.presence, systemClock, this.policy, this.log, this.metrics);
  }

  private sipApplication(): SipApplication {
    const xmpp = this.components.length > 0;
    return {
      methods: ['MESSAGE', 'SUBSCRIBE', 'NOTIFY'],
      accept: [...ACCEPTED_CONTENT_TYPES, 'application/pidf+xml'],
      supported: [],
      hasRoute: (target) => xmpp && this.pageMode.hasRoute(target),
      onRequest: (tx, _target, log) => {
        if (this.draining && this.refuseWhileDraining(tx)) return;
        // The synchronous part is the translation and the hand-off to the other side; what follows
        // (waiting for the XMPP server's barrier) is not translation time.
        const t0 = performance.now();
        if (tx.request.method === 'MESSAGE') {
          this.pageMode.onSipMessage(tx, log);
          this.metrics.translation('sip_to_xmpp', 'im', (performance.now() - t0) / 1000);
        } else {
          this.presence.onSipRequest(tx, log);
          this.metrics.translation('sip_to_xmpp', 'presence', (performance.now() - t0) / 1000);
        }
      },
    };
  }

  async start(): Promise<void> {
    await this.sip.start(this.sipApplication());
    if (this.config.http) {
      // Before the components: /health must answer 503 while they are still connecting.
      this.http = new OpsHttpServer(parseHttpListen(this.config.http.listen), { health: () => this.health(), metrics: () => this.metricsText(), admin: (name) => this.admin(name) }, this.log);
      try {
        await this.http.start();
      } catch (err) {
        await this.sip.stop();
        throw err;
      }
    }
    for (const c of this.components) {
      c.component.onStanza((stanza) => {
        const t0 = performance.now();
        if (stanza.name === 'presence') {
          this.presence.onStanza(stanza);
          this.metrics.translation('xmpp_to_sip', 'presence', (performance.now() - t0) / 1000);
        } else {
          this.pageMode.onStanza(c, stanza);
          // Bounces and barrier answers are no translation.
          if (stanza.name === 'message' && stanza.attrs.type !== 'error') this.metrics.translation('xmpp_to_sip', 'im', (performance.now() - t0) / 1000);
        }
      });
      await c.component.start();
    }
    this.presence.restore();
    this.log.info({ component: 'gateway', version: VERSION, listeners: this.sip.listeners, xmppComponents: this.components.map((c) => c.component.domain) }, 'Stox started');
  }

  /**
   * Apply a reloaded config (SIGHUP). What can change live is applied; established sessions and
   * subscriptions are kept. Today that is the peering policy (rate-limit state carried over).
   */
  reload(next: StoxConfig): void {
    // Everything is read and checked before anything changes, so a refused reload leaves all as it was.
    const tls = tlsMaterial(next);
    if (tls) createSecureContext({ cert: tls.cert, key: tls.key, ...(tls.ca !== undefined ? { ca: tls.ca } : {}) });
    const restartOnly = restartOnlyChanges(this.config, next);
    const policy = this.policy.current.withConfig(next.peering, peeringLocalFromConfig(next));
    this.sip.reconfigure({ limits: next.sip.limits, maxMessageBytes: next.sip.maxMessageBytes, ...(tls ? { tls } : {}) });
    this.policy.replace(policy);
    this.log.info(
      { component: 'gateway', peers: Object.keys(next.peering.domains).length, default: next.peering.default, limits: next.sip.limits ?? 'defaults', tlsReloaded: tls !== undefined },
      'configuration reloaded',
    );
    if (restartOnly.length > 0) this.log.warn({ component: 'gateway', keys: restartOnly }, 'these changes take effect at the next restart');
  }

  async stop(): Promise<void> {
    for (const c of this.components) c.delivery.close();
    this.presence.close();
    await Promise.allSettled(this.components.map((c) => c.component.stop()));
    await this.sip.stop();
    // Every state change was committed when it happened; closing checkpoints the WAL into the file.
    this.store.close();
    await this.http?.stop();
    this.log.info({ component: 'gateway' }, 'Stox stopped');
  }

  /**
   * Graceful shutdown (SIGTERM/SIGINT): new requests get 503 with Retry-After, requests in flight get
   * their real answer, and whatever is still unanswered after `timeoutMs` gets 503 (never silence, never a
   * 2xx for a message whose fate is unknown). Then streams close, state is persisted and listeners close.
   */
  async shutdown(timeoutMs: number): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    this.pageMode.drain();
    const log = this.log.child({ component: 'gateway' });
    const inFlight = (): { messagesToXmpp: number; messagesToSip: number; presenceRequests: number } => ({
      messagesToXmpp: this.pageMode.inFlight.s2x,
      messagesToSip: this.pageMode.inFlight.x2s,
      presenceRequests: this.presence.pendingRequestCount,
    });
    const busy = (): boolean => Object.values(inFlight()).some((n) => n > 0);
    log.info({ inFlight: inFlight(), timeoutMs }, 'draining: new requests refused, waiting for those in flight');
    const deadline = Date.now() + timeoutMs;
    // Polling: the pending work ends in several places (barrier answers, SIP finals, timeouts) and a
    // shutdown is no hot path.
    while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (busy()) {
      const cut = inFlight();
      const retry: Array<[string, string]> = [['retry-after', String(this.config.im.retryAfterSeconds)]];
      const messages = this.pageMode.refusePending(503, 'Gateway shutting down', retry);
      const presence = this.presence.refusePending(503, 'Gateway shutting down', retry);
      log.warn({ cut, answered503: { messages, presence }, timeoutMs }, 'shutdown deadline reached: unanswered SIP requests answered 503; XMPP messages awaiting a SIP answer got <remote-server-timeout/>');
    } else {
      log.info('drained: every request in flight has its answer');
    }
    await this.stop();
  }

  private refuseWhileDraining(tx: ServerTransaction): boolean {
    const req = tx.request;
    // In-dialog requests keep existing subscriptions healthy and are answered at once; only new work is refused.
    if (req.method !== 'MESSAGE' && tagOf(req.headers.get('to')) !== undefined) return false;
    if (req.method === 'MESSAGE') this.metrics.message('sip_to_xmpp', 'unavailable');
    else this.metrics.presence('sip_to_xmpp', 'rejected');
    this.metrics.error('sip', 503);
    tx.respond(this.sip.response(req, 503, 'Gateway shutting down', [['retry-after', String(this.config.im.retryAfterSeconds)]]));
    return true;
  }

  health(): HealthReport {
    return healthReport({
      version: VERSION,
      startedAt: this.startedAt,
      now: Date.now(),
      draining: this.draining,
      components: this.components.map((c) => ({ domain: c.component.domain, state: c.component.state })),
      sipConfigured: this.config.sip.listen,
      sipBound: this.sip.listeners,
    });
  }

  async metricsText(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.metrics.contentType, body: await this.metrics.text() };
  }

  /** The admin API's reports (`GET /admin/<name>`); undefined for an unknown name. */
  admin(name: string): SubscriptionsReport | SessionsReport | PeersReport | undefined {
    switch (name) {
      case 'subscriptions':
        return subscriptionsReport(this.store.allSubscriptions(), 'live');
      case 'sessions': {
        const f = this.pageMode.inFlight;
        return {
          dialogs: this.presence.heldDialogs().map((d) => ({ role: d.role, callId: d.callId, local: d.localUri, remote: d.remoteUri, state: d.confirmed ? 'confirmed' : 'early' })),
          streams: this.components.map((c) => ({ domain: c.component.domain, server: this.config.xmpp?.server ?? '-', state: c.component.state })),
          messagesInFlight: { sipToXmpp: f.s2x, xmppToSip: f.x2s },
        };
      }
      case 'peers':
        return peersReport(this.config.peering, localDomains(this.config), this.policy.current.counters);
      default:
        return undefined;
    }
  }
}

/** `stox --config FILE`: run until SIGTERM/SIGINT, then stop cleanly. */
export async function runGateway(loaded: LoadedConfig): Promise<number> {
  const gateway = new Gateway(loaded.config);
  try {
    await gateway.start();
  } catch (err) {
    gateway.log.fatal({ component: 'gateway', err: (err as Error).message }, 'cannot start');
    return 1;
  }
  return new Promise<number>((resolve) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      gateway.log.info({ component: 'gateway', signal }, 'shutting down');
      process.off('SIGTERM', shutdown);
      process.off('SIGINT', shutdown);
      const timeoutMs = loaded.config.process.shutdownTimeoutMs;
      // The backstop: closing after the drain is bounded too (streams get ~2 s), but a hung close must
      // not keep the process alive past what the operator configured.
      setTimeout(() => {
        gateway.log.fatal({ component: 'gateway', timeoutMs }, 'shutdown did not finish in time; exiting');
        process.exit(1);
      }, timeoutMs + 10_000).unref();
      gateway.shutdown(timeoutMs).then(
        () => resolve(0),
        (err: unknown) => {
          gateway.log.error({ component: 'gateway', err: (err as Error).message }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', shutdown);
    process.on('SIGINT', shutdown);
    // SIGHUP: re-read the file; an invalid one is refused with its problems and the running config stays.
    process.on('SIGHUP', () => {
      try {
        gateway.reload(loadConfigFile(loaded.path).config);
      } catch (err) {
        const problems = err instanceof ConfigError ? err.problems : [(err as Error).message];
        gateway.log.error({ component: 'gateway', problems }, 'configuration reload refused; keeping the running configuration');
      }
    });
  });
}

/**
 * The SIP TLS material of a config, read from its files. With a CA, inbound peers are asked for a
 * certificate so peering.tlsIdentities can match (RFC 5922 §7.3); one that does not verify only counts as
 * no identity, unless the operator refuses those (requireClientCert).
 */
function tlsMaterial(config: StoxConfig): TransportTlsOptions | undefined {
  const t = config.sip.tls;
  if (!t) return undefined;
  return {
    cert: readFileSync(t.cert, 'utf8'),
    key: readFileSync(t.key, 'utf8'),
    ...(t.ca ? { ca: readFileSync(t.ca, 'utf8') } : {}),
    requestCert: t.ca !== undefined,
    rejectUnauthorized: t.requireClientCert,
  };
}

/** Keys a SIGHUP reads but cannot apply to a running process (listeners, components, store, HTTP). */
function restartOnlyChanges(current: StoxConfig, next: StoxConfig): string[] {
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  const keys: Array<[string, unknown, unknown]> = [
    ['sip.listen', current.sip.listen, next.sip.listen],
    ['sip.domains', current.sip.domains, next.sip.domains],
    ['sip.outboundProxy', current.sip.outboundProxy, next.sip.outboundProxy],
    ['sip.tls (whether there is one, ca present, requireClientCert)', [current.sip.tls !== undefined, current.sip.tls?.ca !== undefined, current.sip.tls?.requireClientCert], [next.sip.tls !== undefined, next.sip.tls?.ca !== undefined, next.sip.tls?.requireClientCert]],
    ['xmpp', current.xmpp, next.xmpp],
    ['im', current.im, next.im],
    ['presence', current.presence, next.presence],
    ['store', current.store, next.store],
    ['http', current.http, next.http],
    ['log', current.log, next.log],
    ['process', current.process, next.process],
  ];
  return keys.filter(([, a, b]) => !same(a, b)).map(([k]) => k);
}
