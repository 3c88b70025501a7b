/**
 * Bytes → SIP message (RFC 3261 §7, §18.3), with the checks a server must make before it may act on a
 * request (§8.1.1, §8.2). Parsing never throws: a broken message yields `ok: false` with a reason short
 * enough for a Reason-Phrase and, when the request line and header lines could be split, a `partial`
 * request so that the caller can still answer 400 to the right Via.
 *
 * Header values stay text; only Content-Length and what validation needs are looked into. Typed views
 * live in header-values.ts.
 */
import { isUtf8 } from 'node:buffer';
import { EMPTY_BODY, SipHeaders, type SipMessage, type SipRequest, type SipResponse } from './message.js';
import { checkNameAddr, isSipToken, parseCSeq, parseVia, splitHeaderValues, type Via } from './header-values.js';
import { canonicalHeaderName } from './serializer.js';
import { parseUri, type SipUri } from './uri.js';

export interface ParseOptions {
  /** Largest accepted message in bytes; default 65536. */
  maxSize?: number;
  /** True for TCP/TLS, where Content-Length is mandatory (§18.3, §20.14). */
  stream?: boolean;
  /** Most header entries (after comma lists are split) accepted; default 500. Bounds work per message. */
  maxHeaders?: number;
}

/**
 * Reasons worth a specific answer: 'Version Not Supported' (send 505) and 'Message too large' (with
 * `tooLarge`, send 513). Any other reason on a request with `partial` calls for 400. `partial` is
 * absent for responses, and when the header lines could not be split or hold forbidden bytes (NUL,
 * bare CR/LF, other controls): echoing such headers in a 400 would only carry the damage further.
 */
export type ParseOutcome =
  | {
      ok: true;
      message: SipMessage;
      /**
       * Requests only: what validation already parsed, so the stack need not parse it again — every Via
       * (top first) and the Request-URI. Fresh objects the caller may keep or change.
       */
      vias?: Via[];
      requestUri?: SipUri;
    }
  | { ok: false; reason: string; partial?: SipRequest; tooLarge?: boolean };

export const DEFAULT_MAX_SIZE = 65536;
export const DEFAULT_MAX_HEADERS = 500;
export const REASON_VERSION_NOT_SUPPORTED = 'Version Not Supported';
export const REASON_TOO_LARGE = 'Message too large';

/** Headers whose grammar is a comma-separated list (§7.3.1); all others keep their commas. */
const LIST_HEADERS: ReadonlySet<string> = new Set([
  'via',
  'route',
  'record-route',
  'contact',
  'allow',
  'supported',
  'require',
  'proxy-require',
  'unsupported',
  'accept',
  'accept-encoding',
  'accept-language',
  'allow-events',
  'content-encoding',
  'content-language',
  'in-reply-to',
  'path',
  'service-route',
]);

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1');
const DIGITS = /^[0-9]{1,10}$/;
const CALL_ID = /^[\u0021-\u007e]+$/;

interface Failure {
  reason: string;
  partial?: SipRequest;
  tooLarge?: boolean;
}

function fail(f: Failure): ParseOutcome {
  const out: { ok: false; reason: string; partial?: SipRequest; tooLarge?: boolean } = { ok: false, reason: f.reason };
  if (f.partial) out.partial = f.partial;
  if (f.tooLarge) out.tooLarge = true;
  return out;
}

export function parseMessage(data: Buffer, opts?: ParseOptions): ParseOutcome {
  try {
    return parse(data, opts?.maxSize ?? DEFAULT_MAX_SIZE, opts?.stream === true, opts?.maxHeaders ?? DEFAULT_MAX_HEADERS);
  } catch {
    // Every path above returns a reason; this only keeps a bug from turning a bad datagram into a crash.
    return { ok: false, reason: 'Malformed message' };
  }
}

/**
 * One pass over the header bytes: 0 when clean ASCII, 1 when it has bytes above 0x7f (UTF-8 to be
 * checked), -1 on a control character other than HTAB or a CR/LF not paired as CRLF (§7.3, §25).
 * Exported for its differential test.
 */
export function scanHead(b: Buffer, from: number, to: number): -1 | 0 | 1 {
  let high: 0 | 1 = 0;
  // Four bytes at a time over the 4-aligned middle: a word whose bytes are all printable ASCII (nearly
  // every word of a header block) needs two tests; any other word is looked at byte by byte below.
  const offset = b.byteOffset;
  const firstWord = from + ((4 - ((offset + from) & 3)) & 3);
  const nWords = to - firstWord >= 16 ? (to - firstWord) >> 2 : 0;
  const words = nWords > 0 ? new Int32Array(b.buffer, offset + firstWord, nWords) : undefined;
  const wordsEnd = firstWord + (nWords << 2);
  let i = from;
  while (i < to) {
    if (words !== undefined && i >= firstWord && i < wordsEnd && ((i - firstWord) & 3) === 0) {
      const x = words[(i - firstWord) >> 2]!;
      // No byte below 0x20 and none at or above 0x7f (the "hasless"/"hasmore" word tests, exact for existence).
      if (((x - 0x20202020) & ~x & 0x80808080) === 0 && (((x + 0x01010101) | x) & 0x80808080) === 0) {
        i += 4;
        continue;
      }
    }
    const c = b[i]!;
    if ((c - 32) >>> 0 < 95) {
      i++;
    } else if (c === 13) {
      if (b[i + 1] !== 10) return -1;
      i += 2;
    } else if (c > 127) {
      high = 1;
      i++;
    } else if (c === 9) {
      i++;
    } else {
      return -1;
    }
  }
  return high;
}

/**
 * Header names as written → normalized, in a small open-addressing table keyed by a hash the name scan
 * computes anyway. Senders spell the same few dozen names the same way every time, so a name costs a
 * comparison in place instead of a sliced and lower-cased copy, and the names stored are shared strings.
 */
const NAME_SLOTS = 1024;
const nameRaw: Array<string | undefined> = new Array<string | undefined>(NAME_SLOTS).fill(undefined);
const nameNormal: string[] = new Array<string>(NAME_SLOTS).fill('');
/** Bounds the table: a flood of invented names must not fill it. */
const NAME_TABLE_MAX = NAME_SLOTS / 2;
let namesKnown = 0;

/**
 * Names the stack compares against, as literals: literals are internalized strings, so comparing a
 * stored name with `'via'` (essentials, SipHeaders.get) is a pointer comparison instead of a character one.
 */
const WELL_KNOWN_NAMES = new Map<string, string>(
  [
    ...LIST_HEADERS,
    ...['from', 'to', 'call-id', 'cseq', 'max-forwards', 'content-length', 'content-type', 'user-agent', 'server', 'expires', 'min-expires'],
    ...['event', 'subscription-state', 'allow-events', 'timestamp', 'subject', 'date', 'organization', 'priority', 'warning', 'reason'],
    ...['retry-after', 'authorization', 'www-authenticate', 'proxy-authorization', 'proxy-authenticate', 'p-asserted-identity', 'privacy'],
    ...['refer-to', 'referred-by', 'replaces', 'session-expires', 'min-se', 'rack', 'rseq', 'sip-etag', 'sip-if-match', 'accept-contact'],
    ...['reject-contact', 'request-disposition', 'content-disposition', 'mime-version', 'call-info', 'alert-info', 'error-info', 'reply-to'],
    ...['identity', 'identity-info', 'p-preferred-identity', 'history-info', 'diversion', 'content-id', 'session-id'],
  ].map((n) => [n, n]),
);

/** The normalized name of head[from, to), whose hash the caller computed. */
function normalizedName(head: string, from: number, to: number, hash: number): string {
  const len = to - from;
  for (let probe = 0, slot = hash & (NAME_SLOTS - 1); probe < 8; probe++, slot = (slot + 1) & (NAME_SLOTS - 1)) {
    const raw = nameRaw[slot];
    if (raw === undefined) {
      const rawName = head.slice(from, to);
      const lower = len === 1 ? SipHeaders.normalizeName(rawName) : rawName.toLowerCase();
      const name = WELL_KNOWN_NAMES.get(lower) ?? lower;
      if (namesKnown < NAME_TABLE_MAX) {
        nameRaw[slot] = rawName;
        nameNormal[slot] = name;
        namesKnown++;
      }
      return name;
    }
    if (raw.length === len && head.startsWith(raw, from)) return nameNormal[slot]!;
  }
  const rawName = head.slice(from, to);
  return len === 1 ? SipHeaders.normalizeName(rawName) : rawName.toLowerCase();
}

/** The version every SIP/2.0 message spells this way; anything else takes the general path. */
const SIP_2_0 = 'SIP/2.0';

type StartLine =
  | { kind: 'request'; method: string; uri: string; error?: string }
  | { kind: 'response'; status: number; reason: string }
  | { kind: 'error'; reason: string };

function parseStartLine(line: string): StartLine {
  // Case-insensitive "SIP/" without a sliced, upper-cased copy of it.
  if (line.length >= 4 && (line.charCodeAt(0) | 32) === 115 && (line.charCodeAt(1) | 32) === 105 && (line.charCodeAt(2) | 32) === 112 && line.charCodeAt(3) === 47) {
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase (§7.2)
    const sp = line.indexOf(' ');
    if (sp < 0) return { kind: 'error', reason: 'Malformed status line' };
    const version = line.slice(0, sp);
    if (version !== SIP_2_0) {
      if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) return { kind: 'error', reason: 'Malformed status line' };
      if (version.toUpperCase() !== SIP_2_0) return { kind: 'error', reason: REASON_VERSION_NOT_SUPPORTED };
    }
    const code = line.slice(sp + 1, sp + 4);
    const after = line.charCodeAt(sp + 4);
    if (!/^[1-6][0-9][0-9]$/.test(code) || !(Number.isNaN(after) || after === 32)) {
      return { kind: 'error', reason: 'Malformed status line' };
    }
    return { kind: 'response', status: Number(code), reason: line.slice(sp + 5) };
  }
  // Request-Line = Method SP Request-URI SP SIP-Version (§7.1): single spaces, no other whitespace.
  const sp1 = line.indexOf(' ');
  const sp2 = sp1 < 0 ? -1 : line.indexOf(' ', sp1 + 1);
  if (sp1 <= 0 || sp2 < 0 || sp2 === sp1 + 1 || line.indexOf(' ', sp2 + 1) >= 0) {
    return { kind: 'error', reason: 'Malformed request line' };
  }
  const method = line.slice(0, sp1);
  const uri = line.slice(sp1 + 1, sp2);
  const version = line.slice(sp2 + 1);
  if (version !== SIP_2_0) {
    if (!/^SIP\/[0-9]+\.[0-9]+$/i.test(version)) return { kind: 'error', reason: 'Malformed request line' };
    if (version.toUpperCase() !== SIP_2_0) return { kind: 'request', method, uri, error: REASON_VERSION_NOT_SUPPORTED };
  }
  return { kind: 'request', method, uri };
}

/** Splits header lines, unfolding continuations (§7.3.1); returns a reason string on failure. */
function parseHeaderLines(head: string, from: number, headers: SipHeaders, maxHeaders: number): string | undefined {
  const entries = headers.entries;
  let name: string | undefined;
  let value = '';
  let pos = from;
  // Works on indices into `head` rather than on sliced lines: one slice per name and per value. scanHead
  // has made sure every CR is followed by LF, so a one-character search finds the line ends.
  while (pos < head.length) {
    let e = head.indexOf('\r', pos);
    if (e < 0) e = head.length;
    const c0 = head.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) {
      if (name === undefined) return 'Malformed header line';
      const more = sliceTrimmed(head, pos, e);
      if (more !== '') value = value === '' ? more : value + ' ' + more;
      pos = e + 2;
      continue;
    }
    if (name !== undefined) {
      const r = pushHeader(entries, name, value);
      if (r) return r;
      if (entries.length > maxHeaders) return 'Too many headers';
    }
    let i = pos;
    let hash = 0;
    while (i < e) {
      const c = head.charCodeAt(i);
      if (c >= 128 || TOKEN_CHARS[c] !== 1) break;
      hash = (Math.imul(hash, 31) + c) | 0;
      i++;
    }
    const nameEnd = i;
    while (i < e && (head.charCodeAt(i) === 32 || head.charCodeAt(i) === 9)) i++;
    if (nameEnd === pos || i === e || head.charCodeAt(i) !== 58 /* : */) {
      const colon = head.indexOf(':', pos);
      return colon >= 0 && colon < e ? 'Bad header name' : 'Malformed header line';
    }
    name = normalizedName(head, pos, nameEnd, hash);
    value = sliceTrimmed(head, i + 1, e);
    pos = e + 2;
  }
  if (name !== undefined) {
    const r = pushHeader(entries, name, value);
    if (r) return r;
    if (entries.length > maxHeaders) return 'Too many headers';
  }
  return undefined;
}

const TOKEN_CHARS = new Uint8Array(128);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~") TOKEN_CHARS[c.charCodeAt(0)] = 1;

/** s[from, to) without surrounding SP/HTAB. */
function sliceTrimmed(s: string, from: number, to: number): string {
  while (from < to && (s.charCodeAt(from) === 32 || s.charCodeAt(from) === 9)) from++;
  while (to > from && (s.charCodeAt(to - 1) === 32 || s.charCodeAt(to - 1) === 9)) to--;
  return s.slice(from, to);
}

function pushHeader(entries: Array<[string, string]>, name: string, value: string): string | undefined {
  if (value.indexOf(',') >= 0 && LIST_HEADERS.has(name) && value !== '*') {
    let parts: string[];
    try {
      parts = splitHeaderValues(value);
    } catch {
      return `Malformed ${canonicalHeaderName(name)}`;
    }
    for (const p of parts) entries.push([name, p]);
  } else {
    entries.push([name, value]);
  }
  return undefined;
}

function parse(data: Buffer, maxSize: number, stream: boolean, maxHeaders: number): ParseOutcome {
  let start = 0;
  // §7.5: CRLFs before the start line are ignored (keep-alives, sloppy senders).
  while (start + 1 < data.length && data[start] === 13 && data[start + 1] === 10) start += 2;
  if (start >= data.length) return fail({ reason: 'Empty message' });
  const tooLarge = data.length > maxSize;
  const headEnd = data.indexOf(CRLFCRLF, start);
  if (headEnd < 0) return fail(tooLarge ? { reason: REASON_TOO_LARGE, tooLarge } : { reason: 'Missing end of headers' });

  const scan = scanHead(data, start, headEnd);
  // latin1 never fails, so a message with bad UTF-8 still splits and can be answered with 400.
  const utf8 = scan !== 1 || isUtf8(data.subarray(start, headEnd));
  const head = data.toString(scan === 1 && utf8 ? 'utf8' : 'latin1', start, headEnd);
  if (scan < 0) return fail(tooLarge ? { reason: REASON_TOO_LARGE, tooLarge } : { reason: 'Invalid character in headers' });

  let firstEnd = head.indexOf('\r');
  if (firstEnd < 0) firstEnd = head.length;
  const startLine = parseStartLine(head.slice(0, firstEnd));
  const headers = new SipHeaders();
  const headerError = parseHeaderLines(head, firstEnd + 2, headers, maxHeaders);
  if (headerError !== undefined) return fail(tooLarge ? { reason: REASON_TOO_LARGE, tooLarge } : { reason: headerError });
  if (startLine.kind === 'error') return fail(tooLarge ? { reason: REASON_TOO_LARGE, tooLarge } : { reason: startLine.reason });

  const bodyStart = headEnd + 4;
  let message: SipMessage;
  if (startLine.kind === 'request') {
    const req: SipRequest = { kind: 'request', method: startLine.method, uri: startLine.uri, headers, body: EMPTY_BODY };
    message = req;
  } else {
    const res: SipResponse = { kind: 'response', status: startLine.status, reason: startLine.reason, headers, body: EMPTY_BODY };
    message = res;
  }
  const partial = message.kind === 'request' ? message : undefined;
  const failWith = (reason: string, big = false): ParseOutcome => (partial ? fail({ reason, partial, tooLarge: big }) : fail({ reason, tooLarge: big }));

  if (tooLarge) return failWith(REASON_TOO_LARGE, true);
  if (startLine.kind === 'request' && startLine.error !== undefined) return failWith(startLine.error);
  if (!utf8) return failWith('Invalid UTF-8 in headers');

  // Content-Length (§18.3, §20.14)
  let contentLength: string | undefined;
  for (const [n, v] of headers.entries) {
    if (n !== 'content-length') continue;
    if (contentLength !== undefined && contentLength !== v) return failWith('Duplicate Content-Length');
    contentLength = v;
  }
  const available = data.length - bodyStart;
  if (contentLength === undefined) {
    if (stream) return failWith('Missing Content-Length');
    message.body = copy(data, bodyStart, data.length);
  } else {
    if (!DIGITS.test(contentLength)) return failWith('Bad Content-Length');
    const n = Number(contentLength);
    if (bodyStart - start + n > maxSize) return failWith(REASON_TOO_LARGE, true);
    if (n > available) return failWith('Content-Length mismatch');
    // A shorter Content-Length wins: the extra bytes are not part of the message (§18.3).
    message.body = copy(data, bodyStart, bodyStart + n);
  }

  if (message.kind === 'response') {
    const problem = validateResponse(message);
    return problem === undefined ? { ok: true, message } : failWith(problem);
  }
  const checked = checkRequest(message);
  if (typeof checked === 'string') return failWith(checked);
  return { ok: true, message, vias: checked.vias, requestUri: checked.uri };
}

/** The body gets its own memory: transports may reuse the buffer they received into. */
function copy(data: Buffer, from: number, to: number): Buffer {
  if (to <= from) return EMPTY_BODY;
  const out = Buffer.allocUnsafe(to - from);
  data.copy(out, 0, from, to);
  return out;
}

/** One pass over the headers validation looks at: counts and first values. */
interface Essentials {
  vias: string[];
  from: string | undefined;
  to: string | undefined;
  callId: string | undefined;
  cseq: string | undefined;
  maxForwards: string | undefined;
  problem: string | undefined;
}

function essentials(h: SipHeaders): Essentials {
  const e: Essentials = { vias: [], from: undefined, to: undefined, callId: undefined, cseq: undefined, maxForwards: undefined, problem: undefined };
  let contentLength: string | undefined;
  let dup: string | undefined;
  for (const [n, v] of h.entries) {
    switch (n) {
      case 'via':
        e.vias.push(v);
        break;
      case 'from':
        if (e.from !== undefined) dup ??= 'Duplicate From';
        e.from ??= v;
        break;
      case 'to':
        if (e.to !== undefined) dup ??= 'Duplicate To';
        e.to ??= v;
        break;
      case 'call-id':
        if (e.callId !== undefined) dup ??= 'Duplicate Call-ID';
        e.callId ??= v;
        break;
      case 'cseq':
        if (e.cseq !== undefined) dup ??= 'Duplicate CSeq';
        e.cseq ??= v;
        break;
      case 'max-forwards':
        if (e.maxForwards !== undefined) dup ??= 'Duplicate Max-Forwards';
        e.maxForwards ??= v;
        break;
      case 'content-length':
        if (contentLength !== undefined && contentLength !== v) dup ??= 'Duplicate Content-Length';
        contentLength = v;
        break;
    }
  }
  // §8.1.1: To, From, CSeq, Call-ID and Via are what every request and response must carry.
  if (e.to === undefined) e.problem = 'Missing To';
  else if (e.from === undefined) e.problem = 'Missing From';
  else if (e.callId === undefined) e.problem = 'Missing Call-ID';
  else if (e.cseq === undefined) e.problem = 'Missing CSeq';
  else if (e.vias.length === 0) e.problem = 'Missing Via';
  else if (dup !== undefined) e.problem = dup;
  else if (!CALL_ID.test(e.callId)) e.problem = 'Bad Call-ID';
  return e;
}

/**
 * The checks a UAS/proxy makes before acting on a request (§8.1.1, §8.2, §16.3); returns the reason
 * for a 400, or undefined when the request is sound.
 */
export function validateRequest(req: SipRequest): string | undefined {
  const checked = checkRequest(req);
  return typeof checked === 'string' ? checked : undefined;
}

/** `validateRequest`, keeping what it parsed: the reason for a 400, or the parsed Vias and Request-URI. */
function checkRequest(req: SipRequest): string | { vias: Via[]; uri: SipUri } {
  if (!isSipToken(req.method)) return 'Bad method';
  let uri: SipUri;
  try {
    uri = parseUri(req.uri);
  } catch {
    return 'Bad Request-URI';
  }
  const e = essentials(req.headers);
  if (e.problem !== undefined) return e.problem;
  let cseq;
  try {
    cseq = parseCSeq(e.cseq ?? '');
  } catch {
    return 'Bad CSeq';
  }
  // §8.2.2.3 / §17.2.3: a CSeq naming another method (ACK and CANCEL included) cannot match a transaction.
  if (cseq.method !== req.method) return 'CSeq method mismatch';
  const mf = e.maxForwards;
  // 1*DIGIT (§20.22): leading zeros are legal ("0068" in RFC 4475 §3.1.1.1), the value is what is bounded.
  if (mf !== undefined && (!DIGITS.test(mf) || Number(mf) > 255)) return 'Bad Max-Forwards';
  try {
    checkNameAddr(e.from ?? '', req.uri);
  } catch {
    return 'Bad From';
  }
  try {
    checkNameAddr(e.to ?? '', req.uri);
  } catch {
    return 'Bad To';
  }
  const vias: Via[] = [];
  for (const v of e.vias) {
    try {
      vias.push(parseVia(v));
    } catch {
      return 'Malformed Via';
    }
  }
  return { vias, uri };
}

/** Responses only need what transaction matching reads (§17.1.3): the top Via and CSeq. */
function validateResponse(res: SipResponse): string | undefined {
  const e = essentials(res.headers);
  if (e.problem !== undefined) return e.problem;
  try {
    parseCSeq(e.cseq ?? '');
  } catch {
    return 'Bad CSeq';
  }
  try {
    parseVia(e.vias[0] ?? '');
  } catch {
    return 'Malformed Via';
  }
  return undefined;
}
