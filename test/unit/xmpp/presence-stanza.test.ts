import xml from '@xmpp/xml';
import { describe, expect, it } from 'vitest';
import { MessageStanzaError } from '../../../src/xmpp/message-stanza.js';
import { presenceToStanza, stanzaToPresence } from '../../../src/xmpp/presence-stanza.js';

describe('XMPP presence stanza codec (RFC 6121 §4.7)', () => {
  it('reads show, statuses with xml:lang, priority and the resource of an available presence', () => {
    const el = xml(
      'presence',
      { from: 'romeo@xmpp.test/balcony', to: 'alice@sip.test', 'xml:lang': 'en' },
      xml('show', {}, 'dnd'),
      xml('status', {}, 'in a meeting'),
      xml('status', { 'xml:lang': 'fr' }, 'en réunion'),
      xml('priority', {}, '5'),
      xml('c', { xmlns: 'http://jabber.org/protocol/caps', hash: 'sha-1', node: 'n', ver: 'v' }),
    );
    expect(stanzaToPresence(el)).toEqual({
      from: 'romeo@xmpp.test/balcony',
      to: 'alice@sip.test',
      type: 'available',
      presence: {
        resource: 'balcony',
        available: true,
        lang: 'en',
        show: 'dnd',
        priority: 5,
        statuses: [{ text: 'in a meeting' }, { lang: 'fr', text: 'en réunion' }],
      },
    });
  });

  it('subscription types carry no notification content', () => {
    const s = stanzaToPresence(xml('presence', { from: 'romeo@xmpp.test', to: 'alice@sip.test', type: 'subscribe', id: 's1' }));
    expect(s).toEqual({ from: 'romeo@xmpp.test', to: 'alice@sip.test', type: 'subscribe', id: 's1' });
  });

  it('refuses an invalid show, an out-of-range priority and an unknown type with bad-request', () => {
    const bad = [
      xml('presence', { from: 'a@b/c', to: 'd@e' }, xml('show', {}, 'sleepy')),
      xml('presence', { from: 'a@b/c', to: 'd@e' }, xml('priority', {}, '200')),
      xml('presence', { from: 'a@b/c', to: 'd@e', type: 'weird' }),
      xml('presence', { to: 'd@e' }),
    ];
    for (const el of bad) {
      expect(() => stanzaToPresence(el)).toThrow(MessageStanzaError);
    }
  });

  it('writes presence with text as text nodes (no markup injection from SIP notes)', () => {
    const el = presenceToStanza(
      { from: 'alice@sip.test/ID-phone', to: 'romeo@xmpp.test', type: 'available', presence: { available: true, show: 'away', statuses: [{ text: '<b>out</b> & about' }], priority: 1 } },
      [xml('c', { xmlns: 'http://jabber.org/protocol/caps', hash: 'sha-1', node: 'n', ver: 'v' })],
    );
    expect(el.attrs.type).toBeUndefined();
    expect(el.getChildText('status')).toBe('<b>out</b> & about');
    expect(el.getChild('b')).toBeUndefined();
    expect(el.toString()).toContain('&lt;b&gt;out&lt;/b&gt; &amp; about');
    expect(el.getChildText('priority')).toBe('1');
    expect(el.getChild('c', 'http://jabber.org/protocol/caps')).toBeDefined();
    const back = stanzaToPresence(el);
    expect(back.presence).toMatchObject({ available: true, show: 'away', priority: 1, statuses: [{ text: '<b>out</b> & about' }] });
  });

  it('unavailable presence has type=unavailable and no priority', () => {
    const el = presenceToStanza({ from: 'alice@sip.test', to: 'romeo@xmpp.test', type: 'unavailable', presence: { available: false, statuses: [], priority: 3 } });
    expect(el.attrs.type).toBe('unavailable');
    expect(el.getChild('priority')).toBeUndefined();
  });
});
