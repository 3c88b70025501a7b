import xml from '@xmpp/xml';
import { describe, expect, it } from 'vitest';
import { discoInfoQuery, discoItemsQuery, NS_DATA_FORMS, NS_DISCO_INFO, NS_DISCO_ITEMS, parseDiscoInfo, type DiscoInfo } from '../../../src/xmpp/service-discovery.js';

describe('XEP-0030 disco#info builder', () => {
  it('writes identities (with xml:lang), features and an XEP-0128 form, and reads them back', () => {
    const info: DiscoInfo = {
      identities: [
        { category: 'gateway', type: 'sip', name: 'Stox SIP gateway' },
        { category: 'client', type: 'pc', lang: 'el', name: 'Ψ' },
      ],
      features: ['urn:a', 'urn:b'],
      forms: [{ formType: 'urn:xmpp:dataforms:softwareinfo', fields: [{ var: 'software', values: ['Stox'] }] }],
    };
    const q = discoInfoQuery(info, 'node-1');
    expect(q.attrs).toEqual({ xmlns: NS_DISCO_INFO, node: 'node-1' });
    expect(q.toString()).toContain(`<identity category="client" type="pc" name="Ψ" xml:lang="el"/>`);
    const x = q.getChild('x', NS_DATA_FORMS)!;
    expect(x.attrs.type).toBe('result');
    expect(x.getChildByAttr('var', 'FORM_TYPE')?.attrs.type).toBe('hidden');
    // Round trip through text, as a peer would see it.
    const parsed = parseDiscoInfo(reparse(q.toString()));
    expect(parsed).toEqual(info);
  });

  it('omits node when absent and never repeats a feature or identity (XEP-0030 §3.1)', () => {
    const q = discoInfoQuery({
      identities: [
        { category: 'gateway', type: 'sip' },
        { category: 'gateway', type: 'sip' },
      ],
      features: ['urn:a', 'urn:a', 'urn:b'],
    });
    expect(q.attrs.node).toBeUndefined();
    expect(q.getChildren('identity')).toHaveLength(1);
    expect(q.getChildren('feature').map((f) => f.attrs.var as string)).toEqual(['urn:a', 'urn:b']);
  });

  it('parse skips forms without a hidden FORM_TYPE (XEP-0115 §5.4)', () => {
    const q = reparse(
      `<query xmlns='${NS_DISCO_INFO}'><feature var='urn:a'/>` +
        `<x xmlns='jabber:x:data' type='result'><field var='FORM_TYPE'><value>urn:t</value></field></x>` +
        `<x xmlns='jabber:x:data' type='result'><field var='f'><value>v</value></field></x></query>`,
    );
    expect(parseDiscoInfo(q)).toEqual({ identities: [], features: ['urn:a'] });
  });
});

describe('XEP-0030 disco#items builder', () => {
  it('writes items, empty by default', () => {
    expect(discoItemsQuery([]).toString()).toBe(`<query xmlns="${NS_DISCO_ITEMS}"/>`);
    const q = discoItemsQuery([{ jid: 'room@muc.sip.test', name: 'Room' }], 'n');
    expect(q.attrs.node).toBe('n');
    expect(q.getChild('item')?.attrs).toEqual({ jid: 'room@muc.sip.test', name: 'Room' });
  });
});

function reparse(s: string): ReturnType<typeof xml> {
  const parser = new xml.Parser();
  let root: ReturnType<typeof xml> | undefined;
  parser.on('start', (el) => (root = el));
  parser.on('element', (el) => root?.append(el));
  parser.write(`<wrap>${s}</wrap>`);
  return root!.getChildElements()[0]!;
}
