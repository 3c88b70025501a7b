/**
 * MIME Content-Type values (RFC 2045 §5.1, as used by SIP: RFC 3261 §20.15 and §25.1).
 *
 * Shared by the SIP side (the MESSAGE Content-Type header) and by CPIM (the encapsulated entity's
 * Content-Type), so it lives with the body formats rather than in `src/sip`.
 */

export class ContentTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ContentTypeError';
  }
}

export interface ContentType {
  /** `type/subtype`, lower-cased: both halves are case-insensitive (RFC 2045 §5.1). */
  type: string;
  /** Parameter names lower-cased (case-insensitive); values as sent, quotes and escapes removed. */
  params: ReadonlyMap<string, string>;
}

/**
 * Parsed values by their text. A gateway sees the same few Content-Types (`text/plain;charset=UTF-8`)
 * message after message; results are read-only, so one object serves every message that repeats the
 * text. Bounded by clearing when full: cheap, and flat whatever senders write.
 */
const parsedTypes = new Map<string, ContentType>();
const MAX_PARSED_TYPES = 256;

/** RFC 2045 token: printable US-ASCII without SPACE and tspecials. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** SIP allows linear white space around `/`, `;` and `=` (RFC 3261 §25.1 SLASH, SEMI, EQUAL). */
const LWS = /[ \t]/;
// A header value never needs to be this long; the cap keeps a hostile value from costing real work.
const MAX_VALUE_LENGTH = 4096;

export function isMimeToken(s: string): boolean {
  return TOKEN.test(s);
}

/** Parses `type/subtype *(; name=value)`. Throws ContentTypeError on anything malformed. */
export function parseContentType(value: string): ContentType {
  let ct = parsedTypes.get(value);
  if (ct === undefined) {
    ct = parseUncached(value);
    if (parsedTypes.size >= MAX_PARSED_TYPES) parsedTypes.clear();
    parsedTypes.set(value, ct);
  }
  return ct;
}

function parseUncached(value: string): ContentType {
  if (value.length > MAX_VALUE_LENGTH) throw new ContentTypeError('Content-Type value too long');
  if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new ContentTypeError('control character in Content-Type');
  let i = 0;
  const n = value.length;
  const skipWs = (): void => {
    while (i < n && LWS.test(value[i] ?? '')) i++;
  };
  const readToken = (what: string): string => {
    const start = i;
    while (i < n && TOKEN.test(value[i] ?? '')) i++;
    if (i === start) throw new ContentTypeError(`expected ${what} in Content-Type at offset ${start}`);
    return value.slice(start, i);
  };

  skipWs();
  const type = readToken('a media type');
  skipWs();
  if (value[i] !== '/') throw new ContentTypeError('expected "/" in Content-Type');
  i++;
  skipWs();
  const subtype = readToken('a media subtype');
  const params = new Map<string, string>();
  skipWs();
  while (i < n) {
    if (value[i] !== ';') throw new ContentTypeError(`unexpected "${value[i] ?? ''}" in Content-Type`);
    i++;
    skipWs();
    // A trailing ";" is a common sender slip and carries no meaning; tolerate it.
    if (i >= n) break;
    const name = readToken('a parameter name').toLowerCase();
    skipWs();
    if (value[i] !== '=') throw new ContentTypeError(`parameter "${name}" has no value`);
    i++;
    skipWs();
    let paramValue: string;
    if (value[i] === '"') {
      i++;
      let out = '';
      let closed = false;
      while (i < n) {
        const c = value[i] ?? '';
        if (c === '\\' && i + 1 < n) {
          out += value[i + 1] ?? '';
          i += 2;
        } else if (c === '"') {
          i++;
          closed = true;
          break;
        } else {
          out += c;
          i++;
        }
      }
      if (!closed) throw new ContentTypeError(`unterminated quoted value for parameter "${name}"`);
      paramValue = out;
    } else {
      paramValue = readToken(`a value for parameter "${name}"`);
    }
    // Two different charsets on one body would let two parsers disagree on its meaning: refuse.
    if (params.has(name)) throw new ContentTypeError(`parameter "${name}" repeated`);
    params.set(name, paramValue);
    skipWs();
  }
  return { type: `${type}/${subtype}`.toLowerCase(), params };
}

/** Formats a Content-Type; values that are not tokens are quoted. Throws on values no header can carry. */
export function formatContentType(ct: ContentType): string {
  const [type, subtype, ...rest] = ct.type.split('/');
  if (type === undefined || subtype === undefined || rest.length > 0 || !TOKEN.test(type) || !TOKEN.test(subtype)) {
    throw new ContentTypeError(`invalid media type "${ct.type}"`);
  }
  let out = ct.type;
  for (const [name, value] of ct.params) {
    if (!TOKEN.test(name)) throw new ContentTypeError(`invalid parameter name "${name}"`);
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(value)) throw new ContentTypeError(`control character in parameter "${name}"`);
    out += `;${name}=${TOKEN.test(value) ? value : `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`}`;
  }
  return out;
}
