import { describe, expect, it } from 'vitest';
import { GatewayMetrics, type MetricSources } from '../../../src/ops/metrics.js';

const sources = (over: Partial<MetricSources> = {}): MetricSources => ({
  subscriptions: () => ({ x2s: 2, s2x: 3 }),
  sipDialogs: () => 4,
  sipTransactions: () => 5,
  messagesInFlight: () => ({ s2x: 1, x2s: 0 }),
  components: () => [
    { domain: 'sip.test', connected: true },
    { domain: 'gw.test', connected: false },
  ],
  policyCounters: () => new Map([['partner.test|rate-limited', 7], ['partner.test|allowed', 9], ['*|domain-denied', 2]]),
  sipDrops: () => ({ unparseable: 1, framing: 0 }),
  ...over,
});

describe('GatewayMetrics', () => {
  it('counts messages, presence events and errors under the documented names and labels', async () => {
    const m = new GatewayMetrics(sources(), { processMetrics: false });
    for (let i = 0; i < 3; i++) m.message('sip_to_xmpp', 'delivered');
    m.message('xmpp_to_sip', 'refused');
    m.presence('sip_to_xmpp', 'accepted');
    m.error('sip', 404);
    m.error('sip', 404);
    m.error('xmpp', 'item-not-found');
    m.translation('sip_to_xmpp', 'im', 0.0002);
    const text = await m.text();
    expect(text).toContain('stox_messages_total{direction="sip_to_xmpp",feature="im",result="delivered"} 3');
    expect(text).toContain('stox_messages_total{direction="xmpp_to_sip",feature="im",result="refused"} 1');
    expect(text).toContain('stox_presence_events_total{direction="sip_to_xmpp",result="accepted"} 1');
    expect(text).toContain('stox_errors_total{side="sip",code="404"} 2');
    expect(text).toContain('stox_errors_total{side="xmpp",code="item-not-found"} 1');
    expect(text).toContain('stox_translation_seconds_count{direction="sip_to_xmpp",feature="im"} 1');
    expect(text).toContain('stox_translation_seconds_bucket{le="0.00025",direction="sip_to_xmpp",feature="im"} 1');
  });

  it('reads gauges and the policy counters at scrape time', async () => {
    let connected = true;
    const m = new GatewayMetrics(sources({ components: () => [{ domain: 'sip.test', connected }] }), { processMetrics: false });
    let text = await m.text();
    expect(text).toContain('stox_subscriptions_active{direction="xmpp_to_sip"} 2');
    expect(text).toContain('stox_subscriptions_active{direction="sip_to_xmpp"} 3');
    expect(text).toContain('stox_sip_dialogs_active 4');
    expect(text).toContain('stox_messages_in_flight{direction="sip_to_xmpp"} 1');
    expect(text).toContain('stox_component_connected{domain="sip.test"} 1');
    expect(text).toContain('stox_policy_refusals_total{domain="partner.test",reason="rate-limited"} 7');
    expect(text).toContain('stox_policy_refusals_total{domain="*",reason="domain-denied"} 2');
    expect(text).toContain('stox_policy_accepted_total{domain="partner.test"} 9');
    expect(text).not.toMatch(/reason="allowed"/);
    expect(text).toContain('stox_sip_dropped_total{reason="unparseable"} 1');
    connected = false;
    text = await m.text();
    expect(text).toContain('stox_component_connected{domain="sip.test"} 0');
    // A second scrape does not double the collected counters.
    expect(text).toContain('stox_policy_refusals_total{domain="partner.test",reason="rate-limited"} 7');
  });

  it('counts component state changes', async () => {
    const m = new GatewayMetrics(sources(), { processMetrics: false });
    m.componentState('sip.test', 'online');
    m.componentState('sip.test', 'offline');
    m.componentState('sip.test', 'online');
    expect(await m.text()).toContain('stox_component_transitions_total{domain="sip.test",state="online"} 2');
  });

  it('each instance has its own registry, with process metrics by default', async () => {
    const a = new GatewayMetrics(sources());
    const b = new GatewayMetrics(sources());
    a.message('sip_to_xmpp', 'failed');
    expect(await a.text()).toContain('result="failed"} 1');
    expect(await b.text()).not.toContain('result="failed"');
    expect(await a.text()).toMatch(/^process_cpu_user_seconds_total /m);
    expect(a.contentType).toMatch(/^text\/plain/);
  });
});
