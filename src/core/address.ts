/**
 * Address mapping between SIP/SIPS/IM/PRES URIs and JIDs: RFC 7247 §6 with XEP-0106 escaping, as
 * completed by mapping-reference §1. Pure functions; an address that cannot be mapped is refused with an
 * AddressError carrying both the XMPP condition and the SIP status, never guessed.
 *
 * Choices made where the reference leaves one (each repeated where it applies):
 * - JID → SIP unescapes the full XEP-0106 set, not only the three sequences of RFC 7247 §6.5 step 3
 *   (reference §1.4 [D], recommended there), so `\40` becomes `%40`, not `%5C40`.
 * - Output follows RFC 7247, not XEP-0106 §5.3: `' & /` stay literal in a SIP user part, `%` becomes `%25`.
 * - On input every valid `%hh` is decoded and a `%` not followed by two hex digits is kept literally
 *   (reference §1.4 [P], like XEP-0106's `cr%zy`).
 * - The default target scheme is `sip:`; `im:`/`pres:` only when the caller asks (reference §1.1 [D]).
 */
import {
  AddressError,
  hostToAscii,
  isIpLiteral,
  mapUsernameCase,
  normalizeJid,
  prepDomainpart,
  prepLocalpart,
  prepResourcepart,
  type Jid,
} from './jid.js';

export { AddressError, type AddressErrorCondition } from './jid.js';

export type AddressingMode = 'domain' | 'escaped';

/**
 * How SIP-side entities appear on the XMPP side through one component.
 * - 'domain': the component is registered under the SIP domain itself (reference §0.1 [D]); a SIP user
 *   `romeo@example.net` is the JID `romeo@example.net`.
 * - 'escaped': the component has its own domain; a SIP user is `romeo\40example.net@<component>`.
 */
export interface ComponentAddressing {
  domain: string;
  mode: AddressingMode;
}

export type SipScheme = 'sip' | 'sips' | 'im' | 'pres';

export interface SipAddress {
  scheme: SipScheme;
  /** The user part with percent-escapes decoded (a Unicode string). */
  user?: string;
  /** Host in ASCII form (A-labels), lower case, or an IP literal. A U-label is accepted on input. */
  host: string;
  port?: number;
  /** The `gr` URI parameter, percent-decoded; '' when present without a value (a temporary GRUU). */
  gr?: string;
  displayName?: string;
}

export interface JidToSipOptions {
  /** Target scheme; `im`/`pres` only where the foreign domain is known to support them (reference §1.1). */
  scheme?: 'sip' | 'im' | 'pres';
}

const malformed = (message: string): AddressError => new AddressError('jid-malformed', 400, message);

// ---------------------------------------------------------------------------------------------------------
// XEP-0106

const XEP0106_ESCAPES: ReadonlyMap<string, string> = new Map([
  [' ', '\\20'],
  ['"', '\\22'],
  ['&', '\\26'],
  ["'", '\\27'],
  ['/', '\\2f'],
  [':', '\\3a'],
  ['<', '\\3c'],
  ['>', '\\3e'],
  ['@', '\\40'],
  ['\\', '\\5c'],
]);
const XEP0106_UNESCAPES: ReadonlyMap<string, string> = new Map([...XEP0106_ESCAPES].map(([c, e]) => [e.slice(1), c]));
// Case-insensitive on purpose: the localpart is case-folded after escaping (UsernameCaseMapped), which
// would turn a literal `\5C` into the escape `\5c`; so a literal backslash before any case variant of an
// escape code is itself escaped (XEP-0106 §4 applied to the folded form).
const LOOKS_LIKE_ESCAPE = /^(?:20|22|26|27|2f|3a|3c|3e|40|5c)$/i;

/** XEP-0106 §3–4 escaping of a localpart (no case folding, no PRECIS check). */
export function escapeJidLocal(s: string): string {
  // XEP-0106 §4: `\20` must be neither first nor last in an escaped localpart.
  if (s.startsWith(' ') || s.endsWith(' ')) throw malformed('a JID localpart cannot begin or end with a space (XEP-0106 §4)');
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s.charAt(i);
    if (ch === '\\') {
      out += LOOKS_LIKE_ESCAPE.test(s.slice(i + 1, i + 3)) ? '\\5c' : '\\';
    } else {
      out += XEP0106_ESCAPES.get(ch) ?? ch;
    }
  }
  return out;
}

/** XEP-0106 unescaping: only the exact lower-case sequences of the table; anything else is left alone. */
export function unescapeJidLocal(s: string): string {
  return s.replace(/\\(20|22|26|27|2f|3a|3c|3e|40|5c)/g, (m: string, code: string) => XEP0106_UNESCAPES.get(code) ?? m);
}

// ---------------------------------------------------------------------------------------------------------
// Percent-encoding

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decode every valid `%hh`; a stray `%` stays literal (reference §1.4 [P]). Refuses invalid UTF-8 (§1.3). */
function percentDecode(raw: string, what: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; ) {
    const pair = raw.slice(i + 1, i + 3);
    if (raw.charAt(i) === '%' && /^[0-9a-fA-F]{2}$/.test(pair)) {
      bytes.push(parseInt(pair, 16));
      i += 3;
    } else {
      const cp = raw.codePointAt(i) ?? 0;
      const ch = String.fromCodePoint(cp);
      for (const b of Buffer.from(ch, 'utf8')) bytes.push(b);
      i += ch.length;
    }
  }
  try {
    return utf8Decoder.decode(Uint8Array.from(bytes));
  } catch {
    throw malformed(`${what} is not valid UTF-8 after percent-decoding (RFC 7247 §6.4 step 4)`);
  }
}

function percentEncode(s: string, literal: RegExp): string {
  let out = '';
  for (const ch of s) {
    if (literal.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

// Characters a SIP user part may carry literally (RFC 3261 §25.1 unreserved + user-unreserved; reference
// §1.2). Everything else, including `%` itself and non-ASCII bytes, is percent-encoded (RFC 7247 §6.5 step 5).
const SIP_USER_LITERAL = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/]$/;
// im:/pres: (RFC 7247 §6.5 step 5 plus §1.2). `%`, `?` and `#` are also encoded although Table 1 lists
// them as allowed: literally they would read as an escape, the start of headers, or a fragment.
const IM_LOCAL_LITERAL = /^[A-Za-z0-9!$&'*+\-/=^_`{|}~]$/;
// RFC 3261 paramchar (reference §1.4 [D]): unreserved plus `[ ] / : & + $`.
const PARAM_LITERAL = /^[A-Za-z0-9\-_.!~*'()[\]/:&+$]$/;

const CONTROL = /[\x00-\x1f\x7f-\x9f]/;

// ---------------------------------------------------------------------------------------------------------
// SIP URI text

/** SP/HTAB trimming only: other whitespace is not SIP linear white space. */
const trimLws = (s: string): string => s.replace(/^[ \t]+|[ \t]+$/g, '');

/**
 * Parse a SIP/SIPS/IM/PRES URI, either bare (`sip:user@host;gr=x`) or as a name-addr
 * (`"Name" <sip:user@host>;tag=…`). In a name-addr, a `gr` header parameter outside the brackets is also
 * accepted as the GRUU when the URI has none (reference §1.7 [D]: RFC 7573/7702/8048 examples put it there).
 * Other URI parameters, the port and `?headers` are read but not mapped (reference §1.3 [D]).
 * A scheme other than the four is refused with 416 (reference §1.1 [D]); a SIPS URI parses, so that
 * the caller can answer it with 480 + Warning 380 through sipToJid.
 */
export function parseSipUriText(text: string): SipAddress {
  if (/[\r\n\0]/.test(text)) throw malformed('URI text contains CR, LF or NUL');
  const t = trimLws(text);
  // A quoted display name may itself contain '<' or '>', so the search starts after it.
  const lt = t.indexOf('<', t.startsWith('"') ? quotedStringEnd(t) : 0);
  if (lt < 0) return parseUri(t);

  const gt = t.indexOf('>', lt);
  if (gt < 0) throw malformed('name-addr without a closing ">"');
  const displayName = parseDisplayName(trimLws(t.slice(0, lt)));
  const addr = parseUri(t.slice(lt + 1, gt));
  const headerParams = trimLws(t.slice(gt + 1));
  if (headerParams !== '' && !headerParams.startsWith(';')) throw malformed('unexpected text after the URI in a name-addr');
  if (addr.gr === undefined && (addr.scheme === 'sip' || addr.scheme === 'sips')) {
    const headerGr = headerParam(headerParams, 'gr');
    if (headerGr !== undefined) addr.gr = headerGr;
  }
  if (displayName !== undefined) addr.displayName = displayName;
  return addr;
}

/** Index just past the quoted-string that starts `s` (RFC 3261 §25.1: backslash escapes one character). */
function quotedStringEnd(s: string): number {
  for (let i = 1; i < s.length; i++) {
    const ch = s.charAt(i);
    if (ch === '\\') i++;
    else if (ch === '"') return i + 1;
  }
  throw malformed('unterminated quoted display name');
}

function parseDisplayName(s: string): string | undefined {
  if (s === '') return undefined;
  if (s.startsWith('"')) {
    let out = '';
    for (let i = 1; i < s.length; i++) {
      const ch = s.charAt(i);
      if (ch === '\\') {
        i++;
        if (i >= s.length) break;
        out += s.charAt(i);
      } else if (ch === '"') {
        if (trimLws(s.slice(i + 1)) !== '') throw malformed('text after the quoted display name');
        return out;
      } else {
        out += ch;
      }
    }
    throw malformed('unterminated quoted display name');
  }
  // Unquoted: RFC 3261 tokens separated by LWS; non-ASCII tolerated because real UAs send it.
  if (/["\\<>]/.test(s) || CONTROL.test(s)) throw malformed('invalid unquoted display name');
  return s;
}

/** The value of one `;name=value` parameter in a header's parameter list (quotes respected). */
function headerParam(params: string, wanted: string): string | undefined {
  const items: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < params.length; i++) {
    const ch = params.charAt(i);
    if (quoted && ch === '\\') {
      cur += ch + params.charAt(i + 1);
      i++;
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === ';' && !quoted) {
      items.push(cur);
      cur = '';
    } else {
      cur += ch;
    }
  }
  items.push(cur);
  let found: string | undefined;
  for (const item of items) {
    const eq = item.indexOf('=');
    const name = trimLws(eq < 0 ? item : item.slice(0, eq)).toLowerCase();
    if (name !== wanted) continue;
    if (found !== undefined) throw malformed(`duplicate "${wanted}" parameter`);
    let value = eq < 0 ? '' : trimLws(item.slice(eq + 1));
    if (value.startsWith('"') && value.endsWith('"') && value.length >= 2) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    found = percentDecode(value, `"${wanted}" parameter`);
  }
  return found;
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;
const SIP_USER_RAW = /^[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+$/;
const IM_LOCAL_RAW = /^[A-Za-z0-9!#$%&'*+\-/=^_`{|}~.]+$/;
const PARAM_NAME = /^[A-Za-z0-9\-.!%*_+`'~]+$/;
const PARAM_VALUE_RAW = /^[A-Za-z0-9\-_.!~*'()[\]/:&+$%]*$/;

function parseUri(uri: string): SipAddress {
  // Only what no URI form may carry literally; each component's grammar check rejects the rest.
  if (/[\x00-\x20\x7f"<>\\]/.test(uri)) throw malformed(`invalid character in URI '${uri}'`);
  const m = SCHEME.exec(uri);
  if (!m) throw malformed(`no URI scheme in '${uri}'`);
  const scheme = (m[1] ?? '').toLowerCase();
  const rest = uri.slice(m[0].length);
  switch (scheme) {
    case 'sip':
    case 'sips':
      return parseSipRest(scheme, rest);
    case 'im':
    case 'pres':
      return parseImRest(scheme, rest);
    default:
      // tel: and other identifiers are out of scope (RFC 7247 §6.1); 416 per reference §1.1 [D].
      throw new AddressError('jid-malformed', 416, `unsupported URI scheme '${scheme}:' (RFC 7247 §6.1)`);
  }
}

function parseSipRest(scheme: 'sip' | 'sips', rest: string): SipAddress {
  // Split at the first '@' (RFC 7247 §6.4 step 2): the user part may contain ';' '?' '/', and neither the
  // host, the parameters nor the headers may contain a literal '@'.
  const at = rest.indexOf('@');
  const out: SipAddress = { scheme, host: '' };
  let hostEtc = rest;
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    hostEtc = rest.slice(at + 1);
    if (userinfo === '') throw malformed('empty user part');
    // A password cannot be carried into a JID and dropping it would silently change the URI's identity
    // (RFC 3261 §19.1.4 compares it), so such a URI is refused.
    if (userinfo.includes(':')) throw malformed('SIP URI with a password is not mapped');
    if (!SIP_USER_RAW.test(userinfo)) throw malformed(`invalid character in SIP user part '${userinfo}'`);
    out.user = percentDecode(userinfo, 'SIP user part');
  }
  const q = hostEtc.indexOf('?');
  const beforeHeaders = q < 0 ? hostEtc : hostEtc.slice(0, q);
  const [hostport = '', ...params] = beforeHeaders.split(';');
  const { host, port } = splitHostPort(hostport);
  out.host = hostToAscii(host);
  if (port !== undefined) out.port = port;
  for (const p of params) {
    const eq = p.indexOf('=');
    const name = eq < 0 ? p : p.slice(0, eq);
    const value = eq < 0 ? '' : p.slice(eq + 1);
    if (!PARAM_NAME.test(name) || !PARAM_VALUE_RAW.test(value)) throw malformed(`invalid URI parameter ';${p}'`);
    if (name.toLowerCase() !== 'gr') continue;
    if (out.gr !== undefined) throw malformed('duplicate gr parameter');
    out.gr = percentDecode(value, 'gr parameter');
  }
  return out;
}

function parseImRest(scheme: 'im' | 'pres', rest: string): SipAddress {
  // RFC 3860/3859: im:mailbox[?headers]; no parameters, no port.
  const q = rest.indexOf('?');
  const mailbox = q < 0 ? rest : rest.slice(0, q);
  const at = mailbox.indexOf('@');
  if (at <= 0) throw malformed(`${scheme}: URI without a local part`);
  const local = mailbox.slice(0, at);
  const host = mailbox.slice(at + 1);
  if (!IM_LOCAL_RAW.test(local)) throw malformed(`invalid character in ${scheme}: local part '${local}'`);
  if (/[:;]/.test(host.startsWith('[') ? host.replace(/^\[[^\]]*\]/, '') : host)) {
    throw malformed(`${scheme}: URI carries a port or parameters`);
  }
  return { scheme, user: percentDecode(local, `${scheme}: local part`), host: hostToAscii(host) };
}

function splitHostPort(hostport: string): { host: string; port?: number } {
  let host = hostport;
  let portText: string | undefined;
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close < 0) throw malformed(`invalid IPv6 reference in '${hostport}'`);
    host = hostport.slice(0, close + 1);
    const after = hostport.slice(close + 1);
    if (after !== '') {
      if (!after.startsWith(':')) throw malformed(`invalid host '${hostport}'`);
      portText = after.slice(1);
    }
  } else {
    const colon = hostport.indexOf(':');
    if (colon >= 0) {
      host = hostport.slice(0, colon);
      portText = hostport.slice(colon + 1);
    }
  }
  if (portText === undefined) return { host };
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) throw malformed(`invalid port '${portText}'`);
  return { host, port };
}

/**
 * Format a SIP/SIPS/IM/PRES URI with the canonical escaping of RFC 7247 §6.5 step 5 (and `gr` per step 8).
 * Control characters are refused rather than encoded: no valid JID contains one, so their presence means a
 * bug or an injection attempt. Structurally the output can never contain CR, LF, `<`, `>` or `"`.
 */
export function formatSipUri(a: SipAddress): string {
  const isSip = a.scheme === 'sip' || a.scheme === 'sips';
  if (!isSip && a.scheme !== 'im' && a.scheme !== 'pres') {
    throw new AddressError('jid-malformed', 416, `unsupported URI scheme '${String(a.scheme)}'`);
  }
  let out = `${a.scheme}:`;
  if (a.user !== undefined) {
    if (a.user === '') throw malformed('empty user part');
    if (CONTROL.test(a.user)) throw malformed('user part contains a control character');
    out += `${percentEncode(a.user, isSip ? SIP_USER_LITERAL : IM_LOCAL_LITERAL)}@`;
  } else if (!isSip) {
    throw malformed(`${a.scheme}: URI needs a local part`);
  }
  out += hostToAscii(a.host);
  if (a.port !== undefined) {
    if (!isSip) throw malformed(`${a.scheme}: URI cannot carry a port`);
    if (!Number.isInteger(a.port) || a.port < 1 || a.port > 65535) throw malformed(`invalid port ${a.port}`);
    out += `:${a.port}`;
  }
  if (a.gr !== undefined) {
    if (!isSip) throw malformed(`${a.scheme}: URI cannot carry a gr parameter (RFC 7247 §6.5 step 8)`);
    if (CONTROL.test(a.gr)) throw malformed('gr value contains a control character');
    out += a.gr === '' ? ';gr' : `;gr=${percentEncode(a.gr, PARAM_LITERAL)}`;
  }
  return out;
}

/** `"Display" <uri>` (or `<uri>`), for From/To/Contact. The display name is quoted and escaped. */
export function formatSipNameAddr(a: SipAddress): string {
  const uri = formatSipUri(a);
  if (a.displayName === undefined || a.displayName === '') return `<${uri}>`;
  if (CONTROL.test(a.displayName)) throw malformed('display name contains a control character');
  return `"${a.displayName.replace(/["\\]/g, '\\$&')}" <${uri}>`;
}

// ---------------------------------------------------------------------------------------------------------
// SIP → JID (RFC 7247 §6.4)

function refuseUnmappableScheme(addr: SipAddress): void {
  if (addr.scheme === 'sips') {
    // RFC 7247 §8: a SIPS URI MUST NOT be translated; answer per RFC 5630 §5.1.2 (reference §0.5 [D]).
    throw new AddressError('not-acceptable', 480, 'SIPS URI must not be translated into XMPP (RFC 7247 §8)', {
      code: 380,
      text: 'SIPS Not Allowed',
    });
  }
  if (addr.scheme !== 'sip' && addr.scheme !== 'im' && addr.scheme !== 'pres') {
    throw new AddressError('jid-malformed', 416, `unsupported URI scheme '${String(addr.scheme)}'`);
  }
}

/** Steps 3–6: decoded user → escaped, case-mapped, PRECIS-checked localpart. */
function userToLocalpart(user: string): string {
  if (user === '') throw malformed('empty user part');
  if (/[\r\n\0]/.test(user)) throw malformed('user part contains CR, LF or NUL');
  // Map first: width mapping can produce characters ('@' from U+FF20) that must then be escaped.
  return prepLocalpart(escapeJidLocal(mapUsernameCase(user)));
}

/** Step 8: a valued gr is a public GRUU → resource; a valueless gr is a temporary GRUU → no resource. */
function grToResource(gr: string | undefined): string | undefined {
  if (gr === undefined || gr === '') return undefined; // RFC 7247 §6.3: temporary GRUUs are not mapped
  return prepResourcepart(gr);
}

/**
 * SIP/IM/PRES address → JID (RFC 7247 §6.4 + XEP-0106).
 *
 * Without `via`: the plain RFC mapping, host copied as the domain (§6.1). Use it for an entity on the XMPP
 * side (the To of an S2X request). An IP-literal host is refused (404): an XMPP server does not federate
 * with one (reference §1.3 [D], safer reading).
 *
 * With `via`: the JID by which a SIP-side entity is represented through that component.
 * - 'domain' mode: the SIP host must be the component's domain, since a component can only stamp
 *   addresses inside its own domain (XEP-0114 §3, reference §0.1); otherwise 403/forbidden.
 * - 'escaped' mode: localpart = XEP-0106 escape of `user@host` (host as A-labels, keeping the localpart
 *   inside IdentifierClass), domain = the component domain. A URI without a user part is refused, so
 *   the reverse mapping never has to guess whether a localpart is a user or a host.
 *
 * SIPS is refused (480 + Warning 380, RFC 7247 §8); other schemes 416.
 */
export function sipToJid(addr: SipAddress, via?: ComponentAddressing): Jid {
  refuseUnmappableScheme(addr);
  if (addr.user === '') throw malformed('empty user part');
  const host = hostToAscii(addr.host);
  const resource = grToResource(addr.gr);
  const withResource = (j: Jid): Jid => (resource !== undefined ? { ...j, resource } : j);

  if (via?.mode === 'escaped') {
    if (addr.user === undefined) throw malformed('a SIP URI without a user part has no escaped-mode JID');
    const local = userToLocalpart(`${addr.user}@${host}`);
    return withResource({ local, domain: prepDomainpart(via.domain) });
  }
  if (via?.mode === 'domain') {
    if (hostToAscii(via.domain) !== host) {
      throw new AddressError('forbidden', 403, `SIP domain '${host}' is not served by component '${via.domain}'`);
    }
  } else if (via !== undefined) {
    throw new TypeError(`unknown addressing mode '${String((via as { mode: unknown }).mode)}'`);
  } else if (isIpLiteral(host)) {
    throw new AddressError('item-not-found', 404, `IP-literal host '${host}' has no XMPP domain`);
  }
  const domain = prepDomainpart(host);
  const base: Jid = addr.user !== undefined ? { local: userToLocalpart(addr.user), domain } : { domain };
  return withResource(base);
}

// ---------------------------------------------------------------------------------------------------------
// JID → SIP (RFC 7247 §6.5)

/**
 * JID → SIP/IM/PRES address (RFC 7247 §6.5). The localpart is XEP-0106-unescaped in full (reference §1.4
 * [D]) and left for formatSipUri to percent-encode; the resource becomes the `gr` parameter (sip only —
 * im:/pres: have no parameters, so the resource is not carried).
 * With an 'escaped' `via` whose domain is the JID's, `user\40host@component` becomes `user@host`; a
 * localpart that does not unescape to `user@host` is refused (404), as is the component's own JID.
 */
export function jidToSip(jid: Jid, via?: ComponentAddressing, options?: JidToSipOptions): SipAddress {
  const n = normalizeJid(jid);
  const scheme = options?.scheme ?? 'sip';
  let user: string | undefined;
  let host: string;
  if (via?.mode === 'escaped' && prepDomainpart(via.domain) === n.domain) {
    if (n.local === undefined) throw new AddressError('item-not-found', 404, 'the gateway component has no SIP address');
    const unescaped = unescapeJidLocal(n.local);
    // Split at the last '@': a host never contains one, a (decoded) SIP user may (XEP-0106 §5.1 note).
    const at = unescaped.lastIndexOf('@');
    if (at <= 0 || at === unescaped.length - 1) {
      throw new AddressError('item-not-found', 404, `'${n.local}' is not of the form user\\40host`);
    }
    user = unescaped.slice(0, at);
    host = hostToAscii(unescaped.slice(at + 1));
  } else {
    user = n.local !== undefined ? unescapeJidLocal(n.local) : undefined;
    host = hostToAscii(n.domain); // U-label → A-label (reference §1.1 note 1)
  }
  if (scheme !== 'sip' && user === undefined) throw malformed(`a JID without localpart has no ${scheme}: URI`);
  const out: SipAddress = { scheme, host };
  if (user !== undefined) out.user = user;
  if (n.resource !== undefined && scheme === 'sip') out.gr = n.resource;
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// XMPP URIs (RFC 5122), for <gone/> and <redirect/> character data (RFC 6120 §8.3.3.5, §8.3.3.14)

const XMPP_NODE_LITERAL = /^[A-Za-z0-9\-._~!$()*+,;=]$/;
const XMPP_RES_LITERAL = /^[A-Za-z0-9\-._~!$&'()*+,:;=]$/;

/** `xmpp:local@domain/resource` with RFC 5122 §2.2 percent-encoding; the domain as A-labels. */
export function formatXmppUri(jid: Jid): string {
  const n = normalizeJid(jid);
  const local = n.local !== undefined ? `${percentEncode(n.local, XMPP_NODE_LITERAL)}@` : '';
  const resource = n.resource !== undefined ? `/${percentEncode(n.resource, XMPP_RES_LITERAL)}` : '';
  return `xmpp:${local}${hostToAscii(n.domain)}${resource}`;
}

/** Parse an `xmpp:` URI (authority, query and fragment ignored) into a canonical JID. */
export function parseXmppUri(text: string): Jid {
  const t = text.trim();
  if (/[\x00-\x20\x7f]/.test(t)) throw malformed('XMPP URI contains whitespace or control characters');
  if (!/^xmpp:/i.test(t)) throw malformed(`not an xmpp: URI '${t}'`);
  let path = t.slice(5).replace(/[?#].*$/s, '');
  if (path.startsWith('//')) {
    const slash = path.indexOf('/', 2);
    path = slash < 0 ? '' : path.slice(slash + 1);
  }
  // Split before decoding: '%2F' in a resource or '%40' in a node must not move the part boundaries.
  const slash = path.indexOf('/');
  const beforeResource = slash < 0 ? path : path.slice(0, slash);
  const at = beforeResource.indexOf('@');
  const jid: Jid = { domain: percentDecode(at < 0 ? beforeResource : beforeResource.slice(at + 1), 'XMPP URI domain') };
  if (at >= 0) jid.local = percentDecode(beforeResource.slice(0, at), 'XMPP URI node');
  if (slash >= 0) jid.resource = percentDecode(path.slice(slash + 1), 'XMPP URI resource');
  return normalizeJid(jid);
}
