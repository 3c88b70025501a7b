/**
 * The SIP message model shared by the parser, serializer, transactions, transports and stack.
 *
 * Header values are kept as the raw (unfolded, trimmed) text of one header field value; a header
 * line carrying several comma-separated values is split into separate entries by the parser for the
 * headers whose grammar allows it (Via, Route, Record-Route, Contact, Allow, Supported, ...), so that
 * `getAll('via')` always yields one value per hop. Names are stored in their long, lower-case form
 * (`v` → `via`) so lookups never care about compact forms or case.
 */

export type HeaderName = string;

export class SipHeaders {
  /** Ordered [lower-case long name, value] pairs, exactly as they will be serialized. */
  readonly entries: Array<[HeaderName, string]> = [];

  constructor(init?: Iterable<readonly [string, string]>) {
    if (init) for (const [n, v] of init) this.append(n, v);
  }

  static normalizeName(name: string): HeaderName {
    const lower = name.toLowerCase();
    return COMPACT_FORMS[lower] ?? lower;
  }

  get(name: string): string | undefined {
    const n = SipHeaders.normalizeName(name);
    for (const e of this.entries) if (e[0] === n) return e[1];
    return undefined;
  }

  getAll(name: string): string[] {
    const n = SipHeaders.normalizeName(name);
    const out: string[] = [];
    for (const e of this.entries) if (e[0] === n) out.push(e[1]);
    return out;
  }

  has(name: string): boolean {
    return this.get(name) !== undefined;
  }

  append(name: string, value: string): this {
    this.entries.push([SipHeaders.normalizeName(name), value]);
    return this;
  }

  /** Insert before every existing entry of the same name (a new top Via, Record-Route). */
  prepend(name: string, value: string): this {
    const n = SipHeaders.normalizeName(name);
    const idx = this.entries.findIndex((e) => e[0] === n);
    if (idx < 0) this.entries.push([n, value]);
    else this.entries.splice(idx, 0, [n, value]);
    return this;
  }

  /** Replace every entry of this name with one value, keeping the position of the first. */
  set(name: string, value: string): this {
    const n = SipHeaders.normalizeName(name);
    const idx = this.entries.findIndex((e) => e[0] === n);
    if (idx < 0) {
      this.entries.push([n, value]);
      return this;
    }
    this.entries[idx] = [n, value];
    for (let i = this.entries.length - 1; i > idx; i--) if (this.entries[i]![0] === n) this.entries.splice(i, 1);
    return this;
  }

  delete(name: string): this {
    const n = SipHeaders.normalizeName(name);
    for (let i = this.entries.length - 1; i >= 0; i--) if (this.entries[i]![0] === n) this.entries.splice(i, 1);
    return this;
  }

  /** Remove only the first entry of a name (pop the top Via). */
  deleteFirst(name: string): this {
    const n = SipHeaders.normalizeName(name);
    const idx = this.entries.findIndex((e) => e[0] === n);
    if (idx >= 0) this.entries.splice(idx, 1);
    return this;
  }

  clone(): SipHeaders {
    const h = new SipHeaders();
    for (const [n, v] of this.entries) h.entries.push([n, v]);
    return h;
  }
}

/** RFC 3261 §7.3.3 plus the compact forms registered later (RFC 3265 `o`, RFC 3515 `r`, RFC 3841 `a`...). */
export const COMPACT_FORMS: Readonly<Record<string, HeaderName>> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  o: 'event',
  u: 'allow-events',
  r: 'refer-to',
  b: 'referred-by',
  a: 'accept-contact',
  j: 'reject-contact',
  d: 'request-disposition',
  x: 'session-expires',
  y: 'identity',
};

export interface SipRequest {
  readonly kind: 'request';
  method: string;
  /** Request-URI as text; parse with `parseUri` when its parts are needed. */
  uri: string;
  headers: SipHeaders;
  body: Buffer;
}

export interface SipResponse {
  readonly kind: 'response';
  status: number;
  reason: string;
  headers: SipHeaders;
  body: Buffer;
}

export type SipMessage = SipRequest | SipResponse;

export function isRequest(m: SipMessage): m is SipRequest {
  return m.kind === 'request';
}

/** Where a message came from or goes to, at the transport level. */
export interface SipEndpoint {
  transport: 'udp' | 'tcp' | 'tls';
  address: string;
  port: number;
}

/** A message as received from a transport, with the facts needed to answer it (RFC 3261 §18.2.1). */
export interface InboundMessage {
  message: SipMessage;
  source: SipEndpoint;
  /** The local listener it arrived on, e.g. "udp://127.0.0.1:5060". */
  local: SipEndpoint;
  /** For connection-oriented transports: the id of the connection, so responses reuse it. */
  connectionId?: string;
  /** For TLS: the verified peer certificate's subject identities (CN / subjectAltName DNS). */
  tlsIdentities?: string[];
}

export function createRequest(method: string, uri: string, headers?: Iterable<readonly [string, string]>, body?: Buffer | string): SipRequest {
  return {
    kind: 'request',
    method,
    uri,
    headers: new SipHeaders(headers),
    body: typeof body === 'string' ? Buffer.from(body, 'utf8') : (body ?? EMPTY_BODY),
  };
}

export const EMPTY_BODY: Buffer = Buffer.alloc(0);

/** RFC 3261 §21 default reason phrases for the codes Stox sends. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: 'Trying',
  180: 'Ringing',
  200: 'OK',
  202: 'Accepted',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Request Entity Too Large',
  414: 'Request-URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Unsupported URI Scheme',
  420: 'Bad Extension',
  423: 'Interval Too Brief',
  480: 'Temporarily Unavailable',
  481: 'Call/Transaction Does Not Exist',
  482: 'Loop Detected',
  483: 'Too Many Hops',
  486: 'Busy Here',
  487: 'Request Terminated',
  488: 'Not Acceptable Here',
  489: 'Bad Event',
  500: 'Server Internal Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Server Time-out',
  505: 'Version Not Supported',
  513: 'Message Too Large',
  603: 'Decline',
};
