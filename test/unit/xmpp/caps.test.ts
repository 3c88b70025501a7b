import { describe, expect, it } from 'vitest';
import { capsElement, capsVer, capsVerificationString, NS_CAPS, STOX_CAPS_NODE } from '../../../src/xmpp/caps.js';
import type { DiscoInfo } from '../../../src/xmpp/service-discovery.js';

const BASIC_FEATURES = [
  'http://jabber.org/protocol/caps',
  'http://jabber.org/protocol/disco#info',
  'http://jabber.org/protocol/disco#items',
  'http://jabber.org/protocol/muc',
];

describe('XEP-0115 §5 verification string', () => {
  it('§5.2 simple example (Exodus 0.9.1)', () => {
    const info: DiscoInfo = { identities: [{ category: 'client', type: 'pc', name: 'Exodus 0.9.1' }], features: BASIC_FEATURES };
    expect(capsVerificationString(info)).toBe(
      'client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<' +
        'http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<',
    );
    expect(capsVer(info)).toBe('QgayPKawpkPSDYmwT/WM94uAlu0=');
  });

  it('does not depend on the order identities and features are given in', () => {
    const info: DiscoInfo = { identities: [{ category: 'client', type: 'pc', name: 'Exodus 0.9.1' }], features: [...BASIC_FEATURES].reverse() };
    expect(capsVer(info)).toBe('QgayPKawpkPSDYmwT/WM94uAlu0=');
  });

  it('§5.3 complex example (Psi 0.11: two languages and a software-info form)', () => {
    // Given out of order on purpose: identities, features, fields and values are all sorted by the algorithm.
    const info: DiscoInfo = {
      identities: [
        { category: 'client', type: 'pc', lang: 'en', name: 'Psi 0.11' },
        { category: 'client', type: 'pc', lang: 'el', name: 'Ψ 0.11' },
      ],
      features: [BASIC_FEATURES[1]!, BASIC_FEATURES[0]!, BASIC_FEATURES[3]!, BASIC_FEATURES[2]!],
      forms: [
        {
          formType: 'urn:xmpp:dataforms:softwareinfo',
          fields: [
            { var: 'os', values: ['Mac'] },
            { var: 'ip_version', values: ['ipv6', 'ipv4'] },
            { var: 'software_version', values: ['0.11'] },
            { var: 'os_version', values: ['10.5.1'] },
            { var: 'software', values: ['Psi'] },
          ],
        },
      ],
    };
    expect(capsVerificationString(info)).toBe(
      'client/pc/el/Ψ 0.11<client/pc/en/Psi 0.11<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<' +
        'http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<urn:xmpp:dataforms:softwareinfo<' +
        'ip_version<ipv4<ipv6<os<Mac<os_version<10.5.1<software<Psi<software_version<0.11<',
    );
    expect(capsVer(info)).toBe('q07IKJEyjvHSyhy//CH0CxmKi8w=');
  });

  it('sorts by i;octet (UTF-8 bytes), not UTF-16 code units', () => {
    // U+FF21 is one UTF-16 unit above the surrogate U+D83D that starts U+1F600, but its UTF-8 bytes (EF …) sort before (F0 …).
    const info: DiscoInfo = { identities: [], features: ['urn:x:\u{1F600}', 'urn:x:\uFF21'] };
    expect(capsVerificationString(info)).toBe('urn:x:\uFF21<urn:x:\u{1F600}<');
  });

  it('sorts forms by FORM_TYPE', () => {
    const info: DiscoInfo = {
      identities: [],
      features: [],
      forms: [
        { formType: 'urn:b', fields: [] },
        { formType: 'urn:a', fields: [{ var: 'f', values: [] }] },
      ],
    };
    expect(capsVerificationString(info)).toBe('urn:a<f<urn:b<');
  });
});

describe('caps element (XEP-0115 §4)', () => {
  it('carries hash, node and ver', () => {
    const info: DiscoInfo = { identities: [{ category: 'client', type: 'pc', name: 'Exodus 0.9.1' }], features: BASIC_FEATURES };
    const c = capsElement(info);
    expect(c.name).toBe('c');
    expect(c.attrs).toEqual({ xmlns: NS_CAPS, hash: 'sha-1', node: STOX_CAPS_NODE, ver: 'QgayPKawpkPSDYmwT/WM94uAlu0=' });
    expect(capsElement(info, 'https://example.org/n').attrs.node).toBe('https://example.org/n');
  });
});
