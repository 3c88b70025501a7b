import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import type { ResourcePresence, Show } from '../core/presence.js';
import { MessageStanzaError } from './message-stanza.js';

/** RFC 6121 §4.7 presence types plus "no type" (available), as they travel. */
export type PresenceType = 'available' | 'unavailable' | 'subscribe' | 'subscribed' | 'unsubscribe' | 'unsubscribed' | 'probe' | 'error';

const TYPES: ReadonlySet<string> = new Set(['unavailable', 'subscribe', 'subscribed', 'unsubscribe', 'unsubscribed', 'probe', 'error']);
const SHOWS: ReadonlySet<string> = new Set(['away', 'chat', 'dnd', 'xa']);

export interface PresenceStanza {
  from: string;
  to: string;
  type: PresenceType;
  id?: string;
  /** The notification content for available/unavailable presence. */
  presence?: ResourcePresence;
}

function resourceOf(jid: string): string | undefined {
  const slash = jid.indexOf('/');
  return slash < 0 ? undefined : jid.slice(slash + 1);
}

/** `<presence/>` → plain data; refuses what RFC 6121 does not allow (a bad show, a priority out of range). */
export function stanzaToPresence(el: Element): PresenceStanza {
  if (el.name !== 'presence') throw new MessageStanzaError('bad-request', 'not a presence stanza');
  const from = el.attrs.from as string | undefined;
  const to = el.attrs.to as string | undefined;
  if (!from || !to) throw new MessageStanzaError('bad-request', 'presence without from or to');
  const rawType = el.attrs.type as string | undefined;
  if (rawType !== undefined && !TYPES.has(rawType)) throw new MessageStanzaError('bad-request', `unknown presence type '${rawType}'`);
  const type = (rawType ?? 'available') as PresenceType;
  const out: PresenceStanza = { from, to, type };
  const id = el.attrs.id as string | undefined;
  if (id !== undefined) out.id = id;
  if (type !== 'available' && type !== 'unavailable') return out;

  const lang = el.attrs['xml:lang'] as string | undefined;
  const p: ResourcePresence = { available: type === 'available', statuses: [] };
  const resource = resourceOf(from);
  if (resource !== undefined) p.resource = resource;
  if (lang !== undefined) p.lang = lang;
  for (const child of el.children) {
    if (typeof child === 'string') continue;
    // Only the jabber:client / jabber:component:accept children count; extensions carry their own xmlns.
    if (child.attrs.xmlns !== undefined && child.attrs.xmlns !== 'jabber:client' && child.attrs.xmlns !== 'jabber:component:accept') continue;
    if (child.name === 'show') {
      const show = child.getText().trim();
      if (!SHOWS.has(show)) throw new MessageStanzaError('bad-request', `invalid show '${show}'`);
      p.show = show as Show;
    } else if (child.name === 'status') {
      const status: { lang?: string; text: string } = { text: child.getText() };
      const l = child.attrs['xml:lang'] as string | undefined;
      if (l !== undefined) status.lang = l;
      p.statuses.push(status);
    } else if (child.name === 'priority') {
      const n = Number(child.getText().trim());
      if (!Number.isInteger(n) || n < -128 || n > 127) throw new MessageStanzaError('bad-request', 'priority out of range');
      p.priority = n;
    }
  }
  out.presence = p;
  return out;
}

/** Plain data → `<presence/>`; text goes in as text nodes, so nothing from SIP becomes markup. */
export function presenceToStanza(s: PresenceStanza, extra: Element[] = []): Element {
  const attrs: Record<string, string> = { from: s.from, to: s.to };
  if (s.type !== 'available') attrs.type = s.type;
  if (s.id !== undefined) attrs.id = s.id;
  const p = s.presence;
  if (p?.lang !== undefined) attrs['xml:lang'] = p.lang;
  const children: Element[] = [];
  if (p) {
    if (p.show !== undefined) children.push(xml('show', {}, p.show));
    for (const st of p.statuses) children.push(xml('status', st.lang !== undefined && st.lang !== p.lang ? { 'xml:lang': st.lang } : {}, st.text));
    if (p.priority !== undefined && p.available) children.push(xml('priority', {}, String(p.priority)));
  }
  return xml('presence', attrs, ...children, ...extra);
}
