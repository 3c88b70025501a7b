import type { StoxConfig } from '../config/schema.js';
import { openStoreReadOnly } from '../store/index.js';
import { localDomains, peersReport, subscriptionsReport, type PeersReport, type SessionsReport, type SubscriptionsReport } from './admin.js';
import { renderPeers, renderSessions, renderSubscriptions } from './admin-tables.js';
import { httpAuthority, parseHttpListen } from './http-listen.js';

export type AdminCommand = 'subscriptions' | 'sessions' | 'peers';

export interface AdminOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** A running instance is asked briefly: an answer takes milliseconds on loopback, a dead one fails at once. */
const QUERY_TIMEOUT_MS = 3_000;

async function query(config: StoxConfig, command: AdminCommand): Promise<{ ok: true; value: unknown } | { ok: false; why: string }> {
  if (!config.http) return { ok: false, why: 'the config has no http.listen, so no running instance can be asked' };
  const url = `http://${httpAuthority(parseHttpListen(config.http.listen))}/admin/${command}`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(QUERY_TIMEOUT_MS) });
    if (!res.ok) return { ok: false, why: `${url} answered ${res.status}` };
    return { ok: true, value: await res.json() };
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    return { ok: false, why: `no running instance answered at ${url} (${cause})` };
  }
}

/**
 * `stox subscriptions|sessions|peers`: asks the running instance named by the config's http.listen and
 * prints a table. Without one, subscriptions are read from the store file (read-only) and peers from the
 * config, each saying so; sessions exist only in a running instance. Exit codes as the CLI's: 0 printed,
 * 1 nothing to show.
 */
export async function runAdminCommand(command: AdminCommand, config: StoxConfig, io: AdminOutput): Promise<number> {
  const live = await query(config, command);
  if (live.ok) {
    if (command === 'subscriptions') io.out(renderSubscriptions(live.value as SubscriptionsReport));
    else if (command === 'sessions') io.out(renderSessions(live.value as SessionsReport));
    else io.out(renderPeers(live.value as PeersReport));
    return 0;
  }
  io.err(`stox: ${live.why}\n`);
  switch (command) {
    case 'subscriptions': {
      let store;
      try {
        store = openStoreReadOnly(config.store.path);
      } catch (err) {
        io.err(`stox: cannot read the store either: ${(err as Error).message}\n`);
        return 1;
      }
      try {
        io.out(renderSubscriptions(subscriptionsReport(store.allSubscriptions(), 'store')));
      } finally {
        store.close();
      }
      return 0;
    }
    case 'peers':
      io.out(renderPeers(peersReport(config.peering, localDomains(config), undefined)));
      return 0;
    case 'sessions':
      io.err('stox: sessions (SIP dialogs, XMPP streams) exist only in a running instance; start Stox with an http.listen to see them\n');
      return 1;
  }
}
