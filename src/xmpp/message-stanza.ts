/**
 * XMPP `<message/>` ⇄ the core's XmppPage, and message error replies (RFC 6120 §8.3).
 *
 * Namespace-aware: a stanza's own children (`body`, `subject`, `thread`) are in the stream's content
 * namespace (jabber:component:accept on our component stream, jabber:client or jabber:server when a test
 * or another route hands us one); extensions are matched by their own namespace, never by name alone.
 */
import { Element } from 'ltx';
import { STANZA_ERROR_CONDITIONS, XMPP_ERROR_TYPES } from '../core/errors.js';
import type { XmppPage } from '../core/messages.js';
import { isLtxElement, sanitizeXhtmlIm, xmlCharSafe, XHTML_IM_NS } from '../formats/xhtml-im.js';

export const DELAY_NS = 'urn:xmpp:delay';
export const STANZAS_NS = 'urn:ietf:params:xml:ns:xmpp-stanzas';
const CONTENT_NAMESPACES = new Set(['jabber:component:accept', 'jabber:client', 'jabber:server']);

/** RFC 6120 §8.3.2. */
export const STANZA_ERROR_TYPES: ReadonlySet<string> = new Set(XMPP_ERROR_TYPES);
/** RFC 6120 §8.3.3 defined conditions, from the error mapping's own list. */
const CONDITIONS: ReadonlySet<string> = new Set(STANZA_ERROR_CONDITIONS);

export class MessageStanzaError extends Error {
  /** The stanza error condition a reply to this stanza should carry. */
  readonly condition: string;
  constructor(condition: string, message: string) {
    super(message);
    this.name = 'MessageStanzaError';
    this.condition = condition;
  }
}

const PAGE_TYPES = new Set(['normal', 'chat', 'headline', 'groupchat']);

function attr(el: Element, name: string): string | undefined {
  const v = el.attrs[name] as unknown;
  return typeof v === 'string' ? v : undefined;
}

/** The stanza's own children named `name`: same namespace as the stanza, or a content namespace. */
function ownChildren(el: Element, name: string): Element[] {
  const ns = el.getNS();
  return el.children.filter((c): c is Element => {
    if (typeof c === 'string' || !isLtxElement(c) || c.getName() !== name) return false;
    const cns = c.getNS();
    return cns === ns || (cns !== undefined && CONTENT_NAMESPACES.has(cns));
  });
}

function texts(els: Element[]): Array<{ lang?: string; text: string }> {
  return els.map((e) => {
    const lang = attr(e, 'xml:lang');
    return lang === undefined ? { text: e.getText() } : { lang, text: e.getText() };
  });
}

/**
 * Decodes a `<message/>`. Throws MessageStanzaError for what is not a page: another stanza kind, a
 * `type='error'` message (route it to the error mapping instead; RFC 6120 §8.3 forbids answering it),
 * or a stanza without from/to (XEP-0114 requires both on a component stream).
 */
export function stanzaToXmppPage(el: Element): XmppPage {
  if (el.getName() !== 'message') throw new MessageStanzaError('bad-request', `<${el.getName()}/> is not a message`);
  const type = attr(el, 'type');
  if (type === 'error') throw new MessageStanzaError('undefined-condition', "a type='error' message is not a page");
  const from = attr(el, 'from');
  const to = attr(el, 'to');
  if (from === undefined || to === undefined) throw new MessageStanzaError('bad-request', 'message without from or to');

  const page: XmppPage = { from, to, bodies: texts(ownChildren(el, 'body')), subjects: texts(ownChildren(el, 'subject')) };
  const id = attr(el, 'id');
  if (id !== undefined) page.id = id;
  // RFC 6121 §5.2.2: an unknown type value is treated as "normal".
  if (type !== undefined) page.type = PAGE_TYPES.has(type) ? (type as NonNullable<XmppPage['type']>) : 'normal';
  const lang = attr(el, 'xml:lang');
  if (lang !== undefined) page.lang = lang;
  const thread = ownChildren(el, 'thread')[0];
  if (thread) page.thread = thread.getText();
  const html = el.getChild('html', XHTML_IM_NS);
  if (html) {
    const clean = sanitizeXhtmlIm(html);
    if (clean) page.html = clean;
  }
  const delay = el.getChild('delay', DELAY_NS);
  const stamp = delay ? attr(delay, 'stamp') : undefined;
  if (delay && stamp !== undefined) {
    const dfrom = attr(delay, 'from');
    page.delay = dfrom === undefined ? { stamp } : { stamp, from: dfrom };
  }
  return page;
}

/**
 * Encodes an XmppPage. Text goes in as ltx text nodes (escaped on output) after removing characters XML
 * cannot carry; no markup is ever built by string concatenation.
 */
export function xmppPageToStanza(p: XmppPage): Element {
  const attrs: Record<string, string> = { from: p.from, to: p.to };
  if (p.id !== undefined) attrs.id = xmlCharSafe(p.id);
  if (p.type !== undefined) attrs.type = p.type;
  if (p.lang !== undefined) attrs['xml:lang'] = xmlCharSafe(p.lang);
  const msg = new Element('message', attrs);
  for (const s of p.subjects) msg.c('subject', s.lang === undefined ? {} : { 'xml:lang': xmlCharSafe(s.lang) }).t(xmlCharSafe(s.text));
  for (const b of p.bodies) msg.c('body', b.lang === undefined ? {} : { 'xml:lang': xmlCharSafe(b.lang) }).t(xmlCharSafe(b.text));
  if (p.thread !== undefined) msg.c('thread').t(xmlCharSafe(p.thread));
  if (p.html) msg.cnode(p.html);
  if (p.delay) {
    const d: Record<string, string> = { xmlns: DELAY_NS, stamp: p.delay.stamp };
    if (p.delay.from !== undefined) d.from = p.delay.from;
    msg.c('delay', d);
  }
  return msg;
}

/**
 * The error reply to `original` (RFC 6120 §8.3.1): from/to swapped, same id, `type='error'`, and
 * `<error type><condition xmlns=stanzas/><text xmlns=stanzas/></error>`. An unknown condition becomes
 * `undefined-condition` and an unknown type `cancel`, so a bad mapping-table entry cannot produce a stanza
 * the server rejects. `conditionText` is the character data some conditions carry (`<gone>`, `<redirect>`:
 * the new address, §8.3.3.5/.14); `by` is §8.3.2's optional attribute.
 */
export function errorReply(
  original: Element,
  condition: string,
  type: string,
  text?: string,
  options: { by?: string; conditionText?: string; lang?: string } = {},
): Element {
  const attrs: Record<string, string> = { type: 'error' };
  const from = attr(original, 'from');
  const to = attr(original, 'to');
  const id = attr(original, 'id');
  if (to !== undefined) attrs.from = to;
  if (from !== undefined) attrs.to = from;
  if (id !== undefined) attrs.id = id;
  const reply = new Element(original.getName(), attrs);
  const errAttrs: Record<string, string> = { type: STANZA_ERROR_TYPES.has(type) ? type : 'cancel' };
  if (options.by !== undefined) errAttrs.by = options.by;
  const error = reply.c('error', errAttrs);
  const cond = error.c(CONDITIONS.has(condition) ? condition : 'undefined-condition', { xmlns: STANZAS_NS });
  if (options.conditionText !== undefined && (condition === 'gone' || condition === 'redirect')) cond.t(xmlCharSafe(options.conditionText));
  if (text !== undefined && text !== '') {
    error.c('text', options.lang === undefined ? { xmlns: STANZAS_NS } : { xmlns: STANZAS_NS, 'xml:lang': options.lang }).t(xmlCharSafe(text));
  }
  return reply;
}
