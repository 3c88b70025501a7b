import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { configProblems } from '../../helpers/config-problems.js';
import { formatKeyPath, validateConfig } from '../../../src/config/load.js';
import { FEATURES } from '../../../src/core/policy.js';

const sip = { listen: ['udp://127.0.0.1:5060'], domains: ['sip.example.org'] };

const problems = configProblems;

const peeringProblems = (peering: unknown, extra: Record<string, unknown> = {}): string[] => problems({ sip, ...extra, peering });

/** One domain entry under `default: deny`, the rest of the config valid. */
const entryProblems = (domain: string, entry: unknown): string[] => peeringProblems({ default: 'deny', domains: { [domain]: entry } });

/** The key path the loader prints, so these tests follow formatKeyPath if it learns to quote dotted keys. */
const at = (...path: PropertyKey[]): string => formatKeyPath(['peering', 'domains', ...path]);

describe('peering config: defaults', () => {
  it('without a peering section: default allow, no domains (today\'s behaviour)', () => {
    expect(validateConfig({ sip }).peering).toEqual({ default: 'allow', domains: {} });
  });

  it('does not share the default object between configs', () => {
    const a = validateConfig({ sip }).peering;
    const b = validateConfig({ sip }).peering;
    expect(a).not.toBe(b);
    expect(a.domains).not.toBe(b.domains);
  });

  it('requires `default` once the section is written', () => {
    expect(peeringProblems({ domains: {} })).toEqual(['peering.default: expected allow or deny, got nothing']);
  });

  it('accepts `default` alone', () => {
    expect(validateConfig({ sip, peering: { default: 'deny' } }).peering).toEqual({ default: 'deny', domains: {} });
  });

  it('accepts the issue\'s example and fills features (all) and requireTls (false)', () => {
    const c = validateConfig({
      sip,
      peering: {
        default: 'deny',
        domains: {
          'xmpp.partner.example': {
            protocol: 'xmpp',
            features: ['im', 'presence', 'chat', 'groupchat', 'typing', 'receipts'],
            rate: { perSecond: 50, burst: 200 },
            maxMessageBytes: 10000,
          },
          'sip.partner.example': {
            protocol: 'sip',
            features: ['im', 'presence'],
            sources: ['203.0.113.0/24'],
            tlsIdentities: ['sip.partner.example'],
            requireTls: true,
          },
          'plain.partner.example': { protocol: 'sip' },
        },
      },
    });
    expect(c.peering.domains['xmpp.partner.example']).toEqual({
      protocol: 'xmpp',
      features: [...FEATURES],
      rate: { perSecond: 50, burst: 200 },
      maxMessageBytes: 10000,
      requireTls: false,
    });
    expect(c.peering.domains['plain.partner.example']).toEqual({ protocol: 'sip', features: [...FEATURES], requireTls: false });
    expect(c.peering.domains['sip.partner.example']?.requireTls).toBe(true);
  });

  it('accepts an empty feature list (a listed domain that may do nothing)', () => {
    expect(entryProblems('blocked.example', { protocol: 'xmpp', features: [] })).toEqual([]);
  });

  it('accepts fractional rates, IPv6 sources and single addresses', () => {
    expect(
      entryProblems('sip.partner.example', {
        protocol: 'sip',
        rate: { perSecond: 0.5, burst: 1 },
        sources: ['2001:db8::/32', '192.0.2.7', '::1', '0.0.0.0/0', '::ffff:198.51.100.0/120'],
      }),
    ).toEqual([]);
  });
});

describe('peering config: the documented example', () => {
  const text = readFileSync('config/stox.example.yaml', 'utf8');

  it('ships with default allow and no domains, so it behaves as before', () => {
    const c = validateConfig(parse(text) as unknown);
    expect(c.peering).toEqual({ default: 'allow', domains: {} });
  });

  it('its commented domains example is valid once uncommented', () => {
    const lines = text.split('\n');
    const start = lines.indexOf('  # domains:');
    expect(start).toBeGreaterThan(0);
    let end = start;
    while (end < lines.length && (lines[end] ?? '').startsWith('  #')) end++;
    const uncommented = lines.map((line, i) => (i >= start && i < end ? line.replace(/^ {2}# ?/, '  ') : line)).join('\n');
    const c = validateConfig(parse(uncommented) as unknown);
    expect(Object.keys(c.peering.domains)).toEqual(['xmpp.partner.example', 'sip.partner.example', 'sip.example.org']);
    expect(c.peering.domains['sip.partner.example']).toMatchObject({ sources: ['203.0.113.0/24'], requireTls: true });
    expect(c.peering.domains['sip.example.org']).toMatchObject({ protocol: 'sip', sources: ['127.0.0.1', '::1'] });
  });
});

describe('peering config: errors name the key', () => {
  const d = 'sip.partner.example';

  it.each([
    ['not-an-ip', 'expected an IP address or CIDR such as 203.0.113.0/24 or 2001:db8::/32, got "not-an-ip"'],
    ['1.2.3', 'expected an IP address or CIDR such as 203.0.113.0/24 or 2001:db8::/32, got "1.2.3"'],
    ['fe80::1%eth0', 'expected an IP address or CIDR such as 203.0.113.0/24 or 2001:db8::/32, got "fe80::1%eth0"'],
    ['203.0.113.0/33', 'expected a prefix length from 0 to 32 after the /, got "203.0.113.0/33"'],
    ['2001:db8::/129', 'expected a prefix length from 0 to 128 after the /, got "2001:db8::/129"'],
    ['203.0.113.0/', 'expected a prefix length from 0 to 32 after the /, got "203.0.113.0/"'],
    ['203.0.113.5/24', 'expected no host bits after the prefix (did you mean 203.0.113.0/24?), got "203.0.113.5/24"'],
    ['2001:db8::1/32', 'expected no host bits after the prefix (did you mean 2001:db8::/32?), got "2001:db8::1/32"'],
  ])('sources entry %j', (source, message) => {
    expect(entryProblems(d, { protocol: 'sip', sources: ['192.0.2.1', source] })).toEqual([`${at(d, 'sources', 1)}: ${message}`]);
  });

  it('the issue\'s example path: sources[0]', () => {
    expect(entryProblems(d, { protocol: 'sip', sources: [5] })).toEqual([`${at(d, 'sources', 0)}: expected an IP address or CIDR, got 5`]);
  });

  it('an empty sources or tlsIdentities list is refused (leave the key out instead)', () => {
    const p = entryProblems(d, { protocol: 'sip', sources: [], tlsIdentities: [] });
    expect(p).toEqual([
      `${at(d, 'sources')}: expected at least one address (leave the key out to accept any source), got []`,
      `${at(d, 'tlsIdentities')}: expected at least one name (leave the key out to accept any), got []`,
    ]);
  });

  it('a domain key that is not a domain name', () => {
    expect(peeringProblems({ default: 'deny', domains: { 'bad domain': { protocol: 'sip' } } })).toEqual([
      `${at('bad domain')}: expected a domain name such as partner.example as the key, got "bad domain"`,
    ]);
  });

  it('the same domain twice in different case', () => {
    expect(peeringProblems({ default: 'deny', domains: { 'Sip.Partner.Example': { protocol: 'sip' }, [d]: { protocol: 'sip' } } })).toEqual([
      `${at(d)}: duplicate domain (names are case-insensitive), got "${d}"`,
    ]);
  });

  it.each([
    ['protocol', { protocol: 'smtp' }, 'expected sip or xmpp, got "smtp"'],
    ['features[1]', { protocol: 'sip', features: ['im', 'video'] }, `expected one of ${FEATURES.join(', ')}, got "video"`],
    ['rate.perSecond', { protocol: 'sip', rate: { perSecond: 0, burst: 1 } }, 'expected a positive number, got 0'],
    ['rate.perSecond', { protocol: 'sip', rate: { perSecond: 'fast', burst: 1 } }, 'expected a positive number, got "fast"'],
    ['rate.burst', { protocol: 'sip', rate: { perSecond: 1, burst: 1.5 } }, 'expected a positive integer, got 1.5'],
    ['rate.burst', { protocol: 'sip', rate: { perSecond: 1, burst: -2 } }, 'expected a positive integer, got -2'],
    ['maxMessageBytes', { protocol: 'sip', maxMessageBytes: 0 }, 'expected a positive integer, got 0'],
    ['maxMessageBytes', { protocol: 'sip', maxMessageBytes: '10k' }, 'expected a positive integer, got "10k"'],
    ['requireTls', { protocol: 'sip', requireTls: 'yes' }, 'expected true or false, got "yes"'],
    ['tlsIdentities[0]', { protocol: 'sip', tlsIdentities: ['*.partner.example'] }, 'expected a domain name as it appears in the peer certificate (exact match, no wildcards), got "*.partner.example"'],
  ])('%s', (key, entry, message) => {
    const path = key.split(/[.[\]]/).filter(Boolean).map((k) => (/^\d+$/.test(k) ? Number(k) : k));
    expect(entryProblems(d, entry)).toEqual([`${at(d, ...path)}: ${message}`]);
  });

  it('a missing protocol and a missing burst', () => {
    expect(entryProblems(d, { rate: { perSecond: 1 } })).toEqual([`${at(d, 'protocol')}: expected sip or xmpp, got nothing`, `${at(d, 'rate', 'burst')}: required`]);
  });

  it('unknown keys at every level', () => {
    const p = peeringProblems({ default: 'deny', defualt: 'allow', domains: { [d]: { protocol: 'sip', source: ['192.0.2.1'], rate: { perSecond: 1, burst: 1, per: 2 } } } });
    expect(p).toEqual(expect.arrayContaining(['peering.defualt: unknown key', `${at(d, 'source')}: unknown key`, `${at(d, 'rate', 'per')}: unknown key`]));
    expect(p).toHaveLength(3);
  });

  it('`default` other than allow or deny', () => {
    expect(peeringProblems({ default: 'maybe' })).toEqual(['peering.default: expected allow or deny, got "maybe"']);
  });

  it('domains that is not a map', () => {
    expect(peeringProblems({ default: 'deny', domains: ['sip.partner.example'] })).toHaveLength(1);
    expect(peeringProblems({ default: 'deny', domains: ['sip.partner.example'] })[0]).toMatch(/^peering\.domains: /);
  });

  it('SIP-only keys on an XMPP peer', () => {
    const p = entryProblems('xmpp.partner.example', { protocol: 'xmpp', sources: ['192.0.2.1'], tlsIdentities: ['xmpp.partner.example'], requireTls: true });
    const message = 'applies to protocol sip only (XMPP peers are authenticated by the XMPP server)';
    expect(p).toEqual(['sources', 'tlsIdentities', 'requireTls'].map((k) => `${at('xmpp.partner.example', k)}: ${message}, got ${k === 'requireTls' ? 'true' : JSON.stringify(k === 'sources' ? ['192.0.2.1'] : ['xmpp.partner.example'])}`));
  });

  it('reports every bad entry, not only the first', () => {
    const p = peeringProblems({
      default: 'deny',
      domains: { 'a.example': { protocol: 'sip', sources: ['x'] }, 'b.example': { protocol: 'xmpp', features: ['fax'] } },
    });
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(new RegExp(`^${at('a.example', 'sources', 0).replace(/[.[\]]/g, '\\$&')}: `));
    expect(p[1]).toMatch(new RegExp(`^${at('b.example', 'features', 0).replace(/[.[\]]/g, '\\$&')}: `));
  });

  it('a local SIP domain must be listed with protocol sip', () => {
    expect(entryProblems('SIP.example.org', { protocol: 'xmpp' })).toEqual([
      `${at('SIP.example.org', 'protocol')}: a domain listed in sip.domains must have protocol sip, got "xmpp"`,
    ]);
    expect(entryProblems('sip.example.org', { protocol: 'sip', sources: ['127.0.0.1'] })).toEqual([]);
  });

  it("an 'escaped' component domain must be listed with protocol xmpp", () => {
    const xmpp = { server: 'tcp://127.0.0.1:5347', components: [{ domain: 'gw.example.net', secret: 's', addressing: 'escaped' }] };
    expect(peeringProblems({ default: 'deny', domains: { 'gw.example.net': { protocol: 'sip' } } }, { xmpp })).toEqual([
      `${at('gw.example.net', 'protocol')}: an 'escaped' component domain must have protocol xmpp, got "sip"`,
    ]);
    expect(peeringProblems({ default: 'deny', domains: { 'gw.example.net': { protocol: 'xmpp' } } }, { xmpp })).toEqual([]);
  });
});
