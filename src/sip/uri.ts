/**
 * SIP and SIPS URIs (RFC 3261 §19.1, grammar in §25), plus a lenient holder for the other schemes a
 * gateway meets in From/To/Request-URI (`tel:` RFC 3966, `im:`/`pres:` RFC 3860/3859).
 *
 * Components are stored unescaped so that code comparing or mapping them never sees `%61lice`;
 * `formatUri` escapes again with the character set of each component, which is what makes
 * `parseUri(formatUri(u))` mean the same as `u`.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { isUtf8 } from 'node:buffer';
import { SipSyntaxError } from './syntax-error.js';

export { SipSyntaxError } from './syntax-error.js';

export interface SipUri {
  /** Lower-case: 'sip' | 'sips' | 'tel' | 'im' | 'pres' | any other scheme. */
  scheme: string;
  /** Unescaped. For `tel:` the number; for other schemes without `@`, the whole opaque part. */
  user?: string;
  password?: string;
  /** Lower-case; IPv6 kept in brackets, e.g. "[::1]". Empty only for non-SIP schemes without a host. */
  host: string;
  port?: number;
  /** Parameter names lower-case; values unescaped, `null` for a parameter without `=` (e.g. `lr`). */
  params: ReadonlyMap<string, string | null>;
  /** URI headers (`?Subject=x&Priority=urgent`), names as written, values unescaped. */
  headers: ReadonlyMap<string, string>;
}

/**
 * What a URI without parameters or headers (most of them) holds: one shared, never-written map each, not
 * two fresh maps per parse; the types keep anyone from writing to them.
 */
const NO_URI_PARAMS: ReadonlyMap<string, string | null> = new Map();
const NO_URI_HEADERS: ReadonlyMap<string, string> = new Map();

// --- character classes (RFC 3261 §25.1) ---------------------------------------------------------

const ALPHANUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

function charTable(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (const c of chars) t[c.charCodeAt(0)] = 1;
  return t;
}

/** unreserved (alphanum / mark) plus `extra`. */
function unreservedPlus(extra: string): Uint8Array {
  return charTable(ALPHANUM + "-_.!~*'()" + extra);
}

const USER_CHARS = unreservedPlus('&=+$,;?/');
const PASSWORD_CHARS = unreservedPlus('&=+$,');
const PARAM_CHARS = unreservedPlus('[]/:&+$');
const HEADER_CHARS = unreservedPlus('[]/?:+$');
// Other schemes have no password, so ':' is just part of their opaque text (urn:service:sos); ';' and '?'
// stay escaped there because they start the parameters and headers.
const OPAQUE_CHARS = unreservedPlus('&=+$,/:');
const SCHEME_CHARS = charTable(ALPHANUM + '+-.');
const HOST_CHARS = charTable(ALPHANUM + '-.');

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** Checks `s` uses only the characters of `table` or well-formed %-escapes; returns whether it has escapes. */
function checkChars(s: string, table: Uint8Array, what: string): boolean {
  let escaped = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37 /* % */) {
      if (i + 2 >= s.length || !isHex(s.charCodeAt(i + 1)) || !isHex(s.charCodeAt(i + 2))) throw new SipSyntaxError(`Bad escape in URI ${what}`);
      escaped = true;
      i += 2;
    } else if (c >= 128 || table[c] !== 1) {
      throw new SipSyntaxError(`Invalid character in URI ${what}`);
    }
  }
  return escaped;
}

function unescapeChecked(s: string, table: Uint8Array, what: string): string {
  if (!checkChars(s, table, what)) return s;
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 37) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(c);
  }
  const buf = Buffer.from(bytes);
  // An escape is only meaningful as UTF-8 (RFC 3261 §25.1 via RFC 2396); other bytes cannot be mapped to XMPP.
  if (!isUtf8(buf)) throw new SipSyntaxError(`Invalid UTF-8 in URI ${what}`);
  return buf.toString('utf8');
}

function escape(s: string, table: Uint8Array): string {
  let clean = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || table[c] !== 1) {
      clean = false;
      break;
    }
  }
  if (clean) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b < 128 && table[b] === 1 ? String.fromCharCode(b) : '%' + (b < 16 ? '0' : '') + b.toString(16).toUpperCase();
  }
  return out;
}

// --- host and port ------------------------------------------------------------------------------

/**
 * Scans hostname / IPv4address (§25.1) from `start` in one pass and returns where it ends: labels of
 * alphanum with inner '-', an optional trailing dot. A toplabel starts with a letter, so a name whose
 * last label starts with a digit has to be a dotted-quad IPv4 address.
 */
function scanHostname(s: string, start: number, what: string): number {
  let i = start;
  let labelStart = start;
  let lastLabelStart = start;
  let labels = 0;
  let digitsOnly = true;
  let prev = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (i === labelStart || prev === 45) throw new SipSyntaxError(`Bad hostname in ${what}`);
      labels++;
      lastLabelStart = labelStart;
      labelStart = i + 1;
    } else if (c === 45 /* - */) {
      if (i === labelStart) throw new SipSyntaxError(`Bad hostname in ${what}`);
      digitsOnly = false;
    } else if (c >= 48 && c <= 57) {
      // digit
    } else if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90)) {
      digitsOnly = false;
    } else {
      break;
    }
    prev = c;
  }
  if (i === start) throw new SipSyntaxError(`Empty host in ${what}`);
  const trailingDot = i === labelStart;
  if (!trailingDot) {
    if (prev === 45) throw new SipSyntaxError(`Bad hostname in ${what}`);
    labels++;
    lastLabelStart = labelStart;
  }
  const top = s.charCodeAt(lastLabelStart);
  if (top >= 48 && top <= 57 && !(digitsOnly && labels === 4 && !trailingDot && isIPv4(s.slice(start, i)))) {
    throw new SipSyntaxError(`Bad IPv4 address in ${what}`);
  }
  return i;
}

/** Parses `host[:port]` starting at `start`; returns where it stopped (at `;`, `?` or end expected by the caller). */
function scanHostPort(s: string, start: number, what: string): { host: string; port: number | undefined; end: number } {
  let i = start;
  let host: string;
  if (s.charCodeAt(i) === 91 /* [ */) {
    const close = s.indexOf(']', i);
    if (close < 0) throw new SipSyntaxError(`Unterminated IPv6 reference in ${what}`);
    const inner = s.slice(i + 1, close);
    if (!isIPv6(inner) || inner.includes('%')) throw new SipSyntaxError(`Bad IPv6 reference in ${what}`);
    host = '[' + inner.toLowerCase() + ']';
    i = close + 1;
  } else {
    i = scanHostname(s, start, what);
    host = s.slice(start, i).toLowerCase();
  }
  let port: number | undefined;
  if (s.charCodeAt(i) === 58 /* : */) {
    const ps = ++i;
    while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
    const digits = s.slice(ps, i);
    if (digits === '' || digits.length > 5) throw new SipSyntaxError(`Bad port in ${what}`);
    port = Number(digits);
    if (port > 65535) throw new SipSyntaxError(`Bad port in ${what}`);
  }
  return { host, port, end: i };
}

/**
 * Parses a whole `host[:port]` (Via sent-by, Host-like values). Host lower-cased, IPv6 in brackets.
 * Exported for header-values.ts so that Via and URIs agree on what a host is.
 */
export function parseHostPort(text: string, what = 'host'): { host: string; port: number | undefined } {
  const r = scanHostPort(text, 0, what);
  if (r.end !== text.length) throw new SipSyntaxError(`Invalid character in ${what}`);
  return { host: r.host, port: r.port };
}

// --- parameters and headers ---------------------------------------------------------------------

function parseUriParams(s: string, start: number, end: number): Map<string, string | null> {
  // s[start] is ';'
  const params = new Map<string, string | null>();
  let i = start;
  while (i < end) {
    let j = s.indexOf(';', i + 1);
    if (j < 0 || j > end) j = end;
    const seg = s.slice(i + 1, j);
    if (seg === '') throw new SipSyntaxError('Empty URI parameter');
    const eq = seg.indexOf('=');
    const rawName = eq < 0 ? seg : seg.slice(0, eq);
    if (rawName === '') throw new SipSyntaxError('Empty URI parameter name');
    const name = unescapeChecked(rawName, PARAM_CHARS, 'parameter').toLowerCase();
    let value: string | null = null;
    if (eq >= 0) {
      const rawValue = seg.slice(eq + 1);
      if (rawValue === '') throw new SipSyntaxError(`Empty value for URI parameter ${name}`);
      value = unescapeChecked(rawValue, PARAM_CHARS, 'parameter');
    }
    if (params.has(name)) throw new SipSyntaxError(`Duplicate URI parameter ${name}`);
    params.set(name, value);
    i = j;
  }
  return params;
}

function parseUriHeaders(s: string): Map<string, string> {
  const headers = new Map<string, string>();
  for (const part of s.split('&')) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new SipSyntaxError('Bad URI header');
    const name = unescapeChecked(part.slice(0, eq), HEADER_CHARS, 'header');
    headers.set(name, unescapeChecked(part.slice(eq + 1), HEADER_CHARS, 'header'));
  }
  return headers;
}

// --- parse / format -----------------------------------------------------------------------------

export function parseUri(text: string): SipUri {
  const colon = text.indexOf(':');
  if (colon <= 0) throw new SipSyntaxError('Missing URI scheme');
  const first = text.charCodeAt(0);
  if (!((first >= 65 && first <= 90) || (first >= 97 && first <= 122))) throw new SipSyntaxError('Bad URI scheme');
  for (let i = 1; i < colon; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || SCHEME_CHARS[c] !== 1) throw new SipSyntaxError('Bad URI scheme');
  }
  const scheme = text.slice(0, colon).toLowerCase();
  return scheme === 'sip' || scheme === 'sips' ? parseSip(scheme, text, colon + 1) : parseOther(scheme, text, colon + 1);
}

function parseSip(scheme: string, s: string, start: number): SipUri {
  const uri: SipUri = { scheme, host: '', params: NO_URI_PARAMS, headers: NO_URI_HEADERS };
  let i = start;
  // The user part may hold ';' and '?' (user-unreserved) but never a raw '@', so the first '@' ends it.
  const at = s.indexOf('@', start);
  if (at >= 0) {
    const pc = s.indexOf(':', start);
    const userEnd = pc >= 0 && pc < at ? pc : at;
    const rawUser = s.slice(start, userEnd);
    if (rawUser === '') throw new SipSyntaxError('Empty user in URI');
    uri.user = unescapeChecked(rawUser, USER_CHARS, 'user');
    if (userEnd < at) uri.password = unescapeChecked(s.slice(userEnd + 1, at), PASSWORD_CHARS, 'password');
    i = at + 1;
  }
  const hp = scanHostPort(s, i, 'URI');
  uri.host = hp.host;
  if (hp.port !== undefined) uri.port = hp.port;
  i = hp.end;
  const q = s.indexOf('?', i);
  const paramsEnd = q < 0 ? s.length : q;
  if (i < paramsEnd) {
    if (s.charCodeAt(i) !== 59 /* ; */) throw new SipSyntaxError('Invalid character in URI host');
    uri.params = parseUriParams(s, i, paramsEnd);
  }
  if (q >= 0) uri.headers = parseUriHeaders(s.slice(q + 1));
  return uri;
}

function parseOther(scheme: string, s: string, start: number): SipUri {
  const uri: SipUri = { scheme, host: '', params: NO_URI_PARAMS, headers: NO_URI_HEADERS };
  const q = s.indexOf('?', start);
  const mainEnd = q < 0 ? s.length : q;
  let at = s.indexOf('@', start);
  if (at >= mainEnd) at = -1;
  let semi = s.indexOf(';', at < 0 ? start : at);
  if (semi >= mainEnd) semi = -1;
  const coreEnd = semi < 0 ? mainEnd : semi;
  if (at >= 0) {
    const rawUser = s.slice(start, at);
    if (rawUser === '') throw new SipSyntaxError('Empty user in URI');
    uri.user = unescapeChecked(rawUser, OPAQUE_CHARS, 'user');
    const hp = parseHostPort(s.slice(at + 1, coreEnd), 'URI host');
    uri.host = hp.host;
    if (hp.port !== undefined) uri.port = hp.port;
  } else {
    const raw = s.slice(start, coreEnd);
    if (raw === '') throw new SipSyntaxError(`Empty ${scheme} URI`);
    uri.user = unescapeChecked(raw, OPAQUE_CHARS, 'user');
  }
  if (semi >= 0) uri.params = parseUriParams(s, semi, mainEnd);
  if (q >= 0) uri.headers = parseUriHeaders(s.slice(q + 1));
  return uri;
}

function formatHost(host: string): string {
  for (let i = 0; i < host.length; i++) {
    const c = host.charCodeAt(i);
    const ok = (c < 128 && HOST_CHARS[c] === 1) || c === 58 || c === 91 || c === 93;
    // A host is written raw, so this is the only guard against a host smuggling in '>' or CRLF.
    if (!ok) throw new SipSyntaxError('Invalid character in URI host');
  }
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function formatUri(uri: SipUri): string {
  const scheme = uri.scheme.toLowerCase();
  const sip = scheme === 'sip' || scheme === 'sips';
  let out = scheme + ':';
  if (uri.user !== undefined && uri.user !== '') {
    out += escape(uri.user, sip ? USER_CHARS : OPAQUE_CHARS);
    if (uri.password !== undefined && sip) out += ':' + escape(uri.password, PASSWORD_CHARS);
    if (uri.host !== '') out += '@';
  } else if (sip && uri.host === '') {
    throw new SipSyntaxError('Empty host in URI');
  }
  if (uri.host !== '') {
    out += formatHost(uri.host);
    if (uri.port !== undefined) {
      if (!Number.isInteger(uri.port) || uri.port < 0 || uri.port > 65535) throw new SipSyntaxError('Bad port in URI');
      out += ':' + String(uri.port);
    }
  }
  for (const [name, value] of uri.params) {
    out += ';' + escape(name, PARAM_CHARS);
    if (value !== null) out += '=' + escape(value, PARAM_CHARS);
  }
  let sep = '?';
  for (const [name, value] of uri.headers) {
    out += sep + escape(name, HEADER_CHARS) + '=' + escape(value, HEADER_CHARS);
    sep = '&';
  }
  return out;
}

// --- comparison (RFC 3261 §19.1.4) --------------------------------------------------------------

/** Parameters that, present in one URI only, make the URIs differ (§19.1.4). */
const SIGNIFICANT_PARAMS = ['user', 'ttl', 'method', 'maddr', 'transport'];

function sameParamValue(a: string | null, b: string | null): boolean {
  if (a === null || b === null) return a === b;
  return a === b || a.toLowerCase() === b.toLowerCase();
}

function sameHeaders(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  const lowered = new Map<string, string>();
  for (const [n, v] of b) lowered.set(n.toLowerCase(), v);
  for (const [n, v] of a) {
    if (lowered.get(n.toLowerCase()) !== v) return false;
  }
  return true;
}

/** RFC 3966 §4: visual separators carry no meaning in a telephone number. */
function telNumber(user: string | undefined): string {
  return (user ?? '').replace(/[-.()]/g, '').toLowerCase();
}

export function uriEquals(a: SipUri, b: SipUri): boolean {
  if (a.scheme !== b.scheme) return false;
  const sip = a.scheme === 'sip' || a.scheme === 'sips';
  if (a.scheme === 'tel') {
    if (telNumber(a.user) !== telNumber(b.user)) return false;
  } else if ((a.user ?? '') !== (b.user ?? '')) {
    return false;
  }
  if (a.password !== b.password) return false;
  if (a.host.toLowerCase() !== b.host.toLowerCase()) return false;
  // An absent port and an explicit 5060 are different URIs (§19.1.4).
  if (a.port !== b.port) return false;
  if (sip) {
    for (const p of SIGNIFICANT_PARAMS) {
      const av = a.params.get(p);
      const bv = b.params.get(p);
      if (av === undefined && bv === undefined) continue;
      if (av === undefined || bv === undefined || !sameParamValue(av, bv)) return false;
    }
    for (const [name, av] of a.params) {
      const bv = b.params.get(name);
      if (bv !== undefined && !sameParamValue(av, bv)) return false;
    }
  } else {
    if (a.params.size !== b.params.size) return false;
    for (const [name, av] of a.params) {
      const bv = b.params.get(name);
      if (bv === undefined || !sameParamValue(av, bv)) return false;
    }
  }
  return sameHeaders(a.headers, b.headers);
}
