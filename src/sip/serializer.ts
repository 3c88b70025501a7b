/**
 * SIP message → bytes (RFC 3261 §7). The serializer is the last place a header value can be checked
 * before it reaches the wire, so it refuses CR, LF and NUL in any value rather than trusting that
 * every caller (some fed from XMPP) sanitized its input.
 */
import type { SipMessage } from './message.js';

/** Names whose conventional spelling is not "capitalize each word" (RFC 3261 §20 and later RFCs). */
const SPECIAL_NAMES: Readonly<Record<string, string>> = {
  'call-id': 'Call-ID',
  cseq: 'CSeq',
  'www-authenticate': 'WWW-Authenticate',
  'mime-version': 'MIME-Version',
  rack: 'RAck',
  rseq: 'RSeq',
  'sip-etag': 'SIP-ETag',
  'sip-if-match': 'SIP-If-Match',
  'content-id': 'Content-ID',
  'session-id': 'Session-ID',
  'p-associated-uri': 'P-Associated-URI',
  'p-called-party-id': 'P-Called-Party-ID',
  'p-visited-network-id': 'P-Visited-Network-ID',
  'p-dcs-osps': 'P-DCS-OSPS',
};

const canonicalCache = new Map<string, string>();

/** `call-id` → `Call-ID`, `x-foo-bar` → `X-Foo-Bar`. */
export function canonicalHeaderName(lowerName: string): string {
  let c = canonicalCache.get(lowerName);
  if (c !== undefined) return c;
  c =
    SPECIAL_NAMES[lowerName] ??
    lowerName
      .split('-')
      .map((w) => (w === '' ? w : w.charAt(0).toUpperCase() + w.slice(1)))
      .join('-');
  // Header names come from code and from parsed messages; bounding the cache keeps a flood of odd names harmless.
  if (canonicalCache.size < 1024 && TOKEN_RE.test(lowerName)) canonicalCache.set(lowerName, c);
  return c;
}

/** `call-id` → `Call-ID: `, the start of each header line, one concatenation fewer per header. */
const linePrefixCache = new Map<string, string>();

const TOKEN_RE = /^[A-Za-z0-9.!%*_+`'~-]+$/;
const FORBIDDEN_RE = /[\r\n\0]/;
const URI_FORBIDDEN_RE = /[\s\0]/;

export function serializeMessage(m: SipMessage): Buffer {
  const head = serializeHead(m);
  const headLen = Buffer.byteLength(head, 'utf8');
  const out = Buffer.allocUnsafe(headLen + m.body.length);
  out.write(head, 0, headLen, 'utf8');
  if (m.body.length > 0) m.body.copy(out, headLen);
  return out;
}

/**
 * Start line and headers through the blank line, Content-Length from the body: what `serializeMessage`
 * encodes as UTF-8 ahead of the body, for callers that put the bytes somewhere of their own.
 */
export function serializeHead(m: SipMessage): string {
  let head: string;
  if (m.kind === 'request') {
    if (!TOKEN_RE.test(m.method)) throw new Error(`Refusing to serialize: bad method ${JSON.stringify(m.method)}`);
    if (m.uri === '' || URI_FORBIDDEN_RE.test(m.uri)) throw new Error('Refusing to serialize: bad Request-URI');
    head = m.method + ' ' + m.uri + ' SIP/2.0\r\n';
  } else {
    if (!Number.isInteger(m.status) || m.status < 100 || m.status > 699) throw new Error(`Refusing to serialize: bad status ${m.status}`);
    if (FORBIDDEN_RE.test(m.reason)) throw new Error('Refusing to serialize: CR, LF or NUL in reason phrase');
    head = 'SIP/2.0 ' + String(m.status) + ' ' + m.reason + '\r\n';
  }
  for (const [name, value] of m.headers.entries) {
    if (name === 'content-length') continue;
    // Only token names are ever cached, so a cache hit needs no further check.
    let prefix = linePrefixCache.get(name);
    if (prefix === undefined) {
      if (!TOKEN_RE.test(name)) throw new Error(`Refusing to serialize: bad header name ${JSON.stringify(name)}`);
      prefix = canonicalHeaderName(name) + ': ';
      if (linePrefixCache.size < 1024) linePrefixCache.set(name, prefix);
    }
    // indexOf is a native scan with no per-call regex set-up; a CR or LF would start a header of the value's choosing.
    if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) throw new Error(`Refusing to serialize: CR, LF or NUL in ${canonicalHeaderName(name)}`);
    head += prefix + value + '\r\n';
  }
  // NUL cannot come from the start line (checked above) or the names (tokens), so one scan covers every value.
  if (head.indexOf('\0') >= 0) {
    const bad = m.headers.entries.find(([n, v]) => n !== 'content-length' && v.includes('\0'));
    throw new Error(`Refusing to serialize: CR, LF or NUL in ${canonicalHeaderName(bad?.[0] ?? 'a header')}`);
  }
  return head + 'Content-Length: ' + String(m.body.length) + '\r\n\r\n';
}
