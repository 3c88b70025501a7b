import { describe, expect, it } from 'vitest';
import { parseCSeq } from '../../../src/sip/header-values.js';
import { createRequest } from '../../../src/sip/message.js';
import { decodePage, encodePage, PageDecodeError } from '../../../src/sip/page-codec.js';
import { parseMessage } from '../../../src/sip/parser.js';
import { serializeMessage } from '../../../src/sip/serializer.js';

const message = (headers: Array<[string, string]>, body = 'hello') => createRequest('MESSAGE', 'sip:romeo@xmpp.test', headers, body);

describe('SIP MESSAGE ⇄ SipPage (RFC 3428, RFC 7572 §4/§5)', () => {
  it('decodes the fields RFC 7572 Table 2 maps', () => {
    const page = decodePage(
      message([
        ['From', '"Alice A." <sip:alice@sip.test>;tag=1'],
        ['To', '<sip:romeo@xmpp.test>'],
        ['Call-ID', 'abc@host'],
        ['Subject', 'Hi'],
        ['Content-Type', 'text/plain;charset=UTF-8'],
        ['Content-Language', 'en'],
      ]),
    );
    expect(page).toMatchObject({
      requestUri: 'sip:romeo@xmpp.test',
      from: { uri: 'sip:alice@sip.test', displayName: 'Alice A.' },
      to: { uri: 'sip:romeo@xmpp.test' },
      callId: 'abc@host',
      subject: 'Hi',
      contentType: 'text/plain;charset=UTF-8',
      contentLanguage: 'en',
    });
    expect(page.body.toString()).toBe('hello');
  });

  it('reference §1.7: a gr outside the angle brackets is read as the GRUU', () => {
    const page = decodePage(message([['From', '<sip:alice@sip.test>;gr=phone;tag=1'], ['To', '<sip:romeo@xmpp.test>'], ['Call-ID', 'x']]));
    expect(page.from.uri).toBe('sip:alice@sip.test;gr=phone');
  });

  it('a body without Content-Type is typed application/octet-stream (so the core answers 415)', () => {
    const page = decodePage(message([['From', '<sip:a@sip.test>;tag=1'], ['To', '<sip:romeo@xmpp.test>'], ['Call-ID', 'x']]));
    expect(page.contentType).toBe('application/octet-stream');
  });

  it('a missing From is a decode error', () => {
    expect(() => decodePage(message([['To', '<sip:romeo@xmpp.test>']]))).toThrow(PageDecodeError);
  });

  it('encodes a MESSAGE that re-parses to the same page, with a From tag and a CSeq', () => {
    const req = encodePage({
      requestUri: 'sip:alice@sip.test',
      from: { uri: 'sip:romeo@xmpp.test;gr=balcony', displayName: 'Romeo' },
      to: { uri: 'sip:alice@sip.test' },
      callId: 'thread-1',
      subject: 'S',
      contentType: 'text/plain;charset=UTF-8',
      contentLanguage: 'fr',
      body: Buffer.from('bonjour'),
    });
    req.headers.append('via', 'SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKtest');
    req.headers.append('max-forwards', '70');
    const parsed = parseMessage(serializeMessage(req));
    expect(parsed.ok).toBe(true);
    if (!parsed.ok || parsed.message.kind !== 'request') return;
    const back = decodePage(parsed.message);
    expect(back).toMatchObject({ requestUri: 'sip:alice@sip.test', from: { uri: 'sip:romeo@xmpp.test;gr=balcony', displayName: 'Romeo' }, callId: 'thread-1', subject: 'S', contentLanguage: 'fr' });
    expect(parsed.message.headers.get('from')).toMatch(/;tag=[0-9a-f]+$/);
  });

  it('RFC 3261 §8.1.1.5: successive MESSAGEs in one Call-ID get increasing CSeq numbers', () => {
    const page = { requestUri: 'sip:a@sip.test', from: { uri: 'sip:r@xmpp.test' }, to: { uri: 'sip:a@sip.test' }, callId: 'same', contentType: 'text/plain', body: Buffer.from('x') };
    const first = parseCSeq(encodePage(page).headers.get('cseq')!);
    const second = parseCSeq(encodePage(page).headers.get('cseq')!);
    expect(second.seq).toBeGreaterThan(first.seq);
    expect(second.method).toBe('MESSAGE');
  });

  it('a display name from XMPP cannot inject a header: control characters are stripped, quotes escaped', () => {
    const req = encodePage({
      requestUri: 'sip:a@sip.test',
      from: { uri: 'sip:r@xmpp.test', displayName: 'Evil"\r\nX-Injected: 1' },
      to: { uri: 'sip:a@sip.test' },
      callId: 'c',
      contentType: 'text/plain',
      body: Buffer.from('x'),
    });
    const from = req.headers.get('from')!;
    expect(from).not.toMatch(/[\r\n]/);
    expect(from.startsWith('"Evil\\"')).toBe(true);
  });
});
