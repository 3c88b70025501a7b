/**
 * SDP bodies (RFC 4566, RFC 8866): a guarded front end to sdp-transform (DESIGN.md "Chosen dependencies").
 *
 * sdp-transform splits lines and matches each against its grammar, but validates nothing: a line it does
 * not recognise vanishes, a regex that matches only a prefix keeps the prefix (`m=audio 1 RTP/A-VP 0`
 * gives protocol `RTP/A`), a repeated single-valued line overwrites or merges into the earlier one, and a
 * number with leading zeros or beyond 2^53 is rewritten on output. So parseSdp:
 *   1. caps the size, decodes strict UTF-8, refuses NUL and a CR that does not end a line;
 *   2. checks the structure sdp-transform assumes: every line `x=value` with a type it knows, v=0, o=, s=
 *      first, a t= before the first m=, well-formed o=/t=/m= lines, a c= for every media section;
 *   3. tries each a= line on its own: one the grammar would alter, or a second value of a single-valued
 *      attribute, is kept verbatim in `invalid` (where sdp-transform puts attributes it does not know);
 *   4. writes the result back and compares it with the input, line for line within each section: any
 *      other line that would not survive is refused.
 * What parseSdp returns therefore writes back (writeSdp) to the same lines, possibly reordered within a
 * section into RFC 4566 order; every failure is an SdpError with a short reason that echoes no input.
 */
import sdpTransform from 'sdp-transform';
import type { MediaDescription, SessionDescription as TransformDescription } from 'sdp-transform';

/** `sessionVersion` stays a decimal string when it does not fit a double exactly (RFC 4566 allows 64 bits). */
export type SdpOrigin = Omit<TransformDescription['origin'], 'sessionVersion'> & { sessionVersion: number | string };
export type SessionDescription = Omit<TransformDescription, 'origin'> & { origin: SdpOrigin };
export type SdpMedia = MediaDescription;

export const SDP_CONTENT_TYPE = 'application/sdp';

export class SdpError extends Error {
  readonly reason: string;

  constructor(reason: string, options?: { cause?: unknown }) {
    super(reason, options);
    this.name = 'SdpError';
    this.reason = reason;
  }
}

/** The reason given when sdp-transform itself failed: a bug to report, not a property of the input. */
export const SDP_INTERNAL_ERROR = 'SDP could not be parsed';

export interface SdpLimits {
  /** Largest body accepted, in UTF-8 bytes (default 16 KiB: an MSRP or audio offer is well under 2 KiB). */
  maxBytes?: number;
}

export const DEFAULT_SDP_MAX_BYTES = 16 * 1024;

/** Line types sdp-transform's grammar handles (k= is obsolete, RFC 8866 §5.12, and it drops it). */
const KNOWN_TYPES = new Set('vosiuepcbtrzam');
const O_LINE = /^o=(\S+) (\d+) (\d+) (\S+) IP([46]) (\S+)$/;
const T_LINE = /^t=\d+ \d+$/;
const M_LINE = /^m=(\S+) (\S+) (\S+)((?: \S+)+)$/;
const LONE_SURROGATE = /[\ud800-\udfff]/u;
const utf8 = new TextDecoder('utf-8', { fatal: true });

interface Line {
  text: string;
  /** 1-based, for the reasons. */
  no: number;
}

// ---------------------------------------------------------------------------------------------- parse

function decode(input: string | Uint8Array, maxBytes: number): string {
  let s: string;
  if (typeof input === 'string') {
    if (input.length > maxBytes || (input.length * 3 > maxBytes && Buffer.byteLength(input, 'utf8') > maxBytes)) {
      throw new SdpError('SDP body too large');
    }
    if (LONE_SURROGATE.test(input)) throw new SdpError('SDP body not valid Unicode');
    s = input;
  } else {
    if (input.byteLength > maxBytes) throw new SdpError('SDP body too large');
    try {
      s = utf8.decode(input);
    } catch {
      throw new SdpError('SDP body not UTF-8');
    }
  }
  if (s.includes('\0')) throw new SdpError('NUL in SDP body');
  return s;
}

/** CRLF or bare LF (RFC 8866 §5: parsers should accept LF); trailing empty lines are dropped. */
function splitLines(s: string): Line[] {
  const raw = s.split('\n');
  while (raw.length > 0 && (raw[raw.length - 1] === '' || raw[raw.length - 1] === '\r')) raw.pop();
  return raw.map((l, i) => {
    const text = l.endsWith('\r') ? l.slice(0, -1) : l;
    // sdp-transform also splits at a lone CR: a value could smuggle in a line of its own.
    if (text.includes('\r')) throw new SdpError(`bare CR in SDP line ${i + 1}`);
    return { text, no: i + 1 };
  });
}

function checkStructure(lines: readonly Line[]): void {
  if (lines.length === 0) throw new SdpError('empty SDP');
  for (const l of lines) {
    const t = l.text.charCodeAt(0);
    if (l.text.charCodeAt(1) !== 61 /* = */ || !(t >= 97 && t <= 122)) throw new SdpError(`malformed SDP line ${l.no}`);
    if (!KNOWN_TYPES.has(l.text[0] ?? '')) throw new SdpError(`unsupported SDP line type ${l.text[0]}= (line ${l.no})`);
  }
  const [v, o, s] = lines;
  if (!v?.text.startsWith('v=')) throw new SdpError('SDP does not start with v=');
  if (v.text !== 'v=0') throw new SdpError('unsupported SDP version');
  if (!o?.text.startsWith('o=')) throw new SdpError('missing o= line');
  if (!O_LINE.test(o.text)) throw new SdpError('malformed or unsupported o= line');
  if (!s?.text.startsWith('s=')) throw new SdpError('missing s= line');

  let inMedia = false;
  let sawTiming = false;
  let sessionConnection = false;
  let mediaLine: Line | undefined;
  let mediaConnection = false;
  const endMedia = (): void => {
    if (mediaLine && !mediaConnection && !sessionConnection) throw new SdpError(`no c= for the media section at line ${mediaLine.no}`);
  };
  for (const l of lines.slice(3)) {
    const type = l.text[0];
    if (type === 'v' || type === 'o' || type === 's') throw new SdpError(`repeated ${type}= line (line ${l.no})`);
    if (type === 't') {
      if (inMedia) throw new SdpError(`t= inside a media section (line ${l.no})`);
      if (!T_LINE.test(l.text)) throw new SdpError(`malformed t= line (line ${l.no})`);
      sawTiming = true;
    } else if (type === 'c') {
      if (inMedia) mediaConnection = true;
      else sessionConnection = true;
    } else if (type === 'm') {
      if (!sawTiming) throw new SdpError('missing t= line');
      endMedia();
      const m = M_LINE.exec(l.text);
      if (!m) throw new SdpError(`malformed m= line (line ${l.no})`);
      // port/number-of-ports (RFC 8866 §5.14) has no place in sdp-transform's model.
      if (!/^\d{1,5}$/.test(m[2] ?? '') || Number(m[2]) > 65535) throw new SdpError(`bad or unsupported port in m= line (line ${l.no})`);
      inMedia = true;
      mediaLine = l;
      mediaConnection = false;
    }
  }
  if (!sawTiming) throw new SdpError('missing t= line');
  endMedia();
}

/** Splits at each m= line: [session lines, media 1 lines (m= first), ...]. */
function sections(lines: readonly Line[]): Line[][] {
  const out: Line[][] = [[]];
  for (const l of lines) {
    if (l.text.startsWith('m=')) out.push([]);
    out[out.length - 1]!.push(l);
  }
  return out;
}

/**
 * Whether one a= line survives sdp-transform's parse and write unchanged, and the property it sets.
 * `key` is undefined when the line would not survive.
 */
function tryAttribute(line: string): { key: string | undefined; multi: boolean } {
  const parsed = sdpTransform.parse(line) as unknown as Record<string, unknown>;
  let key: string | undefined;
  for (const k of Object.keys(parsed)) if (k !== 'media') key = k;
  if (key === undefined) return { key: undefined, multi: false };
  const multi = Array.isArray(parsed[key]);
  const written = sdpTransform.write({ ...parsed, version: 0, name: '-', media: [] } as unknown as TransformDescription).split('\r\n');
  return written.includes(line) ? { key, multi } : { key: undefined, multi };
}

/** Multiset difference a − b of line texts. */
function missing(a: readonly string[], b: readonly string[]): string[] {
  const count = new Map<string, number>();
  for (const x of b) count.set(x, (count.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = count.get(x) ?? 0;
    if (n > 0) count.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

/**
 * Parses an `application/sdp` body (a Buffer is decoded as strict UTF-8). Throws SdpError, and nothing
 * else, for input that is too large, not UTF-8, holds NUL or a bare CR, lacks v=/o=/s=/t=, has a malformed
 * o=/t=/m= line, a media section without c=, a line type sdp-transform does not know (k= included), or a
 * non-attribute line sdp-transform would drop or alter (a repeated e=, c= with a network type other
 * than IN, ...). Attributes sdp-transform cannot represent exactly are kept verbatim in `invalid`.
 */
export function parseSdp(input: string | Uint8Array, limits: SdpLimits = {}): SessionDescription {
  const lines = splitLines(decode(input, limits.maxBytes ?? DEFAULT_SDP_MAX_BYTES));
  checkStructure(lines);
  try {
    return parseChecked(lines);
  } catch (e) {
    if (e instanceof SdpError) throw e;
    throw new SdpError(SDP_INTERNAL_ERROR, { cause: e });
  }
}

function parseChecked(lines: readonly Line[]): SessionDescription {
  const secs = sections(lines);
  const fed: string[] = [];
  const verbatim: string[][] = secs.map(() => []);
  secs.forEach((sec, i) => {
    const singles = new Set<string>();
    for (const l of sec) {
      if (l.text.startsWith('a=')) {
        const { key, multi } = tryAttribute(l.text);
        if (key === undefined || (!multi && singles.has(key))) {
          verbatim[i]!.push(l.text.slice(2));
          continue;
        }
        if (!multi) singles.add(key);
      }
      fed.push(l.text);
    }
  });

  const desc = sdpTransform.parse(fed.join('\r\n') + '\r\n') as unknown as SessionDescription;
  const targets: Array<{ invalid?: Array<{ value: string }> }> = [desc, ...desc.media];
  verbatim.forEach((values, i) => {
    const target = targets[i];
    if (!target || values.length === 0) return;
    target.invalid ??= [];
    for (const value of values) target.invalid.push({ value });
  });

  // The written form must hold exactly the input's lines, section by section.
  const out = sections(splitLines(writeLines(desc)));
  if (out.length !== secs.length) throw new SdpError('SDP media sections could not be represented');
  secs.forEach((sec, i) => {
    const outTexts = (out[i] ?? []).map((l) => l.text);
    const lost = missing(
      sec.map((l) => l.text),
      outTexts,
    );
    if (lost.length > 0) {
      const first = sec.find((l) => l.text === lost[0]);
      throw new SdpError(`malformed, repeated or unsupported ${lost[0]?.[0] ?? ''}= line (line ${first?.no ?? '?'})`);
    }
    if (missing(outTexts, sec.map((l) => l.text)).length > 0) throw new SdpError('SDP could not be represented exactly');
  });
  return desc;
}

// ---------------------------------------------------------------------------------------------- write

/** A value holding CR, LF or NUL would start a line of its own: the only injection SDP text allows. */
function checkValues(v: unknown, depth: number): void {
  if (depth > 8) throw new SdpError('SDP description nested too deeply');
  if (typeof v === 'string') {
    if (/[\r\n\0]/.test(v)) throw new SdpError('line break or NUL in an SDP value');
  } else if (Array.isArray(v)) {
    for (const x of v) checkValues(x, depth + 1);
  } else if (typeof v === 'object' && v !== null) {
    for (const x of Object.values(v)) checkValues(x, depth + 1);
  }
}

/**
 * Writes a description in RFC 4566 order with CRLF line ends. Throws SdpError when a value would break a
 * line, the origin is incomplete, or the result lacks what parseSdp requires (t=, c= for each media, ...).
 * The caller's object is not modified.
 */
export function writeSdp(desc: SessionDescription): string {
  const text = writeLines(desc);
  checkStructure(splitLines(text));
  return text;
}

function writeLines(desc: SessionDescription): string {
  checkValues(desc, 0);
  const o = desc.origin as Partial<SdpOrigin> | undefined;
  if (!o) throw new SdpError('SDP origin missing');
  const originLine = `o=${String(o.username)} ${String(o.sessionId)} ${String(o.sessionVersion)} ${String(o.netType)} IP${String(o.ipVer)} ${String(o.address)}`;
  if (!O_LINE.test(originLine)) throw new SdpError('invalid SDP origin');
  // sdp-transform writes sess-version through Number(): a 64-bit version would come out rounded.
  const copy = { ...desc, origin: { ...o, sessionVersion: 0 }, media: desc.media.map((m) => ({ ...m })) };
  const lines = sdpTransform.write(copy as unknown as TransformDescription).split('\r\n');
  const at = lines.findIndex((l) => l.startsWith('o='));
  if (at < 0) throw new SdpError('invalid SDP origin');
  lines[at] = originLine;
  return lines.join('\r\n');
}

// ---------------------------------------------------------------------------------------------- attributes

/**
 * The values of attribute `name` that sdp-transform keeps verbatim (`a=name:value` → `value`, `a=name` →
 * ''). MSRP's attributes (RFC 4975 §8: path, accept-types, accept-wrapped-types, max-size) are all there.
 */
export function verbatimAttributes(section: { invalid?: Array<{ value: string }> }, name: string): string[] {
  const out: string[] = [];
  for (const { value } of section.invalid ?? []) {
    if (value === name) out.push('');
    else if (value.startsWith(name + ':')) out.push(value.slice(name.length + 1));
  }
  return out;
}
