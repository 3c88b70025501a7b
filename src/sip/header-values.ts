/**
 * Typed views of the SIP header field values the stack reads (RFC 3261 §20, grammar in §25).
 *
 * The parser keeps header values as text; these functions are called on demand, so a message whose
 * Subject nobody reads never pays for parsing it. Generic parameter values are kept as written, a
 * quoted-string with its quotes, so that formatting reproduces the same meaning (`"TRUE"` and `TRUE`
 * are different feature-tag values in RFC 3840); use `unquote` for the content.
 */
import { SipSyntaxError } from './syntax-error.js';
import { formatUri, parseHostPort, parseUri, type SipUri } from './uri.js';

export { SipSyntaxError } from './syntax-error.js';

// --- lexical helpers ----------------------------------------------------------------------------

/** token (§25.1): alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" */
const TOKEN = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") TOKEN[c.charCodeAt(0)] = 1;

/** gen-value without quotes is token / host (§25.1); a host adds ':' '[' ']' for IPv6 (received=2001:db8::1). */
const BARE_VALUE = TOKEN.slice();
for (const c of ':[]') BARE_VALUE[c.charCodeAt(0)] = 1;

function isToken(s: string): boolean {
  if (s === '') return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] !== 1) return false;
  }
  return true;
}

export function isSipToken(s: string): boolean {
  return isToken(s);
}

function isLws(c: number): boolean {
  return c === 32 || c === 9;
}

function skipLws(s: string, i: number): number {
  while (i < s.length && isLws(s.charCodeAt(i))) i++;
  return i;
}

function trimLws(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && isLws(s.charCodeAt(a))) a++;
  while (b > a && isLws(s.charCodeAt(b - 1))) b--;
  return a === 0 && b === s.length ? s : s.slice(a, b);
}

/** s[from, to) without surrounding LWS, sliced once. */
function trimmedSlice(s: string, from: number, to: number): string {
  while (from < to && isLws(s.charCodeAt(from))) from++;
  while (to > from && isLws(s.charCodeAt(to - 1))) to--;
  return s.slice(from, to);
}

/** Index just past the closing quote of the quoted-string opening at `i`. */
function scanQuoted(s: string, i: number): number {
  for (let j = i + 1; j < s.length; j++) {
    const c = s.charCodeAt(j);
    if (c === 92 /* \ */) j++;
    else if (c === 34 /* " */) return j + 1;
  }
  throw new SipSyntaxError('Unterminated quoted string');
}

/** The content of a quoted-string (`"a \"b\""` → `a "b"`); a value without quotes is returned unchanged. */
export function unquote(value: string): string {
  if (value.length < 2 || value.charCodeAt(0) !== 34 || value.charCodeAt(value.length - 1) !== 34) return value;
  const inner = value.slice(1, -1);
  return inner.includes('\\') ? inner.replace(/\\(.)/gs, '$1') : inner;
}

/**
 * Quotes text as a quoted-string. Control characters (CR, LF, NUL, ...) are dropped rather than
 * escaped: quoted-pair cannot carry CR or LF (§25.1), and the text may come from XMPP.
 */
export function quote(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '');
  return '"' + clean.replace(/["\\]/g, '\\$&') + '"';
}

// --- params -------------------------------------------------------------------------------------

/**
 * Parses `;a=b;c;d="quoted"` (LWS allowed around `;` and `=`). Names are lower-cased; a value is kept
 * as written (a quoted-string keeps its quotes); a parameter without `=` maps to `null`.
 */
export function parseParams(text: string): Map<string, string | null> {
  const params = new Map<string, string | null>();
  parseParamsInto(text, 0, params);
  return params;
}

function parseParamsInto(s: string, start: number, params: Map<string, string | null>): void {
  let i = skipLws(s, start);
  while (i < s.length) {
    if (s.charCodeAt(i) !== 59 /* ; */) throw new SipSyntaxError('Expected ";" before parameter');
    i = skipLws(s, i + 1);
    const ns = i;
    let upper = false;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 128 || TOKEN[c] !== 1) break;
      if (c <= 90 && c >= 65) upper = true;
    }
    if (i === ns) throw new SipSyntaxError('Empty parameter name');
    // Names are nearly always written in lower case already; only the others need a lower-cased copy.
    const name = upper ? s.slice(ns, i).toLowerCase() : s.slice(ns, i);
    i = skipLws(s, i);
    let value: string | null = null;
    if (s.charCodeAt(i) === 61 /* = */) {
      i = skipLws(s, i + 1);
      const vs = i;
      if (s.charCodeAt(i) === 34) {
        i = scanQuoted(s, i);
      } else {
        while (i < s.length && s.charCodeAt(i) < 128 && BARE_VALUE[s.charCodeAt(i)] === 1) i++;
        if (i === vs) throw new SipSyntaxError(`Empty value for parameter ${name}`);
      }
      value = s.slice(vs, i);
      i = skipLws(s, i);
    }
    // Two values for one name leave the meaning ambiguous (which tag? which branch?). One hash lookup:
    // an unchanged size means the name was there already (the overwritten value is thrown away with the error).
    const size = params.size;
    params.set(name, value);
    if (params.size === size) throw new SipSyntaxError(`Duplicate parameter ${name}`);
  }
}

function isBareValue(v: string): boolean {
  if (v === '') return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 128 || BARE_VALUE[c] !== 1) return false;
  }
  return true;
}

function isQuotedString(v: string): boolean {
  if (v.length < 2 || v.charCodeAt(0) !== 34) return false;
  try {
    return scanQuoted(v, 0) === v.length;
  } catch {
    return false;
  }
}

/** HTAB is LWS, which qdtext allows (§25.1); other controls cannot be written inside quotes. */
function isWellFormedQuoted(v: string): boolean {
  return isQuotedString(v) && !/[\u0000-\u0008\u000a-\u001f\u007f]/.test(v);
}

/**
 * Formats params; a value that is neither a bare token/host nor a well-formed quoted-string is quoted.
 * A quoted-string holding controls is quoted again from its content: wrapping it whole would turn its
 * quotes into part of the value.
 */
export function formatParams(params: ReadonlyMap<string, string | null>): string {
  let out = '';
  for (const [name, value] of params) {
    if (!isToken(name)) throw new SipSyntaxError(`Bad parameter name ${JSON.stringify(name)}`);
    out += ';' + name;
    if (value !== null) out += '=' + (isBareValue(value) || isWellFormedQuoted(value) ? value : quote(isQuotedString(value) ? unquote(value) : value));
  }
  return out;
}

// --- comma lists --------------------------------------------------------------------------------

/**
 * Splits a header value on the commas that separate values (§7.3.1), ignoring commas inside
 * quoted-strings and `<...>`. Pieces are trimmed; empty pieces are dropped.
 */
export function splitHeaderValues(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  if (value.indexOf('"') < 0 && value.indexOf('<') < 0) {
    // Nothing can hide a comma (Allow, Supported, most Vias): split on each one without a scan per character.
    for (let i = value.indexOf(','); i >= 0; i = value.indexOf(',', start)) {
      const piece = trimmedSlice(value, start, i);
      if (piece !== '') out.push(piece);
      start = i + 1;
    }
    const last = trimmedSlice(value, start, value.length);
    if (last !== '') out.push(last);
    return out;
  }
  let angle = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 34) {
      i = scanQuoted(value, i) - 1;
    } else if (c === 60 /* < */) {
      // A URI never holds a raw '<' (§25.1), so a second one means the first was never closed.
      if (angle) throw new SipSyntaxError('Unterminated <');
      angle = true;
    } else if (c === 62 /* > */) {
      angle = false;
    } else if (c === 44 /* , */ && !angle) {
      const piece = trimmedSlice(value, start, i);
      if (piece !== '') out.push(piece);
      start = i + 1;
    }
  }
  if (angle) throw new SipSyntaxError('Unterminated <');
  const last = trimmedSlice(value, start, value.length);
  if (last !== '') out.push(last);
  return out;
}

// --- Via ----------------------------------------------------------------------------------------

export interface Via {
  /** "SIP/2.0" */
  protocol: string;
  /** Upper-case, e.g. "UDP". */
  transport: string;
  host: string;
  port?: number;
  params: Map<string, string | null>;
}

/** Parses one via-parm: `SIP / 2.0 / UDP host:port;branch=z9hG4bK...` (LWS allowed around the slashes). */
export function parseVia(value: string): Via {
  const s = value;
  let i = skipLws(s, 0);
  let protocol: string;
  if (s.startsWith('SIP/2.0/', i)) {
    // The form every sender uses; skipping the general path keeps Via parsing off the profile.
    protocol = 'SIP/2.0';
    i += 8;
  } else {
    const ns = i;
    i = tokenEnd(s, i);
    const name = s.slice(ns, i);
    i = expectSlash(s, i);
    const vs = i;
    i = tokenEnd(s, i);
    const version = s.slice(vs, i);
    i = expectSlash(s, i);
    if (name === '' || version === '') throw new SipSyntaxError('Bad Via sent-protocol');
    protocol = name.toUpperCase() + '/' + version;
  }
  const ts = i;
  i = tokenEnd(s, i);
  if (i === ts) throw new SipSyntaxError('Bad Via sent-protocol');
  const transport = transportName(s, ts, i);
  const afterTransport = i;
  i = skipLws(s, i);
  if (i === s.length) throw new SipSyntaxError('Missing Via sent-by');
  if (i === afterTransport) throw new SipSyntaxError('Missing space after Via sent-protocol');
  // sent-by runs to the first ';' (or the end); LWS may precede the port colon and the ';'.
  let end = s.indexOf(';', i);
  if (end < 0) end = s.length;
  const via: Via = { protocol, transport, host: '', params: new Map<string, string | null>() };
  if (!scanPlainSentBy(s, i, end, via)) {
    const sentBy = compactSentBy(trimLws(s.slice(i, end)));
    if (sentBy === '') throw new SipSyntaxError('Missing Via sent-by');
    const hp = parseHostPort(sentBy, 'Via sent-by');
    via.host = hp.host;
    if (hp.port !== undefined) via.port = hp.port;
  }
  parseParamsInto(s, end, via.params);
  checkViaParams(via.params);
  return via;
}

/** The transports senders write, upper-case already: no copy for them. */
const KNOWN_TRANSPORTS = ['UDP', 'TCP', 'TLS', 'SCTP', 'TLS-SCTP', 'WS', 'WSS'];

function transportName(s: string, from: number, to: number): string {
  for (const t of KNOWN_TRANSPORTS) if (t.length === to - from && s.startsWith(t, from)) return t;
  return s.slice(from, to).toUpperCase();
}

/**
 * The sent-by almost every sender writes: a hostname or a dotted-quad IPv4 address, an optional port, maybe
 * LWS before the ';'. Fills `via.host` / `via.port` and returns true when s[from, to) is that and valid;
 * returns false for anything else (IPv6, LWS around the colon, any doubt), which `parseHostPort` then
 * judges. It accepts only what `parseHostPort` accepts, with the same result (test/unit/sip/header-values).
 */
function scanPlainSentBy(s: string, from: number, to: number, via: Via): boolean {
  let i = from;
  let labelStart = from;
  let labels = 0;
  let upper = false;
  let prev = 0;
  let topIsDigit = false;
  for (; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (i === labelStart || prev === 45) return false;
      labels++;
      labelStart = i + 1;
    } else if (c === 45 /* - */) {
      if (i === labelStart) return false;
    } else if (c >= 48 && c <= 57) {
      if (i === labelStart) topIsDigit = true;
    } else if (c >= 97 && c <= 122) {
      if (i === labelStart) topIsDigit = false;
    } else if (c >= 65 && c <= 90) {
      if (i === labelStart) topIsDigit = false;
      upper = true;
    } else {
      break;
    }
    prev = c;
  }
  const hostEnd = i;
  // A trailing dot, an empty host or a label ending in '-' is left to the general path.
  if (hostEnd === from || hostEnd === labelStart || prev === 45) return false;
  labels++;
  if (topIsDigit && !isDottedQuad(s, from, hostEnd, labels)) return false;
  let port: number | undefined;
  if (i < to && s.charCodeAt(i) === 58 /* : */) {
    const ps = ++i;
    let n = 0;
    for (; i < to; i++) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      n = n * 10 + (c - 48);
    }
    if (i === ps || i - ps > 5 || n > 65535) return false;
    port = n;
  }
  while (i < to && isLws(s.charCodeAt(i))) i++;
  if (i !== to) return false;
  const host = s.slice(from, hostEnd);
  via.host = upper ? host.toLowerCase() : host;
  if (port !== undefined) via.port = port;
  return true;
}

/** What `net.isIPv4` accepts: four decimal octets 0-255 without leading zeros. */
function isDottedQuad(s: string, from: number, to: number, labels: number): boolean {
  if (labels !== 4) return false;
  let octetStart = from;
  let n = 0;
  for (let i = from; i <= to; i++) {
    const c = i < to ? s.charCodeAt(i) : 46;
    if (c === 46) {
      const len = i - octetStart;
      if (len === 0 || len > 3 || n > 255 || (len > 1 && s.charCodeAt(octetStart) === 48)) return false;
      octetStart = i + 1;
      n = 0;
    } else if (c >= 48 && c <= 57) {
      n = n * 10 + (c - 48);
    } else {
      return false;
    }
  }
  return true;
}

function tokenEnd(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TOKEN[c] !== 1) break;
    i++;
  }
  return i;
}

/** Skips `LWS "/" LWS` (SLASH, §25.1) or throws. */
function expectSlash(s: string, i: number): number {
  i = skipLws(s, i);
  if (s.charCodeAt(i) !== 47) throw new SipSyntaxError('Bad Via sent-protocol');
  return skipLws(s, i + 1);
}

/** Drops the LWS that §25 allows around the port colon of sent-by (`host : 5060`). */
function compactSentBy(s: string): string {
  if (s.indexOf(' ') < 0 && s.indexOf('\t') < 0) return s;
  const c = s.lastIndexOf(':');
  if (c < 0 || s.lastIndexOf(']') > c) return s;
  return trimLws(s.slice(0, c)) + ':' + trimLws(s.slice(c + 1));
}

function checkViaParams(params: Map<string, string | null>): void {
  const ttl = params.get('ttl');
  if (ttl !== undefined && (ttl === null || !/^\d{1,3}$/.test(ttl) || Number(ttl) > 255)) throw new SipSyntaxError('Bad Via ttl');
  const branch = params.get('branch');
  if (branch === null || (branch !== undefined && !isToken(branch))) throw new SipSyntaxError('Bad Via branch');
  const rport = params.get('rport');
  if (rport !== undefined && rport !== null && !isPort(rport)) throw new SipSyntaxError('Bad Via rport');
}

/** 1 to 5 digits, at most 65535. */
function isPort(v: string): boolean {
  if (v.length === 0 || v.length > 5) return false;
  let n = 0;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 48 || c > 57) return false;
    n = n * 10 + (c - 48);
  }
  return n <= 65535;
}

export function formatVia(v: Via): string {
  if (!isToken(v.transport)) throw new SipSyntaxError('Bad Via transport');
  if (!/^[A-Za-z0-9.!%*_+`'~-]+\/[A-Za-z0-9.!%*_+`'~-]+$/.test(v.protocol)) throw new SipSyntaxError('Bad Via protocol');
  const hostPort = parseHostPort(v.host.includes(':') && !v.host.startsWith('[') ? `[${v.host}]` : v.host, 'Via sent-by');
  let out = `${v.protocol}/${v.transport.toUpperCase()} ${hostPort.host}`;
  if (v.port !== undefined) out += ':' + String(v.port);
  return out + formatParams(v.params);
}

export function viaBranch(v: Via): string | undefined {
  return v.params.get('branch') ?? undefined;
}

// --- name-addr / addr-spec ----------------------------------------------------------------------

/** The parameters of a name-addr without any; read-only by type, so one map serves them all. */
const NO_PARAMS: ReadonlyMap<string, string | null> = new Map();

export interface NameAddr {
  displayName?: string;
  uri: SipUri;
  /** Header parameters (tag, expires, q, +sip.instance ...), not URI parameters. */
  params: ReadonlyMap<string, string | null>;
}

/**
 * Parses From/To/Contact/Route-style values: `"Bob" <sip:b@x>;tag=1`, `Bob <sip:b@x>` and the bare
 * addr-spec `sip:b@x;tag=1`, where (§20) everything after the first ';' is a header parameter.
 */
export function parseNameAddr(value: string): NameAddr {
  return scanNameAddr(value, true, undefined)!;
}

/**
 * The checks `parseNameAddr` makes, keeping nothing (request validation). A URI spelled exactly as
 * `validUri`, which the caller has already parsed without error, is not parsed again: To usually repeats
 * the Request-URI.
 */
export function checkNameAddr(value: string, validUri?: string): void {
  scanNameAddr(value, false, validUri);
}

function scanNameAddr(value: string, keep: boolean, validUri: string | undefined): NameAddr | undefined {
  const s = value;
  let i = skipLws(s, 0);
  if (i === s.length) throw new SipSyntaxError('Empty address');
  let displayName: string | undefined;
  let uriText: string;
  if (s.charCodeAt(i) === 34) {
    const end = scanQuoted(s, i);
    if (keep) displayName = unquote(s.slice(i, end));
    i = skipLws(s, end);
    if (s.charCodeAt(i) !== 60) throw new SipSyntaxError('Expected < after display name');
  } else {
    const lt = s.indexOf('<', i);
    if (lt >= 0 && isDisplayTokens(s, i, lt)) {
      if (keep && lt > i) {
        const d = trimLws(s.slice(i, lt)).replace(/[ \t]+/g, ' ');
        if (d !== '') displayName = d;
      }
      i = lt;
    }
  }
  if (s.charCodeAt(i) === 60) {
    const gt = s.indexOf('>', i);
    if (gt < 0) throw new SipSyntaxError('Unterminated <');
    uriText = trimmedSlice(s, i + 1, gt);
    i = gt + 1;
  } else {
    // A bare addr-spec cannot contain ',', '?' or ';' of its own (§20), so its URI ends at the first ';'.
    let end = s.indexOf(';', i);
    if (end < 0) end = s.length;
    uriText = trimmedSlice(s, i, end);
    if (uriText.includes('?') || uriText.includes(',') || /[ \t]/.test(uriText)) throw new SipSyntaxError('Bad addr-spec');
    i = end;
  }
  const uri = keep || uriText !== validUri ? parseUri(uriText) : undefined;
  // Most addresses other than a From or a tagged To carry no header parameter: share one empty map.
  let params: ReadonlyMap<string, string | null> = NO_PARAMS;
  if (skipLws(s, i) < s.length) {
    const own = new Map<string, string | null>();
    parseParamsInto(s, i, own);
    params = own;
  }
  if (!keep || !uri) return undefined;
  const na: NameAddr = { uri, params };
  if (displayName !== undefined) na.displayName = displayName;
  return na;
}

/** Whether s[from, to) is `*(token LWS)`; non-ASCII letters are tolerated since UAs send unquoted names in UTF-8. */
function isDisplayTokens(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!(c >= 128 || TOKEN[c] === 1 || isLws(c))) return false;
  }
  return true;
}

/** Always `"Name" <uri>;params`: the angle brackets keep URI parameters apart from header parameters. */
export function formatNameAddr(na: NameAddr): string {
  let out = '';
  if (na.displayName !== undefined) {
    const q = quote(na.displayName);
    if (q !== '""') out = q + ' ';
  }
  return out + '<' + formatUri(na.uri) + '>' + formatParams(na.params);
}

// --- CSeq ---------------------------------------------------------------------------------------

export interface CSeq {
  seq: number;
  method: string;
}

/** `CSeq: 4711 INVITE`; the number must fit in 31 bits (§8.1.1.5). */
export function parseCSeq(value: string): CSeq {
  const s = trimLws(value);
  let i = 0;
  while (i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57) i++;
  if (i === 0) throw new SipSyntaxError('CSeq number missing');
  if (i > 10) throw new SipSyntaxError('CSeq number out of range');
  const seq = Number(s.slice(0, i));
  if (seq > 0x7fffffff) throw new SipSyntaxError('CSeq number out of range');
  if (!isLws(s.charCodeAt(i))) throw new SipSyntaxError('CSeq method missing');
  const method = s.slice(skipLws(s, i));
  if (!isToken(method)) throw new SipSyntaxError('Bad CSeq method');
  return { seq, method };
}

export function formatCSeq(c: CSeq): string {
  if (!Number.isInteger(c.seq) || c.seq < 0 || c.seq > 0x7fffffff) throw new SipSyntaxError('CSeq number out of range');
  if (!isToken(c.method)) throw new SipSyntaxError('Bad CSeq method');
  return `${c.seq} ${c.method}`;
}
