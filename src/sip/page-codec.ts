import type { SipPage } from '../core/messages.js';
import { formatNameAddr, parseNameAddr } from './header-values.js';
import { randomFillSync } from 'node:crypto';
import { createRequest, type SipRequest } from './message.js';
import { formatUri, parseUri } from './uri.js';

/**
 * RFC 3428 MESSAGE ⇄ the core's SipPage. The SIP side owns the wire details (tags, CSeq, header
 * syntax); the core sees plain fields.
 */

export class PageDecodeError extends Error {}

function nameAddrParts(value: string | undefined, header: string): { uri: string; displayName?: string } {
  if (value === undefined) throw new PageDecodeError(`Missing ${header}`);
  const na = parseNameAddr(value);
  // gr outside the brackets is a header parameter in the RFC examples; the mapping accepts both (§1.7).
  const uri = na.uri;
  const gr = na.params.get('gr');
  if (gr !== undefined && !uri.params.has('gr')) uri.params = new Map([...uri.params, ['gr', gr]]);
  const out: { uri: string; displayName?: string } = { uri: formatUri(uri) };
  if (na.displayName !== undefined && na.displayName !== '') out.displayName = na.displayName;
  return out;
}

export function decodePage(req: SipRequest): SipPage {
  const page: SipPage = {
    requestUri: req.uri,
    from: nameAddrParts(req.headers.get('from'), 'From'),
    to: nameAddrParts(req.headers.get('to'), 'To'),
    callId: req.headers.get('call-id') ?? '',
    // RFC 3261 §7.4.1: a body without Content-Type is unusable; an empty MESSAGE has nothing to type.
    contentType: req.headers.get('content-type') ?? (req.body.length > 0 ? 'application/octet-stream' : 'text/plain'),
    body: req.body,
  };
  const subject = req.headers.get('subject');
  if (subject !== undefined) page.subject = subject;
  const lang = req.headers.get('content-language');
  if (lang !== undefined) page.contentLanguage = lang;
  return page;
}

let cseqCounter = Math.floor(Math.random() * 1_000_000);

/**
 * From tags for new MESSAGEs (RFC 3261 §19.3: globally unique, at least 32 random bits; 64 here, hex).
 * The bytes come from a pool refilled 512 tags at a time: one call into the CSPRNG per tag cost more
 * than building the rest of the request.
 */
const TAG_BYTES = 8;
const tagPool = Buffer.alloc(TAG_BYTES * 512);
let tagOffset = tagPool.length;
function newPageTag(): string {
  if (tagOffset >= tagPool.length) {
    randomFillSync(tagPool);
    tagOffset = 0;
  }
  const tag = tagPool.toString('hex', tagOffset, tagOffset + TAG_BYTES);
  tagOffset += TAG_BYTES;
  return tag;
}

/**
 * A new out-of-dialog MESSAGE for `page`. The CSeq counter is process-wide, so successive MESSAGEs that
 * share a Call-ID (one XMPP thread) always carry increasing numbers (RFC 3261 §8.1.1.5).
 */
export function encodePage(page: SipPage): SipRequest {
  const from = parseUri(page.from.uri);
  const to = parseUri(page.to.uri);
  cseqCounter = (cseqCounter + 1) % 2_000_000_000;
  const req = createRequest('MESSAGE', page.requestUri, undefined, page.body);
  const h = req.headers;
  h.append('from', formatNameAddr({ displayName: page.from.displayName, uri: from, params: new Map([['tag', newPageTag()]]) }));
  h.append('to', formatNameAddr({ displayName: page.to.displayName, uri: to, params: new Map() }));
  h.append('call-id', page.callId);
  h.append('cseq', `${cseqCounter} MESSAGE`);
  h.append('content-type', page.contentType);
  if (page.contentLanguage !== undefined) h.append('content-language', page.contentLanguage);
  if (page.subject !== undefined) h.append('subject', page.subject);
  return req;
}
