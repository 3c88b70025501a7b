import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { LoadedConfig } from './config/load.js';
import type { StoxConfig } from './config/schema.js';
import { createLogger } from './ops/logging.js';
import type { SipResolver } from './sip/resolver.js';
import { SipStack, type SipApplication } from './sip/stack.js';
import { VERSION } from './version.js';

export interface GatewayOptions {
  logger?: Logger;
  resolver?: SipResolver;
}

/**
 * The composition root: the only place that knows every part. Until the XMPP side exists, the SIP
 * application knows no reachable user, so every user-addressed request is answered 404.
 */
export class Gateway {
  readonly log: Logger;
  readonly sip: SipStack;

  constructor(readonly config: StoxConfig, opts: GatewayOptions = {}) {
    this.log = opts.logger ?? createLogger(config.log.level);
    const tls = config.sip.tls
      ? {
          cert: readFileSync(config.sip.tls.cert, 'utf8'),
          key: readFileSync(config.sip.tls.key, 'utf8'),
          ca: config.sip.tls.ca ? readFileSync(config.sip.tls.ca, 'utf8') : undefined,
        }
      : undefined;
    this.sip = new SipStack({
      listen: config.sip.listen,
      domains: config.sip.domains,
      outboundProxy: config.sip.outboundProxy,
      tls,
      maxMessageBytes: config.sip.maxMessageBytes,
      userAgent: `${config.sip.userAgent}/${VERSION}`,
      logger: this.log,
      resolver: opts.resolver,
    });
  }

  private sipApplication(): SipApplication {
    return {
      methods: ['MESSAGE'],
      accept: ['text/plain'],
      supported: [],
      hasRoute: () => false,
      onRequest: (tx) => tx.respond(this.sip.response(tx.request, 404, 'No route to user')),
    };
  }

  async start(): Promise<void> {
    await this.sip.start(this.sipApplication());
    this.log.info({ component: 'gateway', version: VERSION, listeners: this.sip.listeners }, 'Stox started');
  }

  async stop(): Promise<void> {
    await this.sip.stop();
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
  });
}
