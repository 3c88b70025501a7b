import { promises as dnsPromises } from 'node:dns';
import { isIP } from 'node:net';
import type { SipEndpoint } from './message.js';
import type { SipUri } from './uri.js';

type Transport = SipEndpoint['transport'];

/** The DNS queries RFC 3263 needs; tests (and hosts without a usable resolver) replace it. */
export interface DnsLookup {
  naptr(name: string): Promise<Array<{ order: number; preference: number; flags: string; service: string; replacement: string }>>;
  srv(name: string): Promise<Array<{ priority: number; weight: number; port: number; name: string }>>;
  addresses(name: string): Promise<string[]>;
}

export interface SipResolver {
  /** Ordered candidates for reaching `uri` (RFC 3263 §4); empty when nothing resolves. */
  resolve(uri: SipUri): Promise<SipEndpoint[]>;
}

export const systemDns: DnsLookup = {
  naptr: (name) => dnsPromises.resolveNaptr(name),
  srv: (name) => dnsPromises.resolveSrv(name),
  async addresses(name) {
    const found = await dnsPromises.lookup(name, { all: true });
    return found.map((a) => a.address);
  },
};

const NAPTR_SERVICES: Readonly<Record<string, Transport>> = {
  'SIP+D2U': 'udp',
  'SIP+D2T': 'tcp',
  'SIPS+D2T': 'tls',
};

const SRV_PREFIX: Readonly<Record<Transport, string>> = {
  udp: '_sip._udp.',
  tcp: '_sip._tcp.',
  tls: '_sips._tcp.',
};

function defaultPort(t: Transport): number {
  return t === 'tls' ? 5061 : 5060;
}

function stripBrackets(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

async function swallow<T>(p: Promise<T[]>): Promise<T[]> {
  try {
    return await p;
  } catch {
    // NXDOMAIN, NODATA and timeouts all mean "this step yields nothing": RFC 3263 falls through to the next.
    return [];
  }
}

/** RFC 2782 ordering: priority ascending; within a priority, weight-proportional random selection. */
function orderSrv<T extends { priority: number; weight: number }>(records: T[], random: () => number): T[] {
  const byPriority = new Map<number, T[]>();
  for (const r of records) {
    const group = byPriority.get(r.priority) ?? [];
    group.push(r);
    byPriority.set(r.priority, group);
  }
  const out: T[] = [];
  for (const prio of [...byPriority.keys()].sort((a, b) => a - b)) {
    const group = [...byPriority.get(prio)!];
    while (group.length > 0) {
      const total = group.reduce((s, r) => s + r.weight, 0);
      let pick = random() * total;
      let idx = group.findIndex((r) => (pick -= r.weight) < 0);
      if (idx < 0) idx = 0;
      out.push(group.splice(idx, 1)[0]!);
    }
  }
  return out;
}

export function createResolver(dns: DnsLookup = systemDns, random: () => number = Math.random): SipResolver {
  async function fromSrv(name: string, transport: Transport): Promise<SipEndpoint[]> {
    const records = orderSrv(await swallow(dns.srv(name)), random);
    const out: SipEndpoint[] = [];
    for (const r of records) {
      for (const address of await swallow(dns.addresses(r.name))) out.push({ transport, address, port: r.port });
    }
    return out;
  }

  return {
    async resolve(uri) {
      const secure = uri.scheme === 'sips';
      const param = uri.params.get('transport');
      let transport: Transport | undefined =
        param === 'udp' || param === 'tcp' ? (secure ? 'tls' : param) : param === 'tls' ? 'tls' : secure ? 'tls' : undefined;
      const host = stripBrackets(uri.host);

      // §4.1/§4.2: a numeric host or an explicit port skips NAPTR/SRV.
      if (isIP(host) !== 0) {
        transport ??= 'udp';
        return [{ transport, address: host, port: uri.port ?? defaultPort(transport) }];
      }
      if (uri.port !== undefined) {
        transport ??= 'udp';
        return (await swallow(dns.addresses(host))).map((address) => ({ transport: transport!, address, port: uri.port! }));
      }
      if (transport === undefined) {
        const naptr = (await swallow(dns.naptr(host)))
          .filter((r) => r.flags.toLowerCase() === 's' && NAPTR_SERVICES[r.service.toUpperCase()] !== undefined)
          .filter((r) => !secure || NAPTR_SERVICES[r.service.toUpperCase()] === 'tls')
          .sort((a, b) => a.order - b.order || a.preference - b.preference);
        for (const r of naptr) {
          const found = await fromSrv(r.replacement, NAPTR_SERVICES[r.service.toUpperCase()]!);
          if (found.length > 0) return found;
        }
        // §4.1: no NAPTR — try SRV for each supported transport in our preference order.
        for (const t of (secure ? ['tls'] : ['udp', 'tcp', 'tls']) as Transport[]) {
          const found = await fromSrv(SRV_PREFIX[t] + host, t);
          if (found.length > 0) return found;
        }
        transport = secure ? 'tls' : 'udp';
      } else {
        const found = await fromSrv(SRV_PREFIX[transport] + host, transport);
        if (found.length > 0) return found;
      }
      return (await swallow(dns.addresses(host))).map((address) => ({ transport: transport!, address, port: defaultPort(transport!) }));
    },
  };
}
