/**
 * JIDs (RFC 7622): parse, validate, normalise and format.
 *
 * The PRECIS profiles RFC 7622 requires (UsernameCaseMapped for the localpart, OpaqueString for the
 * resourcepart, RFC 8264/8265) need Unicode derived-property tables that Node does not ship. They are
 * approximated here with Unicode general categories, always erring towards refusal: a character the
 * approximation is unsure about is rejected, so we never emit a JID a conforming server would refuse or
 * read differently. Not implemented: the RFC 5893 bidi rule and the CONTEXTJ/CONTEXTO rules (joiners and
 * the few contextual characters are simply refused in localparts).
 */
import { domainToASCII, domainToUnicode } from 'node:url';

export interface Jid {
  local?: string;
  domain: string;
  resource?: string;
}

export type AddressErrorCondition = 'jid-malformed' | 'item-not-found' | 'not-acceptable' | 'forbidden';

/**
 * An address that cannot be mapped. Carries both the XMPP condition (for errors sent to the XMPP side)
 * and the SIP status (for responses sent to the SIP side), so the caller never has to guess either.
 * Lives here rather than in address.ts so that jid.ts needs no import from address.ts (no cycle);
 * address.ts re-exports it.
 */
export class AddressError extends Error {
  readonly condition: AddressErrorCondition;
  readonly sipStatus: number;
  /** A SIP Warning to add to the response (RFC 3261 §20.43), e.g. 380 "SIPS Not Allowed" (RFC 5630 §5.1.2). */
  readonly sipWarning: { code: number; text: string } | undefined;

  constructor(
    condition: AddressErrorCondition,
    sipStatus: number,
    message: string,
    sipWarning?: { code: number; text: string },
  ) {
    super(message);
    this.name = 'AddressError';
    this.condition = condition;
    this.sipStatus = sipStatus;
    this.sipWarning = sipWarning;
  }
}

/** RFC 7622 §3.1: each part is at most 1023 octets of UTF-8. */
export const MAX_JID_PART_BYTES = 1023;

const malformed = (message: string): AddressError => new AddressError('jid-malformed', 400, message);

const utf8Length = (s: string): number => Buffer.byteLength(s, 'utf8');

// RFC 7622 §3.3.1: these may never appear in a localpart, whatever PRECIS allows.
const LOCALPART_FORBIDDEN = new Set(['"', '&', "'", '/', ':', '<', '>', '@']);

// PRECIS "LetterDigits" (RFC 8264 §9.1). Lt is not in the set; toLowerCase has removed it by the time we check.
const LETTER_DIGITS = /^[\p{Ll}\p{Lu}\p{Lo}\p{Nd}\p{Lm}\p{Mn}\p{Mc}]$/u;
// FreeformClass valid categories (RFC 8264 §4.3): letters, marks, numbers, punctuation, symbols, and space.
const FREEFORM_VALID = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u;
// PrecisIgnorableProperties (RFC 8264 §9.13) are disallowed in both classes.
const IGNORABLE = /^[\p{Default_Ignorable_Code_Point}\p{Noncharacter_Code_Point}]$/u;
const UNASSIGNED_OR_SURROGATE = /^[\p{Cn}\p{Cs}]$/u;
const NON_ASCII_SPACE = /\p{Zs}/gu;

/**
 * Width mapping (RFC 8265 §3.3.1 step 1): only the Halfwidth and Fullwidth Forms block and the ideographic
 * space have <wide>/<narrow> decompositions, and for those NFKC is exactly the width mapping.
 */
function mapWidth(s: string): string {
  return s.replace(/[\u3000\uff00-\uffef]/gu, (c) => c.normalize('NFKC'));
}

/**
 * The mapping half of PRECIS UsernameCaseMapped (width, case, NFC; RFC 8265 §3.3.2). Applied before
 * XEP-0106 escaping, because width mapping can turn e.g. U+FF20 into '@', which must then be escaped.
 */
export function mapUsernameCase(s: string): string {
  return mapWidth(s).toLowerCase().normalize('NFC');
}

/**
 * RFC 7622 §3.3 localpart: UsernameCaseMapped, then the §3.3.1 exclusions. Returns the canonical form.
 * Input may be an escaped (XEP-0106) localpart; escapes are plain ASCII and survive unchanged.
 */
export function prepLocalpart(s: string): string {
  if (s.length === 0) throw malformed('empty localpart');
  const mapped = mapUsernameCase(s);
  for (const ch of mapped) {
    const cp = ch.codePointAt(0) ?? 0;
    if (LOCALPART_FORBIDDEN.has(ch)) throw malformed(`localpart contains forbidden character '${ch}' (RFC 7622 §3.3.1)`);
    if (cp >= 0x21 && cp <= 0x7e) continue; // PRECIS ASCII7, minus space and controls
    if (cp < 0x80) throw malformed(`localpart contains control or space U+${hex(cp)} (RFC 7622 §3.3)`);
    if (UNASSIGNED_OR_SURROGATE.test(ch) || IGNORABLE.test(ch) || !LETTER_DIGITS.test(ch) || ch.normalize('NFKC') !== ch) {
      throw malformed(`localpart contains U+${hex(cp)}, not allowed by PRECIS IdentifierClass (RFC 8264 §4.2)`);
    }
  }
  if (utf8Length(mapped) > MAX_JID_PART_BYTES) throw malformed('localpart longer than 1023 octets (RFC 7622 §3.1)');
  return mapped;
}

/** RFC 7622 §3.4 resourcepart: PRECIS OpaqueString (case preserved). Returns the canonical form. */
export function prepResourcepart(s: string): string {
  if (s.length === 0) throw malformed('empty resourcepart');
  const mapped = s.replace(NON_ASCII_SPACE, ' ').normalize('NFC');
  for (const ch of mapped) {
    const cp = ch.codePointAt(0) ?? 0;
    if (UNASSIGNED_OR_SURROGATE.test(ch) || IGNORABLE.test(ch) || !FREEFORM_VALID.test(ch)) {
      throw malformed(`resourcepart contains U+${hex(cp)}, not allowed by PRECIS OpaqueString (RFC 8265 §4.2)`);
    }
  }
  if (utf8Length(mapped) > MAX_JID_PART_BYTES) throw malformed('resourcepart longer than 1023 octets (RFC 7622 §3.1)');
  return mapped;
}

const IPV4 = /^(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
// WHATWG host parsing (which domainToASCII uses) reads a name whose last label looks numeric as an IPv4
// address in odd notations ("0x7f.1" → 127.0.0.1). Such names are refused before they reach it.
const NUMERIC_LABEL = /^(?:0x[0-9a-f]*|\d+)$/i;

/** True for an IPv4 address or a bracketed IPv6 reference. */
export function isIpLiteral(host: string): boolean {
  return IPV4.test(host) || (host.startsWith('[') && host.endsWith(']'));
}

function prepIpv6Reference(host: string): string {
  const inner = host.slice(1, -1);
  // Zone identifiers and anything else URL parsing might tolerate are refused first.
  if (!/^[0-9a-f:.]+$/i.test(inner)) throw malformed(`invalid IPv6 reference '${host}'`);
  try {
    // URL parsing validates and canonicalises (lower case, zero compression) the address for us.
    return new URL(`http://[${inner}]/`).hostname;
  } catch {
    throw malformed(`invalid IPv6 reference '${host}'`);
  }
}

/**
 * A DNS host name or IP literal in its ASCII (A-label) form, lower case, trailing dot removed. This is the
 * SIP host form (RFC 3261 §25.1 hostname) and the input check for JID domainparts.
 * Underscores and other non-LDH ASCII are refused: neither RFC 3261 hostnames nor IDNA2008 allow them.
 */
export function hostToAscii(host: string): string {
  if (host.length === 0) throw malformed('empty host');
  if (host.startsWith('[')) {
    if (!host.endsWith(']')) throw malformed(`invalid IPv6 reference '${host}'`);
    return prepIpv6Reference(host);
  }
  const name = host.endsWith('.') ? host.slice(0, -1) : host; // RFC 7622 §3.2: strip one trailing dot
  if (IPV4.test(name)) return name;
  for (const ch of name) {
    const cp = ch.codePointAt(0) ?? 0;
    if (cp < 0x80 ? !/[A-Za-z0-9.-]/.test(ch) : /[\p{Cc}\p{Cf}\p{Z}\p{Cs}\p{Cn}]/u.test(ch)) {
      throw malformed(`host contains invalid character U+${hex(cp)}`);
    }
  }
  const labels = name.split('.');
  const last = labels[labels.length - 1] ?? '';
  if (NUMERIC_LABEL.test(last)) throw malformed(`host '${host}' is neither a DNS name nor an IPv4 address`);
  const ascii = domainToASCII(name);
  if (ascii === '') throw malformed(`host '${host}' is not a valid domain name (IDNA)`);
  // For ASCII input domainToASCII may only fold case; anything else means it reinterpreted the name.
  if (/^[\x00-\x7f]*$/.test(name) && ascii !== name.toLowerCase()) throw malformed(`host '${host}' is not a valid domain name`);
  if (ascii.length > 253) throw malformed(`host '${host}' is longer than 253 octets`);
  for (const label of ascii.split('.')) {
    if (!LDH_LABEL.test(label)) throw malformed(`host '${host}' has an invalid label '${label}'`);
  }
  return ascii;
}

/**
 * RFC 7622 §3.2 domainpart: IDNA2008 U-labels (never A-labels) in lower case, or an IP literal.
 * Reference §1.1 note 1 [D]: hosts travel as A-labels on SIP and as U-labels inside JIDs.
 */
export function prepDomainpart(s: string): string {
  const ascii = hostToAscii(s);
  if (isIpLiteral(ascii)) return ascii;
  const unicode = domainToUnicode(ascii);
  if (unicode === '') throw malformed(`domainpart '${s}' is not a valid domain name (IDNA)`);
  if (utf8Length(unicode) > MAX_JID_PART_BYTES) throw malformed('domainpart longer than 1023 octets (RFC 7622 §3.1)');
  return unicode;
}

function hex(cp: number): string {
  return cp.toString(16).toUpperCase().padStart(4, '0');
}

function refuseLineBreaksAndNul(s: string): void {
  // Checked on the whole string first so that an injection attempt is named as such in the error.
  if (/[\r\n\0]/.test(s)) throw malformed('JID contains CR, LF or NUL');
}

/** Parse and canonicalise a JID (RFC 7622 §3.1 split, then each part's profile). */
export function parseJid(s: string): Jid {
  refuseLineBreaksAndNul(s);
  const slash = s.indexOf('/');
  const beforeResource = slash < 0 ? s : s.slice(0, slash);
  const resource = slash < 0 ? undefined : s.slice(slash + 1);
  const at = beforeResource.indexOf('@');
  const local = at < 0 ? undefined : beforeResource.slice(0, at);
  const domain = at < 0 ? beforeResource : beforeResource.slice(at + 1);
  return normalizeJid({
    ...(local !== undefined ? { local } : {}),
    domain,
    ...(resource !== undefined ? { resource } : {}),
  });
}

/** Validate and canonicalise a JID built from parts; an empty local or resource is an error, not "absent". */
export function normalizeJid(j: Jid): Jid {
  for (const part of [j.local, j.domain, j.resource]) if (part !== undefined) refuseLineBreaksAndNul(part);
  const out: Jid = { domain: prepDomainpart(j.domain) };
  if (j.local !== undefined) out.local = prepLocalpart(j.local);
  if (j.resource !== undefined) out.resource = prepResourcepart(j.resource);
  return out;
}

/** Format a JID; the parts are re-validated so a hand-built Jid cannot smuggle bytes onto the wire. */
export function formatJid(j: Jid): string {
  const n = normalizeJid(j);
  return `${n.local !== undefined ? `${n.local}@` : ''}${n.domain}${n.resource !== undefined ? `/${n.resource}` : ''}`;
}

export function bareJid(j: Jid): Jid {
  return j.local !== undefined ? { local: j.local, domain: j.domain } : { domain: j.domain };
}

/** Equality of canonical JIDs (both sides normalised first; RFC 7622 compares canonical forms). */
export function jidEquals(a: Jid, b: Jid): boolean {
  return formatJid(a) === formatJid(b);
}
