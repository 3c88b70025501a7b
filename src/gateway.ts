import { readFileSync } from 'node:fs';
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
import { XmppComponent } from './xmpp/component.js';
import { DeliveryTracker } from './xmpp/delivery.js';
import { VERSION } from './version.js';

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

  constructor(readonly config: StoxConfig, opts: GatewayOptions = {}) {
    this.log = opts.logger ?? createLogger(config.log.level);
    const tls = config.sip.tls
      ? {
          cert: readFileSync(config.sip.tls.cert, 'utf8'),
          key: readFileSync(config.sip.tls.key, 'utf8'),
          ca: config.sip.tls.ca ? readFileSync(config.sip.tls.ca, 'utf8') : undefined,
          // With a CA, inbound peers are asked for a certificate so peering.tlsIdentities can match (RFC 5922
          // §7.3); one that does not verify only counts as no identity, unless the operator refuses those.
          requestCert: config.sip.tls.ca !== undefined,
          rejectUnauthorized: config.sip.tls.requireClientCert,
        }
      : undefined;
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
    const errors = defaultErrorTables();
    this.policy = new PolicyGate(PeeringPolicy.fromConfig(config.peering, peeringLocalFromConfig(config)), this.log);
    this.pageMode = new PageModeBridge(this.sip, this.components, errors, config.im, this.policy, this.log);
    this.store = openStore(config.store.path, { logger: this.log });
    this.presence = new PresenceBridge(this.sip, this.components, this.store, errors, defaultPresenceTables(), config.presence, systemClock, this.policy, this.log);
  }

  private sipApplication(): SipApplication {
    const xmpp = this.components.length > 0;
    return {
      methods: ['MESSAGE', 'SUBSCRIBE', 'NOTIFY'],
      accept: [...ACCEPTED_CONTENT_TYPES, 'application/pidf+xml'],
      supported: [],
      hasRoute: (target) => xmpp && this.pageMode.hasRoute(target),
      onRequest: (tx, _target, log) => {
        if (tx.request.method === 'MESSAGE') this.pageMode.onSipMessage(tx, log);
        else this.presence.onSipRequest(tx, log);
      },
    };
  }

  async start(): Promise<void> {
    await this.sip.start(this.sipApplication());
    for (const c of this.components) {
      c.component.onStanza((stanza) => (stanza.name === 'presence' ? this.presence.onStanza(stanza) : this.pageMode.onStanza(c, stanza)));
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
    this.policy.replace(this.policy.current.withConfig(next.peering, peeringLocalFromConfig(next)));
    this.log.info({ component: 'gateway', peers: Object.keys(next.peering.domains).length, default: next.peering.default }, 'configuration reloaded');
  }

  async stop(): Promise<void> {
    for (const c of this.components) c.delivery.close();
    this.presence.close();
    await Promise.allSettled(this.components.map((c) => c.component.stop()));
    await this.sip.stop();
    this.store.close();
    this.log.info({ component: 'gateway' }, 'Stox stopped');
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
      gateway.stop().then(
        () => resolve(0),
        () => resolve(1),
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
