import { describe, expect, it } from 'vitest';
import { validateConfig } from '../../../src/config/load.js';
import type { PeeringConfig } from '../../../src/config/schema.js';
import { CidrSet, formatIp, parseCidr, parseIp } from '../../../src/core/cidr.js';
import {
  FEATURES,
  LOG_INTERVAL_MS,
  OTHER_DOMAINS,
  PeeringPolicy,
  peeringLocalFromConfig,
  type Direction,
  type Feature,
  type PeeringLocal,
  type PolicyDecision,
  type PolicyDenial,
  type PolicyRequest,
  type PolicySource,
} from '../../../src/core/policy.js';

const LOCAL_SIP = 'sip.example.org';
const LOCAL_XMPP = 'xmpp.example.net';
const SIP_PEER = 'sip.partner.example';
const XMPP_PEER = 'xmpp.partner.example';

const local: PeeringLocal = { sipDomains: [LOCAL_SIP], xmppDomains: [LOCAL_SIP, LOCAL_XMPP] };
const sip = { listen: ['udp://127.0.0.1:5060'], domains: [LOCAL_SIP] };

/** Peering config through the real schema, so defaults (features, requireTls) are the shipped ones. */
function peering(raw: unknown): PeeringConfig {
  return validateConfig({ sip, peering: raw }).peering;
}

function policy(raw: unknown, loc: PeeringLocal = local): PeeringPolicy {
  return PeeringPolicy.fromConfig(peering(raw), loc);
}

const partnerSource: PolicySource = { address: '203.0.113.7', transport: 'tls', tlsIdentities: [SIP_PEER] };

/** A request from the partner of that direction to a local domain on the other side. */
function fromPeer(direction: Direction, feature: Feature, extra: Partial<PolicyRequest> = {}): PolicyRequest {
  return direction === 's2x'
    ? { direction, feature, senderDomain: SIP_PEER, targetDomain: LOCAL_XMPP, source: partnerSource, now: 0, ...extra }
    : { direction, feature, senderDomain: XMPP_PEER, targetDomain: LOCAL_SIP, now: 0, ...extra };
}

/** A request from a local user to the partner of the other side. */
function toPeer(direction: Direction, feature: Feature, extra: Partial<PolicyRequest> = {}): PolicyRequest {
  return direction === 's2x'
    ? { direction, feature, senderDomain: LOCAL_SIP, targetDomain: XMPP_PEER, source: { address: '127.0.0.1', transport: 'udp' }, now: 0, ...extra }
    : { direction, feature, senderDomain: LOCAL_XMPP, targetDomain: SIP_PEER, now: 0, ...extra };
}

const peerOf = (direction: Direction): string => (direction === 's2x' ? SIP_PEER : XMPP_PEER);
const remoteTargetOf = (direction: Direction): string => (direction === 's2x' ? XMPP_PEER : SIP_PEER);
const protocolOf = (domain: string): 'sip' | 'xmpp' => (domain === SIP_PEER ? 'sip' : 'xmpp');

function denied(decision: PolicyDecision): PolicyDenial {
  expect(decision.allow).toBe(false);
  return decision as PolicyDenial;
}

/** Every refusal: the Warning carries the text, and the text is fit for a header and a stanza. */
function expectWellFormed(d: PolicyDenial): void {
  expect(d.text).toMatch(/^[\x20-\x7e]+$/);
  expect(d.text).not.toMatch(/["\\]/);
  expect(d.sip.warning).toBe(`399 stox "${d.text}"`);
}

const otherFeatures = (f: Feature): Feature[] => FEATURES.filter((x) => x !== f);
const DIRECTIONS: Direction[] = ['s2x', 'x2s'];
const CASES = ['allowed', 'feature denied', 'rate limited', 'too large'] as const;

describe('decision table: sender is the peer', () => {
  const table = DIRECTIONS.flatMap((direction) => FEATURES.flatMap((feature) => CASES.map((c) => ({ direction, feature, c }))));

  it.each(table)('$direction $feature: $c', ({ direction, feature, c }) => {
    const peer = peerOf(direction);
    const entry: Record<string, unknown> = {
      protocol: protocolOf(peer),
      features: c === 'feature denied' ? otherFeatures(feature) : [feature],
      ...(protocolOf(peer) === 'sip' ? { sources: ['203.0.113.0/24'] } : {}),
      ...(c === 'rate limited' ? { rate: { perSecond: 1, burst: 1 } } : {}),
      ...(c === 'too large' ? { maxMessageBytes: 100 } : {}),
    };
    const p = policy({ default: 'deny', domains: { [peer]: entry } });
    switch (c) {
      case 'allowed':
        expect(p.decide(fromPeer(direction, feature))).toEqual({ allow: true });
        expect(p.counters.get(`${peer}|allowed`)).toBe(1);
        break;
      case 'feature denied': {
        const d = denied(p.decide(fromPeer(direction, feature)));
        expect(d).toMatchObject({ reason: 'feature-denied', domain: peer, sip: { status: 403 }, xmpp: { condition: 'not-allowed', type: 'cancel' } });
        expect(d.text).toBe(`${feature} is not allowed for ${peer}`);
        expectWellFormed(d);
        expect(p.counters.get(`${peer}|feature-denied`)).toBe(1);
        for (const other of otherFeatures(feature)) expect(p.decide(fromPeer(direction, other)).allow).toBe(true);
        break;
      }
      case 'rate limited': {
        expect(p.decide(fromPeer(direction, feature, { now: 0 })).allow).toBe(true);
        const d = denied(p.decide(fromPeer(direction, feature, { now: 0 })));
        expect(d).toMatchObject({ reason: 'rate-limited', domain: peer, retryAfterSeconds: 1, sip: { status: 503 }, xmpp: { condition: 'resource-constraint', type: 'wait' } });
        expectWellFormed(d);
        expect(p.decide(fromPeer(direction, feature, { now: 1000 })).allow).toBe(true);
        expect([p.counters.get(`${peer}|allowed`), p.counters.get(`${peer}|rate-limited`)]).toEqual([2, 1]);
        break;
      }
      case 'too large': {
        expect(p.decide(fromPeer(direction, feature, { sizeBytes: 100 })).allow).toBe(true);
        const d = denied(p.decide(fromPeer(direction, feature, { sizeBytes: 101 })));
        expect(d).toMatchObject({ reason: 'too-large', domain: peer, sip: { status: 413 }, xmpp: { condition: 'policy-violation', type: 'modify' } });
        expect(d.retryAfterSeconds).toBeUndefined();
        expectWellFormed(d);
        expect(p.decide(fromPeer(direction, feature)).allow).toBe(true); // no size given: nothing to bound
        break;
      }
    }
  });
});

describe('decision table: target is the peer (local sender)', () => {
  const table = DIRECTIONS.flatMap((direction) => FEATURES.flatMap((feature) => (['allowed', 'feature denied', 'too large', 'not rate limited'] as const).map((c) => ({ direction, feature, c }))));

  it.each(table)('$direction $feature: $c', ({ direction, feature, c }) => {
    const target = remoteTargetOf(direction);
    const entry = {
      protocol: protocolOf(target),
      features: c === 'feature denied' ? otherFeatures(feature) : [feature],
      maxMessageBytes: 100,
      rate: { perSecond: 1, burst: 1 },
    };
    const p = policy({ default: 'deny', domains: { [target]: entry } });
    switch (c) {
      case 'allowed':
        expect(p.decide(toPeer(direction, feature, { sizeBytes: 100 }))).toEqual({ allow: true });
        break;
      case 'feature denied': {
        const d = denied(p.decide(toPeer(direction, feature)));
        expect(d).toMatchObject({ reason: 'feature-denied', domain: target, sip: { status: 403 }, xmpp: { condition: 'not-allowed', type: 'cancel' } });
        expect(d.text).toBe(`${feature} is not allowed towards ${target}`);
        expect(p.counters.get(`${target}|feature-denied`)).toBe(1);
        break;
      }
      case 'too large':
        expect(denied(p.decide(toPeer(direction, feature, { sizeBytes: 101 })))).toMatchObject({ reason: 'too-large', domain: target, sip: { status: 413 } });
        break;
      case 'not rate limited':
        // The bucket measures what a domain sends; sending to it does not drain it.
        for (let i = 0; i < 5; i++) expect(p.decide(toPeer(direction, feature)).allow).toBe(true);
        break;
    }
  });
});

describe('default allow and default deny', () => {
  const stranger = (direction: Direction): PolicyRequest =>
    direction === 's2x'
      ? { direction, feature: 'im', senderDomain: 'sip.stranger.example', targetDomain: LOCAL_XMPP, source: { address: '198.51.100.1', transport: 'udp' }, now: 0 }
      : { direction, feature: 'im', senderDomain: 'xmpp.stranger.example', targetDomain: LOCAL_SIP, now: 0 };

  it.each(DIRECTIONS)('%s: without a peering section every domain is allowed with no limit', (direction) => {
    const p = PeeringPolicy.fromConfig(validateConfig({ sip }).peering, local);
    for (let i = 0; i < 1000; i++) expect(p.decide({ ...stranger(direction), sizeBytes: 10_000_000 }).allow).toBe(true);
    expect(p.decide({ direction, feature: 'groupchat', senderDomain: 'a.example', targetDomain: 'b.example', now: 0 }).allow).toBe(true);
    expect(p.counters.get(`${OTHER_DOMAINS}|allowed`)).toBe(1001);
  });

  it.each(DIRECTIONS)('%s: default deny refuses an unlisted sender', (direction) => {
    const p = policy({ default: 'deny' });
    const req = stranger(direction);
    const d = denied(p.decide(req));
    expect(d).toMatchObject({ reason: 'domain-denied', domain: req.senderDomain, sip: { status: 403 }, xmpp: { condition: 'not-allowed', type: 'cancel' } });
    expect(d.text).toBe(`${req.senderDomain} is not a peer of this gateway`);
    expectWellFormed(d);
    expect(p.counters.get(`${OTHER_DOMAINS}|domain-denied`)).toBe(1);
  });

  it.each(DIRECTIONS)('%s: default deny refuses an unlisted target, default allow accepts it', (direction) => {
    const req = { ...toPeer(direction, 'im'), targetDomain: 'unlisted.example' };
    expect(denied(policy({ default: 'deny' }).decide(req))).toMatchObject({ reason: 'domain-denied', domain: 'unlisted.example' });
    expect(policy({ default: 'allow' }).decide(req).allow).toBe(true);
  });

  it.each(DIRECTIONS)('%s: default deny still lets local domains through, both ways, with every feature', (direction) => {
    const p = policy({ default: 'deny' });
    const req: PolicyRequest =
      direction === 's2x'
        ? { direction, feature: 'im', senderDomain: LOCAL_SIP, targetDomain: LOCAL_XMPP, source: { address: '192.0.2.1', transport: 'udp' }, now: 0, sizeBytes: 1e7 }
        : { direction, feature: 'im', senderDomain: LOCAL_XMPP, targetDomain: LOCAL_SIP, now: 0, sizeBytes: 1e7 };
    for (const feature of FEATURES) for (let i = 0; i < 300; i++) expect(p.decide({ ...req, feature }).allow).toBe(true);
  });

  it.each(DIRECTIONS)('%s: default allow, a domain listed with no features is blocked', (direction) => {
    const p = policy({ default: 'allow', domains: { [peerOf(direction)]: { protocol: protocolOf(peerOf(direction)), features: [] } } });
    expect(denied(p.decide(fromPeer(direction, 'im')))).toMatchObject({ reason: 'feature-denied', domain: peerOf(direction) });
  });

  it('a listed domain is a peer for its protocol only, as sender and as target', () => {
    const p = policy({ default: 'allow', domains: { [SIP_PEER]: { protocol: 'sip' }, [XMPP_PEER]: { protocol: 'xmpp' } } });
    const asXmppSender = denied(p.decide({ direction: 'x2s', feature: 'im', senderDomain: SIP_PEER, targetDomain: LOCAL_SIP, now: 0 }));
    expect(asXmppSender).toMatchObject({ reason: 'domain-denied', domain: SIP_PEER, text: `${SIP_PEER} is peered over SIP, not XMPP` });
    const asSipSender = denied(p.decide({ direction: 's2x', feature: 'im', senderDomain: XMPP_PEER, targetDomain: LOCAL_XMPP, source: partnerSource, now: 0 }));
    expect(asSipSender).toMatchObject({ reason: 'domain-denied', domain: XMPP_PEER, text: `${XMPP_PEER} is peered over XMPP, not SIP` });
    expect(denied(p.decide({ ...toPeer('s2x', 'im'), targetDomain: SIP_PEER }))).toMatchObject({ reason: 'domain-denied', domain: SIP_PEER });
    expect(denied(p.decide({ ...toPeer('x2s', 'im'), targetDomain: XMPP_PEER }))).toMatchObject({ reason: 'domain-denied', domain: XMPP_PEER });
  });

  it('domains match case-insensitively and without a trailing dot', () => {
    const p = policy({ default: 'deny', domains: { 'Xmpp.Partner.Example': { protocol: 'xmpp', features: ['im'] } } });
    expect(p.decide({ ...fromPeer('x2s', 'im'), senderDomain: 'XMPP.PARTNER.EXAMPLE.', targetDomain: 'SIP.Example.Org.' }).allow).toBe(true);
    expect(p.counters.get(`${XMPP_PEER}|allowed`)).toBe(1);
  });

  it('wire junk in a domain does not reach the error text', () => {
    const p = policy({ default: 'deny' });
    const d = denied(p.decide({ direction: 'x2s', feature: 'im', senderDomain: 'evil"\r\nX-Injected: 1\\', targetDomain: LOCAL_SIP, now: 0 }));
    expectWellFormed(d);
    expect(d.text).toBe('evil???x-injected:?1? is not a peer of this gateway');
    const long = denied(p.decide({ direction: 'x2s', feature: 'im', senderDomain: 'a'.repeat(500), targetDomain: LOCAL_SIP, now: 0 }));
    expect(long.text.length).toBeLessThan(150);
  });
});

describe('local domains and where their requests come from', () => {
  const fromLocal = (address: string, transport: PolicySource['transport'] = 'udp', extra: Partial<PolicyRequest> = {}): PolicyRequest => ({
    direction: 's2x',
    feature: 'im',
    senderDomain: LOCAL_SIP,
    targetDomain: LOCAL_XMPP,
    source: { address, transport },
    now: 0,
    ...extra,
  });

  it('listed with sources: the local proxy is accepted, a spoof from 127.0.0.2 is refused', () => {
    const p = policy({ default: 'allow', domains: { [LOCAL_SIP]: { protocol: 'sip', sources: ['127.0.0.1', '::1'] } } });
    expect(p.decide(fromLocal('127.0.0.1')).allow).toBe(true);
    expect(p.decide(fromLocal('::1', 'tcp')).allow).toBe(true);
    expect(p.decide(fromLocal('::ffff:127.0.0.1')).allow).toBe(true);
    const d = denied(p.decide(fromLocal('127.0.0.2')));
    expect(d).toMatchObject({ reason: 'source-denied', domain: LOCAL_SIP, sip: { status: 403 }, xmpp: { condition: 'forbidden', type: 'auth' } });
    expect(d.text).toBe(`requests from ${LOCAL_SIP} are not accepted from 127.0.0.2`);
    expectWellFormed(d);
    expect(p.counters.get(`${LOCAL_SIP}|source-denied`)).toBe(1);
  });

  it('listed with sources only: its features stay unrestricted and it has no rate or size limit', () => {
    const p = policy({ default: 'deny', domains: { [LOCAL_SIP]: { protocol: 'sip', sources: ['127.0.0.1'] } } });
    for (const feature of FEATURES) for (let i = 0; i < 250; i++) expect(p.decide(fromLocal('127.0.0.1', 'udp', { feature, sizeBytes: 1e7 })).allow).toBe(true);
  });

  it('a request with no source is refused when sources are configured (fail closed)', () => {
    const p = policy({ default: 'allow', domains: { [LOCAL_SIP]: { protocol: 'sip', sources: ['127.0.0.1'] } } });
    const { source: _source, ...noSource } = fromLocal('127.0.0.1');
    expect(denied(p.decide(noSource))).toMatchObject({ reason: 'source-denied', text: `requests from ${LOCAL_SIP} are not accepted from an unknown source` });
  });

  it('sipSources guard unlisted local SIP domains; a listed entry replaces them', () => {
    const loc: PeeringLocal = { ...local, sipDomains: [LOCAL_SIP, 'other.example.org'], sipSources: ['10.0.0.0/8'] };
    const p = policy({ default: 'allow', domains: { 'other.example.org': { protocol: 'sip', sources: ['192.0.2.0/24'] } } }, loc);
    expect(p.decide(fromLocal('10.1.2.3')).allow).toBe(true);
    expect(denied(p.decide(fromLocal('192.0.2.1')))).toMatchObject({ reason: 'source-denied' });
    expect(p.decide(fromLocal('192.0.2.1', 'udp', { senderDomain: 'other.example.org' })).allow).toBe(true);
    expect(denied(p.decide(fromLocal('10.1.2.3', 'udp', { senderDomain: 'other.example.org' })))).toMatchObject({ reason: 'source-denied' });
  });

  it('an invalid sipSources entry is refused when the policy is built', () => {
    expect(() => PeeringPolicy.fromConfig(peering({ default: 'allow' }), { ...local, sipSources: ['10.0.0.1/8'] })).toThrow(/did you mean 10\.0\.0\.0\/8.*got "10\.0\.0\.1\/8"/);
  });

  it('unlisted and without sipSources: any source (today\'s behaviour)', () => {
    const p = policy({ default: 'deny' });
    expect(p.decide(fromLocal('198.51.100.99')).allow).toBe(true);
  });

  it('sources are a SIP matter: an XMPP sender is not asked for one', () => {
    const p = policy({ default: 'deny', domains: { [LOCAL_SIP]: { protocol: 'sip', sources: ['127.0.0.1'] } } });
    expect(p.decide({ direction: 'x2s', feature: 'im', senderDomain: LOCAL_XMPP, targetDomain: LOCAL_SIP, now: 0 }).allow).toBe(true);
  });

  it('peeringLocalFromConfig names sip.domains and the component domains', () => {
    const c = validateConfig({
      sip: { ...sip, domains: [LOCAL_SIP, 'b.example.org'] },
      xmpp: { server: 'tcp://127.0.0.1:5347', components: [{ domain: LOCAL_SIP, secret: 's' }, { domain: 'gw.example.net', secret: 's', addressing: 'escaped' }] },
    });
    expect(peeringLocalFromConfig(c)).toEqual({ sipDomains: [LOCAL_SIP, 'b.example.org'], xmppDomains: [LOCAL_SIP, 'gw.example.net'] });
    expect(peeringLocalFromConfig({ sip: c.sip }, ['127.0.0.1'])).toEqual({ sipDomains: [LOCAL_SIP, 'b.example.org'], xmppDomains: [], sipSources: ['127.0.0.1'] });
  });

  it("an 'escaped' component domain as the x2s target is local", () => {
    const p = policy({ default: 'deny', domains: { [XMPP_PEER]: { protocol: 'xmpp' } } }, { sipDomains: [LOCAL_SIP], xmppDomains: ['gw.example.net'] });
    expect(p.decide({ direction: 'x2s', feature: 'im', senderDomain: XMPP_PEER, targetDomain: 'gw.example.net', now: 0 }).allow).toBe(true);
  });
});

describe('TLS: requireTls and tlsIdentities', () => {
  const req = (source: PolicySource | undefined): PolicyRequest => ({
    direction: 's2x',
    feature: 'im',
    senderDomain: SIP_PEER,
    targetDomain: LOCAL_XMPP,
    ...(source ? { source } : {}),
    now: 0,
  });
  const only = (entry: Record<string, unknown>): PeeringPolicy => policy({ default: 'deny', domains: { [SIP_PEER]: { protocol: 'sip', ...entry } } });

  it('requireTls refuses UDP, TCP and an unknown transport; accepts TLS', () => {
    const p = only({ requireTls: true });
    for (const transport of ['udp', 'tcp'] as const) {
      const d = denied(p.decide(req({ address: '203.0.113.7', transport })));
      expect(d).toMatchObject({ reason: 'tls-required', domain: SIP_PEER, sip: { status: 403 }, xmpp: { condition: 'forbidden', type: 'auth' } });
      expect(d.text).toBe(`${SIP_PEER} must use TLS, got ${transport}`);
      expectWellFormed(d);
    }
    expect(denied(p.decide(req(undefined)))).toMatchObject({ reason: 'tls-required' });
    expect(p.decide(req({ address: '203.0.113.7', transport: 'tls' })).allow).toBe(true);
  });

  it('requireTls is checked before sources: a TCP request from a listed source is still refused', () => {
    const p = only({ requireTls: true, sources: ['203.0.113.0/24'] });
    expect(denied(p.decide(req({ address: '203.0.113.7', transport: 'tcp' })))).toMatchObject({ reason: 'tls-required' });
  });

  it('tlsIdentities match exactly and case-insensitively, trailing dot ignored', () => {
    const p = only({ tlsIdentities: ['Sip.Partner.Example'] });
    for (const id of ['sip.partner.example', 'SIP.PARTNER.EXAMPLE', 'sip.partner.example.']) {
      expect(p.decide(req({ address: '198.51.100.1', transport: 'tls', tlsIdentities: ['other.example', id] })).allow).toBe(true);
    }
  });

  it('no wildcards on either side, no suffix matching (RFC 5922 §7.2)', () => {
    const p = only({ tlsIdentities: [SIP_PEER] });
    for (const id of ['*.partner.example', 'x.sip.partner.example', 'partner.example', '*']) {
      const d = denied(p.decide(req({ address: '198.51.100.1', transport: 'tls', tlsIdentities: [id] })));
      expect(d).toMatchObject({ reason: 'tls-identity-denied', domain: SIP_PEER, sip: { status: 403 }, xmpp: { condition: 'forbidden', type: 'auth' } });
      expectWellFormed(d);
    }
  });

  it('identities count over TLS only; none presented is refused', () => {
    const p = only({ tlsIdentities: [SIP_PEER] });
    const overTcp = denied(p.decide(req({ address: '198.51.100.1', transport: 'tcp', tlsIdentities: [SIP_PEER] })));
    expect(overTcp).toMatchObject({ reason: 'tls-identity-denied', text: `no accepted TLS identity for ${SIP_PEER} from 198.51.100.1, got none` });
    expect(denied(p.decide(req({ address: '198.51.100.1', transport: 'tls' })))).toMatchObject({ reason: 'tls-identity-denied' });
  });

  it('sources and tlsIdentities are alternatives', () => {
    const p = only({ sources: ['203.0.113.0/24'], tlsIdentities: [SIP_PEER] });
    expect(p.decide(req({ address: '203.0.113.9', transport: 'udp' })).allow).toBe(true);
    expect(p.decide(req({ address: '198.51.100.1', transport: 'tls', tlsIdentities: [SIP_PEER] })).allow).toBe(true);
    expect(denied(p.decide(req({ address: '198.51.100.1', transport: 'udp' })))).toMatchObject({ reason: 'source-denied' });
    const wrongCert = denied(p.decide(req({ address: '198.51.100.1', transport: 'tls', tlsIdentities: ['evil.example'] })));
    expect(wrongCert).toMatchObject({ reason: 'tls-identity-denied', text: `no accepted TLS identity for ${SIP_PEER} from 198.51.100.1, got evil.example` });
  });
});

describe('token bucket', () => {
  const rated = (rate: { perSecond: number; burst: number }, extra: Record<string, unknown> = {}): PeeringPolicy =>
    policy({ default: 'deny', domains: { [XMPP_PEER]: { protocol: 'xmpp', rate, ...extra } } });
  const send = (p: PeeringPolicy, now: number, n = 1): { accepted: number; refused: number } => {
    let accepted = 0;
    for (let i = 0; i < n; i++) if (p.decide(fromPeer('x2s', 'im', { now })).allow) accepted++;
    return { accepted, refused: n - accepted };
  };

  it('burst 200 at once, then exactly perSecond per second', () => {
    const p = rated({ perSecond: 50, burst: 200 });
    expect(send(p, 0, 300)).toEqual({ accepted: 200, refused: 100 });
    expect(send(p, 1000, 100)).toEqual({ accepted: 50, refused: 50 });
    // Hammering every millisecond: one token each 20 ms, 50 in the next second, none early.
    let accepted = 0;
    const at: number[] = [];
    for (let now = 1001; now <= 2000; now++) {
      if (p.decide(fromPeer('x2s', 'im', { now })).allow) {
        accepted++;
        at.push(now);
      }
    }
    expect(accepted).toBe(50);
    expect(at.slice(0, 3)).toEqual([1020, 1040, 1060]);
    expect(at.at(-1)).toBe(2000);
    expect(p.counters.get(`${XMPP_PEER}|allowed`)).toBe(300);
    expect(p.counters.get(`${XMPP_PEER}|rate-limited`)).toBe(150 + 1000 - 50);
  });

  it('ten seconds of flooding admit burst + 10 × perSecond', () => {
    const p = rated({ perSecond: 50, burst: 200 });
    let accepted = 0;
    for (let now = 0; now <= 10_000; now += 5) accepted += send(p, now, 3).accepted;
    expect(accepted).toBe(200 + 500);
  });

  it('a fractional rate stays exact on integer milliseconds (3/s: one token per 333⅓ ms)', () => {
    // Burst 2 so that the bucket never sits full: no fraction of a token is lost to the cap.
    const p = rated({ perSecond: 3, burst: 2 });
    let accepted = 0;
    for (let now = 0; now <= 10_000; now++) accepted += send(p, now).accepted;
    expect(accepted).toBe(2 + 30);
  });

  it('a full bucket keeps no fraction: burst 1 at 3/s admits one event per 334 ms', () => {
    const p = rated({ perSecond: 3, burst: 1 });
    const at: number[] = [];
    for (let now = 0; now <= 1100; now++) if (send(p, now).accepted) at.push(now);
    expect(at).toEqual([0, 334, 668, 1002]);
  });

  it('an idle bucket refills to the burst, not beyond', () => {
    const p = rated({ perSecond: 50, burst: 200 });
    send(p, 0, 200);
    expect(send(p, 3_600_000, 250)).toEqual({ accepted: 200, refused: 50 });
  });

  it('Retry-After is the wait for the next token, rounded up, at least 1 s', () => {
    const fast = rated({ perSecond: 50, burst: 1 });
    send(fast, 0);
    expect(denied(fast.decide(fromPeer('x2s', 'im', { now: 0 }))).retryAfterSeconds).toBe(1);
    const slow = rated({ perSecond: 0.5, burst: 1 });
    send(slow, 0);
    expect(denied(slow.decide(fromPeer('x2s', 'im', { now: 0 }))).retryAfterSeconds).toBe(2);
    expect(denied(slow.decide(fromPeer('x2s', 'im', { now: 1500 }))).retryAfterSeconds).toBe(1);
    expect(slow.decide(fromPeer('x2s', 'im', { now: 2000 })).allow).toBe(true);
  });

  it('a clock that steps back refills nothing', () => {
    const p = rated({ perSecond: 1, burst: 1 });
    expect(send(p, 5000)).toEqual({ accepted: 1, refused: 0 });
    expect(send(p, 1000)).toEqual({ accepted: 0, refused: 1 });
    expect(send(p, 5999)).toEqual({ accepted: 0, refused: 1 });
    expect(send(p, 6000)).toEqual({ accepted: 1, refused: 0 });
  });

  it('refused events take no token', () => {
    const p = rated({ perSecond: 1, burst: 1 }, { features: ['im'], maxMessageBytes: 100 });
    expect(denied(p.decide(fromPeer('x2s', 'im', { sizeBytes: 101 })))).toMatchObject({ reason: 'too-large' });
    expect(denied(p.decide(fromPeer('x2s', 'chat')))).toMatchObject({ reason: 'feature-denied' });
    expect(p.decide(fromPeer('x2s', 'im')).allow).toBe(true);
  });

  it('buckets are per domain', () => {
    const p = policy({
      default: 'deny',
      domains: { [XMPP_PEER]: { protocol: 'xmpp', rate: { perSecond: 1, burst: 1 } }, 'b.example': { protocol: 'xmpp', rate: { perSecond: 1, burst: 2 } } },
    });
    expect(send(p, 0, 3)).toEqual({ accepted: 1, refused: 2 });
    let b = 0;
    for (let i = 0; i < 3; i++) if (p.decide({ ...fromPeer('x2s', 'im'), senderDomain: 'b.example' }).allow) b++;
    expect(b).toBe(2);
  });
});

describe('counters and logging', () => {
  it('counts per domain and reason; unlisted domains share `*`', () => {
    const p = policy({ default: 'deny', domains: { [XMPP_PEER]: { protocol: 'xmpp', features: ['im'], maxMessageBytes: 10 } } });
    p.decide(fromPeer('x2s', 'im'));
    p.decide(fromPeer('x2s', 'im'));
    p.decide(fromPeer('x2s', 'chat'));
    p.decide(fromPeer('x2s', 'im', { sizeBytes: 11 }));
    for (let i = 0; i < 100; i++) p.decide({ ...fromPeer('x2s', 'im'), senderDomain: `spoof${i}.example` });
    p.decide({ direction: 'x2s', feature: 'im', senderDomain: LOCAL_XMPP, targetDomain: LOCAL_SIP, now: 0 });
    expect(Object.fromEntries(p.counters)).toEqual({
      [`${XMPP_PEER}|allowed`]: 2,
      [`${XMPP_PEER}|feature-denied`]: 1,
      [`${XMPP_PEER}|too-large`]: 1,
      [`${OTHER_DOMAINS}|domain-denied`]: 100,
      [`${LOCAL_XMPP}|allowed`]: 1,
    });
  });

  it('a burst of refusals is logged once, then once per interval with the number suppressed', () => {
    const p = policy({ default: 'deny', domains: { [XMPP_PEER]: { protocol: 'xmpp', features: ['im'] } } });
    const logs = (now: number, feature: Feature = 'chat'): PolicyDenial['log'] => denied(p.decide(fromPeer('x2s', feature, { now }))).log;
    expect(logs(0)).toEqual({ suppressed: 0 });
    for (let t = 1; t < 5; t++) expect(logs(t)).toBeUndefined();
    expect(denied(p.decide({ ...fromPeer('x2s', 'im'), senderDomain: 'x.example', now: 3 })).log).toEqual({ suppressed: 0 }); // another key
    expect(logs(LOG_INTERVAL_MS - 1)).toBeUndefined();
    expect(logs(LOG_INTERVAL_MS)).toEqual({ suppressed: 5 });
    expect(logs(LOG_INTERVAL_MS + 1)).toBeUndefined();
    expect(logs(10 * LOG_INTERVAL_MS)).toEqual({ suppressed: 1 });
  });
});

describe('withConfig', () => {
  const cfg = (rate: { perSecond: number; burst: number } | undefined, extra: Record<string, unknown> = {}): PeeringConfig =>
    peering({ default: 'deny', domains: { [XMPP_PEER]: { protocol: 'xmpp', ...(rate ? { rate } : {}) }, ...extra } });
  const sendAt = (p: PeeringPolicy, now: number, n: number): number => {
    let accepted = 0;
    for (let i = 0; i < n; i++) if (p.decide(fromPeer('x2s', 'im', { now })).allow) accepted++;
    return accepted;
  };

  it('keeps a surviving domain\'s bucket and every counter; the old policy is unchanged', () => {
    const a = PeeringPolicy.fromConfig(cfg({ perSecond: 1, burst: 5 }), local);
    expect(sendAt(a, 0, 7)).toBe(5);
    const b = a.withConfig(cfg({ perSecond: 1, burst: 5 }, { 'new.example': { protocol: 'xmpp' } }), local);
    expect(b).not.toBe(a);
    expect(sendAt(b, 0, 3)).toBe(0); // a reload does not refill a throttled peer
    expect(sendAt(b, 2000, 3)).toBe(2);
    expect(b.counters.get(`${XMPP_PEER}|allowed`)).toBe(7);
    expect(b.counters.get(`${XMPP_PEER}|rate-limited`)).toBe(2 + 3 + 1);
    expect(a.counters.get(`${XMPP_PEER}|allowed`)).toBe(5);
  });

  it('caps a kept bucket at the new burst', () => {
    const a = PeeringPolicy.fromConfig(cfg({ perSecond: 1, burst: 100 }), local);
    expect(sendAt(a, 0, 10)).toBe(10);
    const b = a.withConfig(cfg({ perSecond: 1, burst: 3 }), local);
    expect(sendAt(b, 0, 10)).toBe(3);
  });

  it('forgets the bucket of a domain that is gone or lost its rate', () => {
    const a = PeeringPolicy.fromConfig(cfg({ perSecond: 1, burst: 2 }), local);
    expect(sendAt(a, 0, 5)).toBe(2);
    const noRate = a.withConfig(cfg(undefined), local);
    expect(sendAt(noRate, 0, 5)).toBe(5);
    const gone = a.withConfig(peering({ default: 'allow' }), local);
    expect(sendAt(gone, 0, 5)).toBe(5);
    const back = gone.withConfig(cfg({ perSecond: 1, burst: 2 }), local);
    expect(sendAt(back, 0, 5)).toBe(2); // a fresh, full bucket
  });

  it('applies the new rules: a domain denied after the reload', () => {
    const a = PeeringPolicy.fromConfig(cfg(undefined), local);
    expect(a.decide(fromPeer('x2s', 'im')).allow).toBe(true);
    const b = a.withConfig(peering({ default: 'deny' }), local);
    expect(denied(b.decide(fromPeer('x2s', 'im')))).toMatchObject({ reason: 'domain-denied' });
    expect(a.decide(fromPeer('x2s', 'im')).allow).toBe(true);
  });

  it('picks up new local domains and sources', () => {
    const a = PeeringPolicy.fromConfig(peering({ default: 'deny' }), local);
    const req: PolicyRequest = { direction: 's2x', feature: 'im', senderDomain: 'new.example.org', targetDomain: LOCAL_XMPP, source: { address: '192.0.2.1', transport: 'udp' }, now: 0 };
    expect(denied(a.decide(req))).toMatchObject({ reason: 'domain-denied' });
    const b = a.withConfig(peering({ default: 'deny' }), { ...local, sipDomains: ['new.example.org'], sipSources: ['127.0.0.1'] });
    expect(denied(b.decide(req))).toMatchObject({ reason: 'source-denied' });
    expect(b.decide({ ...req, source: { address: '127.0.0.1', transport: 'udp' } }).allow).toBe(true);
  });
});

describe('CIDR matching', () => {
  const set = (...entries: string[]): CidrSet => CidrSet.of(entries);

  it.each([
    ['203.0.113.0/24', ['203.0.113.0', '203.0.113.255', '::ffff:203.0.113.9', '[::ffff:203.0.113.9]'], ['203.0.114.0', '203.0.112.255', '2001:db8::1']],
    ['198.51.100.0/25', ['198.51.100.0', '198.51.100.127'], ['198.51.100.128']],
    ['192.0.2.7', ['192.0.2.7'], ['192.0.2.8', '192.0.2.6']],
    ['0.0.0.0/0', ['1.2.3.4', '255.255.255.255'], ['2001:db8::1', '::1']],
    ['2001:db8::/32', ['2001:db8::1', '2001:db8:ffff:ffff::', '[2001:db8::1]', '2001:DB8::1', 'fe80::1%eth0'.replace('fe80::1', '2001:db8::2')], ['2001:db9::', 'fe80::1', '203.0.113.1']],
    ['2001:db8::/33', ['2001:db8:7fff::1'], ['2001:db8:8000::']],
    ['::1', ['::1', '0:0:0:0:0:0:0:1'], ['::2', '127.0.0.1']],
    ['::/0', ['::1', '2001:db8::1', '10.0.0.1'], []],
    ['::ffff:198.51.100.0/120', ['198.51.100.200'], ['198.51.101.1']],
    ['2001:db8:0:0:1::/80', ['2001:db8::1:0:0:1'], ['2001:db8::2:0:0:1']],
  ])('%s', (cidr, inside, outside) => {
    const s = set(cidr);
    for (const a of inside) expect(s.has(a), a).toBe(true);
    for (const a of outside) expect(s.has(a), a).toBe(false);
  });

  it('several prefixes, and addresses that are not addresses', () => {
    const s = set('10.0.0.0/8', '2001:db8::/32');
    expect([s.has('10.9.9.9'), s.has('2001:db8::5'), s.has('11.0.0.0')]).toEqual([true, true, false]);
    for (const junk of ['', 'localhost', '10.0.0', '10.0.0.1.2', '::g', '10.0.0.1/8']) expect(s.has(junk), junk).toBe(false);
    expect(s.size).toBe(2);
  });

  it.each(['', 'x', '1.2.3', '01.2.3.4', '1.2.3.4/', '1.2.3.4/-1', '1.2.3.4/ 8', ' 1.2.3.4', '[::1]', 'fe80::1%eth0', '1::2::3', '1.2.3.4/08x'])('refuses %j', (text) => {
    expect(parseCidr(text).ok).toBe(false);
  });

  it('refuses host bits and suggests the network', () => {
    expect(parseCidr('10.1.2.3/8')).toEqual({ ok: false, message: 'expected no host bits after the prefix (did you mean 10.0.0.0/8?)' });
    expect(parseCidr('2001:db8::1/64')).toEqual({ ok: false, message: 'expected no host bits after the prefix (did you mean 2001:db8::/64?)' });
  });

  it('parses IPv4 into the mapped form and formats per RFC 5952', () => {
    expect(Array.from(parseIp('192.0.2.1') ?? [])).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 255, 192, 0, 2, 1]);
    expect(parseIp('nope')).toBeUndefined();
    const fmt = (t: string): string => formatIp(parseIp(t) ?? new Uint8Array(16));
    expect(fmt('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe('2001:db8::1');
    expect(fmt('2001:db8:0:1:0:0:0:1')).toBe('2001:db8:0:1::1');
    expect(fmt('2001:db8:0:1:1:1:1:1')).toBe('2001:db8:0:1:1:1:1:1');
    expect(fmt('::')).toBe('::');
    expect(fmt('::1')).toBe('::1');
    expect(fmt('1::')).toBe('1::');
    expect(fmt('::ffff:10.0.0.1')).toBe('10.0.0.1');
    expect(fmt('64:ff9b::192.0.2.1')).toBe('64:ff9b::c000:201');
  });
});
