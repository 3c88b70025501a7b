import type { PeeringConfig, StoxConfig } from '../config/schema.js';
import type { SubscriptionRow } from '../store/index.js';

/**
 * What the admin API (`GET /admin/...`) returns and `stox subscriptions|sessions|peers` prints. Built
 * from live state by the gateway, or from the store file and config when no instance answers; the shapes
 * are the contract between the two, so the CLI renders either the same way.
 */

export interface SubscriptionInfo {
  /** xmpp_to_sip: an XMPP user watching a SIP contact; sip_to_xmpp: a SIP watcher of an XMPP user. */
  direction: 'xmpp_to_sip' | 'sip_to_xmpp';
  xmpp: string;
  sip: string;
  /** The subscription machine's state (subscribed, pending, active, …). */
  state: string;
  authorization: string;
  /** ISO time the notification dialog expires; null when none is believed alive. */
  expiresAt: string | null;
}

export interface SubscriptionsReport {
  source: 'live' | 'store';
  subscriptions: SubscriptionInfo[];
}

export interface DialogInfo {
  role: 'notifier' | 'subscriber';
  callId: string;
  local: string;
  remote: string;
  /** Confirmed (the peer's tag is known) or early. */
  state: 'confirmed' | 'early';
}

export interface StreamInfo {
  domain: string;
  server: string;
  state: string;
}

export interface SessionsReport {
  dialogs: DialogInfo[];
  streams: StreamInfo[];
  /** Messages awaiting their final answer (page mode has no sessions, but these are live exchanges). */
  messagesInFlight: { sipToXmpp: number; xmppToSip: number };
}

export interface PeerInfo {
  domain: string;
  /** 'listed' from peering.domains, 'local' for Stox's own domains, 'other' for every unlisted remote one ("*"). */
  kind: 'listed' | 'local' | 'other';
  protocol: string;
  features: string[] | 'all';
  rate: string;
  maxMessageBytes: number | null;
  sources: string[];
  tlsIdentities: string[];
  requireTls: boolean;
  accepted: number;
  refused: Record<string, number>;
}

export interface PeersReport {
  /** false when read from the config file: counters are then absent (zero). */
  live: boolean;
  default: 'allow' | 'deny';
  peers: PeerInfo[];
}

function subscriptionFromRow(row: SubscriptionRow): SubscriptionInfo {
  const record = (typeof row.state === 'object' && row.state !== null ? row.state : {}) as Record<string, unknown>;
  const str = (v: unknown): string => (typeof v === 'string' ? v : '-');
  return {
    direction: row.direction === 'x2s' ? 'xmpp_to_sip' : 'sip_to_xmpp',
    xmpp: row.xmppJid,
    sip: row.sipAor,
    state: str(record.state),
    authorization: str(record.authorization),
    expiresAt: row.expiresAt ? new Date(row.expiresAt).toISOString() : null,
  };
}

/** Every persisted subscription: the bridge writes each state change before acting, so this is the live set. */
export function subscriptionsReport(rows: Iterable<SubscriptionRow>, source: SubscriptionsReport['source']): SubscriptionsReport {
  const subscriptions: SubscriptionInfo[] = [];
  for (const row of rows) subscriptions.push(subscriptionFromRow(row));
  subscriptions.sort((a, b) => a.direction.localeCompare(b.direction) || a.xmpp.localeCompare(b.xmpp) || a.sip.localeCompare(b.sip));
  return { source, subscriptions };
}

/**
 * Policy per domain with the policy's own counters (`${domain}|${reason}` / `${domain}|allowed`). Local
 * domains appear when they have counters or are listed; "*" stands for every unlisted remote domain.
 */
export function peersReport(peering: PeeringConfig, localDomains: readonly string[], counters: ReadonlyMap<string, number> | undefined): PeersReport {
  const byDomain = new Map<string, { accepted: number; refused: Record<string, number> }>();
  for (const [key, n] of counters ?? []) {
    const bar = key.lastIndexOf('|');
    const domain = key.slice(0, bar);
    const reason = key.slice(bar + 1);
    let c = byDomain.get(domain);
    if (!c) byDomain.set(domain, (c = { accepted: 0, refused: {} }));
    if (reason === 'allowed') c.accepted += n;
    else c.refused[reason] = (c.refused[reason] ?? 0) + n;
  }
  const counted = (domain: string) => byDomain.get(domain) ?? { accepted: 0, refused: {} };
  const peers: PeerInfo[] = [];
  const listed = new Set<string>();
  for (const [name, p] of Object.entries(peering.domains)) {
    const domain = name.toLowerCase();
    listed.add(domain);
    peers.push({
      domain,
      kind: localDomains.some((d) => d.toLowerCase() === domain) ? 'local' : 'listed',
      protocol: p.protocol,
      features: p.features,
      rate: p.rate ? `${p.rate.perSecond}/s burst ${p.rate.burst}` : 'unlimited',
      maxMessageBytes: p.maxMessageBytes ?? null,
      sources: p.sources ?? [],
      tlsIdentities: p.tlsIdentities ?? [],
      requireTls: p.requireTls,
      ...counted(domain),
    });
  }
  for (const d of localDomains) {
    const domain = d.toLowerCase();
    if (listed.has(domain) || peers.some((p) => p.domain === domain)) continue;
    peers.push({ domain, kind: 'local', protocol: '-', features: 'all', rate: 'unlimited', maxMessageBytes: null, sources: [], tlsIdentities: [], requireTls: false, ...counted(domain) });
  }
  peers.push({
    domain: '*',
    kind: 'other',
    protocol: 'any',
    features: peering.default === 'allow' ? 'all' : [],
    rate: 'unlimited',
    maxMessageBytes: null,
    sources: [],
    tlsIdentities: [],
    requireTls: false,
    ...counted('*'),
  });
  return { live: counters !== undefined, default: peering.default, peers };
}

/** Stox's own domains (sip.domains and component domains), as the policy counts them. */
export function localDomains(config: Pick<StoxConfig, 'sip' | 'xmpp'>): string[] {
  return [...new Set([...config.sip.domains, ...(config.xmpp?.components.map((c) => c.domain) ?? [])].map((d) => d.toLowerCase()))];
}
