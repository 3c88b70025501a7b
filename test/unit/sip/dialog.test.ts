import { describe, expect, it } from 'vitest';
import {
  acceptInDialogRequest,
  confirmFromNotify,
  confirmFromResponse,
  dialogFromOutgoing,
  dialogFromRequest,
  dialogId,
  incomingDialogId,
  inDialogRequest,
} from '../../../src/sip/dialog.js';
import { formatSubscriptionState, parseEvent, parseSubscriptionState } from '../../../src/sip/event-headers.js';
import { createRequest, SipHeaders, type SipResponse } from '../../../src/sip/message.js';

const subscribe = () =>
  createRequest('SUBSCRIBE', 'sip:romeo@xmpp.test', [
    ['Via', 'SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1'],
    ['Record-Route', '<sip:p1.sip.test;lr>'],
    ['Record-Route', '<sip:p2.sip.test;lr>'],
    ['From', '"Alice" <sip:alice@sip.test>;tag=al1'],
    ['To', '<sip:romeo@xmpp.test>'],
    ['Call-ID', 'sub-1'],
    ['CSeq', '7 SUBSCRIBE'],
    ['Contact', '<sip:alice@192.0.2.1:5060>'],
    ['Event', 'presence'],
  ]);

describe('SIP dialogs (RFC 3261 §12) for notification dialogs (RFC 6665)', () => {
  it('§12.1.1 UAS: remote tag, target and route set in Record-Route order come from the request', () => {
    const d = dialogFromRequest(subscribe(), 'stox1');
    expect(d).toMatchObject({ callId: 'sub-1', localTag: 'stox1', remoteTag: 'al1', remoteCseq: 7, remoteTarget: 'sip:alice@192.0.2.1:5060' });
    expect(d.routeSet).toEqual(['<sip:p1.sip.test;lr>', '<sip:p2.sip.test;lr>']);
    expect(d.localUri).toBe('<sip:romeo@xmpp.test>');
    expect(d.remoteUri).toBe('"Alice" <sip:alice@sip.test>');
  });

  it('§12.2.1.1: an in-dialog NOTIFY goes to the remote target with the route set, tags and a higher CSeq', () => {
    const d = dialogFromRequest(subscribe(), 'stox1');
    const first = inDialogRequest(d, 'NOTIFY');
    const second = inDialogRequest(d, 'NOTIFY');
    expect(first.uri).toBe('sip:alice@192.0.2.1:5060');
    expect(first.headers.getAll('route')).toEqual(['<sip:p1.sip.test;lr>', '<sip:p2.sip.test;lr>']);
    expect(first.headers.get('from')).toBe('<sip:romeo@xmpp.test>;tag=stox1');
    expect(first.headers.get('to')).toBe('"Alice" <sip:alice@sip.test>;tag=al1');
    expect(first.headers.get('call-id')).toBe('sub-1');
    const n1 = Number(first.headers.get('cseq')!.split(' ')[0]);
    expect(second.headers.get('cseq')).toBe(`${n1 + 1} NOTIFY`);
  });

  it('§12.2.1.1: a strict-routing first hop becomes the Request-URI and the target goes last', () => {
    const req = subscribe();
    req.headers.delete('record-route');
    req.headers.append('record-route', '<sip:strict.sip.test>');
    const n = inDialogRequest(dialogFromRequest(req, 't'), 'NOTIFY');
    expect(n.uri).toBe('sip:strict.sip.test');
    expect(n.headers.getAll('route')).toEqual(['<sip:alice@192.0.2.1:5060>']);
  });

  it('§12.1.2 UAC: the 2xx fixes remote tag, target and the reversed route set', () => {
    const d = dialogFromOutgoing(
      createRequest('SUBSCRIBE', 'sip:alice@sip.test', [
        ['From', '<sip:romeo@xmpp.test>;tag=r1'],
        ['To', '<sip:alice@sip.test>'],
        ['Call-ID', 'x2s-1'],
        ['CSeq', '1 SUBSCRIBE'],
      ]),
    );
    const ok: SipResponse = {
      kind: 'response',
      status: 200,
      reason: 'OK',
      body: Buffer.alloc(0),
      headers: new SipHeaders([
        ['To', '<sip:alice@sip.test>;tag=a9'],
        ['Contact', '<sip:alice@192.0.2.9>'],
        ['Record-Route', '<sip:p2.sip.test;lr>'],
        ['Record-Route', '<sip:p1.sip.test;lr>'],
      ]),
    };
    confirmFromResponse(d, ok);
    expect(d).toMatchObject({ remoteTag: 'a9', remoteTarget: 'sip:alice@192.0.2.9', routeSet: ['<sip:p1.sip.test;lr>', '<sip:p2.sip.test;lr>'] });
    const refresh = inDialogRequest(d, 'SUBSCRIBE');
    expect(refresh.headers.get('cseq')).toBe('2 SUBSCRIBE');
    expect(refresh.headers.get('to')).toBe('<sip:alice@sip.test>;tag=a9');
  });

  it('RFC 6665 §4.1.2.4: a NOTIFY before the 2xx establishes the subscriber dialog', () => {
    const d = dialogFromOutgoing(
      createRequest('SUBSCRIBE', 'sip:alice@sip.test', [['From', '<sip:romeo@xmpp.test>;tag=r1'], ['To', '<sip:alice@sip.test>'], ['Call-ID', 'c'], ['CSeq', '1 SUBSCRIBE']]),
    );
    const notify = createRequest('NOTIFY', 'sip:romeo@xmpp.test', [
      ['From', '<sip:alice@sip.test>;tag=n5'],
      ['To', '<sip:romeo@xmpp.test>;tag=r1'],
      ['Call-ID', 'c'],
      ['CSeq', '1 NOTIFY'],
      ['Contact', '<sip:alice@192.0.2.9>'],
      ['Record-Route', '<sip:p1.sip.test;lr>'],
    ]);
    confirmFromNotify(d, notify);
    expect(d).toMatchObject({ remoteTag: 'n5', remoteTarget: 'sip:alice@192.0.2.9', routeSet: ['<sip:p1.sip.test;lr>'] });
    expect(incomingDialogId(notify)).toBe(dialogId('c', 'r1', 'n5'));
    expect(acceptInDialogRequest(d, notify)).toBe('ok');
    expect(acceptInDialogRequest(d, notify)).toBe('out-of-order');
  });
});

describe('RFC 6665 §8.2 event headers', () => {
  it('parses Event with id and case', () => {
    expect(parseEvent('Presence;id=7')).toEqual({ package: 'presence', id: '7' });
    expect(() => parseEvent('pres ence')).toThrow();
  });

  it('parses Subscription-State with reason, expires and retry-after', () => {
    expect(parseSubscriptionState('active;expires=3599')).toEqual({ state: 'active', expires: 3599 });
    expect(parseSubscriptionState('terminated;reason=probation;retry-after=30')).toEqual({ state: 'terminated', reason: 'probation', retryAfter: 30 });
    expect(() => parseSubscriptionState('active;expires=soon')).toThrow();
    expect(formatSubscriptionState({ state: 'pending', expires: 60 })).toBe('pending;expires=60');
  });
});
