/**
 * Transaction matching keys (RFC 3261 §17.1.3, §17.2.3) and the few header facts they need.
 *
 * Deliberately self-contained string handling rather than the full header parsers: matching must
 * work on whatever arrives, and a request whose Via the full parser would reject still needs to be
 * matched so its retransmissions are absorbed and it can be answered 400 once.
 */
import type { SipHeaders, SipRequest, SipResponse } from '../message.js';

/** RFC 3261 §8.1.1.7: a branch starting with this was built by an RFC 3261 element. */
export const MAGIC_COOKIE = 'z9hG4bK';

export interface TopVia {
  /** `UDP`, `TCP`, ... upper-cased; empty if the sent-protocol did not parse. */
  transport: string;
  /** host[:port], lower-cased, whitespace removed (RFC 3261 allows LWS around the colon). */
  sentBy: string;
  branch: string | undefined;
}

/** Split on `sep` outside double-quoted strings (quoted generic-param values may contain it). */
export function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '\\') i++;
      else if (c === '"') quoted = false;
    } else if (c === '"') quoted = true;
    else if (c === sep) {
      out.push(s.slice(start, i));
      start = i + 1;
    }
  }
  out.push(s.slice(start));
  return out;
}

function unquote(v: string): string {
  const t = v.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/\\(.)/g, '$1');
  return t;
}

/** `;name=value` parameters, names lower-cased; a valueless parameter maps to null. */
function parseParams(parts: readonly string[]): Map<string, string | null> {
  const params = new Map<string, string | null>();
  for (const p of parts) {
    const eq = p.indexOf('=');
    const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    if (name === '' || params.has(name)) continue;
    params.set(name, eq < 0 ? null : unquote(p.slice(eq + 1)));
  }
  return params;
}

/** The first Via value; a header entry may still hold several comma-separated hops. */
export function firstViaValue(headers: SipHeaders): string | undefined {
  const raw = headers.get('via');
  if (raw === undefined) return undefined;
  return (splitOutsideQuotes(raw, ',')[0] ?? '').trim();
}

export function parseTopVia(headers: SipHeaders): TopVia | undefined {
  const raw = headers.get('via');
  if (raw === undefined) return undefined;
  return (raw.indexOf('"') < 0 ? plainTopVia(raw) : undefined) ?? generalTopVia(raw);
}

/** Characters of a transport token as senders write it (RFC 3261 §25.1 token, minus the rare ones). */
const TRANSPORT_CHARS = /^[A-Za-z0-9.!%*_+`'~-]+$/;

/**
 * The common shape (`SIP/2.0/UDP host:port;branch=...`, nothing quoted), read without splitting every
 * parameter into a Map: every request pays for this key. Undefined when the value is not of that shape,
 * for the general reading to decide; where it answers, it answers what that reading would.
 */
function plainTopVia(raw: string): TopVia | undefined {
  const comma = raw.indexOf(',');
  const value = (comma < 0 ? raw : raw.slice(0, comma)).trim();
  const semi = value.indexOf(';');
  const head = semi < 0 ? value : value.slice(0, semi);
  if (!head.startsWith('SIP/2.0/')) return undefined;
  const sp = head.indexOf(' ', 8);
  if (sp < 0) return undefined;
  const transport = head.slice(8, sp);
  const sentBy = head.slice(sp + 1).trimEnd();
  if (!TRANSPORT_CHARS.test(transport) || sentBy === '' || /\s/.test(sentBy)) return undefined;
  let branch: string | undefined;
  for (let i = semi; i >= 0; ) {
    const next = value.indexOf(';', i + 1);
    const p = next < 0 ? value.slice(i + 1) : value.slice(i + 1, next);
    const eq = p.indexOf('=');
    if ((eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase() === 'branch') {
      // The first branch counts, as in parseParams; one without a value is no branch.
      const v = eq < 0 ? '' : p.slice(eq + 1).trim();
      branch = v === '' ? undefined : v;
      break;
    }
    i = next;
  }
  return { transport: transport.toUpperCase(), sentBy: sentBy.toLowerCase(), branch };
}

function generalTopVia(raw: string): TopVia | undefined {
  const value = (splitOutsideQuotes(raw, ',')[0] ?? '').trim();
  if (value === undefined || value === '') return undefined;
  const [head = '', ...rest] = splitOutsideQuotes(value, ';');
  const params = parseParams(rest);
  const m = /^\s*SIP\s*\/\s*2\.0\s*\/\s*([^\s/]+)\s+(.+?)\s*$/i.exec(head);
  const branch = params.get('branch');
  return {
    transport: m ? m[1]!.toUpperCase() : '',
    sentBy: (m ? m[2]! : head).replace(/\s+/g, '').toLowerCase(),
    branch: branch === null || branch === undefined || branch === '' ? undefined : branch,
  };
}

export function parseCSeqValue(value: string | undefined): { seq: number; method: string } | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+)\s+(\S+)\s*$/.exec(value);
  if (!m) return undefined;
  return { seq: Number(m[1]), method: m[2]! };
}

/**
 * Header parameter of a From/To-style value (RFC 3261 §20.10): after the `>` of a name-addr, or after
 * the first `;` of a bare addr-spec (whose own URI parameters would otherwise be ambiguous).
 * Returns undefined if absent, null if present without a value.
 */
export function addressParam(value: string, name: string): string | null | undefined {
  // Most To headers of requests have no parameter at all (no tag yet).
  if (value.indexOf(';') < 0) return undefined;
  let i = 0;
  let paramsStart = -1;
  for (; i < value.length; i++) {
    const c = value[i];
    if (c === '"') {
      for (i++; i < value.length && value[i] !== '"'; i++) if (value[i] === '\\') i++;
    } else if (c === '<') {
      const close = value.indexOf('>', i);
      paramsStart = close < 0 ? value.length : close + 1;
      break;
    }
  }
  if (paramsStart < 0) {
    const semi = value.indexOf(';');
    if (semi < 0) return undefined;
    paramsStart = semi;
  }
  const params = parseParams(splitOutsideQuotes(value.slice(paramsStart), ';').slice(1));
  return params.get(name.toLowerCase());
}

export function tagOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = addressParam(value, 'tag');
  return t === null || t === undefined || t === '' ? undefined : t;
}

/**
 * RFC 3261 §17.2.3 server transaction key. With the magic cookie: branch + sent-by + method, ACK
 * folded onto INVITE (and CANCEL looked up under INVITE via `asMethod`). Without it (RFC 2543
 * peers) a simplified stand-in: Call-ID, CSeq number, From tag and the whole top Via, which is what
 * a retransmission and its hop-by-hop ACK share.
 */
export function serverKey(req: SipRequest, asMethod?: string): string {
  const method = asMethod ?? (req.method === 'ACK' ? 'INVITE' : req.method);
  const via = parseTopVia(req.headers);
  if (via?.branch?.startsWith(MAGIC_COOKIE)) return `3261|${via.branch}|${via.sentBy}|${method}`;
  const cseq = parseCSeqValue(req.headers.get('cseq'));
  const viaText = (firstViaValue(req.headers) ?? '').replace(/\s+/g, '').toLowerCase();
  return ['2543', req.headers.get('call-id')?.trim() ?? '', cseq?.seq ?? '', tagOf(req.headers.get('from')) ?? '', viaText, method].join('|');
}

/** RFC 3261 §17.1.3 client transaction key for a request we send: top Via branch + method. */
export function clientKeyForRequest(req: SipRequest): string {
  const branch = parseTopVia(req.headers)?.branch;
  if (branch === undefined) throw new TypeError(`${req.method} has no top Via with a branch; the caller sets it before starting a transaction`);
  return `${branch}|${req.method}`;
}

/** The same key read from a response: top Via branch + CSeq method. Undefined if it cannot match. */
export function clientKeyForResponse(res: SipResponse): string | undefined {
  const branch = parseTopVia(res.headers)?.branch;
  const cseq = parseCSeqValue(res.headers.get('cseq'));
  if (branch === undefined || !cseq) return undefined;
  return `${branch}|${cseq.method}`;
}
