import type { Logger } from 'pino';
import type { InboundMessage } from '../sip/message.js';
import { PeeringPolicy, type Direction, type Feature, type PolicyDenial } from '../core/policy.js';

/**
 * The one place the gateway asks the peering policy. It holds the current policy (replaced on SIGHUP),
 * logs a denial once per burst (the policy says when) and turns a denial into each side's answer.
 */
export class PolicyGate {
  private readonly log: Logger;

  constructor(
    private policy: PeeringPolicy,
    logger: Logger,
  ) {
    this.log = logger.child({ component: 'policy' });
  }

  get current(): PeeringPolicy {
    return this.policy;
  }

  replace(next: PeeringPolicy): void {
    this.policy = next;
  }

  /** undefined when allowed; otherwise the denial, already logged and counted. */
  check(
    direction: Direction,
    feature: Feature,
    senderDomain: string,
    targetDomain: string,
    extra: { inbound?: InboundMessage; sizeBytes?: number } = {},
  ): PolicyDenial | undefined {
    const source = extra.inbound
      ? { address: extra.inbound.source.address, transport: extra.inbound.source.transport, tlsIdentities: extra.inbound.tlsIdentities }
      : undefined;
    const d = this.policy.decide({ direction, feature, senderDomain, targetDomain, source, sizeBytes: extra.sizeBytes, now: Date.now() });
    if (d.allow) return undefined;
    if (d.log) {
      this.log.warn({ domain: d.domain, reason: d.reason, direction, feature, suppressed: d.log.suppressed, source: source?.address }, d.text);
    }
    return d;
  }

  /** Warning and Retry-After for the SIP refusal (RFC 3261 §20.43, §20.33). */
  static sipHeaders(d: PolicyDenial): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    if (d.sip.warning) out.push(['warning', d.sip.warning]);
    if (d.retryAfterSeconds !== undefined) out.push(['retry-after', String(d.retryAfterSeconds)]);
    return out;
  }
}
