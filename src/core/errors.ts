/**
 * Error mapping between SIP/MSRP status codes and XMPP stanza errors (RFC 7247 §7, reference §2).
 * The correspondences are data (mappings/errors.yaml); this module validates them and applies the rules
 * around them: full vs bare JID, addresses in <gone/>/<redirect/>, class defaults, unknown conditions.
 */
import { z } from 'zod';
import {
  AddressError,
  formatXmppUri,
  jidToSip,
  parseXmppUri,
  sipToJid,
  type ComponentAddressing,
  type SipAddress,
} from './address.js';
import type { Jid } from './jid.js';
import { parseMappingTable } from './mapping-tables.js';

/** RFC 6120 §8.3.3: the defined stanza error conditions. */
export const STANZA_ERROR_CONDITIONS = [
  'bad-request',
  'conflict',
  'feature-not-implemented',
  'forbidden',
  'gone',
  'internal-server-error',
  'item-not-found',
  'jid-malformed',
  'not-acceptable',
  'not-allowed',
  'not-authorized',
  'policy-violation',
  'recipient-unavailable',
  'redirect',
  'registration-required',
  'remote-server-not-found',
  'remote-server-timeout',
  'resource-constraint',
  'service-unavailable',
  'subscription-required',
  'undefined-condition',
  'unexpected-request',
] as const;
export type StanzaErrorCondition = (typeof STANZA_ERROR_CONDITIONS)[number];

export const XMPP_ERROR_TYPES = ['cancel', 'wait', 'modify', 'auth', 'continue'] as const;
export type XmppErrorType = (typeof XMPP_ERROR_TYPES)[number];

export interface SipToXmppRule {
  condition: StanzaErrorCondition;
  type: XmppErrorType;
  /** The new address (from Contact) goes into the condition's character data. */
  address: boolean;
}

export interface XmppToSipVariants {
  /** Code when the error is about a bare JID (RFC 7247 §7.1 notes 1–2). */
  bareJid?: number;
  /** Code when the condition carries a new address (note 3). */
  withAddress?: number;
  /** Code when the remote server cannot be resolved rather than not existing (note 4). */
  unresolvable?: number;
}

export type SubscribeFailureAction = 'cancel-authorization' | 'retry-with-min-expires' | 'new-dialog' | 'map-error';

export interface ErrorTables {
  conditionTypes: Map<StanzaErrorCondition, XmppErrorType>;
  /** Default SIP code per condition (RFC 7247 Table 2); complete over STANZA_ERROR_CONDITIONS. */
  xmppToSip: Map<string, number>;
  xmppToSipVariants: Map<string, XmppToSipVariants>;
  /** RFC 7247 Table 3; contains 300, 400, 500 and 600, which are the class defaults. */
  sipToXmpp: Map<number, SipToXmppRule>;
  reasonPhrases: Map<number, string>;
  sipTransactionTimeoutAs: number;
  subscribe: { cancelAuthorization: Set<number>; retryWithMinExpires: Set<number>; newDialog: Set<number> };
  pageMode: { maxBytes: number; condition: StanzaErrorCondition };
  msrp: {
    messageTooLarge: number;
    toXmpp: Map<number, StanzaErrorCondition>;
    fromXmpp: Map<string, number>;
    fromXmppDefault: number;
  };
}

export interface XmppStanzaError {
  condition: StanzaErrorCondition;
  type: XmppErrorType;
  /** For the `<text/>` element (RFC 7247 §7: the SIP Reason-Phrase). */
  text?: string;
  /** XMPP URI for the character data of `<gone/>` or `<redirect/>` (RFC 6120 §8.3.3.5, §8.3.3.14). */
  address?: string;
}

export interface SipErrorResponse {
  status: number;
  reason: string;
  /** For the Contact header of a 3xx (reference §2.1 note 3 [D]). */
  contact?: SipAddress;
}

// ---------------------------------------------------------------------------------------------------------
// Schema

const isCondition = (s: string): s is StanzaErrorCondition => (STANZA_ERROR_CONDITIONS as readonly string[]).includes(s);

const CLASS_DEFAULTS = [300, 400, 500, 600] as const;

const conditionEnum = z.enum(STANZA_ERROR_CONDITIONS, {
  error: (iss) => `unknown condition '${String(iss.input)}'`,
});
// As a record key a plain string check is used, not the enum: an enum key makes zod report an unknown
// condition as a generic "unrecognized key" instead of naming it.
const conditionKey = z.string().refine((s) => isCondition(s), { error: (iss) => `unknown condition '${String(iss.input)}'` });

/** Each RFC 6120 §8.3.3 condition must be a key of `rec` (checked per table, so siblings' errors still show). */
const requireAllConditions =
  (what: string) =>
  (rec: Record<string, unknown>, ctx: z.core.$RefinementCtx<Record<string, unknown>>): void => {
    for (const c of STANZA_ERROR_CONDITIONS) {
      if (rec[c] === undefined) {
        ctx.addIssue({ code: 'custom', path: [c], message: `missing: every RFC 6120 §8.3.3 condition needs ${what}` });
      }
    }
  };
const typeEnum = z.enum(XMPP_ERROR_TYPES, {
  error: (iss) => `unknown error type '${String(iss.input)}' (RFC 6120 §8.3.2: ${XMPP_ERROR_TYPES.join(', ')})`,
});
const codeMessage = (what: string) => (iss: { input: unknown }) =>
  `expected a ${what} status code (integer 300-699), got ${JSON.stringify(iss.input)}`;
const sipCode = z
  .int({ error: codeMessage('SIP') })
  .min(300, { error: codeMessage('SIP') })
  .max(699, { error: codeMessage('SIP') })
  .refine((n) => n !== 503, {
    error: '503 must not be emitted for an XMPP error: SIP peers would stop using the server (RFC 7247 §7.1 note 5)',
  });
const msrpCode = z
  .int({ error: codeMessage('MSRP') })
  .min(300, { error: codeMessage('MSRP') })
  .max(699, { error: codeMessage('MSRP') });
const codeKey = z.string().regex(/^[3-6]\d\d$/, { error: (iss) => `not a status code 300-699: '${String(iss.input)}'` });
const noControls = z
  .string()
  .min(1)
  .regex(/^[^\x00-\x1f\x7f]+$/, { error: 'must not contain control characters (it becomes a SIP Reason-Phrase)' });

const errorsSchema = z
  .strictObject({
    version: z.literal(1, { error: 'unsupported version (expected 1)' }),
    conditions: z.record(conditionKey, typeEnum).superRefine(requireAllConditions('an error type')),
    xmppToSip: z
      .record(
        conditionKey,
        z.strictObject({
          status: sipCode,
          bareJid: sipCode.optional(),
          withAddress: sipCode.optional(),
          unresolvable: sipCode.optional(),
        }),
      )
      .superRefine(requireAllConditions('a SIP code')),
    sipToXmpp: z
      .record(codeKey, z.strictObject({ condition: conditionEnum, type: typeEnum.optional(), address: z.boolean().optional() }))
      .superRefine((rec, ctx) => {
        for (const code of CLASS_DEFAULTS) {
          if (rec[String(code)] === undefined) {
            ctx.addIssue({ code: 'custom', path: [String(code)], message: `missing: the ${String(code)[0]}xx class default (RFC 7247 §7.2)` });
          }
        }
      }),
    sipTransactionTimeoutAs: z.int().min(300).max(699),
    reasonPhrases: z.record(codeKey, noControls),
    subscribe: z.strictObject({
      cancelAuthorization: z.array(z.int().min(300).max(699)),
      retryWithMinExpires: z.array(z.int().min(300).max(699)),
      newDialog: z.array(z.int().min(300).max(699)),
    }),
    pageMode: z.strictObject({ maxBytes: z.int().positive(), condition: conditionEnum }),
    msrp: z.strictObject({
      messageTooLarge: msrpCode,
      toXmpp: z.record(codeKey, z.strictObject({ condition: conditionEnum })),
      fromXmpp: z.record(conditionKey, msrpCode),
      fromXmppDefault: msrpCode,
    }),
  })
  .superRefine((doc, ctx) => {
    for (const [cond, rule] of Object.entries(doc.xmppToSip)) {
      if (rule === undefined) continue;
      for (const [field, code] of Object.entries(rule)) {
        if (typeof code === 'number' && doc.reasonPhrases[String(code)] === undefined) {
          ctx.addIssue({ code: 'custom', path: ['xmppToSip', cond, field], message: `no reasonPhrases entry for ${code}` });
        }
      }
    }
  });

// ---------------------------------------------------------------------------------------------------------
// Loading

function codeMap<V, W>(rec: Record<string, V>, f: (v: V) => W): Map<number, W> {
  return new Map(Object.entries(rec).map(([k, v]) => [Number(k), f(v)]));
}

/** Entries of a record whose keys the schema has already checked to be stanza error conditions. */
function conditionEntries<V>(rec: Record<string, V>): Array<[StanzaErrorCondition, V]> {
  return Object.entries(rec).filter((e): e is [StanzaErrorCondition, V] => isCondition(e[0]));
}

/** Parse and validate the errors table; throws MappingTableError naming each bad key path. */
export function loadErrorTables(yamlText: string): ErrorTables {
  const doc = parseMappingTable(yamlText, errorsSchema, 'errors table');
  const conditionTypes = new Map(conditionEntries(doc.conditions));
  const typeOf = (c: StanzaErrorCondition): XmppErrorType => conditionTypes.get(c) ?? 'cancel';
  const xmppToSip = new Map<string, number>();
  const xmppToSipVariants = new Map<string, XmppToSipVariants>();
  for (const [cond, { status, ...variants }] of conditionEntries(doc.xmppToSip)) {
    xmppToSip.set(cond, status);
    if (Object.keys(variants).length > 0) xmppToSipVariants.set(cond, variants);
  }
  return {
    conditionTypes,
    xmppToSip,
    xmppToSipVariants,
    sipToXmpp: codeMap(doc.sipToXmpp, (r) => ({
      condition: r.condition,
      type: r.type ?? typeOf(r.condition),
      address: r.address ?? false,
    })),
    reasonPhrases: codeMap(doc.reasonPhrases, (s) => s),
    sipTransactionTimeoutAs: doc.sipTransactionTimeoutAs,
    subscribe: {
      cancelAuthorization: new Set(doc.subscribe.cancelAuthorization),
      retryWithMinExpires: new Set(doc.subscribe.retryWithMinExpires),
      newDialog: new Set(doc.subscribe.newDialog),
    },
    pageMode: doc.pageMode,
    msrp: {
      messageTooLarge: doc.msrp.messageTooLarge,
      toXmpp: codeMap(doc.msrp.toXmpp, (r) => r.condition),
      fromXmpp: new Map(conditionEntries(doc.msrp.fromXmpp)),
      fromXmppDefault: doc.msrp.fromXmppDefault,
    },
  };
}


// ---------------------------------------------------------------------------------------------------------
// Mapping

/** RFC 6120 §8.3.2: a condition the receiver does not understand is treated as <undefined-condition/>. */
function knownCondition(condition: string): StanzaErrorCondition {
  return isCondition(condition) ? condition : 'undefined-condition';
}

/**
 * Free text for a Reason-Phrase or `<text/>`: control characters (CR/LF above all: header injection)
 * become spaces, and the length is capped so a peer cannot make us emit an oversized status line.
 */
export function sanitizeErrorText(s: string | undefined, maxChars = 200): string | undefined {
  if (s === undefined) return undefined;
  const cleaned = s.replace(/[\x00-\x1f\x7f-\x9f]+/g, ' ').replace(/ {2,}/g, ' ').trim();
  const capped = [...cleaned].slice(0, maxChars).join('').trim();
  return capped === '' ? undefined : capped;
}

function reasonFor(t: ErrorTables, status: number): string {
  // Validation guarantees a phrase for every code the tables emit; this covers hand-built tables.
  return t.reasonPhrases.get(status) ?? t.reasonPhrases.get(Math.floor(status / 100) * 100) ?? 'Error';
}

export interface XmppErrorContext {
  /** The entity the error is about: a full JID selects the 4xx code, a bare JID the 6xx/501 (notes 1–2). */
  about?: Jid;
  /** Character data of `<gone/>`/`<redirect/>` (an XMPP URI); mapped to Contact when it maps to SIP. */
  address?: string;
  /** For `<remote-server-not-found/>`: whether the server does not exist (404) or cannot be resolved (408). */
  remoteServer?: 'nonexistent' | 'unresolvable';
  /** The XMPP `<text/>`, used as Reason-Phrase (RFC 7247 §7). */
  text?: string;
  /** How the new address is represented on the SIP side (see jidToSip). */
  via?: ComponentAddressing;
}

/**
 * XMPP stanza error → SIP final response (RFC 7247 §7.1 Table 2 + notes). A `<gone/>` whose address
 * cannot be mapped to a SIP URI becomes 410: a 301 without a usable Contact would send the peer nowhere.
 */
export function xmppErrorToSip(t: ErrorTables, condition: string, ctx: XmppErrorContext = {}): SipErrorResponse {
  const cond = knownCondition(condition);
  const variants = t.xmppToSipVariants.get(cond) ?? {};
  let status = t.xmppToSip.get(cond) ?? t.xmppToSip.get('undefined-condition') ?? 400;

  let contact: SipAddress | undefined;
  if (ctx.address !== undefined && (cond === 'gone' || cond === 'redirect')) {
    try {
      contact = jidToSip(parseXmppUri(ctx.address), ctx.via);
    } catch (e) {
      if (!(e instanceof AddressError)) throw e;
    }
  }
  if (contact !== undefined && variants.withAddress !== undefined) status = variants.withAddress;
  else if (ctx.about !== undefined && ctx.about.resource === undefined && variants.bareJid !== undefined) status = variants.bareJid;
  else if (ctx.remoteServer === 'unresolvable' && variants.unresolvable !== undefined) status = variants.unresolvable;

  const out: SipErrorResponse = { status, reason: sanitizeErrorText(ctx.text) ?? reasonFor(t, status) };
  if (contact !== undefined && status >= 300 && status < 400) out.contact = contact;
  return out;
}

export interface SipErrorContext {
  /** The response's Reason-Phrase, for `<text/>` (RFC 7247 §7). */
  reason?: string;
  /** The Contact of a 3xx, for the address in `<gone/>`/`<redirect/>`. */
  contact?: SipAddress;
  /** How the SIP-side Contact is represented on the XMPP side (see sipToJid). */
  via?: ComponentAddressing;
}

/**
 * SIP final response → XMPP stanza error (RFC 7247 §7.2 Table 3; unlisted codes by class). Only 3xx–6xx
 * map; anything else is a programming error (RangeError). A 301 whose Contact is missing or unmappable
 * yields `<gone/>` without an address: the address cannot be invented.
 */
export function sipStatusToXmppError(t: ErrorTables, status: number, ctx: SipErrorContext = {}): XmppStanzaError {
  if (!Number.isInteger(status) || status < 300 || status > 699) {
    throw new RangeError(`SIP status ${status} has no XMPP error (RFC 7247 §7: only 3xx-6xx are mapped)`);
  }
  const rule = t.sipToXmpp.get(status) ?? t.sipToXmpp.get(Math.floor(status / 100) * 100);
  const out: XmppStanzaError = rule
    ? { condition: rule.condition, type: rule.type }
    : { condition: 'undefined-condition', type: t.conditionTypes.get('undefined-condition') ?? 'cancel' };
  const text = sanitizeErrorText(ctx.reason);
  if (text !== undefined) out.text = text;
  if (rule?.address && ctx.contact !== undefined) {
    try {
      out.address = formatXmppUri(sipToJid(ctx.contact, ctx.via));
    } catch (e) {
      if (!(e instanceof AddressError)) throw e;
    }
  }
  return out;
}

/** A SIP client transaction that ended without a final response (reference §2.2 [D]: like 408). */
export function sipTimeoutToXmppError(t: ErrorTables): XmppStanzaError {
  return sipStatusToXmppError(t, t.sipTransactionTimeoutAs);
}

/** RFC 8048 §5.2.2: what X2S does when a SUBSCRIBE (new or refresh) fails with `status`. */
export function subscribeFailureAction(t: ErrorTables, status: number): SubscribeFailureAction {
  if (t.subscribe.cancelAuthorization.has(status)) return 'cancel-authorization';
  if (t.subscribe.retryWithMinExpires.has(status)) return 'retry-with-min-expires';
  if (t.subscribe.newDialog.has(status)) return 'new-dialog';
  return 'map-error';
}

/** RFC 7572 §6: the error for an XMPP message whose SIP MESSAGE would be `requestBytes` long, if too long. */
export function pageModeSizeError(t: ErrorTables, requestBytes: number): XmppStanzaError | undefined {
  if (requestBytes <= t.pageMode.maxBytes) return undefined;
  const condition = t.pageMode.condition;
  return { condition, type: t.conditionTypes.get(condition) ?? 'modify' };
}

/**
 * RFC 7573 §8: the MSRP status for a SEND whose Byte-Range total is `total` ('*' = not yet known) under a
 * limit of `maxBytes`, or undefined when it is acceptable so far.
 */
export function msrpSizeError(t: ErrorTables, total: number | '*', maxBytes: number): number | undefined {
  return total !== '*' && total > maxBytes ? t.msrp.messageTooLarge : undefined;
}

/** MSRP error response → XMPP error (reference §2.3); codes without a specific row keep their SIP meaning. */
export function msrpStatusToXmppError(t: ErrorTables, status: number): XmppStanzaError {
  const condition = t.msrp.toXmpp.get(status);
  if (condition !== undefined) return { condition, type: t.conditionTypes.get(condition) ?? 'cancel' };
  return sipStatusToXmppError(t, status);
}

/** XMPP error → MSRP status (reference §2.3, e.g. `<conflict/>` → 425 for a NICKNAME). */
export function xmppErrorToMsrpStatus(t: ErrorTables, condition: string): number {
  return t.msrp.fromXmpp.get(knownCondition(condition)) ?? t.msrp.fromXmppDefault;
}
