/**
 * Building responses (RFC 3261 §8.2.6) and the random tokens transactions and dialogs are keyed on.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import { EMPTY_BODY, REASON_PHRASES, SipHeaders, type SipRequest, type SipResponse } from '../message.js';
import { MAGIC_COOKIE, tagOf } from './keys.js';

/**
 * Random bytes drawn from the CSPRNG a pool at a time: one `randomFillSync` call per 512 tags instead of
 * one per tag, which at 10k requests/s was a measurable share of the stack's CPU.
 */
const POOL = Buffer.allocUnsafeSlow(4096);
let poolAt = POOL.length;

function randomHex(bytes: number): string {
  if (poolAt + bytes > POOL.length) {
    randomFillSync(POOL);
    poolAt = 0;
  }
  const hex = POOL.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return hex;
}

/** RFC 3261 §8.1.1.7: unique across space and time, with the magic cookie. */
export function newBranch(): string {
  return MAGIC_COOKIE + randomHex(12);
}

/** RFC 3261 §19.3: at least 32 bits of randomness; 64 here, hex so it is a valid token anywhere. */
export function newTag(): string {
  return randomHex(8);
}

/**
 * The To tag chosen for each request we answer, so every response to one request (and the 200 to a
 * CANCEL of it, RFC 3261 §9.2) carries the same tag. Weak so answered requests are not kept alive.
 */
const chosenTags = new WeakMap<SipRequest, string>();

/**
 * The To tag responses to `req` carry: the request's own (in-dialog), the one already chosen for it,
 * or a new one remembered for next time.
 */
export function toTagFor(req: SipRequest): string {
  const existing = tagOf(req.headers.get('to')) ?? chosenTags.get(req);
  if (existing !== undefined) return existing;
  const tag = newTag();
  chosenTags.set(req, tag);
  return tag;
}

/** Per-process seeds: stateless tags stay stable for a request's retransmissions, not across restarts. */
const SEEDS = randomBytes(8);
const SEED_A = SEEDS.readUInt32LE(0);
const SEED_B = SEEDS.readUInt32LE(4);

/** Char codes of the hex digits: a tag is built as one string by String.fromCharCode, not nine concatenations. */
const HEX_CODES = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));

function hexCodes(n: number, out: number[], at: number): void {
  for (let i = 7; i >= 0; i--) {
    out[at + i] = HEX_CODES[n & 15]!;
    n >>>= 4;
  }
}

const TAG_CODES: number[] = [115 /* s */, 108 /* l */, ...new Array<number>(16).fill(48)];

/** Two FNV-1a-style lanes over `parts`, each part ended by a separator so that ("ab","c") ≠ ("a","bc"). */
function hashTag(parts: ReadonlyArray<string | undefined>): string {
  let a = SEED_A ^ 0x811c9dc5;
  let b = SEED_B ^ 0x050c5d1f;
  for (const part of parts) {
    if (part !== undefined) {
      for (let i = 0; i < part.length; i++) {
        const c = part.charCodeAt(i);
        a = Math.imul(a ^ c, 0x01000193);
        b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
      }
    }
    a = Math.imul(a ^ 10, 0x01000193);
    b = Math.imul(b ^ 10, 0x01000193) ^ (b >>> 15);
  }
  hexCodes(a >>> 0, TAG_CODES, 2);
  hexCodes(b >>> 0, TAG_CODES, 10);
  return String.fromCharCode(...TAG_CODES);
}

/**
 * The value of `;name=` in a header value, as written, when it is spelled that way (lower case, no LWS);
 * otherwise the whole value, which identifies the request just as well, only at a higher hashing cost.
 */
function paramOrWhole(value: string | undefined, marker: string): string | undefined {
  if (value === undefined) return undefined;
  const at = value.indexOf(marker);
  if (at < 0) return value;
  const from = at + marker.length;
  const end = value.indexOf(';', from);
  return value.slice(from, end < 0 ? value.length : end);
}

/**
 * RFC 3261 §8.2.7 / §17.2.3: the To tag a stateless answer carries, derived from what every retransmission
 * of the request repeats (Call-ID, From tag, CSeq, top Via branch), so each retransmission gets a
 * byte-identical answer without anything being remembered. 64 bits: a tag only has to tell dialogs apart,
 * and no dialog starts from a stateless answer.
 */
export function statelessToTag(req: SipRequest): string {
  const h = req.headers;
  return hashTag(tagParts(h.get('call-id'), h.get('from'), h.get('cseq'), h.get('via')));
}

/** What a derived To tag is computed from, given the request's Call-ID, From, CSeq and top Via values. */
function tagParts(callId: string | undefined, from: string | undefined, cseq: string | undefined, topVia: string | undefined): Array<string | undefined> {
  return [callId, paramOrWhole(from, ';tag='), cseq, paramOrWhole(topVia, ';branch=')];
}

const CLASS_REASONS: Readonly<Record<number, string>> = {
  1: 'Trying',
  2: 'OK',
  3: 'Redirection',
  4: 'Client Error',
  5: 'Server Error',
  6: 'Global Failure',
};

/** A phrase for any status: the RFC's if Stox knows it, else one naming its class. */
export function defaultReason(status: number): string {
  return REASON_PHRASES[status] ?? CLASS_REASONS[Math.floor(status / 100)] ?? 'Unknown';
}

/**
 * A response to `req` per RFC 3261 §8.2.6.2: every Via in order, From, To, Call-ID and CSeq copied;
 * a To tag added for anything but 100 when the request has none (`toTag` if given, else one random
 * tag per request, reused by later calls for the same request object); Timestamp copied into 100
 * (§8.2.6.1). The body is empty; Content-Length is the serializer's job. Dialog-creating responses
 * still need Contact (and Record-Route copied) through `extraHeaders`.
 */
export function buildResponse(
  req: SipRequest,
  status: number,
  reason?: string,
  extraHeaders?: Iterable<[string, string]>,
  toTag?: string,
): SipResponse {
  return assembleResponse(req, status, reason, extraHeaders, () => {
    if (toTag === undefined) return toTagFor(req);
    chosenTags.set(req, toTag);
    return toTag;
  });
}

/**
 * `buildResponse` for a stateless answer (RFC 3261 §8.2.7): the To tag is `statelessToTag(req)` and
 * nothing is remembered about `req`.
 */
export function buildStatelessResponse(req: SipRequest, status: number, reason?: string, extraHeaders?: Iterable<[string, string]>): SipResponse {
  return assembleResponse(req, status, reason, extraHeaders, (copied) => hashTag(copied));
}

function assembleResponse(
  req: SipRequest,
  status: number,
  reason: string | undefined,
  extraHeaders: Iterable<[string, string]> | undefined,
  /** Called with what the tag of a stateless answer is derived from: Call-ID, From, CSeq, top Via. */
  tagFor: (copied: ReadonlyArray<string | undefined>) => string,
): SipResponse {
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`SIP status must be 100-699, got ${status}`);
  const headers = new SipHeaders();
  const out = headers.entries;
  let to: string | undefined;
  let from: string | undefined;
  let callId: string | undefined;
  let cseq: string | undefined;
  let timestamp: string | undefined;
  let topVia: string | undefined;
  // One pass over the request instead of a lookup per header; the order below is what RFC 3261 shows.
  for (const e of req.headers.entries) {
    switch (e[0]) {
      case 'via':
        topVia ??= e[1];
        out.push(['via', e[1]]);
        break;
      case 'from':
        from ??= e[1];
        break;
      case 'to':
        to ??= e[1];
        break;
      case 'call-id':
        callId ??= e[1];
        break;
      case 'cseq':
        cseq ??= e[1];
        break;
      case 'timestamp':
        timestamp ??= e[1];
        break;
    }
  }
  if (from !== undefined) out.push(['from', from]);
  if (to !== undefined) {
    if (status === 100 || tagOf(to) !== undefined) out.push(['to', to]);
    else out.push(['to', `${to};tag=${tagFor(tagParts(callId, from, cseq, topVia))}`]);
  }
  if (callId !== undefined) out.push(['call-id', callId]);
  if (cseq !== undefined) out.push(['cseq', cseq]);
  if (status === 100 && timestamp !== undefined) out.push(['timestamp', timestamp]);
  if (extraHeaders) for (const [n, v] of extraHeaders) headers.append(n, v);
  return { kind: 'response', status, reason: reason ?? defaultReason(status), headers, body: EMPTY_BODY };
}

/**
 * Whether `res` is exactly what `buildStatelessResponse(req, res.status)` plus one `extraName: extraValue`
 * header builds: the copied headers (RFC 3261 §8.2.6.2), the request's To tag or the derived one, no body,
 * the default reason. Such a response can be built again from any retransmission of `req` instead of kept.
 */
export function rebuildsStatelessly(res: SipResponse, req: SipRequest, extraName: string, extraValue: string): boolean {
  if (res.body.length !== 0 || res.reason !== defaultReason(res.status)) return false;
  let vias = 0;
  for (const [name, value] of res.headers.entries) {
    switch (name) {
      case 'via':
        vias++;
        break;
      case 'from':
      case 'call-id':
      case 'cseq':
        if (req.headers.get(name) !== value) return false;
        break;
      case 'to': {
        const to = req.headers.get('to');
        if (value === to) break;
        // `${to};tag=${derived}`, compared without building it.
        if (to === undefined || !value.startsWith(to) || !value.startsWith(';tag=', to.length) || value.slice(to.length + 5) !== statelessToTag(req)) return false;
        break;
      }
      default:
        if (name !== extraName || value !== extraValue) return false;
    }
  }
  return vias === req.headers.getAll('via').length;
}
