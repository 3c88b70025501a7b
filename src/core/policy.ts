/**
 * The peering policy: the gate every event passes before translation (DESIGN.md, "Policy is a gate in the
 * core"). It answers, per event, whether the sending domain may use this feature towards the target
 * domain, from where, at what rate and size; a refusal carries the SIP and XMPP errors to send back on the
 * sender's side, so nothing is dropped silently. Pure: the rate limiter's clock is the request's `now`.
 *
 * Choices (the operator-facing ones are repeated in config/stox.example.yaml):
 * - The peer is the sender's domain: a SIP domain for s2x, an XMPP domain for x2s. Its entry decides
 *   sources/TLS (SIP senders only), features, size and rate. The target's domain must be allowed as a
 *   destination too: listed, it needs the feature (and bounds the size); unlisted, `default` decides;
 *   local, it is always a destination (with its entry's features and size when listed).
 * - A listed domain is a peer for its protocol only: traffic claiming it from the other side is refused.
 * - Local domains (sip.domains, the XMPP domains Stox serves) are not subject to `default`. Unlisted, they
 *   get every feature with no rate or size limit; a local SIP domain's requests must still come from
 *   `sipSources` when the gateway gives them. Listed, their entry applies like any peer's.
 * - `sources` and `tlsIdentities` are alternatives: either one matching admits a request; `requireTls`
 *   additionally needs the TLS transport. TLS identities match exactly, case-insensitively, with no
 *   wildcards on either side (RFC 5922 §7.2).
 * - Checks run in order domain, source/TLS, sender feature, target, size, rate: only an event that would
 *   otherwise pass takes a token, so refused floods do not starve the domain's legitimate traffic.
 * - Rate is a token bucket per sending domain (what a domain sends us). Size is bounded by both the
 *   sender's and the target's `maxMessageBytes`.
 * - Counters are keyed by listed and local domains by name; every other domain counts under `*`, so a
 *   flood of invented sender domains cannot grow the map.
 */
import type { PeerDomainConfig, PeeringConfig, StoxConfig } from '../config/schema.js';
import { CidrSet } from './cidr.js';

export const FEATURES = ['im', 'presence', 'chat', 'groupchat', 'typing', 'receipts'] as const;
export type Feature = (typeof FEATURES)[number];

/** s2x: from SIP into XMPP; x2s: from XMPP into SIP. */
export type Direction = 's2x' | 'x2s';

export interface PolicySource {
  /** The peer's IP address as the socket reports it (IPv4-mapped IPv6 is fine). */
  address: string;
  transport: 'udp' | 'tcp' | 'tls';
  /** Verified identities of the peer's TLS certificate (subjectAltName DNS names). */
  tlsIdentities?: readonly string[];
}

export interface PolicyRequest {
  direction: Direction;
  feature: Feature;
  senderDomain: string;
  /** The domain the event is delivered to on the other side (for x2s, the SIP domain after unescaping). */
  targetDomain: string;
  /** SIP side only: where the request came from (IP) and the verified TLS identities, if any. */
  source?: PolicySource;
  sizeBytes?: number;
  /** Milliseconds on any monotonic scale; integers give exact token counts. */
  now: number;
}

export type DenyReason =
  | 'domain-denied'
  | 'feature-denied'
  | 'source-denied'
  | 'tls-required'
  | 'tls-identity-denied'
  | 'rate-limited'
  | 'too-large';

export interface PolicyDenial {
  allow: false;
  reason: DenyReason;
  /** The domain whose rule refused the event (the sender's or the target's). */
  domain: string;
  /** Human, printable ASCII without quotes or CR/LF: fit for a SIP Warning text and an XMPP <text/>. */
  text: string;
  /** Present for 'rate-limited': when one more event of this domain would be admitted. */
  retryAfterSeconds?: number;
  sip: { status: 403 | 503 | 413; warning?: string };
  xmpp: { condition: 'not-allowed' | 'forbidden' | 'resource-constraint' | 'policy-violation'; type: 'cancel' | 'wait' | 'modify' | 'auth' };
  /**
   * Present when this refusal should be logged: the first of its domain and reason, or the first after
   * LOG_INTERVAL_MS; `suppressed` counts the refusals of the same key not logged since the previous one.
   */
  log?: { suppressed: number };
}

export type PolicyDecision = { allow: true } | PolicyDenial;

export interface PeeringLocal {
  /** The SIP domains Stox represents (sip.domains). */
  sipDomains: readonly string[];
  /** The XMPP domains Stox serves (component domains, and any XMPP server domain the operator calls local). */
  xmppDomains: readonly string[];
  /**
   * Addresses or CIDRs a local SIP domain's requests must come from when peering.domains does not list
   * that domain with its own sources or tlsIdentities (typically the local proxy). Absent: any source.
   */
  sipSources?: readonly string[];
}

/** At most one log line per domain and reason in this window (a burst is logged once, then summarized). */
export const LOG_INTERVAL_MS = 10_000;

/** The key `*` counts every domain that is neither listed nor local. */
export const OTHER_DOMAINS = '*';

const ALLOW: PolicyDecision = Object.freeze({ allow: true });

/** One token in bucket units: refilling `perSecond` tokens per second adds `perSecond` units per ms. */
const TOKEN = 1000;

interface Rules {
  readonly protocol: 'sip' | 'xmpp';
  /** undefined: every feature. */
  readonly features: ReadonlySet<Feature> | undefined;
  readonly rate: { readonly perSecond: number; readonly burst: number } | undefined;
  readonly maxMessageBytes: number | undefined;
  readonly sources: CidrSet | undefined;
  readonly tlsIdentities: ReadonlySet<string> | undefined;
  readonly requireTls: boolean;
}

interface Bucket {
  units: number;
  last: number;
}

interface LogState {
  at: number;
  suppressed: number;
}

interface CompiledPolicy {
  readonly defaultAllow: boolean;
  readonly listed: ReadonlyMap<string, Rules>;
  readonly localSip: ReadonlySet<string>;
  readonly localXmpp: ReadonlySet<string>;
  readonly localSipRules: Rules;
  readonly localXmppRules: Rules;
}

const ERRORS: Readonly<Record<DenyReason, Pick<PolicyDenial, 'sip' | 'xmpp'>>> = {
  // RFC 6120 §8.3.3.10: not-allowed is "no entity may", e.g. sending to a blacklisted domain.
  'domain-denied': { sip: { status: 403 }, xmpp: { condition: 'not-allowed', type: 'cancel' } },
  'feature-denied': { sip: { status: 403 }, xmpp: { condition: 'not-allowed', type: 'cancel' } },
  // These three are about who is asking (RFC 6120 §8.3.3.4), only ever raised for SIP senders.
  'source-denied': { sip: { status: 403 }, xmpp: { condition: 'forbidden', type: 'auth' } },
  'tls-required': { sip: { status: 403 }, xmpp: { condition: 'forbidden', type: 'auth' } },
  'tls-identity-denied': { sip: { status: 403 }, xmpp: { condition: 'forbidden', type: 'auth' } },
  // 503 with Retry-After is the SIP overload answer (RFC 3261 §21.5.4); RFC 7247 §7.1 note 5 only forbids
  // mapping an XMPP error to 503, which this is not.
  'rate-limited': { sip: { status: 503 }, xmpp: { condition: 'resource-constraint', type: 'wait' } },
  // RFC 7247 Table 3: 413 ⇄ policy-violation; RFC 7572 §6 uses policy-violation for oversize messages.
  'too-large': { sip: { status: 413 }, xmpp: { condition: 'policy-violation', type: 'modify' } },
};

function normalizeDomain(domain: string): string {
  const lower = domain.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Wire values reach the error text; keep them printable, unquoted and short. */
function printable(value: string): string {
  const clean = value.replace(/[^\x21-\x7e]|["\\]/g, '?');
  if (clean === '') return '(none)';
  return clean.length > 100 ? `${clean.slice(0, 97)}...` : clean;
}

function compileRules(entry: PeerDomainConfig): Rules {
  return Object.freeze({
    protocol: entry.protocol,
    features: new Set(entry.features),
    rate: entry.rate ? Object.freeze({ perSecond: entry.rate.perSecond, burst: entry.rate.burst }) : undefined,
    maxMessageBytes: entry.maxMessageBytes,
    sources: entry.sources ? CidrSet.of(entry.sources) : undefined,
    tlsIdentities: entry.tlsIdentities ? new Set(entry.tlsIdentities.map(normalizeDomain)) : undefined,
    requireTls: entry.requireTls,
  });
}

function compile(peering: PeeringConfig, local: PeeringLocal): CompiledPolicy {
  const listed = new Map<string, Rules>();
  for (const [domain, entry] of Object.entries(peering.domains)) listed.set(normalizeDomain(domain), compileRules(entry));
  const unrestricted = (protocol: 'sip' | 'xmpp', sources?: CidrSet): Rules =>
    Object.freeze({ protocol, features: undefined, rate: undefined, maxMessageBytes: undefined, sources, tlsIdentities: undefined, requireTls: false });
  return Object.freeze({
    defaultAllow: peering.default === 'allow',
    listed,
    localSip: new Set(local.sipDomains.map(normalizeDomain)),
    localXmpp: new Set(local.xmppDomains.map(normalizeDomain)),
    localSipRules: unrestricted('sip', local.sipSources ? CidrSet.of(local.sipSources) : undefined),
    localXmppRules: unrestricted('xmpp'),
  });
}

/** The local domains as the config names them: sip.domains and the component domains. */
export function peeringLocalFromConfig(config: Pick<StoxConfig, 'sip' | 'xmpp'>, sipSources?: readonly string[]): PeeringLocal {
  return {
    sipDomains: config.sip.domains,
    xmppDomains: config.xmpp?.components.map((c) => c.domain) ?? [],
    ...(sipSources ? { sipSources } : {}),
  };
}

const protocolName = (p: 'sip' | 'xmpp'): string => (p === 'sip' ? 'SIP' : 'XMPP');

/** Either the rules that govern a domain (undefined: unrestricted) or the refusal. */
type Lookup = { rules: Rules | undefined } | { denied: DenyReason; text: string };

export class PeeringPolicy {
  /** `${domain}|${reason}` or `${domain}|allowed`; unlisted non-local domains count as `*`. */
  readonly counters: ReadonlyMap<string, number>;
  readonly #policy: CompiledPolicy;
  readonly #counters: Map<string, number>;
  readonly #buckets: Map<string, Bucket>;
  readonly #logs: Map<string, LogState>;

  private constructor(policy: CompiledPolicy, counters: Map<string, number>, buckets: Map<string, Bucket>, logs: Map<string, LogState>) {
    this.#policy = policy;
    this.#counters = counters;
    this.counters = counters;
    this.#buckets = buckets;
    this.#logs = logs;
  }

  /** Throws when `local.sipSources` holds something that is neither an address nor a CIDR. */
  static fromConfig(peering: PeeringConfig, local: PeeringLocal): PeeringPolicy {
    return new PeeringPolicy(compile(peering, local), new Map(), new Map(), new Map());
  }

  /**
   * A policy for a reloaded config. Counters carry over whole (they are monotonic metrics); a rate bucket
   * carries over while its domain still has a rate, capped at the new burst, so a reload neither refills
   * a throttled peer nor forgets it.
   */
  withConfig(peering: PeeringConfig, local: PeeringLocal): PeeringPolicy {
    const policy = compile(peering, local);
    const buckets = new Map<string, Bucket>();
    for (const [domain, bucket] of this.#buckets) {
      const rate = policy.listed.get(domain)?.rate;
      if (rate) buckets.set(domain, { units: Math.min(bucket.units, rate.burst * TOKEN), last: bucket.last });
    }
    const logs = new Map<string, LogState>();
    for (const [key, state] of this.#logs) logs.set(key, { ...state });
    return new PeeringPolicy(policy, new Map(this.#counters), buckets, logs);
  }

  decide(req: PolicyRequest): PolicyDecision {
    const sender = normalizeDomain(req.senderDomain);
    const target = normalizeDomain(req.targetDomain);
    const senderProtocol = req.direction === 's2x' ? 'sip' : 'xmpp';
    const targetProtocol = req.direction === 's2x' ? 'xmpp' : 'sip';

    const from = this.#senderRules(sender, senderProtocol);
    if ('denied' in from) return this.#deny(from.denied, sender, from.text, req.now);
    const senderRules = from.rules;

    if (senderRules && senderProtocol === 'sip') {
      const refusal = this.#checkSource(senderRules, sender, req.source);
      if (refusal) return this.#deny(refusal.denied, sender, refusal.text, req.now);
    }
    if (senderRules?.features && !senderRules.features.has(req.feature)) {
      return this.#deny('feature-denied', sender, `${printable(req.feature)} is not allowed for ${printable(sender)}`, req.now);
    }

    const to = this.#targetRules(target, targetProtocol);
    if ('denied' in to) return this.#deny(to.denied, target, to.text, req.now);
    const targetRules = to.rules;
    if (targetRules?.features && !targetRules.features.has(req.feature)) {
      return this.#deny('feature-denied', target, `${printable(req.feature)} is not allowed towards ${printable(target)}`, req.now);
    }

    if (req.sizeBytes !== undefined) {
      for (const [domain, rules] of [[sender, senderRules], [target, targetRules]] as const) {
        const max = rules?.maxMessageBytes;
        if (max !== undefined && req.sizeBytes > max) {
          return this.#deny('too-large', domain, `${req.sizeBytes} bytes exceed the ${max} allowed for ${printable(domain)}`, req.now);
        }
      }
    }

    const rate = senderRules?.rate;
    if (rate) {
      const waitMs = this.#take(sender, rate, req.now);
      if (waitMs > 0) {
        const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
        return this.#deny('rate-limited', sender, `rate limit of ${printable(sender)} exceeded, retry in ${retryAfterSeconds} s`, req.now, retryAfterSeconds);
      }
    }

    this.#count(`${this.#counterDomain(sender)}|allowed`);
    return ALLOW;
  }

  #senderRules(domain: string, protocol: 'sip' | 'xmpp'): Lookup {
    const p = this.#policy;
    const local = protocol === 'sip' ? p.localSip.has(domain) : p.localXmpp.has(domain);
    const entry = p.listed.get(domain);
    if (entry) {
      if (entry.protocol !== protocol && !local) {
        return { denied: 'domain-denied', text: `${printable(domain)} is peered over ${protocolName(entry.protocol)}, not ${protocolName(protocol)}` };
      }
      return { rules: entry };
    }
    if (local) return { rules: protocol === 'sip' ? p.localSipRules : p.localXmppRules };
    if (p.defaultAllow) return { rules: undefined };
    return { denied: 'domain-denied', text: `${printable(domain)} is not a peer of this gateway` };
  }

  #targetRules(domain: string, protocol: 'sip' | 'xmpp'): Lookup {
    const p = this.#policy;
    // Either local set: with 'escaped' addressing an x2s target may be named by its component domain.
    const local = p.localSip.has(domain) || p.localXmpp.has(domain);
    const entry = p.listed.get(domain);
    if (entry) {
      if (entry.protocol !== protocol && !local) {
        return { denied: 'domain-denied', text: `${printable(domain)} is peered over ${protocolName(entry.protocol)}, not ${protocolName(protocol)}` };
      }
      return { rules: entry };
    }
    if (local || p.defaultAllow) return { rules: undefined };
    return { denied: 'domain-denied', text: `${printable(domain)} is not a peer of this gateway` };
  }

  #checkSource(rules: Rules, domain: string, source: PolicySource | undefined): { denied: DenyReason; text: string } | undefined {
    const d = printable(domain);
    const transport = source?.transport;
    if (rules.requireTls && transport !== 'tls') {
      return { denied: 'tls-required', text: `${d} must use TLS, got ${transport ?? 'no transport'}` };
    }
    const { sources, tlsIdentities } = rules;
    if (!sources && !tlsIdentities) return undefined;
    if (sources && source && sources.has(source.address)) return undefined;
    const presented = transport === 'tls' ? (source?.tlsIdentities ?? []) : [];
    // RFC 5922 §7.2: no wildcard matching, so a presented '*.x' is never an identity.
    if (tlsIdentities && presented.some((id) => !id.includes('*') && tlsIdentities.has(normalizeDomain(id)))) return undefined;
    const where = source ? printable(source.address) : 'an unknown source';
    if (!sources || (tlsIdentities && presented.length > 0)) {
      const got = presented.length > 0 ? printable(presented.join(',')) : 'none';
      return { denied: 'tls-identity-denied', text: `no accepted TLS identity for ${d} from ${where}, got ${got}` };
    }
    return { denied: 'source-denied', text: `requests from ${d} are not accepted from ${where}` };
  }

  /** 0 when a token was taken, otherwise the milliseconds until one will be there. */
  #take(domain: string, rate: NonNullable<Rules['rate']>, now: number): number {
    const capacity = rate.burst * TOKEN;
    let bucket = this.#buckets.get(domain);
    if (!bucket) {
      bucket = { units: capacity, last: now };
      this.#buckets.set(domain, bucket);
    } else if (now > bucket.last) {
      // A clock that steps back refills nothing and keeps the later mark.
      bucket.units = Math.min(capacity, bucket.units + (now - bucket.last) * rate.perSecond);
      bucket.last = now;
    }
    if (bucket.units >= TOKEN) {
      bucket.units -= TOKEN;
      return 0;
    }
    return (TOKEN - bucket.units) / rate.perSecond;
  }

  #counterDomain(domain: string): string {
    const p = this.#policy;
    return p.listed.has(domain) || p.localSip.has(domain) || p.localXmpp.has(domain) ? domain : OTHER_DOMAINS;
  }

  #count(key: string): void {
    this.#counters.set(key, (this.#counters.get(key) ?? 0) + 1);
  }

  #deny(reason: DenyReason, domain: string, text: string, now: number, retryAfterSeconds?: number): PolicyDenial {
    const key = `${this.#counterDomain(domain)}|${reason}`;
    this.#count(key);
    const { sip, xmpp } = ERRORS[reason];
    const denial: PolicyDenial = {
      allow: false,
      reason,
      domain,
      text,
      sip: { status: sip.status, warning: `399 stox "${text}"` },
      xmpp: { ...xmpp },
    };
    if (retryAfterSeconds !== undefined) denial.retryAfterSeconds = retryAfterSeconds;
    const state = this.#logs.get(key);
    if (!state || now - state.at >= LOG_INTERVAL_MS || now < state.at) {
      denial.log = { suppressed: state?.suppressed ?? 0 };
      this.#logs.set(key, { at: now, suppressed: 0 });
    } else {
      state.suppressed++;
    }
    return denial;
  }
}
