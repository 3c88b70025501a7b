import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { describe, expect, it } from 'vitest';
import { VERSION } from '../../../src/version.js';
import { Builtins, NS_PING, NS_STANZAS, NS_VERSION } from '../../../src/xmpp/builtins.js';
import { capsVer, NS_CAPS, STOX_CAPS_NODE } from '../../../src/xmpp/caps.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, parseDiscoInfo } from '../../../src/xmpp/service-discovery.js';

const FEATURES = ['urn:xmpp:receipts'];
const b = new Builtins({ features: FEATURES, iqNamespaces: ['urn:example:claimed'] });

function iq(type: string, to: string | undefined, ...payload: Element[]): Element {
  return xml('iq', { type, id: 'q1', from: 'alice@xmpp.test/r', to }, ...payload);
}

function reply(stanza: Element): Element {
  const a = b.answer(stanza);
  if (!a.handled || a.reply === undefined) throw new Error(`no reply to ${stanza.toString()}`);
  return a.reply;
}

function condition(r: Element): string | undefined {
  return r.getChild('error')?.getChildElements().find((c) => c.attrs.xmlns === NS_STANZAS)?.name;
}

describe('builtins: XEP-0030 disco#info', () => {
  it('gateway JID: gateway/sip "Stox SIP gateway" and the built-in plus configured features', () => {
    const r = reply(iq('get', 'sip.test', xml('query', { xmlns: NS_DISCO_INFO })));
    expect(r.attrs).toMatchObject({ type: 'result', id: 'q1', from: 'sip.test', to: 'alice@xmpp.test/r' });
    const info = parseDiscoInfo(r.getChild('query', NS_DISCO_INFO)!);
    expect(info.identities).toEqual([{ category: 'gateway', type: 'sip', name: 'Stox SIP gateway' }]);
    expect(info.features).toEqual([NS_DISCO_INFO, NS_DISCO_ITEMS, NS_PING, NS_VERSION, ...FEATURES]);
  });

  it('identityName renames the gateway', () => {
    const named = new Builtins({ features: [], identityName: 'Example SIP' });
    expect(named.gatewayInfo.identities[0]?.name).toBe('Example SIP');
  });

  it('bare user JID: account/registered; full user JID: client/pc; both with caps and configured features', () => {
    const bare = parseDiscoInfo(reply(iq('get', 'bob@sip.test', xml('query', { xmlns: NS_DISCO_INFO }))).getChild('query')!);
    expect(bare.identities).toEqual([{ category: 'account', type: 'registered' }]);
    const full = parseDiscoInfo(reply(iq('get', 'bob@sip.test/ua1', xml('query', { xmlns: NS_DISCO_INFO }))).getChild('query')!);
    expect(full.identities).toEqual([{ category: 'client', type: 'pc' }]);
    for (const info of [bare, full]) {
      expect(info.features).toEqual(expect.arrayContaining([NS_CAPS, NS_DISCO_INFO, NS_PING, ...FEATURES]));
      expect(info.features).not.toContain(NS_VERSION);
    }
  });

  it('XEP-0115 §6.2: the caps node answers with what the hash covers, echoing the node', () => {
    const c = b.userCaps();
    expect(c.attrs).toMatchObject({ xmlns: NS_CAPS, hash: 'sha-1', node: STOX_CAPS_NODE });
    const node = `${STOX_CAPS_NODE}#${c.attrs.ver as string}`;
    expect(b.capsNode).toBe(node);
    const q = reply(iq('get', 'bob@sip.test/ua1', xml('query', { xmlns: NS_DISCO_INFO, node }))).getChild('query', NS_DISCO_INFO)!;
    expect(q.attrs.node).toBe(node);
    expect(capsVer(parseDiscoInfo(q))).toBe(c.attrs.ver);
    // Presence from a bare JID carries the same <c/>; its node query must verify too.
    const qBare = reply(iq('get', 'bob@sip.test', xml('query', { xmlns: NS_DISCO_INFO, node }))).getChild('query', NS_DISCO_INFO)!;
    expect(capsVer(parseDiscoInfo(qBare))).toBe(c.attrs.ver);
  });

  it('a different feature list gives a different caps hash', () => {
    expect(new Builtins({ features: [] }).userCaps().attrs.ver).not.toBe(b.userCaps().attrs.ver);
  });

  it('an unknown node → item-not-found', () => {
    const r = reply(iq('get', 'sip.test', xml('query', { xmlns: NS_DISCO_INFO, node: 'x' })));
    expect(r.attrs.type).toBe('error');
    expect(condition(r)).toBe('item-not-found');
  });
});

describe('builtins: disco#items, ping, version', () => {
  it('disco#items → empty, node echoed', () => {
    const r = reply(iq('get', 'sip.test', xml('query', { xmlns: NS_DISCO_ITEMS, node: 'n' })));
    expect(r.attrs.type).toBe('result');
    expect(r.getChild('query', NS_DISCO_ITEMS)?.attrs.node).toBe('n');
    expect(r.getChild('query', NS_DISCO_ITEMS)?.getChildElements()).toEqual([]);
  });

  it('XEP-0199 ping → empty result, on the gateway and on users', () => {
    for (const to of ['sip.test', 'bob@sip.test', 'bob@sip.test/ua1']) {
      const r = reply(iq('get', to, xml('ping', { xmlns: NS_PING })));
      expect(r.attrs.type).toBe('result');
      expect(r.getChildElements()).toEqual([]);
    }
  });

  it('XEP-0092 version → Stox and package version on the gateway only', () => {
    const q = reply(iq('get', 'sip.test', xml('query', { xmlns: NS_VERSION }))).getChild('query', NS_VERSION)!;
    expect(q.getChildText('name')).toBe('Stox');
    expect(q.getChildText('version')).toBe(VERSION);
    expect(q.getChild('os')).toBeUndefined();
    expect(condition(reply(iq('get', 'bob@sip.test', xml('query', { xmlns: NS_VERSION }))))).toBe('service-unavailable');
  });
});

describe('builtins: everything else (RFC 6120 §8)', () => {
  it('§8.4: unknown iq get/set → service-unavailable (cancel), addressed back', () => {
    for (const type of ['get', 'set']) {
      const r = reply(iq(type, 'bob@sip.test', xml('vCard', { xmlns: 'vcard-temp' })));
      expect(r.attrs).toMatchObject({ type: 'error', id: 'q1', from: 'bob@sip.test', to: 'alice@xmpp.test/r' });
      expect(r.getChild('error')?.attrs.type).toBe('cancel');
      expect(condition(r)).toBe('service-unavailable');
    }
  });

  it('a set on a get-only namespace (ping) → service-unavailable', () => {
    expect(condition(reply(iq('set', 'sip.test', xml('ping', { xmlns: NS_PING }))))).toBe('service-unavailable');
  });

  it('§8.2.3: a get/set without exactly one payload, or without a valid type → bad-request', () => {
    expect(condition(reply(iq('get', 'sip.test')))).toBe('bad-request');
    expect(condition(reply(iq('get', 'sip.test', xml('ping', { xmlns: NS_PING }), xml('ping', { xmlns: NS_PING }))))).toBe('bad-request');
    expect(condition(reply(iq('fetch', 'sip.test', xml('ping', { xmlns: NS_PING }))))).toBe('bad-request');
  });

  it('iq result/error, messages, presence and claimed namespaces are not answered', () => {
    expect(b.answer(iq('result', 'sip.test'))).toEqual({ handled: false });
    expect(b.answer(iq('error', 'sip.test', xml('error', { type: 'cancel' })))).toEqual({ handled: false });
    expect(b.answer(xml('message', { from: 'a@x', to: 'bob@sip.test' }, xml('body', {}, 'hi')))).toEqual({ handled: false });
    expect(b.answer(xml('presence', { from: 'a@x', to: 'bob@sip.test', type: 'probe' }))).toEqual({ handled: false });
    expect(b.answer(iq('set', 'bob@sip.test', xml('q', { xmlns: 'urn:example:claimed' })))).toEqual({ handled: false });
  });

  it('a query without from is consumed but cannot be answered', () => {
    const noFrom = xml('iq', { type: 'get', id: 'x', to: 'sip.test' }, xml('ping', { xmlns: NS_PING }));
    expect(b.answer(noFrom)).toEqual({ handled: true });
  });
});
