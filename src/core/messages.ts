/**
 * Page-mode IM: SIP MESSAGE (RFC 3428) ⇄ XMPP `<message/>`, per RFC 7572 (mapping reference §4).
 *
 * Pure functions over plain data: the SIP side decodes a MESSAGE into a SipPage, the XMPP side a stanza
 * into an XmppPage, and addresses arrive already mapped (§1.7, done by address.ts). What is decided here:
 * which fields map, what is refused and with which code, and that nothing from one side can smuggle
 * markup or header lines into the other.
 *
 * Choices where the reference leaves one (each marked [D]/[P] there or not covered):
 * - S2X sets no `type` (§4.2 allows none or "normal"; RFC 7572 Example 5 has none).
 * - S2X always emits `<thread>` = Call-ID (§4.2 Table 2 is a MUST; TV-I2's example just omits it).
 * - X2S keeps `text/plain` and drops XHTML-IM (§4.1 maps `<body/>` to text/plain and says nothing of
 *   HTML); a message with XHTML-IM but no body is sent as the plain-text rendering of the HTML.
 * - X2S builds `message/cpim` only when the caller asks for an IMDN (§4.4: "only when IMDN is needed",
 *   §7.2, §9.7 K4). Other languages' bodies and `<delay/>` have no SIP mapping and are dropped.
 * - CPIM identities (§4.4 [P] "use them only if they match"): a CPIM From naming someone other than the
 *   SIP From is refused with 403, the sender claiming an identity SIP did not vouch for; a CPIM To naming
 *   none of the SIP To / Request-URI is refused with 400, an inconsistent request.
 * - CPIM `Require:` naming something we do not implement (RFC 3862 §3.5: the recipient MUST understand
 *   it) is refused with 400.
 * - An empty body with no subject is refused with 400 (nothing to deliver); with a subject it is delivered
 *   as a subject-only message.
 * - Charsets: UTF-8 by default (RFC 7572 §8); any other charset a WHATWG decoder knows (latin1, us-ascii,
 *   …) is decoded; an unknown one gets 415. Invalid UTF-8 gets 400.
 */
import type { Element } from 'ltx';
import { TextDecoder } from 'node:util';
import {
  CpimError,
  CPIM_DEFAULT_NS,
  IMDN_NS,
  buildCpim,
  cpimHeaders,
  isLanguageTag,
  isRfc3339DateTime,
  parseCpim,
  parseCpimAddress,
  unescapeCpimValue,
  type CpimMessage,
} from '../formats/cpim.js';
import { ContentTypeError, parseContentType, type ContentType } from '../formats/content-type.js';
import { hasMarkupDeclarations, htmlToXhtmlIm, xhtmlToPlainText, xmlCharSafe } from '../formats/xhtml-im.js';

/** RFC 3428 MESSAGE as plain data. */
export interface SipPage {
  requestUri: string;
  from: { uri: string; displayName?: string };
  to: { uri: string; displayName?: string };
  callId: string;
  subject?: string;
  /** The full header value, parameters included. */
  contentType: string;
  contentLanguage?: string;
  body: Buffer;
}

/** XMPP `<message/>` as plain data. */
export interface XmppPage {
  from: string;
  to: string;
  id?: string;
  type?: 'normal' | 'chat' | 'headline' | 'groupchat';
  thread?: string;
  /** The stanza's xml:lang. */
  lang?: string;
  bodies: Array<{ lang?: string; text: string }>;
  subjects: Array<{ lang?: string; text: string }>;
  /** The XEP-0071 `<html xmlns='http://jabber.org/protocol/xhtml-im'>` element, sanitized. */
  html?: Element;
  /** XEP-0203. */
  delay?: { stamp: string; from?: string };
}

/** What the gateway advertises in Accept, and what a 415 lists (RFC 3261 §21.4.13; reference §4.4). */
export const ACCEPTED_CONTENT_TYPES: readonly string[] = Object.freeze(['text/plain', 'text/html', 'message/cpim']);

// ------------------------------------------------------------------------------------------ SIP → XMPP

export interface S2XOptions {
  /** The mapped sender JID (full when the GRUU is known, §1.7). */
  from: string;
  to: string;
  /** A fresh unique stanza id (§4.2: "transaction identifier" → id). */
  stanzaId: string;
}

/** An IMDN request found in an inbound CPIM body (RFC 5438 §7.1), for the gateway's receipt handling (§7.2). */
export interface ImdnRequest {
  messageId: string;
  /** The Disposition-Notification values, lower-cased: positive-delivery, negative-delivery, display. */
  dispositions: string[];
  dateTime?: string;
}

export type S2XResult =
  | { ok: true; page: XmppPage; imdn?: ImdnRequest }
  | { ok: false; status: number; reason: string; accept?: string[] };

/** CPIM headers we understand, by namespace, for RFC 3862 §3.5 `Require:`. */
const UNDERSTOOD: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  [CPIM_DEFAULT_NS, new Set(['From', 'To', 'cc', 'DateTime', 'Subject', 'NS', 'Require'])],
  [IMDN_NS, new Set(['Message-ID', 'Disposition-Notification'])],
]);

const fail = (status: number, reason: string): S2XResult => ({ ok: false, status, reason });
const unsupported = (reason: string): S2XResult => ({ ok: false, status: 415, reason, accept: [...ACCEPTED_CONTENT_TYPES] });

export function sipPageToXmpp(p: SipPage, o: S2XOptions): S2XResult {
  let outer: ContentType | undefined;
  if (p.contentType.trim() !== '') {
    try {
      outer = parseContentType(p.contentType);
    } catch (e) {
      if (e instanceof ContentTypeError) return fail(400, `Malformed Content-Type: ${e.message}`);
      throw e;
    }
  } else if (p.body.length > 0) {
    // RFC 3261 §7.4.1: a non-empty body MUST come with a Content-Type.
    return fail(400, 'Body without Content-Type');
  }

  let content: ContentType | undefined = outer;
  let bytes = p.body;
  let lang = p.contentLanguage;
  const subjects: Array<{ lang?: string; text: string }> = [];
  let delay: XmppPage['delay'];
  let imdn: ImdnRequest | undefined;

  if (outer?.type === 'message/cpim') {
    let cpim: CpimMessage;
    let inner: ContentType;
    try {
      cpim = parseCpim(p.body);
      inner = parseContentType(cpim.contentType);
    } catch (e) {
      if (e instanceof CpimError || e instanceof ContentTypeError) return fail(400, `Malformed CPIM: ${e.message}`);
      throw e;
    }
    const checked = checkCpim(cpim, p);
    if (checked) return checked;
    content = inner;
    bytes = cpim.body;
    const innerLang = cpim.contentHeaders.find((h) => h.name.toLowerCase() === 'content-language');
    // The encapsulated entity's own language is the more precise one.
    if (innerLang) lang = innerLang.value;
    for (const h of cpimHeaders(cpim, 'Subject')) {
      const text = cleanText(unescapeCpimValue(h.value));
      if (text === '') continue;
      subjects.push(h.lang !== undefined && isLanguageTag(h.lang) ? { lang: h.lang, text } : { text });
    }
    const dt = cpimHeaders(cpim, 'DateTime')[0]?.value;
    // §4.4 [P]: DateTime → XEP-0203 delay. A bad stamp only loses the delay, not the message.
    if (dt !== undefined && isRfc3339DateTime(dt)) delay = { stamp: new Date(dt).toISOString() };
    imdn = readImdn(cpim);
  }

  if (p.subject !== undefined) {
    const text = cleanText(p.subject);
    if (text !== '') subjects.push({ text });
  }

  let text = '';
  let html: Element | undefined;
  if (content !== undefined && !(bytes.length === 0 && (content.type === 'text/plain' || content.type === 'text/html'))) {
    if (content.type !== 'text/plain' && content.type !== 'text/html') {
      return unsupported(`Unsupported media type ${content.type}`);
    }
    const decoded = decodeText(bytes, content.params.get('charset'));
    if (!decoded.ok) return decoded.error;
    if (content.type === 'text/plain') {
      text = cleanText(decoded.text);
    } else {
      if (hasMarkupDeclarations(decoded.text)) return fail(400, 'text/html with a DTD or entity declarations is not accepted');
      html = htmlToXhtmlIm(decoded.text);
      text = xhtmlToPlainText(html);
    }
  }

  const xmlLang = firstLanguageTag(lang);
  const page: XmppPage = {
    from: o.from,
    to: o.to,
    id: o.stanzaId,
    bodies: text !== '' ? [{ text }] : [],
    subjects: dedupeByLang(subjects),
  };
  if (page.bodies.length === 0 && page.subjects.length === 0) return fail(400, 'Empty message');
  if (xmlLang !== undefined) page.lang = xmlLang;
  const thread = cleanText(p.callId);
  if (thread !== '') page.thread = thread;
  if (html && text !== '') page.html = html;
  if (delay) page.delay = delay;
  return imdn ? { ok: true, page, imdn } : { ok: true, page };
}

function checkCpim(cpim: CpimMessage, p: SipPage): S2XResult | undefined {
  for (const r of cpim.required) {
    if (r.ns === undefined || !UNDERSTOOD.get(r.ns)?.has(r.localName)) {
      return fail(400, `Unsupported CPIM Require: ${r.name.slice(0, 64)}`);
    }
  }
  try {
    const from = cpimHeaders(cpim, 'From');
    if (from.length > 1) return fail(400, 'CPIM message with more than one From');
    const cpimFrom = from[0];
    if (cpimFrom && !sameIdentity(parseCpimAddress(cpimFrom.value).uri, p.from.uri)) {
      return fail(403, 'CPIM From does not match the SIP From');
    }
    const tos = cpimHeaders(cpim, 'To');
    if (tos.length > 0) {
      const targets = [p.to.uri, p.requestUri];
      const matches = tos.some((h) => {
        const uri = parseCpimAddress(h.value).uri;
        return targets.some((t) => sameIdentity(uri, t));
      });
      if (!matches) return fail(400, 'CPIM To does not match the SIP To');
    }
  } catch (e) {
    if (e instanceof CpimError) return fail(400, `Malformed CPIM address: ${e.message}`);
    throw e;
  }
  return undefined;
}

function readImdn(cpim: CpimMessage): ImdnRequest | undefined {
  const id = cpimHeaders(cpim, 'Message-ID', IMDN_NS)[0]?.value;
  const dn = cpimHeaders(cpim, 'Disposition-Notification', IMDN_NS)[0]?.value;
  if (id === undefined || dn === undefined) return undefined;
  const dispositions = unescapeCpimValue(dn)
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  const req: ImdnRequest = { messageId: unescapeCpimValue(id), dispositions };
  const dt = cpimHeaders(cpim, 'DateTime')[0]?.value;
  if (dt !== undefined) req.dateTime = dt;
  return req;
}

/**
 * Address-of-record equality for the CPIM check: the same user and host whatever the scheme among
 * sip/sips/im/pres (RFC 7247 §6.4 treats all four as forms of one address; CPIM uses im:), parameters
 * and headers ignored (a GRUU still names the same user). User compared case-sensitively after decoding
 * unreserved %-escapes, host case-insensitively (RFC 3261 §19.1.4).
 */
export function sameIdentity(a: string, b: string): boolean {
  const ka = identityKey(a);
  const kb = identityKey(b);
  return ka !== undefined && ka === kb;
}

function identityKey(uri: string): string | undefined {
  const m = /^\s*<?\s*(sips?|im|pres):([^;?>]*)/i.exec(uri);
  if (!m?.[2]) return undefined;
  const at = m[2].lastIndexOf('@');
  if (at < 0) return undefined;
  const user = m[2].slice(0, at).replace(/%([0-9A-Fa-f]{2})/g, (whole, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-_.!~*'()]/.test(c) ? c : whole.toUpperCase();
  });
  const host = m[2].slice(at + 1).replace(/:5060$/, '').toLowerCase();
  return `${user}@${host}`;
}

type Decoded = { ok: true; text: string } | { ok: false; error: S2XResult };

/**
 * Decoders by charset label, reused: a decode without `stream` starts afresh, and making one per message
 * was a visible share of the work. Only labels a decoder exists for get here, and few exist.
 */
const decoders = new Map<string, TextDecoder>();

function decodeText(bytes: Buffer, charset: string | undefined): Decoded {
  const label = (charset ?? 'utf-8').trim().toLowerCase();
  let decoder = decoders.get(label);
  if (decoder === undefined) {
    try {
      decoder = new TextDecoder(label, { fatal: true });
    } catch {
      return { ok: false, error: unsupported(`Unsupported charset ${label.slice(0, 40)}`) };
    }
    decoders.set(label, decoder);
  }
  try {
    return { ok: true, text: decoder.decode(bytes) };
  } catch {
    return { ok: false, error: fail(400, `Body is not valid ${decoder.encoding}`) };
  }
}

/** XML-safe text with SIP's CRLF line ends normalized (XML would turn them into LF anyway). */
function cleanText(s: string): string {
  return xmlCharSafe(s.indexOf('\r') < 0 ? s : s.replace(/\r\n?/g, '\n'));
}

/** Content-Language may list several tags (RFC 3261 §20.13); xml:lang holds one. */
function firstLanguageTag(value: string | undefined): string | undefined {
  const first = value?.split(',')[0]?.trim();
  return first !== undefined && isLanguageTag(first) ? first : undefined;
}

/** RFC 6121 §5.2.4: several subjects only with distinct xml:lang; the first per language wins. */
function dedupeByLang(items: Array<{ lang?: string; text: string }>): Array<{ lang?: string; text: string }> {
  if (items.length < 2) return items;
  const seen = new Set<string>();
  return items.filter((s) => {
    const key = s.lang?.toLowerCase() ?? '';
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

// ------------------------------------------------------------------------------------------ XMPP → SIP

export interface X2SOptions {
  fromUri: string;
  toUri: string;
  fromDisplayName?: string;
  /**
   * Largest SIP body, in UTF-8 bytes (RFC 7572 §6 / RFC 3428 §8: 1300). The reference (§4.5 [D]) reads
   * the 1300 bytes as the whole request; a caller that wants that passes 1300 minus its header estimate.
   */
  maxBodyBytes: number;
  /** Used when the message has no usable thread. */
  callId: string;
  /**
   * Ask for IMDNs (§7.2 [P], §9.7 K4): the body becomes message/cpim with the imdn.* headers. The caller
   * supplies the fresh Message-ID (RFC 5438 §6.3) and the DateTime (§7.1.1.2 MUST) since the core has
   * neither randomness nor a clock.
   */
  imdn?: { messageId: string; dateTime: string; dispositions: string[] };
}

/**
 * `ignore` is not a stanza error condition: the message must be dropped without any reply (nothing to
 * carry, or a headline, which RFC 6121 §5.2.2 says is never answered with an error).
 */
export const X2S_IGNORE = 'ignore';

export type X2SResult = { ok: true; page: SipPage } | { ok: false; condition: string; text: string };

export function xmppPageToSip(p: XmppPage, o: X2SOptions): X2SResult {
  const r = translateX2S(p, o);
  // Headlines are fire-and-forget (RFC 6121 §5.2.2): never answer one with an error.
  if (!r.ok && p.type === 'headline') return { ok: false, condition: X2S_IGNORE, text: r.text };
  return r;
}

function translateX2S(p: XmppPage, o: X2SOptions): X2SResult {
  if (p.type === 'groupchat') {
    // Groupchat belongs to the MUC mapping (§6); addressed to a user it is refused (RFC 6121 §8.5.2.1.1).
    return { ok: false, condition: 'service-unavailable', text: 'groupchat messages are not translated to SIP MESSAGE' };
  }
  const stanzaLang = p.lang?.toLowerCase();
  const inLang = (l: string | undefined): boolean => (l?.toLowerCase() ?? stanzaLang) === stanzaLang;
  const body = p.bodies.find((b) => inLang(b.lang)) ?? p.bodies[0];
  const bodyLang = body ? (body.lang ?? p.lang) : p.lang;
  let text = body?.text;
  if (text === undefined && p.html) {
    const rendered = xhtmlToPlainText(p.html, bodyLang);
    if (rendered !== '') text = rendered;
  }
  const subject = p.subjects.find((s) => (s.lang ?? p.lang)?.toLowerCase() === bodyLang?.toLowerCase()) ?? p.subjects[0];
  const subjectValue = subject ? headerSafe(subject.text) : '';
  if (text === undefined && subjectValue === '') {
    return { ok: false, condition: X2S_IGNORE, text: 'nothing to translate (no body, no subject)' };
  }

  const page: SipPage = {
    requestUri: o.toUri,
    from: { uri: o.fromUri },
    to: { uri: o.toUri },
    callId: threadToCallId(p.thread) ?? o.callId,
    contentType: 'text/plain;charset=UTF-8',
    body: Buffer.from(text ?? '', 'utf8'),
  };
  const displayName = o.fromDisplayName !== undefined ? headerSafe(o.fromDisplayName) : '';
  if (displayName !== '') page.from.displayName = displayName;
  if (subjectValue !== '') page.subject = subjectValue;
  if (bodyLang !== undefined && isLanguageTag(bodyLang)) page.contentLanguage = bodyLang;

  if (o.imdn) {
    try {
      page.body = buildCpim({
        from: { uri: o.fromUri },
        to: { uri: o.toUri },
        namespaces: [{ prefix: 'imdn', uri: IMDN_NS }],
        dateTime: o.imdn.dateTime,
        headers: [
          { name: 'imdn.Message-ID', value: o.imdn.messageId },
          { name: 'imdn.Disposition-Notification', value: o.imdn.dispositions.join(', ') },
        ],
        contentType: 'text/plain;charset=UTF-8',
        body: page.body,
      });
    } catch (e) {
      if (e instanceof CpimError) return { ok: false, condition: 'internal-server-error', text: e.message };
      throw e;
    }
    page.contentType = 'message/cpim';
  }

  if (page.body.length > o.maxBodyBytes) {
    // RFC 7572 §6, reference §2.3 / TV E15: too big for a MESSAGE.
    return { ok: false, condition: 'policy-violation', text: `message exceeds ${o.maxBodyBytes} bytes` };
  }
  return { ok: true, page };
}

/**
 * A header value that cannot start another header: CR, LF and the other controls become spaces
 * (RFC 3261 §25.1 TEXT-UTF8 has none), runs of white space collapse, ends are trimmed.
 */
function headerSafe(s: string): string {
  return s
    .replace(/[\x00-\x1f\x7f\u0085\u2028\u2029]+/g, ' ')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** RFC 3261 §25.1 `word` characters. */
const CALLID_WORD = /^[A-Za-z0-9\-.!%*_+`'~()<>:\\"/[\]?{}]+$/;
const MAX_CALLID = 256;

/**
 * `<thread/>` → Call-ID (§4.1). A thread that is already a valid Call-ID is used as is, so a SIP reply on
 * the same Call-ID comes back as the same thread. Anything else is %-encoded byte by byte outside the
 * word set, which keeps one thread on one Call-ID without letting spaces or CRLF into the header.
 */
function threadToCallId(thread: string | undefined): string | undefined {
  if (thread === undefined || thread === '') return undefined;
  const parts = thread.split('@');
  const valid = parts.length <= 2 && parts.every((w) => CALLID_WORD.test(w));
  if (valid && thread.length <= MAX_CALLID) return thread;
  let out = '';
  for (const byte of Buffer.from(thread, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && c !== '%' && c !== '@' && CALLID_WORD.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out.length <= MAX_CALLID ? out : undefined;
}
