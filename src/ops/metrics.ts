import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Label values: which way an event travels, named for operators rather than the code's s2x/x2s. */
export type MetricDirection = 'sip_to_xmpp' | 'xmpp_to_sip';

/**
 * How a message ended: `delivered` (the other side took it), `bounced` (the other side refused it, mapped
 * error sent back), `refused` (peering policy), `rejected` (cannot be translated or addressed),
 * `unavailable` (the other side is down, overloaded or Stox is shutting down), `failed` (no answer, no
 * route, internal error).
 */
export type MessageResult = 'delivered' | 'bounced' | 'refused' | 'rejected' | 'unavailable' | 'failed';

/** A presence event (SUBSCRIBE, NOTIFY, presence stanza): `accepted`, `refused` (policy) or `rejected`. */
export type PresenceResult = 'accepted' | 'refused' | 'rejected';

/** The side an error answer was sent on: a SIP status (code "404") or an XMPP condition ("item-not-found"). */
export type ErrorSide = 'sip' | 'xmpp';

/**
 * What the gateway's modules record. An interface so src/gateway does not depend on prom-client and unit
 * tests can pass `noMetrics`. Every method is meant for the hot path: label children are created once
 * per label combination and cached, so a call is a map lookup and an increment.
 */
export interface GatewayRecorder {
  message(direction: MetricDirection, result: MessageResult): void;
  presence(direction: MetricDirection, result: PresenceResult): void;
  error(side: ErrorSide, code: string | number): void;
  /** Seconds from receiving an event to handing its translation to the other side. */
  translation(direction: MetricDirection, feature: 'im' | 'presence', seconds: number): void;
}

export const noMetrics: GatewayRecorder = {
  message: () => undefined,
  presence: () => undefined,
  error: () => undefined,
  translation: () => undefined,
};

/** What the gauges and collected counters read at scrape time: live sizes, never copies. */
export interface MetricSources {
  subscriptions(): { x2s: number; s2x: number };
  sipDialogs(): number;
  sipTransactions(): number;
  /** Messages awaiting their final answer, per direction. */
  messagesInFlight(): { s2x: number; x2s: number };
  components(): ReadonlyArray<{ domain: string; connected: boolean }>;
  /** The peering policy's counters: `${domain}|${reason}` or `${domain}|allowed` → count (monotonic). */
  policyCounters(): ReadonlyMap<string, number>;
  sipDrops(): Readonly<Record<string, number>>;
}

/** Translation takes micro- to milliseconds; the top buckets catch a stalled event loop. */
const TRANSLATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5];

type Child = { inc(value?: number): void };
type ObserveChild = { observe(value: number): void };

/** `key → child`, filled on first use so the label set is only hashed once. */
function cached<K, C>(make: (key: K) => C): (key: K) => C {
  const children = new Map<K, C>();
  return (key) => {
    let c = children.get(key);
    if (c === undefined) {
      c = make(key);
      children.set(key, c);
    }
    return c;
  };
}

/**
 * The gateway's Prometheus metrics, on a registry of its own (not prom-client's global one) so several
 * gateways can live in one process, as in tests.
 */
export class GatewayMetrics implements GatewayRecorder {
  readonly registry = new Registry();
  private readonly messages: Record<MetricDirection, (result: string) => Child>;
  private readonly presences: Record<MetricDirection, (result: string) => Child>;
  private readonly errors: Record<ErrorSide, (code: string | number) => Child>;
  private readonly translations: Record<MetricDirection, Record<'im' | 'presence', ObserveChild>>;
  private readonly componentTransitions: Counter<'domain' | 'state'>;

  constructor(sources: MetricSources, opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const messages = new Counter({
      name: 'stox_messages_total',
      help: 'Messages handled, by direction, feature and result',
      labelNames: ['direction', 'feature', 'result'] as const,
      registers,
    });
    const presence = new Counter({
      name: 'stox_presence_events_total',
      help: 'Presence events (SUBSCRIBE, NOTIFY, presence stanzas) received, by direction and result',
      labelNames: ['direction', 'result'] as const,
      registers,
    });
    const errors = new Counter({
      name: 'stox_errors_total',
      help: 'Error answers Stox sent: SIP status codes (side="sip") and XMPP stanza error conditions (side="xmpp")',
      labelNames: ['side', 'code'] as const,
      registers,
    });
    const translation = new Histogram({
      name: 'stox_translation_seconds',
      help: 'Time from receiving an event to handing its translation to the other side',
      labelNames: ['direction', 'feature'] as const,
      buckets: TRANSLATION_BUCKETS,
      registers,
    });
    const byDirection = (counter: typeof messages | typeof presence, fixed: Record<string, string>) =>
      ({
        sip_to_xmpp: cached((result: string) => counter.labels({ direction: 'sip_to_xmpp', ...fixed, result })),
        xmpp_to_sip: cached((result: string) => counter.labels({ direction: 'xmpp_to_sip', ...fixed, result })),
      }) satisfies Record<MetricDirection, unknown>;
    this.messages = byDirection(messages, { feature: 'im' });
    this.presences = byDirection(presence, {});
    this.errors = {
      sip: cached((code: string | number) => errors.labels({ side: 'sip', code: String(code) })),
      xmpp: cached((code: string | number) => errors.labels({ side: 'xmpp', code: String(code) })),
    };
    const histograms = (direction: MetricDirection) => ({
      im: translation.labels({ direction, feature: 'im' }),
      presence: translation.labels({ direction, feature: 'presence' }),
    });
    this.translations = { sip_to_xmpp: histograms('sip_to_xmpp'), xmpp_to_sip: histograms('xmpp_to_sip') };

    // Gauges read per direction at scrape time from an { s2x, x2s } count.
    const byDirectionGauge = (name: string, help: string, read: () => { s2x: number; x2s: number }): void => {
      new Gauge({
        name,
        help,
        labelNames: ['direction'] as const,
        registers,
        collect() {
          const n = read();
          this.set({ direction: 'xmpp_to_sip' }, n.x2s);
          this.set({ direction: 'sip_to_xmpp' }, n.s2x);
        },
      });
    };
    byDirectionGauge('stox_subscriptions_active', 'Presence subscriptions held, by direction (xmpp_to_sip: XMPP users watching SIP contacts)', sources.subscriptions);
    new Gauge({
      name: 'stox_sip_dialogs_active',
      help: 'SIP subscription dialogs held',
      registers,
      collect() {
        this.set(sources.sipDialogs());
      },
    });
    new Gauge({
      name: 'stox_sip_transactions_active',
      help: 'SIP transactions in the transaction layer (including completed ones absorbing retransmissions)',
      registers,
      collect() {
        this.set(sources.sipTransactions());
      },
    });
    byDirectionGauge('stox_messages_in_flight', 'Messages awaiting their final answer from the other side, by direction', sources.messagesInFlight);
    new Gauge({
      name: 'stox_component_connected',
      help: 'XMPP component connection state: 1 connected, 0 not',
      labelNames: ['domain'] as const,
      registers,
      collect() {
        for (const c of sources.components()) this.set({ domain: c.domain }, c.connected ? 1 : 0);
      },
    });
    this.componentTransitions = new Counter({
      name: 'stox_component_transitions_total',
      help: 'XMPP component state changes, by domain and the state entered (online, offline, connecting, stopped)',
      labelNames: ['domain', 'state'] as const,
      registers,
    });
    // The policy counts its own decisions (they survive SIGHUP reloads); these read them at scrape time.
    new Counter({
      name: 'stox_policy_refusals_total',
      help: 'Events refused by the peering policy, by domain (unlisted remote domains count as "*") and reason',
      labelNames: ['domain', 'reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const [key, n] of sources.policyCounters()) {
          const bar = key.lastIndexOf('|');
          const reason = key.slice(bar + 1);
          if (reason !== 'allowed') this.inc({ domain: key.slice(0, bar), reason }, n);
        }
      },
    });
    new Counter({
      name: 'stox_policy_accepted_total',
      help: 'Events the peering policy let through, by domain (unlisted remote domains count as "*")',
      labelNames: ['domain'] as const,
      registers,
      collect() {
        this.reset();
        for (const [key, n] of sources.policyCounters()) {
          const bar = key.lastIndexOf('|');
          if (key.slice(bar + 1) === 'allowed') this.inc({ domain: key.slice(0, bar) }, n);
        }
      },
    });
    new Counter({
      name: 'stox_sip_dropped_total',
      help: 'SIP messages dropped without an answer, by reason',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(sources.sipDrops())) this.inc({ reason }, n);
      },
    });
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  message(direction: MetricDirection, result: MessageResult): void {
    this.messages[direction](result).inc();
  }

  presence(direction: MetricDirection, result: PresenceResult): void {
    this.presences[direction](result).inc();
  }

  error(side: ErrorSide, code: string | number): void {
    this.errors[side](code).inc();
  }

  translation(direction: MetricDirection, feature: 'im' | 'presence', seconds: number): void {
    this.translations[direction][feature].observe(seconds);
  }

  componentState(domain: string, state: string): void {
    this.componentTransitions.inc({ domain, state });
  }

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
