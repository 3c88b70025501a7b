import { describe, expect, it } from 'vitest';
import { configSchema } from '../../../src/config/schema.js';
import { httpAuthority, parseHttpListen } from '../../../src/ops/http-listen.js';

const minimal = { sip: { listen: ['udp://127.0.0.1:5060'], domains: ['sip.example.org'] } };

function problems(config: unknown): string[] {
  const r = configSchema.safeParse(config);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('http.listen', () => {
  it('parses host:port, bracketed IPv6 and names', () => {
    expect(parseHttpListen('127.0.0.1:9464')).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(parseHttpListen('[::1]:9464')).toEqual({ host: '::1', port: 9464 });
    expect(parseHttpListen('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    expect(httpAuthority({ host: '::1', port: 80 })).toBe('[::1]:80');
  });

  it.each(['9464', 'http://127.0.0.1:9464', '127.0.0.1:70000', '[127.0.0.1]:80', '::1:9464', '127.0.0.1:'])('refuses %j', (v) => {
    expect(() => parseHttpListen(v)).toThrow(/expected host:port/);
  });

  it('config errors name the key', () => {
    expect(problems({ ...minimal, http: { listen: 'localhost' } })).toEqual(['http.listen: expected host:port such as 127.0.0.1:9464 (IPv6 as [::1]:9464), got "localhost"']);
    expect(problems({ ...minimal, http: { listen: '127.0.0.1:9464', tls: true } })[0]).toMatch(/^http: /);
    expect(problems({ ...minimal, process: { shutdownTimeoutMs: -1 } })[0]).toMatch(/^process\.shutdownTimeoutMs: /);
  });

  it('http is optional; process.shutdownTimeoutMs defaults to 5000', () => {
    const c = configSchema.parse(minimal);
    expect(c.http).toBeUndefined();
    expect(c.process.shutdownTimeoutMs).toBe(5000);
  });
});
