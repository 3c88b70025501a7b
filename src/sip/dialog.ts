import { formatNameAddr, parseCSeq, parseNameAddr, type NameAddr } from './header-values.js';
import { createRequest, type SipRequest, type SipResponse } from './message.js';
import { formatUri } from './uri.js';

/**
 * Dialog state (RFC 3261 §12) for the dialogs Stox keeps: SUBSCRIBE/NOTIFY notification dialogs (RFC
 * 6665) in both roles. Plain data so the store can persist it as it is and a restart resumes the dialog
 * with the same Call-ID, tags, CSeq and route set.
 */
export interface DialogState {
  callId: string;
  localTag: string;
  remoteTag: string | null;
  /** Last CSeq number Stox used in this dialog. */
  localCseq: number;
  /** Last CSeq number received from the peer, for §12.2.2 ordering checks. */
  remoteCseq: number | null;
  /** Local and remote URIs as name-addr values without tags (the From/To of our requests). */
  localUri: string;
  remoteUri: string;
  remoteTarget: string | null;
  /** Route set, in the order our requests must carry it (§12.1.1 / §12.1.2). */
  routeSet: string[];
}

/** `callId|localTag|remoteTag`: what identifies a dialog (RFC 3261 §12). */
export function dialogId(callId: string, localTag: string, remoteTag: string | null): string {
  return `${callId}|${localTag}|${remoteTag ?? ''}`;
}

function withoutTag(na: NameAddr): string {
  const params = new Map(na.params);
  params.delete('tag');
  return formatNameAddr({ ...na, params });
}

function contactUri(msg: SipRequest | SipResponse): string | null {
  const contact = msg.headers.get('contact');
  if (!contact) return null;
  return formatUri(parseNameAddr(contact).uri);
}

/**
 * UAS side (§12.1.1): a dialog-creating request Stox answers, e.g. a SUBSCRIBE from a SIP watcher.
 * `localTag` is the To tag Stox puts in its responses.
 */
export function dialogFromRequest(req: SipRequest, localTag: string): DialogState {
  const from = parseNameAddr(req.headers.get('from') ?? '');
  const to = parseNameAddr(req.headers.get('to') ?? '');
  return {
    callId: req.headers.get('call-id') ?? '',
    localTag,
    remoteTag: from.params.get('tag') ?? null,
    localCseq: Math.floor(Math.random() * 10_000),
    remoteCseq: parseCSeq(req.headers.get('cseq') ?? '').seq,
    localUri: withoutTag(to),
    remoteUri: withoutTag(from),
    remoteTarget: contactUri(req),
    routeSet: req.headers.getAll('record-route'),
  };
}

/**
 * UAC side: the request Stox sent that may create a dialog (a SUBSCRIBE). The remote tag, target and
 * route set come later, from a 2xx (§12.1.2) or from the first NOTIFY (RFC 6665 §4.1.2.4), whichever
 * arrives first.
 */
export function dialogFromOutgoing(req: SipRequest): DialogState {
  const from = parseNameAddr(req.headers.get('from') ?? '');
  const to = parseNameAddr(req.headers.get('to') ?? '');
  return {
    callId: req.headers.get('call-id') ?? '',
    localTag: from.params.get('tag') ?? '',
    remoteTag: null,
    localCseq: parseCSeq(req.headers.get('cseq') ?? '').seq,
    remoteCseq: null,
    localUri: withoutTag(from),
    remoteUri: withoutTag(to),
    remoteTarget: null,
    routeSet: [],
  };
}

/** §12.1.2: a 2xx to our dialog-creating request fixes the remote tag, target and (reversed) route set. */
export function confirmFromResponse(d: DialogState, res: SipResponse): void {
  if (d.remoteTag !== null) return;
  d.remoteTag = parseNameAddr(res.headers.get('to') ?? '').params.get('tag') ?? null;
  d.remoteTarget = contactUri(res) ?? d.remoteTarget;
  d.routeSet = res.headers.getAll('record-route').reverse();
}

/**
 * RFC 6665 §4.1.2.4: a NOTIFY may arrive before the SUBSCRIBE's 2xx and then establishes the dialog; the
 * notifier is the UAS of that NOTIFY, so its Record-Route is taken in order.
 */
export function confirmFromNotify(d: DialogState, notify: SipRequest): void {
  if (d.remoteTag === null) {
    d.remoteTag = parseNameAddr(notify.headers.get('from') ?? '').params.get('tag') ?? null;
    d.routeSet = notify.headers.getAll('record-route');
  }
  d.remoteTarget = contactUri(notify) ?? d.remoteTarget;
}

export type InDialogCheck = 'ok' | 'out-of-order';

/** §12.2.2: a request in the dialog must carry a higher CSeq than the last one; target refresh. */
export function acceptInDialogRequest(d: DialogState, req: SipRequest): InDialogCheck {
  const seq = parseCSeq(req.headers.get('cseq') ?? '').seq;
  if (d.remoteCseq !== null && seq <= d.remoteCseq) return 'out-of-order';
  d.remoteCseq = seq;
  d.remoteTarget = contactUri(req) ?? d.remoteTarget;
  return 'ok';
}

/**
 * §12.2.1.1: a request inside the dialog. With a loose-routing first route the Request-URI is the remote
 * target and the route set goes into Route; with a strict router the first route becomes the
 * Request-URI and the target goes last.
 */
export function inDialogRequest(d: DialogState, method: string, body?: Buffer | string): SipRequest {
  if (d.remoteTarget === null) throw new Error('dialog has no remote target yet');
  d.localCseq += 1;
  const routes = [...d.routeSet];
  let uri = d.remoteTarget;
  const first = routes[0];
  if (first !== undefined && !parseNameAddr(first).uri.params.has('lr')) {
    uri = formatUri(parseNameAddr(first).uri);
    routes.shift();
    routes.push(`<${d.remoteTarget}>`);
  }
  const req = createRequest(method, uri, undefined, body);
  const h = req.headers;
  for (const r of routes) h.append('route', r);
  h.append('from', tagged(d.localUri, d.localTag));
  h.append('to', d.remoteTag === null ? d.remoteUri : tagged(d.remoteUri, d.remoteTag));
  h.append('call-id', d.callId);
  h.append('cseq', `${d.localCseq} ${method}`);
  return req;
}

function tagged(nameAddr: string, tag: string): string {
  const na = parseNameAddr(nameAddr);
  na.params = new Map([...na.params, ['tag', tag]]);
  return formatNameAddr(na);
}

/** The dialog id of an incoming in-dialog request, seen from Stox's side (local = To tag). */
export function incomingDialogId(req: SipRequest): string | undefined {
  const to = req.headers.get('to');
  const from = req.headers.get('from');
  const callId = req.headers.get('call-id');
  if (!to || !from || !callId) return undefined;
  const localTag = parseNameAddr(to).params.get('tag');
  if (!localTag) return undefined;
  return dialogId(callId, localTag, parseNameAddr(from).params.get('tag') ?? null);
}
