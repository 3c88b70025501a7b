/**
 * The two requests a transaction layer builds itself from an INVITE: the hop-by-hop ACK for a
 * 3xx-6xx (RFC 3261 §17.1.1.3) and CANCEL (§9.1). Both reuse the INVITE's top Via so the next hop
 * matches them to the INVITE's transaction.
 */
import { EMPTY_BODY, SipHeaders, type SipRequest, type SipResponse } from '../message.js';
import { firstViaValue, parseCSeqValue } from './keys.js';

/** Loop protection still applies to these even though the RFC lists no Max-Forwards rule for them. */
const MAX_FORWARDS = '70';

function sameTransactionRequest(invite: SipRequest, method: 'ACK' | 'CANCEL', to: string | undefined): SipRequest {
  const headers = new SipHeaders();
  const via = firstViaValue(invite.headers);
  if (via !== undefined) headers.append('via', via);
  for (const route of invite.headers.getAll('route')) headers.append('route', route);
  headers.append('max-forwards', MAX_FORWARDS);
  const from = invite.headers.get('from');
  if (from !== undefined) headers.append('from', from);
  if (to !== undefined) headers.append('to', to);
  const callId = invite.headers.get('call-id');
  if (callId !== undefined) headers.append('call-id', callId);
  const seq = parseCSeqValue(invite.headers.get('cseq'))?.seq;
  if (seq !== undefined) headers.append('cseq', `${seq} ${method}`);
  return { kind: 'request', method, uri: invite.uri, headers, body: EMPTY_BODY };
}

/** RFC 3261 §17.1.1.3: ACK for a non-2xx final; To comes from the response so it carries the tag. */
export function buildAckForFailure(invite: SipRequest, response: SipResponse): SipRequest {
  return sameTransactionRequest(invite, 'ACK', response.headers.get('to') ?? invite.headers.get('to'));
}

/** RFC 3261 §9.1: CANCEL with the INVITE's Request-URI, Call-ID, From, To, CSeq number and top Via. */
export function buildCancel(invite: SipRequest): SipRequest {
  return sameTransactionRequest(invite, 'CANCEL', invite.headers.get('to'));
}
