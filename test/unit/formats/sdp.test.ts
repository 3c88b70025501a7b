import { describe, expect, it } from 'vitest';
import { DEFAULT_SDP_MAX_BYTES, parseSdp, SdpError, verbatimAttributes, writeSdp } from '../../../src/formats/sdp.js';
import { MSRP_OFFER, sdp } from '../../fixtures/sdp-offers.js';


/** An audio offer in the shape of RFC 4566 §5 (session-level fields, two media, rtpmap). */
const AUDIO_OFFER = [
  'v=0',
  'o=juliet 3724394400 3724394405 IN IP4 198.51.100.7',
  's=Balcony call',
  'i=An RFC 4566 shaped offer',
  'u=http://www.example.org/balcony',
  'e=juliet@example.org (Juliet)',
  'c=IN IP4 198.51.100.7',
  'b=AS:128',
  't=0 0',
  'a=recvonly',
  'm=audio 49170 RTP/AVP 0 8 97',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:97 opus/48000/2',
  'a=fmtp:97 minptime=10;useinbandfec=1',
  'a=ptime:20',
  'm=video 51372 RTP/AVP 99',
  'c=IN IP6 2001:db8::7',
  'a=rtpmap:99 h263-1998/90000',
];

function sdpError(f: () => unknown): SdpError {
  try {
    f();
  } catch (e) {
    if (e instanceof SdpError) return e;
    throw new Error(`expected SdpError, got ${String(e)}`);
  }
  throw new Error('expected SdpError, nothing thrown');
}

describe('parseSdp', () => {
  it('reads an MSRP offer (RFC 4975 §8): media line, setup, direction, MSRP attributes kept verbatim', () => {
    const d = parseSdp(sdp(MSRP_OFFER));
    expect(d.version).toBe(0);
    expect(d.origin).toEqual({ username: 'romeo', sessionId: 2890844526, sessionVersion: 2890844527, netType: 'IN', ipVer: 4, address: 'ua.sip.example.com' });
    expect(d.name).toBe('-');
    expect(d.connection).toEqual({ version: 4, ip: 'ua.sip.example.com' });
    expect(d.timing).toEqual({ start: 0, stop: 0 });
    const m = d.media[0]!;
    expect(d.media).toHaveLength(1);
    expect([m.type, m.port, m.protocol, m.payloads]).toEqual(['message', 7654, 'TCP/MSRP', '*']);
    expect(m.setup).toBe('active');
    expect(m.direction).toBe('sendrecv');
    expect(verbatimAttributes(m, 'path')).toEqual(['msrp://ua.sip.example.com:7654/jshA7weztas;tcp']);
    expect(verbatimAttributes(m, 'accept-types')).toEqual(['message/cpim text/plain']);
    expect(verbatimAttributes(m, 'max-size')).toEqual(['65536']);
    expect(verbatimAttributes(m, 'nothing')).toEqual([]);
  });

  it('reads an RFC 4566 §5 shaped offer: session fields, bandwidth, per-media connection, rtpmap/fmtp', () => {
    const d = parseSdp(sdp(AUDIO_OFFER));
    expect(d.name).toBe('Balcony call');
    expect(d.description).toBe('An RFC 4566 shaped offer');
    expect(d.bandwidth).toEqual([{ type: 'AS', limit: 128 }]);
    expect(d.direction).toBe('recvonly');
    expect(d.media.map((m) => m.type)).toEqual(['audio', 'video']);
    expect(d.media[0]?.rtp).toEqual([
      { payload: 0, codec: 'PCMU', rate: 8000 },
      { payload: 97, codec: 'opus', rate: 48000, encoding: 2 },
    ]);
    expect(d.media[0]?.fmtp).toEqual([{ payload: 97, config: 'minptime=10;useinbandfec=1' }]);
    expect(d.media[1]?.connection).toEqual({ version: 6, ip: '2001:db8::7' });
  });

  it('accepts bare LF line ends (RFC 8866 §5) and a Buffer', () => {
    expect(parseSdp(Buffer.from(MSRP_OFFER.join('\n') + '\n', 'utf8')).media[0]?.port).toBe(7654);
  });

  it('writes back the same lines (RFC 4566 order within each section), and re-reads to the same description', () => {
    for (const lines of [MSRP_OFFER, AUDIO_OFFER]) {
      const d = parseSdp(sdp(lines));
      const text = writeSdp(d);
      expect(text.endsWith('\r\n')).toBe(true);
      expect(text.split('\r\n').slice(0, -1).sort()).toEqual([...lines].sort());
      expect(parseSdp(text)).toEqual(d);
    }
  });

  it('keeps verbatim what sdp-transform would alter: a repeated single-valued attribute, leading zeros', () => {
    const d = parseSdp(sdp([...MSRP_OFFER, 'a=mid:1', 'a=mid:2', 'a=ptime:020']));
    const m = d.media[0]!;
    expect(m.mid).toBe(1);
    expect(verbatimAttributes(m, 'mid')).toEqual(['2']);
    expect(verbatimAttributes(m, 'ptime')).toEqual(['020']);
    expect(m.ptime).toBeUndefined();
    expect(writeSdp(d)).toContain('a=mid:2\r\n');
  });

  it('keeps a 64-bit session version exactly (sdp-transform would round it through a double)', () => {
    const d = parseSdp(sdp(['v=0', 'o=- 18446744073709551615 18446744073709551614 IN IP4 h.example.com', 's=-', 't=0 0']));
    expect(d.origin.sessionVersion).toBe('18446744073709551614');
    expect(writeSdp(d)).toContain('o=- 18446744073709551615 18446744073709551614 IN IP4 h.example.com\r\n');
  });

  it.each([
    ['an empty body', '', /empty SDP/],
    ['text that is not SDP', 'hello\r\n', /malformed SDP line 1/],
    ['SDP not starting with v=', sdp(MSRP_OFFER.slice(1)), /does not start with v=/],
    ['another version', sdp(['v=1', ...MSRP_OFFER.slice(1)]), /unsupported SDP version/],
    ['no o= line', sdp(['v=0', 's=-', 't=0 0']), /missing o= line/],
    ['a malformed o= line', sdp(['v=0', 'o=romeo 1 IN IP4 h', 's=-', 't=0 0']), /malformed or unsupported o= line/],
    ['no s= line', sdp(['v=0', MSRP_OFFER[1]!, 't=0 0']), /missing s= line/],
    ['no t= line', sdp(MSRP_OFFER.filter((l) => !l.startsWith('t='))), /missing t= line/],
    ['a media section without c=', sdp(MSRP_OFFER.filter((l) => !l.startsWith('c='))), /no c= for the media section at line 5/],
    ['a malformed m= line', sdp([...MSRP_OFFER.slice(0, 5), 'm=message 7654 TCP/MSRP']), /malformed m= line \(line 6\)/],
    ['a port/count m= line', sdp([...MSRP_OFFER.slice(0, 5), 'm=audio 49170/2 RTP/AVP 0']), /bad or unsupported port/],
    ['a port beyond 65535', sdp([...MSRP_OFFER.slice(0, 5), 'm=audio 65536 RTP/AVP 0']), /bad or unsupported port/],
    ['a k= line', sdp([...MSRP_OFFER, 'k=clear:secret']), /unsupported SDP line type k=/],
    ['an unknown line type', sdp([...MSRP_OFFER, 'x=1']), /unsupported SDP line type x=/],
    ['a line without type', sdp([...MSRP_OFFER, 'hello']), /malformed SDP line 13/],
    ['an empty line inside', sdp([...MSRP_OFFER.slice(0, 3), '', ...MSRP_OFFER.slice(3)]), /malformed SDP line 4/],
    ['a repeated e= line', sdp([...MSRP_OFFER.slice(0, 3), 'e=a@example.com', 'e=b@example.com', ...MSRP_OFFER.slice(3)]), /repeated or unsupported e= line \(line 4\)/],
    ['a c= line of another network type', sdp(MSRP_OFFER.map((l) => (l.startsWith('c=') ? 'c=ATM NSAP 47.0005' : l))), /unsupported c= line \(line 4\)/],
    ['an m= protocol sdp-transform would cut short', sdp([...MSRP_OFFER.slice(0, 5), 'm=audio 9 RTP/A-VP 0']), /unsupported m= line \(line 6\)/],
    ['a repeated o= line', sdp([...MSRP_OFFER.slice(0, 3), MSRP_OFFER[1]!, ...MSRP_OFFER.slice(3)]), /repeated o= line/],
    ['a t= line with text', sdp([...MSRP_OFFER.slice(0, 4), 't=now 0', ...MSRP_OFFER.slice(5)]), /malformed t= line/],
    ['two time descriptions', sdp([...MSRP_OFFER.slice(0, 5), 't=1 2', ...MSRP_OFFER.slice(5)]), /repeated or unsupported t= line/],
  ])('refuses %s', (_what, text, reason) => {
    expect(sdpError(() => parseSdp(text)).reason).toMatch(reason);
  });

  it('refuses a bare CR, which sdp-transform would take as a line end (line injection)', () => {
    const text = sdp(MSRP_OFFER).replace('s=-', 's=-\rk=clear:x');
    expect(sdpError(() => parseSdp(text)).reason).toBe('bare CR in SDP line 3');
  });

  it('refuses NUL, invalid UTF-8, lone surrogates and oversize bodies', () => {
    expect(sdpError(() => parseSdp(sdp(MSRP_OFFER).replace('s=-', 's=a\0b'))).reason).toBe('NUL in SDP body');
    expect(sdpError(() => parseSdp(Buffer.concat([Buffer.from(sdp(MSRP_OFFER)), Buffer.from([0x61, 0x3d, 0xff, 0x0d, 0x0a])]))).reason).toBe('SDP body not UTF-8');
    expect(sdpError(() => parseSdp(sdp(MSRP_OFFER).replace('s=-', 's=\ud800'))).reason).toBe('SDP body not valid Unicode');
    const big = sdp([...MSRP_OFFER, `a=x:${'y'.repeat(DEFAULT_SDP_MAX_BYTES)}`]);
    expect(sdpError(() => parseSdp(big)).reason).toBe('SDP body too large');
    expect(sdpError(() => parseSdp(Buffer.from(big))).reason).toBe('SDP body too large');
    expect(sdpError(() => parseSdp(sdp(MSRP_OFFER), { maxBytes: 100 })).reason).toBe('SDP body too large');
  });

  it('reasons echo no input', () => {
    const e = sdpError(() => parseSdp(sdp([...MSRP_OFFER.slice(0, 3), 'e=secret@example.com', 'e=other@example.com', ...MSRP_OFFER.slice(3)])));
    expect(e.message).not.toContain('secret');
  });
});

describe('writeSdp', () => {
  it('refuses a value that would start a line of its own', () => {
    const d = parseSdp(sdp(MSRP_OFFER));
    expect(sdpError(() => writeSdp({ ...d, name: 'x\r\na=evil' })).reason).toMatch(/line break or NUL/);
    const m = d.media[0]!;
    expect(sdpError(() => writeSdp({ ...d, media: [{ ...m, invalid: [{ value: 'path:x\nm=audio 1 RTP/AVP 0' }] }] })).reason).toMatch(/line break or NUL/);
  });

  it('refuses an incomplete origin and a result parseSdp would refuse', () => {
    const d = parseSdp(sdp(MSRP_OFFER));
    expect(sdpError(() => writeSdp({ ...d, origin: { ...d.origin, address: '' } })).reason).toBe('invalid SDP origin');
    const { connection: _dropped, ...noConnection } = d;
    expect(sdpError(() => writeSdp(noConnection)).reason).toMatch(/no c= for the media section/);
  });

  it('does not modify the description it is given', () => {
    const d = parseSdp(sdp(MSRP_OFFER));
    const before = JSON.stringify(d);
    writeSdp(d);
    expect(JSON.stringify(d)).toBe(before);
  });
});
