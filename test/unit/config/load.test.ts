import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { configProblems } from '../../helpers/config-problems.js';
import { formatKeyPath, loadConfigFile, validateConfig } from '../../../src/config/load.js';
import { tempDir } from '../../helpers/processes.js';

const problems = configProblems;

const minimal = { sip: { listen: ['udp://127.0.0.1:5060'], domains: ['sip.example.org'] } };

describe('config validation', () => {
  it('accepts the documented example file as it ships', () => {
    const example = parse(readFileSync('config/stox.example.yaml', 'utf8')) as unknown;
    expect(problems(example)).toEqual([]);
  });

  it('fills defaults for optional keys', () => {
    const c = validateConfig(minimal);
    expect(c.sip.maxMessageBytes).toBe(65536);
    expect(c.log.level).toBe('info');
    expect(c.sip.outboundProxy).toBeUndefined();
  });

  it('names the key path of a bad listen URL, with the value it got', () => {
    const p = problems({ sip: { listen: ['udp://127.0.0.1:5060', 'http://x:1'], domains: ['a.b'] } });
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(/^sip\.listen\[1\]: expected udp:\/\/host:port, got .*http:\/\/x:1/);
  });

  it('reports every problem, not only the first', () => {
    const p = problems({ sip: { listen: [], domains: ['bad domain'], outboundProxy: 'http://proxy', bogus: 1 }, log: { level: 'loud' } });
    expect(p.some((l) => l.startsWith('sip.listen:'))).toBe(true);
    expect(p.some((l) => l.startsWith('sip.domains[0]:'))).toBe(true);
    expect(p.some((l) => l.startsWith('sip.outboundProxy:'))).toBe(true);
    expect(p).toContain('sip.bogus: unknown key');
    expect(p.some((l) => l.startsWith('log.level:'))).toBe(true);
  });

  it('requires sip.listen and sip.domains', () => {
    expect(problems({ sip: {} })).toEqual(expect.arrayContaining(['sip.listen: required', 'sip.domains: required']));
    expect(problems({})).toEqual(['sip: required']);
  });

  it('a tls:// listener needs sip.tls', () => {
    const p = problems({ sip: { listen: ['tls://127.0.0.1:5061'], domains: ['a.b'] } });
    expect(p[0]).toMatch(/^sip\.listen\[0\]: a tls:\/\/ listener needs sip\.tls/);
  });

  it('accepts IPv6 listeners and an outbound proxy with lr', () => {
    expect(problems({ sip: { listen: ['udp://[::1]:5060'], domains: ['a.b'], outboundProxy: 'sip:127.0.0.1:5070;lr' } })).toEqual([]);
  });

  it('formats key paths the way operators read YAML', () => {
    expect(formatKeyPath(['sip', 'listen', 1])).toBe('sip.listen[1]');
    expect(formatKeyPath([])).toBe('(top level)');
  });
});

describe('config files', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('resolves TLS paths from the config file folder and reports missing files by key', () => {
    const file = join(dir.path, 'c.yaml');
    writeFileSync(file, 'sip:\n  listen: ["tls://127.0.0.1:5061"]\n  domains: [a.b]\n  tls: { cert: c.pem, key: k.pem }\n');
    expect(() => loadConfigFile(file)).toThrow(/sip\.tls\.cert: file not found: .*c\.pem/);
  });

  it('reports YAML syntax errors with the file name', () => {
    const file = join(dir.path, 'broken.yaml');
    writeFileSync(file, 'sip: [unclosed\n');
    expect(() => loadConfigFile(file)).toThrow(/broken\.yaml: YAML/);
  });
});
