import { describe, expect, it } from 'vitest';
import { configProblems } from '../../helpers/config-problems.js';
import { validateConfig } from '../../../src/config/load.js';

const problems = configProblems;

const sip = { listen: ['tcp://127.0.0.1:5060'], domains: ['sip.example.org'] };

describe('sip.limits (stream connection caps and timeouts)', () => {
  it('are optional: absent keys leave the transport defaults in place', () => {
    expect(validateConfig({ sip }).sip.limits).toEqual({});
  });

  it('take positive integers', () => {
    const c = validateConfig({ sip: { ...sip, limits: { maxConnectionsPerSource: 4, maxConnections: 100, idleTimeoutMs: 30_000, headerReadTimeoutMs: 2_000 } } });
    expect(c.sip.limits).toEqual({ maxConnectionsPerSource: 4, maxConnections: 100, idleTimeoutMs: 30_000, headerReadTimeoutMs: 2_000 });
  });

  it('name the key of a bad value and refuse unknown keys', () => {
    const p = problems({ sip: { ...sip, limits: { maxConnectionsPerSource: 0, headerReadTimeoutMs: 1.5, idleTimeout: 5 } } });
    expect(p).toEqual(
      expect.arrayContaining([
        'sip.limits.maxConnectionsPerSource: expected a positive integer, got 0',
        'sip.limits.headerReadTimeoutMs: expected a positive integer, got 1.5',
        'sip.limits.idleTimeout: unknown key',
      ]),
    );
  });
});

describe('sip.tls.requireClientCert', () => {
  it('defaults to false', () => {
    expect(validateConfig({ sip: { ...sip, tls: { cert: 'c.pem', key: 'k.pem' } } }).sip.tls?.requireClientCert).toBe(false);
  });

  it('needs sip.tls.ca to verify client certificates against', () => {
    expect(problems({ sip: { ...sip, tls: { cert: 'c.pem', key: 'k.pem', requireClientCert: true } } })).toEqual([
      'sip.tls.requireClientCert: needs sip.tls.ca, the CA that signs the peer certificates, got true',
    ]);
    expect(problems({ sip: { ...sip, tls: { cert: 'c.pem', key: 'k.pem', ca: 'ca.pem', requireClientCert: true } } })).toEqual([]);
  });
});
