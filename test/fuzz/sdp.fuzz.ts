/**
 * Fuzz target: SDP bodies (src/formats/sdp.ts over sdp-transform). Run with
 * `npm run fuzz -- sdp [seconds] [seed]`.
 *
 * Oracles: parseSdp throws nothing but SdpError, and never its internal-error reason (that one means
 * sdp-transform itself threw); what parses, writeSdp writes without throwing; the written text parses to
 * the same description, and holds exactly the input's lines, section by section (order within a section
 * may change): nothing is dropped or altered on the way.
 */
import { DEFAULT_SDP_MAX_BYTES, parseSdp, SDP_INTERNAL_ERROR, SdpError, writeSdp } from '../../src/formats/sdp.js';
import { MSRP_OFFER, sdp } from '../fixtures/sdp-offers.js';
import { canonical, expectOnly, noThrow, Finding, type FuzzTarget } from './engine.js';


const AUDIO_OFFER = [
  'v=0',
  'o=- 4611731400430051336 2 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0 1',
  'a=msid-semantic: WMS stream',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0 8 101',
  'c=IN IP4 0.0.0.0',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host generation 0 network-id 1',
  'a=candidate:2 1 udp 1686052607 198.51.100.7 54400 typ srflx raddr 192.0.2.10 rport 54400 generation 0',
  'a=ice-ufrag:F7gI',
  'a=ice-pwd:x9cml/YzichV2+XlhiMu8g',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F',
  'a=setup:actpass',
  'a=mid:0',
  'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=sendrecv',
  'a=msid:stream track0',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  'a=rtpmap:8 PCMA/8000',
  'a=rtpmap:101 telephone-event/8000',
  'a=fmtp:101 0-15',
  'a=ptime:20',
  'a=ssrc:3735928559 cname:abc',
  'a=ssrc:3735928559 msid:stream track0',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'c=IN IP6 ::1',
  'b=AS:2000',
  'a=mid:1',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 nack pli',
  'a=ssrc-group:FID 1 2',
  'a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32',
];

const RFC_STYLE = [
  'v=0',
  'o=jdoe 3724394400 3724394405 IN IP4 198.51.100.1',
  's=Call to John Smith',
  'i=SDP Offer #1',
  'u=http://www.jdoe.example.com/home.html',
  'e=Jane Doe <jane@jdoe.example.com>',
  'p=+1 617 555-6011',
  'c=IN IP4 198.51.100.1',
  'b=CT:128',
  't=0 0',
  'r=7d 1h 0 25h',
  'z=2882844526 -1h 2898848070 0',
  'm=audio 49170 RTP/AVP 0',
  'i=voice',
  'm=audio 49180 RTP/AVP 0',
  'm=video 51372 RTP/AVP 99',
  'c=IN IP6 2001:db8::2',
  'a=rtpmap:99 h263-1998/90000',
];

const SEEDS = [
  sdp(MSRP_OFFER),
  sdp(AUDIO_OFFER),
  sdp(RFC_STYLE),
  MSRP_OFFER.join('\n') + '\n',
  // hostile: near and over the size cap, one very long attribute (regex back-tracking), CR injection, NUL
  sdp([...MSRP_OFFER, ...Array.from({ length: 280 }, (_, i) => `a=candidate:${i} 1 udp ${i} 192.0.2.${i % 256} ${1024 + i} typ host`)]),
  sdp([...MSRP_OFFER, ...Array.from({ length: 400 }, (_, i) => `a=candidate:${i} 1 udp ${i} 192.0.2.${i % 256} ${1024 + i} typ host`)]),
  sdp([...MSRP_OFFER, `a=fmtp:111 ${'x=1;'.repeat(3000)}`]),
  sdp([...MSRP_OFFER, `a=rtpmap:96 ${'a'.repeat(8000)}/${'9'.repeat(4000)}`]),
  sdp([...MSRP_OFFER, `a=candidate:${' 1'.repeat(5000)}`]),
  sdp(MSRP_OFFER).replace('s=-', 's=-\rk=clear:x'),
  sdp(MSRP_OFFER).replace('s=-', 's=a\0b'),
  // unsupported and repeated lines, numbers out of range, port/count
  sdp([...MSRP_OFFER.slice(0, 5), 't=1 2', 'r=1 2 3', 'k=prompt', 'm=audio 49170/2 RTP/AVP 0', 'a=mid:1', 'a=mid:2', 'a=ptime:0020']),
  sdp(['v=0', 'o=- 18446744073709551615 99999999999999999999 IN IP4 h', 's= ', 'c=IN IP4 224.2.1.1/127/3', 't=3034423619 3042462419', 'm=audio 65535 RTP/AVP 0']),
].map((s) => Buffer.from(s, 'utf8'));

const TOKENS = ['v=0', 'o=', 's=', 't=0 0', 'c=IN IP4 ', 'c=IN IP6 ', 'm=', 'm=audio 0 RTP/AVP 0', 'm=message 9 TCP/MSRP *', 'a=', 'a=rtpmap:', 'a=fmtp:', 'a=candidate:', 'a=ssrc:', 'a=mid:', 'a=setup:', 'a=sendrecv', 'a=path:msrp://h:1/s;tcp', 'b=AS:', 'i=', 'k=', 'r=', 'z=', ' IN IP4 ', 'IP6', ' typ host', '/', ':', ' ', '\r\n', '\n'];

/** Lines per section (session, then each m=), each section sorted: what must survive a write. */
function lineSections(text: string): string[][] {
  const lines = text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const out: string[][] = [[]];
  for (const l of lines) {
    if (l.startsWith('m=')) out.push([]);
    out[out.length - 1]!.push(l);
  }
  return out.map((s) => s.sort());
}

export const target: FuzzTarget = {
  name: 'sdp',
  description: 'parseSdp + writeSdp (sdp-transform behind the wrapper)',
  seeds: SEEDS,
  tokens: TOKENS,
  maxInputBytes: 20 * 1024,
  parseOnly(input) {
    parseSdp(input);
  },
  run(input, random) {
    const body: Buffer | string = random() < 0.5 ? input : input.toString('utf8');
    const parsed = expectOnly('parseSdp', SdpError, () => parseSdp(body));
    if (!parsed.ok) {
      if (parsed.error.reason === SDP_INTERNAL_ERROR) {
        throw new Finding('parseSdp hit an internal error (sdp-transform threw)', undefined, { cause: parsed.error.cause });
      }
      return `no:${parsed.error.reason}`;
    }
    const desc = parsed.value;
    const written = noThrow('writeSdp of a parsed description', () => writeSdp(desc));
    // Bare-LF input grows by its CRs when written: the size cap is not what is tested here.
    const maxBytes = Math.max(DEFAULT_SDP_MAX_BYTES, Buffer.byteLength(written, 'utf8'));
    const again = expectOnly('parseSdp of writeSdp output', SdpError, () => parseSdp(written, { maxBytes }));
    if (!again.ok) throw new Finding('writeSdp output does not re-parse', `${again.error.reason}\n${JSON.stringify(written.slice(0, 500))}`);
    const a = canonical(desc);
    const b = canonical(again.value);
    if (a !== b) throw new Finding('write/re-parse changed the description', `before: ${a.slice(0, 600)}\nafter:  ${b.slice(0, 600)}`);
    const text = typeof body === 'string' ? body : body.toString('utf8');
    const inLines = canonical(lineSections(text));
    const outLines = canonical(lineSections(written));
    if (inLines !== outLines) throw new Finding('written SDP lost or altered an input line', `in:  ${inLines.slice(0, 600)}\nout: ${outLines.slice(0, 600)}`);
    const invalid = (desc.invalid?.length ?? 0) + desc.media.reduce((n, m) => n + (m.invalid?.length ?? 0), 0);
    return `ok:${desc.media.map((m) => m.type).join(',').slice(0, 40)}:${Math.min(invalid, 5)}:${Object.keys(desc).length}`;
  },
};
