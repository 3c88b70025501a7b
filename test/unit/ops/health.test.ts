import { describe, expect, it } from 'vitest';
import { healthReport, type HealthInput } from '../../../src/ops/health.js';

const base: HealthInput = {
  version: '1.2.3',
  startedAt: 1_000,
  now: 61_000,
  draining: false,
  components: [{ domain: 'sip.test', state: 'online' }],
  sipConfigured: ['udp://127.0.0.1:0', 'tcp://[::1]:5060'],
  sipBound: [
    { transport: 'udp', address: '127.0.0.1', port: 40000 },
    { transport: 'tcp', address: '::1', port: 5060 },
  ],
};

describe('healthReport', () => {
  it('ok when every component is online and every listener bound', () => {
    expect(healthReport(base)).toEqual({
      status: 'ok',
      version: '1.2.3',
      uptimeSeconds: 60,
      components: [{ domain: 'sip.test', state: 'online', connected: true }],
      sip: [
        { listen: 'udp://127.0.0.1:0', bound: 'udp://127.0.0.1:40000', up: true },
        { listen: 'tcp://[::1]:5060', bound: 'tcp://[::1]:5060', up: true },
      ],
    });
  });

  it('unavailable when a component is not online, naming it', () => {
    const r = healthReport({ ...base, components: [...base.components, { domain: 'gw.test', state: 'connecting' }] });
    expect(r.status).toBe('unavailable');
    expect(r.components[1]).toEqual({ domain: 'gw.test', state: 'connecting', connected: false });
  });

  it('unavailable when a listener is not bound (before start, after stop)', () => {
    const r = healthReport({ ...base, sipBound: base.sipBound.slice(0, 1) });
    expect(r.status).toBe('unavailable');
    expect(r.sip[1]).toEqual({ listen: 'tcp://[::1]:5060', bound: null, up: false });
  });

  it('draining once shutdown has begun', () => {
    const r = healthReport({ ...base, draining: true });
    expect(r.status).toBe('draining');
    expect(r.sip.every((s) => !s.up)).toBe(true);
  });
});
