import { describe, expect, it } from 'vitest';
import { createResolver, type DnsLookup } from '../../../src/sip/resolver.js';
import type { SipUri } from '../../../src/sip/uri.js';

function uri(host: string, extra: Partial<SipUri> = {}): SipUri {
  return { scheme: 'sip', host, params: new Map(), headers: new Map(), ...extra };
}

/** A zone in memory; every query is recorded so tests can assert RFC 3263's order of lookups. */
function zone(records: {
  naptr?: Record<string, Array<{ order: number; preference: number; flags: string; service: string; replacement: string }>>;
  srv?: Record<string, Array<{ priority: number; weight: number; port: number; name: string }>>;
  a?: Record<string, string[]>;
}): DnsLookup & { queries: string[] } {
  const queries: string[] = [];
  const answer = <T>(kind: string, table: Record<string, T[]> | undefined, name: string): Promise<T[]> => {
    queries.push(`${kind} ${name}`);
    const found = table?.[name];
    return found ? Promise.resolve(found) : Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
  };
  return {
    queries,
    naptr: (n) => answer('NAPTR', records.naptr, n),
    srv: (n) => answer('SRV', records.srv, n),
    addresses: (n) => answer('A', records.a, n),
  };
}

describe('RFC 3263 resolver', () => {
  it('§4.1/§4.2: a numeric host skips DNS; default port and UDP', async () => {
    const dns = zone({});
    expect(await createResolver(dns).resolve(uri('192.0.2.7'))).toEqual([{ transport: 'udp', address: '192.0.2.7', port: 5060 }]);
    expect(await createResolver(dns).resolve(uri('[2001:db8::1]', { port: 5080 }))).toEqual([{ transport: 'udp', address: '2001:db8::1', port: 5080 }]);
    expect(dns.queries).toEqual([]);
  });

  it('§4.1: transport=tcp param and sips choose the transport', async () => {
    const r = createResolver(zone({}));
    expect(await r.resolve(uri('192.0.2.7', { params: new Map([['transport', 'tcp']]) }))).toEqual([{ transport: 'tcp', address: '192.0.2.7', port: 5060 }]);
    expect(await r.resolve(uri('192.0.2.7', { scheme: 'sips' }))).toEqual([{ transport: 'tls', address: '192.0.2.7', port: 5061 }]);
  });

  it('§4.2: an explicit port with a name does an address lookup only', async () => {
    const dns = zone({ a: { 'proxy.example.org': ['192.0.2.1'] } });
    expect(await createResolver(dns).resolve(uri('proxy.example.org', { port: 5070 }))).toEqual([{ transport: 'udp', address: '192.0.2.1', port: 5070 }]);
    expect(dns.queries).toEqual(['A proxy.example.org']);
  });

  it('§4.1: NAPTR → SRV → A, in NAPTR order', async () => {
    const dns = zone({
      naptr: {
        'example.org': [
          { order: 20, preference: 0, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.example.org' },
          { order: 10, preference: 0, flags: 's', service: 'SIP+D2T', replacement: '_sip._tcp.example.org' },
        ],
      },
      srv: { '_sip._tcp.example.org': [{ priority: 1, weight: 0, port: 5062, name: 'tcp1.example.org' }] },
      a: { 'tcp1.example.org': ['192.0.2.10'] },
    });
    expect(await createResolver(dns).resolve(uri('example.org'))).toEqual([{ transport: 'tcp', address: '192.0.2.10', port: 5062 }]);
    expect(dns.queries.slice(0, 2)).toEqual(['NAPTR example.org', 'SRV _sip._tcp.example.org']);
  });

  it('§4.1: no NAPTR → SRV per transport; §4.4 SRV priority order', async () => {
    const dns = zone({
      srv: {
        '_sip._udp.example.org': [
          { priority: 20, weight: 1, port: 5060, name: 'backup.example.org' },
          { priority: 10, weight: 1, port: 5060, name: 'main.example.org' },
        ],
      },
      a: { 'main.example.org': ['192.0.2.1'], 'backup.example.org': ['192.0.2.2'] },
    });
    const out = await createResolver(dns).resolve(uri('example.org'));
    expect(out.map((e) => e.address)).toEqual(['192.0.2.1', '192.0.2.2']);
  });

  it('§4.2: no NAPTR and no SRV → A record on the default port', async () => {
    const dns = zone({ a: { 'example.org': ['192.0.2.3'] } });
    expect(await createResolver(dns).resolve(uri('example.org'))).toEqual([{ transport: 'udp', address: '192.0.2.3', port: 5060 }]);
  });

  it('sips never falls back to a non-TLS NAPTR service', async () => {
    const dns = zone({
      naptr: { 'example.org': [{ order: 10, preference: 0, flags: 's', service: 'SIP+D2U', replacement: '_sip._udp.example.org' }] },
      srv: { '_sip._udp.example.org': [{ priority: 1, weight: 0, port: 5060, name: 'u.example.org' }] },
      a: { 'u.example.org': ['192.0.2.9'], 'example.org': ['192.0.2.4'] },
    });
    expect(await createResolver(dns).resolve(uri('example.org', { scheme: 'sips' }))).toEqual([{ transport: 'tls', address: '192.0.2.4', port: 5061 }]);
  });

  it('nothing resolves → empty list, never a throw', async () => {
    expect(await createResolver(zone({})).resolve(uri('nowhere.invalid'))).toEqual([]);
  });
});
