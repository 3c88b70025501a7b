import { describe, expect, it } from 'vitest';
import { localDomains, peersReport, subscriptionsReport } from '../../../src/ops/admin.js';
import { formatTable, renderPeers, renderSessions, renderSubscriptions } from '../../../src/ops/admin-tables.js';
import type { PeeringConfig } from '../../../src/config/schema.js';

const peering: PeeringConfig = {
  default: 'deny',
  domains: {
    'Partner.Example': { protocol: 'xmpp', features: ['im'], rate: { perSecond: 5, burst: 10 }, requireTls: false },
    'sip.partner.example': { protocol: 'sip', features: ['im', 'presence'], sources: ['203.0.113.0/24'], tlsIdentities: ['sip.partner.example'], requireTls: true },
  },
};

describe('admin reports', () => {
  it('peers: policy per listed domain, local domains and "*", with the policy counters', () => {
    const counters = new Map([
      ['partner.example|allowed', 12],
      ['partner.example|rate-limited', 3],
      ['partner.example|too-large', 1],
      ['sip.test|allowed', 4],
      ['*|domain-denied', 5],
    ]);
    const r = peersReport(peering, ['sip.test'], counters);
    expect(r.live).toBe(true);
    expect(r.peers.map((p) => [p.domain, p.kind])).toEqual([
      ['partner.example', 'listed'],
      ['sip.partner.example', 'listed'],
      ['sip.test', 'local'],
      ['*', 'other'],
    ]);
    expect(r.peers[0]).toMatchObject({ rate: '5/s burst 10', accepted: 12, refused: { 'rate-limited': 3, 'too-large': 1 } });
    expect(r.peers[3]).toMatchObject({ features: [], accepted: 0, refused: { 'domain-denied': 5 } });
    const text = renderPeers(r);
    expect(text).toMatch(/^peering default: deny$/m);
    expect(text).toMatch(/^partner\.example +listed +xmpp +im +5\/s burst 10 +- +- +12 +rate-limited=3,too-large=1$/m);
    expect(text).toMatch(/^sip\.partner\.example +listed +sip +im,presence +unlimited +- +203\.0\.113\.0\/24,tls:sip\.partner\.example,tls-only +0 +-$/m);
    expect(text).toMatch(/^\* +other +any +none +unlimited +- +- +0 +domain-denied=5$/m);
  });

  it('peers without a running instance: policy only, and says so', () => {
    const text = renderPeers(peersReport(peering, ['sip.test'], undefined));
    expect(text).toContain('no running instance answered');
    expect(text).toMatch(/^partner\.example +listed +xmpp +im +5\/s burst 10 +- +- +- +-$/m);
  });

  it('subscriptions: rows from the store, sorted, with the machine state', () => {
    const rows = [
      { key: 'b', direction: 's2x' as const, xmppJid: 'romeo@xmpp.test', sipAor: 'sip:bob@sip.test', expiresAt: null, state: { state: 'pending', authorization: 'pending' }, updatedAt: 0 },
      { key: 'a', direction: 'x2s' as const, xmppJid: 'romeo@xmpp.test', sipAor: 'sip:alice@sip.test', expiresAt: Date.UTC(2030, 0, 1), state: { state: 'subscribed', authorization: 'granted' }, updatedAt: 0 },
    ];
    const live = renderSubscriptions(subscriptionsReport(rows, 'live'));
    expect(live).toMatch(/^2 subscription\(s\)$/m);
    const lines = live.split('\n');
    expect(lines[2]).toMatch(/^DIRECTION +XMPP +SIP +STATE +AUTHORIZATION +EXPIRES$/);
    expect(lines[4]).toMatch(/^sip→xmpp +romeo@xmpp\.test +sip:bob@sip\.test +pending +pending +-$/);
    expect(lines[5]).toMatch(/^xmpp→sip +romeo@xmpp\.test +sip:alice@sip\.test +subscribed +granted +2030-01-01T00:00:00\.000Z$/);
    expect(renderSubscriptions(subscriptionsReport(rows, 'store'))).toContain('read from the store file');
  });

  it('sessions: streams, dialogs and messages in flight', () => {
    const text = renderSessions({
      streams: [{ domain: 'sip.test', server: 'tcp://127.0.0.1:5347', state: 'online' }],
      dialogs: [{ role: 'notifier', state: 'confirmed', callId: 'abc@host', local: '<sip:romeo@xmpp.test>;tag=1', remote: '<sip:bob@sip.test>;tag=2' }],
      messagesInFlight: { sipToXmpp: 2, xmppToSip: 0 },
    });
    expect(text).toMatch(/^sip\.test +tcp:\/\/127\.0\.0\.1:5347 +online$/m);
    expect(text).toMatch(/^notifier +confirmed +<sip:romeo@xmpp\.test>;tag=1 +<sip:bob@sip\.test>;tag=2 +abc@host$/m);
    expect(text).toContain('messages in flight: sip→xmpp 2, xmpp→sip 0');
  });

  it('formatTable pads every column but the last to its widest cell', () => {
    expect(formatTable(['A', 'BB'], [['long', 'x'], ['s', 'yy']])).toBe('A     BB\n----  --\nlong  x\ns     yy\n');
  });

  it('localDomains: sip.domains and component domains, lower-cased, once each', () => {
    expect(localDomains({ sip: { domains: ['SIP.test'] }, xmpp: { components: [{ domain: 'sip.test' }, { domain: 'gw.test' }] } } as never)).toEqual(['sip.test', 'gw.test']);
  });
});
