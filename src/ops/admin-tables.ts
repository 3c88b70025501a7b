import type { PeersReport, SessionsReport, SubscriptionsReport } from './admin.js';

/** Rows of cells under a header, columns padded to their widest cell: for people, not for parsing. */
export function formatTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n') + '\n';
}

const list = (items: readonly string[]): string => (items.length === 0 ? '-' : items.join(','));

export function renderSubscriptions(r: SubscriptionsReport): string {
  const rows = r.subscriptions.map((s) => [s.direction === 'xmpp_to_sip' ? 'xmpp→sip' : 'sip→xmpp', s.xmpp, s.sip, s.state, s.authorization, s.expiresAt ?? '-']);
  const title = r.source === 'live' ? `${rows.length} subscription(s)` : `${rows.length} subscription(s) read from the store file (no running instance answered)`;
  return `${title}\n\n${formatTable(['DIRECTION', 'XMPP', 'SIP', 'STATE', 'AUTHORIZATION', 'EXPIRES'], rows)}`;
}

export function renderSessions(r: SessionsReport): string {
  const streams = formatTable(
    ['XMPP COMPONENT', 'SERVER', 'STATE'],
    r.streams.map((s) => [s.domain, s.server, s.state]),
  );
  const dialogs = formatTable(
    ['ROLE', 'STATE', 'LOCAL', 'REMOTE', 'CALL-ID'],
    r.dialogs.map((d) => [d.role, d.state, d.local, d.remote, d.callId]),
  );
  const inFlight = `messages in flight: sip→xmpp ${r.messagesInFlight.sipToXmpp}, xmpp→sip ${r.messagesInFlight.xmppToSip}`;
  return `${r.streams.length} XMPP stream(s)\n\n${streams}\n${r.dialogs.length} SIP subscription dialog(s)\n\n${dialogs}\n${inFlight}\n`;
}

export function renderPeers(r: PeersReport): string {
  const rows = r.peers.map((p) => {
    const refused = Object.entries(p.refused)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([reason, n]) => `${reason}=${n}`);
    return [
      p.domain,
      p.kind,
      p.protocol,
      p.features === 'all' ? 'all' : p.features.length === 0 ? 'none' : p.features.join(','),
      p.rate,
      p.maxMessageBytes === null ? '-' : String(p.maxMessageBytes),
      list([...p.sources, ...p.tlsIdentities.map((t) => `tls:${t}`), ...(p.requireTls ? ['tls-only'] : [])]),
      r.live ? String(p.accepted) : '-',
      r.live ? list(refused) : '-',
    ];
  });
  const title = r.live ? `peering default: ${r.default}` : `peering default: ${r.default} (from the config file; no running instance answered, so no counters)`;
  return `${title}\n\n${formatTable(['DOMAIN', 'KIND', 'PROTOCOL', 'FEATURES', 'RATE', 'MAX BYTES', 'SOURCES', 'ACCEPTED', 'REFUSED'], rows)}`;
}
