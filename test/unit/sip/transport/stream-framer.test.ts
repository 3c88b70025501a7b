import { describe, expect, it } from 'vitest';
import { readContentLength, StreamFramer, type FramedItem } from '../../../../src/sip/transport/stream-framer.js';

let branch = 0;
function sip(body = '', headers: string[] = [`Content-Length: ${Buffer.byteLength(body)}`]): Buffer {
  return Buffer.from(
    [
      'MESSAGE sip:bob@example.com SIP/2.0',
      `Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-${++branch}`,
      'From: <sip:alice@example.com>;tag=1',
      'To: <sip:bob@example.com>',
      `Call-ID: ${branch}@test`,
      'CSeq: 1 MESSAGE',
      ...headers,
      '',
      body,
    ].join('\r\n'),
  );
}

/** The items as plain values (messages as strings) so sequences compare with toEqual. */
function show(items: FramedItem[]): unknown[] {
  return items.map((i) => (i.kind === 'message' ? i.data.toString('latin1') : i));
}

function feed(framer: StreamFramer, parts: Buffer[]): FramedItem[] {
  return parts.flatMap((p) => framer.push(p));
}

describe('StreamFramer (RFC 3261 §18.3)', () => {
  it('emits one complete message and nothing more', () => {
    const m = sip('hello');
    const f = new StreamFramer(65536);
    expect(show(f.push(m))).toEqual([m.toString('latin1')]);
    expect(f.hasPartialMessage).toBe(false);
  });

  it('frames a message split at every byte boundary', () => {
    const m = sip('body with \r\n\r\n and Content-Length: 99 inside');
    for (let i = 1; i < m.length; i++) {
      const f = new StreamFramer(65536);
      const first = f.push(m.subarray(0, i));
      expect(first).toEqual([]);
      expect(f.hasPartialMessage).toBe(true);
      expect(show(f.push(m.subarray(i)))).toEqual([m.toString('latin1')]);
      expect(f.hasPartialMessage).toBe(false);
    }
  });

  it('frames ping, message, stray CRLF, message split at every byte boundary', () => {
    const m1 = sip('one');
    const m2 = sip('two');
    const stream = Buffer.concat([Buffer.from('\r\n\r\n'), m1, Buffer.from('\r\n'), m2]);
    const expected = [{ kind: 'ping' }, m1.toString('latin1'), m2.toString('latin1')];
    for (let i = 1; i < stream.length; i++) {
      const f = new StreamFramer(65536);
      expect(show(feed(f, [stream.subarray(0, i), stream.subarray(i)]))).toEqual(expected);
    }
  });

  it('frames a stream fed one byte at a time, without corrupting messages already handed out', () => {
    const msgs = [sip('a'), sip(''), sip('x'.repeat(3000))];
    const stream = Buffer.concat(msgs);
    const f = new StreamFramer(65536);
    const out: FramedItem[] = [];
    for (let i = 0; i < stream.length; i++) out.push(...f.push(stream.subarray(i, i + 1)));
    expect(show(out)).toEqual(msgs.map((m) => m.toString('latin1')));
  });

  it('emits three messages delivered in one read', () => {
    const msgs = [sip('1'), sip('22'), sip('333')];
    const f = new StreamFramer(65536);
    expect(show(f.push(Buffer.concat(msgs)))).toEqual(msgs.map((m) => m.toString('latin1')));
  });

  it('waits for a body that arrives across several reads', () => {
    const body = 'b'.repeat(1000);
    const m = sip(body);
    const headerLen = m.length - body.length;
    const f = new StreamFramer(65536);
    expect(f.push(m.subarray(0, headerLen + 10))).toEqual([]);
    expect(f.push(m.subarray(headerLen + 10, headerLen + 500))).toEqual([]);
    expect(f.hasPartialMessage).toBe(true);
    expect(show(f.push(m.subarray(headerLen + 500)))).toEqual([m.toString('latin1')]);
  });

  it('accepts the compact form, any case, spaces before the colon and a folded value', () => {
    for (const h of ['l: 5', 'L:5', 'content-length   :   5', 'CONTENT-LENGTH: 5', 'Content-Length:\r\n   5']) {
      const m = sip('12345', [h]);
      expect(show(new StreamFramer(65536).push(m)), h).toEqual([m.toString('latin1')]);
    }
  });

  it('answers a CRLFCRLF keepalive with a ping item and ignores single CRLFs (RFC 5626 §3.5.1)', () => {
    const f = new StreamFramer(65536);
    expect(f.push(Buffer.from('\r\n\r\n'))).toEqual([{ kind: 'ping' }]);
    expect(f.push(Buffer.from('\r\n'))).toEqual([]);
    expect(f.hasPartialMessage).toBe(false);
    // The lone CRLF above and this one make a ping split across reads.
    expect(f.push(Buffer.from('\r\n'))).toEqual([{ kind: 'ping' }]);
    expect(f.push(Buffer.from('\r\n\r\n\r\n\r\n'))).toEqual([{ kind: 'ping' }, { kind: 'ping' }]);
  });

  it('reports a missing Content-Length with the header block, then ignores the rest of the stream', () => {
    const m = sip('hello', []);
    const f = new StreamFramer(65536);
    const out = f.push(m);
    expect(out).toHaveLength(1);
    const e = out[0]!;
    expect(e.kind).toBe('error');
    if (e.kind !== 'error') return;
    expect(e.reason).toBe('Missing Content-Length on stream transport');
    expect(e.tooLarge).toBeUndefined();
    expect(e.headerBlock?.toString('latin1')).toBe(m.toString('latin1').replace(/hello$/, ''));
    expect(f.hasFailed).toBe(true);
    expect(f.push(sip('ok'))).toEqual([]);
  });

  it('refuses a message whose Content-Length exceeds the limit, with its header block', () => {
    const m = sip('', ['Content-Length: 5000']);
    const out = new StreamFramer(2000).push(m);
    expect(out).toEqual([{ kind: 'error', reason: expect.stringContaining('exceeds 2000 bytes'), tooLarge: true, headerBlock: m }]);
  });

  it('refuses a header block that grows past the limit without ending', () => {
    const f = new StreamFramer(1000);
    expect(f.push(Buffer.from('INVITE sip:a@b SIP/2.0\r\n'))).toEqual([]);
    const out: FramedItem[] = [];
    for (let i = 0; i < 100 && out.length === 0; i++) out.push(...f.push(Buffer.from('X-Pad: 0123456789\r\n')));
    expect(out).toEqual([{ kind: 'error', reason: 'Header block exceeds 1000 bytes', tooLarge: true }]);
  });

  it('refuses conflicting and malformed Content-Length values', () => {
    const conflicting = new StreamFramer(65536).push(sip('abc', ['Content-Length: 3', 'l: 0']));
    expect(conflicting[0]).toMatchObject({ kind: 'error', reason: 'Conflicting Content-Length headers' });
    const bad = new StreamFramer(65536).push(sip('abc', ['Content-Length: -3']));
    expect(bad[0]).toMatchObject({ kind: 'error', reason: expect.stringContaining('Invalid Content-Length') });
    // The same value twice is harmless.
    expect(new StreamFramer(65536).push(sip('abc', ['Content-Length: 3', 'l: 3']))[0]).toMatchObject({ kind: 'message' });
  });

  it('refuses a stream that does not start with a SIP start line', () => {
    const tlsHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03, 0x0d, 0x0a]);
    expect(new StreamFramer(65536).push(tlsHello)).toEqual([{ kind: 'error', reason: 'Not a SIP start line' }]);
    expect(new StreamFramer(65536).push(Buffer.from('GET / HTTP/1.1\r\n'))[0]).toMatchObject({ kind: 'error' });
  });

  it('frames responses and requests with unknown methods or versions (the parser judges those)', () => {
    for (const start of ['SIP/2.0 200 OK', 'SIP/2.0 180', 'FOO sip:x SIP/2.0', 'INVITE sip:x SIP/3.0']) {
      const m = Buffer.from(`${start}\r\nContent-Length: 0\r\n\r\n`);
      expect(new StreamFramer(65536).push(m)[0], start).toMatchObject({ kind: 'message' });
    }
  });

  it('reports a partial message only once non-CRLF bytes have arrived', () => {
    const f = new StreamFramer(65536);
    f.push(Buffer.from('\r\n'));
    expect(f.hasPartialMessage).toBe(false);
    f.push(Buffer.from('MESS'));
    expect(f.hasPartialMessage).toBe(true);
    expect(f.messagesCompleted).toBe(0);
    f.push(Buffer.from('AGE sip:a@b SIP/2.0\r\nl: 0\r\n\r\n'));
    expect(f.hasPartialMessage).toBe(false);
    expect(f.messagesCompleted).toBe(1);
  });
});

describe('readContentLength', () => {
  it('ignores the start line and body-like text', () => {
    expect(readContentLength('l: 1 sip:x SIP/2.0\r\nContent-Length: 7')).toBe(7);
    expect(readContentLength('INVITE sip:x SIP/2.0\r\nX-Content-Length: 7')).toBe('Missing Content-Length on stream transport');
  });
});
