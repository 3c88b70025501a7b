/**
 * CPIM message format (RFC 3862): parse and build `message/cpim` bodies.
 *
 * The outer MIME header (`Content-Type: message/cpim`) belongs to the carrier (the SIP Content-Type header,
 * or the MSRP Content-Type), so a body handled here starts with the message headers (RFC 3862 §2):
 *
 *   message headers CRLF  CRLF  encapsulated MIME headers CRLF  CRLF  content
 *
 * Parsing is liberal where real senders are known to slip (mapping reference §8.1): bare LF line ends, no
 * blank line between the message headers and the encapsulated Content-Type (RFC 7702 and RFC 5438 print
 * their examples that way), whitespace after the colon. Building is strict: CRLF, one space after the
 * colon, every value escaped (§2.3.1) so no caller-supplied text can start a new header.
 * Every failure on bad input is a CpimError; nothing else escapes.
 */
import { ContentTypeError, parseContentType } from './content-type.js';

/** RFC 3862 §4, §7.2: the namespace of the core headers, and the default for unprefixed names. */
export const CPIM_DEFAULT_NS = 'urn:ietf:params:cpim-headers:';
/** RFC 5438 §6.3. */
export const IMDN_NS = 'urn:ietf:params:imdn';

export class CpimError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CpimError';
  }
}

export interface CpimHeader {
  /** The header name exactly as sent, prefix included (`imdn.Message-ID`). Case-sensitive (§2.2). */
  name: string;
  /** The name without its prefix. */
  localName: string;
  /** The namespace URI the name resolves to; undefined when the prefix was never declared (§3.4). */
  ns?: string;
  /** The `;lang=` parameter (§3.3). */
  lang?: string;
  /** Other header parameters (§3.6 Ext-param). */
  params: Map<string, string>;
  /**
   * The value as sent, escapes NOT decoded: structured values (quoted Formal-names) need the raw text.
   * Use unescapeCpimValue() for free text such as Subject, parseCpimAddress() for From/To/cc.
   */
  value: string;
}

export interface MimeHeader {
  name: string;
  value: string;
}

export interface CpimRequirement {
  /** As written in the Require header. */
  name: string;
  localName: string;
  ns?: string;
}

export interface CpimMessage {
  headers: CpimHeader[];
  /** Names listed by Require headers (§3.5, §4.7), resolved against the namespaces declared before them. */
  required: CpimRequirement[];
  /** Headers of the encapsulated MIME entity; names are case-insensitive there (MIME rules). */
  contentHeaders: MimeHeader[];
  /** The encapsulated entity's Content-Type value, as sent. */
  contentType: string;
  /** The encapsulated content, byte for byte. */
  body: Buffer;
}

export interface CpimLimits {
  /** Largest CPIM body accepted (default 1 MiB). */
  maxBytes?: number;
  /** Most headers accepted in each of the two header blocks (default 64). */
  maxHeaders?: number;
}

const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_HEADERS = 64;
const MAX_URI_LENGTH = 2048;

/** RFC 3862 §3.6 NAMECHAR: US-ASCII without CTLs, SEPARATORS and ".". */
const NAME = "[!#$%&'*+\\-^_`|~0-9A-Za-z]+";
const HEADER_NAME_RE = new RegExp(`^(?:(${NAME})\\.)?(${NAME})$`);
const LANG_TAG_RE = /^[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*$/;
/** RFC 3339 date-time (§5.6). */
const RFC3339_RE = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const CONTROL_EXCEPT_TAB = /[\x00-\x08\x0a-\x1f\x7f]/;

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function isLanguageTag(s: string): boolean {
  return LANG_TAG_RE.test(s);
}

export function isRfc3339DateTime(s: string): boolean {
  return RFC3339_RE.test(s) && !Number.isNaN(Date.parse(s));
}

// ---------------------------------------------------------------------------------------------- parse

export function parseCpim(body: Buffer, limits: CpimLimits = {}): CpimMessage {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
  if (body.length > maxBytes) throw new CpimError(`CPIM body of ${body.length} bytes exceeds the ${maxBytes}-byte limit`);

  let pos = 0;
  /** The next line without its terminator; undefined at the end of the buffer. */
  const nextLine = (): string | undefined => {
    if (pos >= body.length) return undefined;
    let end = body.indexOf(0x0a, pos);
    const next = end < 0 ? body.length : end + 1;
    if (end < 0) end = body.length;
    if (end > pos && body[end - 1] === 0x0d) end--;
    const bytes = body.subarray(pos, end);
    pos = next;
    try {
      return utf8.decode(bytes);
    } catch {
      throw new CpimError('CPIM header line is not valid UTF-8 (RFC 3862 §2.2)');
    }
  };

  const headers: CpimHeader[] = [];
  const required: CpimRequirement[] = [];
  const prefixes = new Map<string, string>();
  let defaultNs = CPIM_DEFAULT_NS;
  let pendingContentLine: string | undefined;

  // Blank lines before the first header carry nothing; some senders emit the "s:" separator twice.
  let line = nextLine();
  while (line === '') line = nextLine();
  for (;;) {
    if (line === undefined) throw new CpimError('CPIM message ends inside the message headers (RFC 3862 §2)');
    if (line === '') break;
    // The encapsulated Content-Type is not a CPIM message header; seeing it here means the sender left
    // out the separator line, as the RFC 7702 and RFC 5438 examples do (mapping reference §8.1).
    if (/^content-type[ \t]*:/i.test(line)) {
      pendingContentLine = line;
      break;
    }
    if (headers.length >= maxHeaders) throw new CpimError(`more than ${maxHeaders} CPIM message headers`);
    const h = parseMessageHeaderLine(line, prefixes, defaultNs);
    headers.push(h);
    if (h.ns === CPIM_DEFAULT_NS && h.localName === 'NS') {
      const decl = parseNsValue(h.value);
      if (decl.prefix === undefined) defaultNs = decl.uri;
      else prefixes.set(decl.prefix, decl.uri);
    } else if (h.ns === CPIM_DEFAULT_NS && h.localName === 'Require') {
      for (const item of h.value.split(',')) {
        const name = item.trim();
        const m = HEADER_NAME_RE.exec(name);
        if (!m) throw new CpimError(`invalid name "${name}" in CPIM Require (RFC 3862 §4.7)`);
        const prefix = m[1];
        const localName = m[2] ?? name;
        const ns = prefix === undefined ? defaultNs : prefixes.get(prefix);
        required.push(ns === undefined ? { name, localName } : { name, localName, ns });
      }
    }
    line = nextLine();
  }

  const contentHeaders: MimeHeader[] = [];
  line = pendingContentLine ?? nextLine();
  while (line !== undefined && line !== '') {
    if (/^[ \t]/.test(line)) {
      // MIME header folding (RFC 5322 §2.2.3): a continuation of the previous header.
      const prev = contentHeaders[contentHeaders.length - 1];
      if (!prev) throw new CpimError('CPIM content headers start with a continuation line');
      // Joined with one space, but none before a value that started on this line (`Name:` CRLF SP value).
      const more = line.trim();
      if (more !== '') prev.value = prev.value === '' ? more : `${prev.value} ${more}`;
    } else {
      if (contentHeaders.length >= maxHeaders) throw new CpimError(`more than ${maxHeaders} CPIM content headers`);
      if (CONTROL_EXCEPT_TAB.test(line)) throw new CpimError('control character in a CPIM content header');
      const colon = line.indexOf(':');
      const name = colon < 0 ? '' : line.slice(0, colon).trim();
      if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(name)) throw new CpimError(`malformed CPIM content header "${truncate(line)}"`);
      contentHeaders.push({ name, value: line.slice(colon + 1).trim() });
    }
    line = nextLine();
  }
  const ct = contentHeaders.find((h) => h.name.toLowerCase() === 'content-type');
  if (!ct) throw new CpimError('the encapsulated MIME entity has no Content-Type (RFC 3862 §2.4)');
  return { headers, required, contentHeaders, contentType: ct.value, body: Buffer.from(body.subarray(pos)) };
}

function parseMessageHeaderLine(line: string, prefixes: Map<string, string>, defaultNs: string): CpimHeader {
  if (CONTROL_EXCEPT_TAB.test(line)) throw new CpimError('control character in a CPIM header (RFC 3862 §2.2)');
  const colon = line.indexOf(':');
  const name = colon < 0 ? '' : line.slice(0, colon);
  const m = HEADER_NAME_RE.exec(name);
  if (!m) throw new CpimError(`malformed CPIM header "${truncate(line)}" (RFC 3862 §3.6)`);
  const prefix = m[1];
  const localName = m[2] ?? name;
  const ns = prefix === undefined ? defaultNs : prefixes.get(prefix);

  let i = colon + 1;
  const params = new Map<string, string>();
  let lang: string | undefined;
  // Header = Header-name ":" *( ";" Parameter ) SP Header-value (§3.6)
  while (line[i] === ';') {
    i++;
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new CpimError(`malformed parameter in CPIM header "${name}"`);
    const pname = line.slice(i, eq);
    if (!new RegExp(`^${NAME}$`).test(pname)) throw new CpimError(`malformed parameter name in CPIM header "${name}"`);
    i = eq + 1;
    let pvalue = '';
    if (line[i] === '"') {
      const end = quotedStringEnd(line, i);
      if (end < 0) throw new CpimError(`unterminated quoted parameter in CPIM header "${name}"`);
      pvalue = unescapeCpimValue(line.slice(i + 1, end));
      i = end + 1;
    } else {
      const start = i;
      while (i < line.length && !/[ \t;]/.test(line[i] ?? '')) i++;
      pvalue = line.slice(start, i);
    }
    if (pname === 'lang') lang = pvalue;
    else params.set(pname, pvalue);
  }
  // Exactly one space is the rule (§2.2); more or none is tolerated on input.
  const value = line.slice(i).replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
  const h: CpimHeader = { name, localName, params, value };
  if (ns !== undefined) h.ns = ns;
  if (lang !== undefined) h.lang = lang;
  return h;
}

/** Index of the closing quote of the quoted string opening at `start`, or -1. */
function quotedStringEnd(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === '"') return i;
  }
  return -1;
}

function parseNsValue(value: string): { prefix?: string; uri: string } {
  const m = new RegExp(`^(?:(${NAME})[ \\t]*)?<([^<>\\s]+)>$`).exec(value.trim());
  if (!m?.[2]) throw new CpimError(`malformed CPIM NS header "${truncate(value)}" (RFC 3862 §4.6)`);
  return m[1] === undefined ? { uri: m[2] } : { prefix: m[1], uri: m[2] };
}

/** Decodes the RFC 3862 §2.3 escapes; unknown escapes yield the escaped character, a lone final `\` is dropped. */
export function unescapeCpimValue(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  let codeUnits = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? '';
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = raw[i + 1];
    if (e === undefined) break;
    i++;
    if (e === 'u' && /^[0-9A-Fa-f]{4}$/.test(raw.slice(i + 1, i + 5))) {
      out += String.fromCharCode(parseInt(raw.slice(i + 1, i + 5), 16));
      codeUnits = true;
      i += 4;
    } else if (e === 'b') out += '\b';
    else if (e === 't') out += '\t';
    else if (e === 'n') out += '\n';
    else if (e === 'r') out += '\r';
    else out += e;
  }
  // A surrogate escape without its pair (`\ud834` alone) is no character: UTF-8 and XML cannot carry it.
  return codeUnits ? out.replace(LONE_SURROGATE, '\ufffd') : out;
}

const LONE_SURROGATE = /[\ud800-\udfff]/gu;

/**
 * Encodes text for a header value per RFC 3862 §2.3.1: backslash and every control character escaped,
 * and spaces at either end too, since a reader drops the whitespace around a value.
 */
export function escapeCpimValue(text: string): string {
  const escaped = escapeControls(text);
  return /^ | $/.test(escaped) ? escaped.replace(/^ +| +$/g, (m) => '\\u0020'.repeat(m.length)) : escaped;
}

function escapeControls(text: string): string {
  return text.replace(/[\\\x00-\x1f\x7f]/g, (c) => {
    switch (c) {
      case '\\':
        return '\\\\';
      case '\b':
        return '\\b';
      case '\t':
        return '\\t';
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      default:
        return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
}

export interface CpimAddress {
  uri: string;
  displayName?: string;
}

/**
 * Parses a From / To / cc value: `[Formal-name] "<" URI ">"` (RFC 3862 §4.1–4.3). Anything after `>` is
 * ignored: RFC 7702's examples put `;gr=` there, outside the grammar (mapping reference §8.1).
 */
export function parseCpimAddress(raw: string): CpimAddress {
  const s = raw.trim();
  let i = 0;
  let displayName: string | undefined;
  if (s.startsWith('"')) {
    const end = quotedStringEnd(s, 0);
    if (end < 0) throw new CpimError(`unterminated Formal-name in "${truncate(raw)}"`);
    displayName = unescapeCpimValue(s.slice(1, end));
    i = end + 1;
  }
  const lt = s.indexOf('<', i);
  if (lt < 0) throw new CpimError(`no <URI> in CPIM address "${truncate(raw)}"`);
  if (displayName === undefined) {
    const name = s.slice(0, lt).trim();
    if (name !== '') displayName = unescapeCpimValue(name);
  } else if (s.slice(i, lt).trim() !== '') {
    throw new CpimError(`text between Formal-name and <URI> in "${truncate(raw)}"`);
  }
  const gt = s.indexOf('>', lt);
  if (gt < 0) throw new CpimError(`unterminated <URI> in "${truncate(raw)}"`);
  const uri = s.slice(lt + 1, gt).trim();
  if (!isAbsoluteUri(uri)) throw new CpimError(`"${truncate(uri)}" is not an absolute URI`);
  return displayName === undefined ? { uri } : { uri, displayName };
}

/** The headers named `localName` in namespace `ns` (by default the CPIM core namespace). */
export function cpimHeaders(msg: CpimMessage, localName: string, ns: string = CPIM_DEFAULT_NS): CpimHeader[] {
  return msg.headers.filter((h) => h.localName === localName && h.ns === ns);
}

function isAbsoluteUri(uri: string): boolean {
  return uri.length <= MAX_URI_LENGTH && /^[A-Za-z][A-Za-z0-9+.-]*:[^\s<>"\x00-\x1f\x7f]+$/.test(uri);
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// ---------------------------------------------------------------------------------------------- build

export interface CpimBuildInput {
  from: CpimAddress;
  to: CpimAddress | CpimAddress[];
  cc?: CpimAddress[];
  /** RFC 3339; a Date is written in UTC. */
  dateTime?: string | Date;
  subject?: Array<{ lang?: string; text: string }>;
  /** Prefix declarations, written as `NS:` headers before the extension headers that use them. */
  namespaces?: Array<{ prefix: string; uri: string }>;
  /** Names for `Require:` (§4.7). */
  require?: string[];
  /** Extension headers, e.g. `{ name: 'imdn.Message-ID', value: '…' }`; values are escaped here. */
  headers?: Array<{ name: string; value: string; lang?: string }>;
  contentType: string;
  /** Further headers of the encapsulated entity (e.g. `Content-Disposition: notification`). */
  contentHeaders?: MimeHeader[];
  body: Buffer | string;
}

export function buildCpim(input: CpimBuildInput, limits: CpimLimits = {}): Buffer {
  const lines: string[] = [];
  lines.push(`From: ${formatAddress(input.from)}`);
  for (const to of Array.isArray(input.to) ? input.to : [input.to]) lines.push(`To: ${formatAddress(to)}`);
  for (const cc of input.cc ?? []) lines.push(`cc: ${formatAddress(cc)}`);
  if (input.dateTime !== undefined) {
    let dt: string;
    if (typeof input.dateTime === 'string') dt = input.dateTime;
    else if (Number.isNaN(input.dateTime.getTime())) throw new CpimError('invalid DateTime');
    else dt = input.dateTime.toISOString();
    if (!isRfc3339DateTime(dt)) throw new CpimError(`DateTime "${truncate(dt)}" is not RFC 3339 (RFC 3862 §4.4)`);
    lines.push(`DateTime: ${dt}`);
  }
  for (const s of input.subject ?? []) lines.push(`Subject:${langParam(s.lang)} ${escapeCpimValue(s.text)}`);
  const declared = new Set<string>();
  for (const ns of input.namespaces ?? []) {
    if (!new RegExp(`^${NAME}$`).test(ns.prefix)) throw new CpimError(`invalid namespace prefix "${truncate(ns.prefix)}"`);
    if (!isAbsoluteUri(ns.uri)) throw new CpimError(`namespace "${truncate(ns.uri)}" is not an absolute URI (RFC 3862 §3.4)`);
    declared.add(ns.prefix);
    lines.push(`NS: ${ns.prefix} <${ns.uri}>`);
  }
  const checkName = (name: string): void => {
    const m = HEADER_NAME_RE.exec(name);
    if (!m) throw new CpimError(`invalid CPIM header name "${truncate(name)}"`);
    if (m[1] !== undefined && !declared.has(m[1])) throw new CpimError(`prefix "${m[1]}" used before an NS declaration (RFC 3862 §3.4)`);
  };
  if (input.require && input.require.length > 0) {
    input.require.forEach(checkName);
    lines.push(`Require: ${input.require.join(',')}`);
  }
  for (const h of input.headers ?? []) {
    checkName(h.name);
    lines.push(`${h.name}:${langParam(h.lang)} ${escapeCpimValue(h.value)}`);
  }
  const maxHeaders = limits.maxHeaders ?? DEFAULT_MAX_HEADERS;
  if (lines.length > maxHeaders) throw new CpimError(`more than ${maxHeaders} CPIM message headers`);

  try {
    parseContentType(input.contentType);
  } catch (e) {
    if (e instanceof ContentTypeError) throw new CpimError(`invalid encapsulated Content-Type: ${e.message}`);
    throw e;
  }
  const content = [`Content-Type: ${input.contentType}`];
  for (const h of input.contentHeaders ?? []) {
    if (!/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(h.name)) throw new CpimError(`invalid content header name "${truncate(h.name)}"`);
    if (/[\x00-\x1f\x7f]/.test(h.value)) throw new CpimError(`control character in content header "${h.name}"`);
    content.push(`${h.name}: ${h.value}`);
  }

  const body = typeof input.body === 'string' ? Buffer.from(input.body, 'utf8') : input.body;
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n${content.join('\r\n')}\r\n\r\n`, 'utf8');
  const total = head.length + body.length;
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  if (total > maxBytes) throw new CpimError(`CPIM body of ${total} bytes exceeds the ${maxBytes}-byte limit`);
  return Buffer.concat([head, body]);
}

function langParam(lang: string | undefined): string {
  if (lang === undefined) return '';
  if (!LANG_TAG_RE.test(lang)) throw new CpimError(`invalid language tag "${truncate(lang)}" (RFC 3862 §3.3)`);
  return `;lang=${lang}`;
}

/** Always the quoted-String form of Formal-name, so `<`, `>`, quotes and controls cannot break out (§3.6). */
function formatAddress(a: CpimAddress): string {
  if (!isAbsoluteUri(a.uri)) throw new CpimError(`"${truncate(a.uri)}" is not an absolute URI`);
  if (a.displayName === undefined || a.displayName === '') return `<${a.uri}>`;
  return `"${escapeCpimValue(a.displayName).replace(/"/g, '\\"')}" <${a.uri}>`;
}
