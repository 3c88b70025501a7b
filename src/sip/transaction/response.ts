/**
 * Building responses (RFC 3261 §8.2.6) and the random tokens transactions and dialogs are keyed on.
 */
import { randomBytes } from 'node:crypto';
import { EMPTY_BODY, REASON_PHRASES, SipHeaders, type SipRequest, type SipResponse } from '../message.js';
import { MAGIC_COOKIE, tagOf } from './keys.js';

/** RFC 3261 §8.1.1.7: unique across space and time, with the magic cookie. */
export function newBranch(): string {
  return MAGIC_COOKIE + randomBytes(12).toString('hex');
}

/** RFC 3261 §19.3: at least 32 bits of randomness; 64 here, hex so it is a valid token anywhere. */
export function newTag(): string {
  return randomBytes(8).toString('hex');
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
  if (!Number.isInteger(status) || status < 100 || status > 699) throw new RangeError(`SIP status must be 100-699, got ${status}`);
  const headers = new SipHeaders();
  for (const via of req.headers.getAll('via')) headers.append('via', via);
  const from = req.headers.get('from');
  if (from !== undefined) headers.append('from', from);
  const to = req.headers.get('to');
  if (to !== undefined) {
    if (status === 100 || tagOf(to) !== undefined) headers.append('to', to);
    else {
      if (toTag !== undefined) chosenTags.set(req, toTag);
      headers.append('to', `${to};tag=${toTag ?? toTagFor(req)}`);
    }
  }
  const callId = req.headers.get('call-id');
  if (callId !== undefined) headers.append('call-id', callId);
  const cseq = req.headers.get('cseq');
  if (cseq !== undefined) headers.append('cseq', cseq);
  if (status === 100) {
    const ts = req.headers.get('timestamp');
    if (ts !== undefined) headers.append('timestamp', ts);
  }
  if (extraHeaders) for (const [n, v] of extraHeaders) headers.append(n, v);
  return { kind: 'response', status, reason: reason ?? defaultReason(status), headers, body: EMPTY_BODY };
}
