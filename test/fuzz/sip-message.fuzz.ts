/**
 * Fuzz target: SIP messages (src/sip/parser.ts, serializer.ts) and the header values the stack reads
 * from them (header-values.ts). Run with `npm run fuzz -- sip-message [seconds] [seed]`.
 *
 * Oracles: parseMessage never throws, and its catch-all reason ('Malformed message') never shows, since it
 * only appears when an exception was swallowed; what parses serializes and re-parses to the same start
 * line, headers and body; parseVia/parseNameAddr/parseCSeq on the parsed values throw nothing but
 * SipSyntaxError, and what they accept formats and re-parses to the same text.
 */
import { parseMessage } from '../../src/sip/parser.js';
import { serializeMessage } from '../../src/sip/serializer.js';
import { SipSyntaxError } from '../../src/sip/uri.js';
import { formatCSeq, formatNameAddr, formatVia, parseCSeq, parseNameAddr, parseVia } from '../../src/sip/header-values.js';
import type { SipMessage } from '../../src/sip/message.js';
import { SAMPLE_INVITE, SAMPLE_MESSAGE, SAMPLE_NOTIFY } from '../../bench/samples.js';
import { expectOnly, Finding, noThrow, pick, type FuzzTarget, type Random } from './engine.js';

const crlf = (lines: string[], body = ''): string => lines.join('\r\n') + '\r\n\r\n' + body;

const BASE_HEADERS = [
  'Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-1',
  'Max-Forwards: 70',
  'From: <sip:a@example.com>;tag=1',
  'To: <sip:b@example.org>',
  'Call-ID: c1@192.0.2.1',
  'CSeq: 1 MESSAGE',
];

const SEEDS = [
  SAMPLE_MESSAGE,
  SAMPLE_NOTIFY,
  SAMPLE_INVITE,
  crlf(['SIP/2.0 200 OK', ...BASE_HEADERS, 'Content-Length: 0']),
  crlf(['SIP/2.0 486 Busy Here', 'v: SIP/2.0/TCP [2001:db8::1]:5060;branch=z9hG4bK-2;received=2001:db8::2', 'f: "A \\"q\\"" <sip:a@[2001:db8::1]>;tag=x', 't: b <sips:b@example.org:5061;transport=tls>', 'i: c2', 'CSeq: 7 INVITE', 'l: 0']),
  // folding, compact forms, LWS around separators, UTF-8 display name
  crlf(['OPTIONS sip:b@example.org SIP/2.0', 'Via: SIP / 2.0 / UDP host.example.com : 5060 ;branch=z9hG4bK-3', ' ;rport', 'Max-Forwards: 70', 'From: Jürgen Ünlü <sip:j@example.com>;tag=3', 'To: sip:b@example.org', 'Call-ID: c3', 'CSeq: 2 OPTIONS', 'Accept: application/sdp,', '  application/pidf+xml', 'Content-Length: 0']),
  // hostile: CRLF injection attempt in a value, escaped CRLF in the Request-URI, NUL, huge header
  crlf(['MESSAGE sip:b%0D%0AVia:x@example.org SIP/2.0', ...BASE_HEADERS, 'Subject: hi\r\nX-Injected: 1', 'Content-Type: text/plain', 'Content-Length: 2'], 'hi'),
  crlf(['MESSAGE sip:b@example.org SIP/2.0', ...BASE_HEADERS, 'Subject: a\0b', 'Content-Length: 0']),
  crlf(['MESSAGE sip:b@example.org SIP/2.0', ...BASE_HEADERS, `X-Huge: ${'a'.repeat(60_000)}`, 'Content-Length: 0']),
  crlf(['MESSAGE sip:b@example.org SIP/2.0', ...Array.from({ length: 600 }, (_, i) => `Via: SIP/2.0/UDP h${i}.example.com;branch=z9hG4bK-${i}`), ...BASE_HEADERS.slice(1), 'Content-Length: 0']),
  crlf(['MESSAGE sip:b@example.org SIP/2.0', ...BASE_HEADERS, 'Content-Length: 4294967296'], 'x'),
  crlf(['MESSAGE sip:b@example.org SIP/2.0', ...BASE_HEADERS, 'Content-Length: 5'], 'hi'),
  crlf(['MESSAGE sip:b@example.org SIP/3.0', ...BASE_HEADERS, 'Content-Length: 0']),
  // two messages back to back on a stream
  crlf(['MESSAGE sip:b@example.org SIP/2.0', ...BASE_HEADERS, 'Content-Length: 1'], 'x') + crlf(['ACK sip:b@example.org SIP/2.0', ...BASE_HEADERS, 'Content-Length: 0']),
].map((s) => Buffer.from(s, 'utf8'));

const TOKENS = ['sip:', 'sips:', 'tel:', 'SIP/2.0', ';branch=', 'z9hG4bK', ';tag=', ';received=', ';rport', ';lr', ';maddr=', '[::1]', '[2001:db8::1]', '\r\n ', '\r\n\t', 'Content-Length: ', 'l: ', 'Via: ', 'v: ', 'CSeq: ', 'Call-ID: ', 'To: ', 'From: ', 'Contact: *', 'Max-Forwards: ', 'Route: ', 'INVITE', 'ACK', 'CANCEL', 'REGISTER', '<sip:x@y>', '"x"'];

// ------------------------------------------------------------------------------------------ mutations

const HEADER_LINES = [
  'Via: SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bK-x;received=192.0.2.9;rport=5061',
  'Via: SIP / 2.0 / UDP h.example.com : 5060 ; branch = z9hG4bK-y',
  'v: SIP/2.0/WS abc.invalid;branch=z9hG4bK-w;ttl=255;maddr=239.1.1.1',
  'Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK-1, SIP/2.0/TCP g.example.com;branch=z9hG4bK-2',
  'Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr;transport=tcp>',
  'Record-Route: <sip:[::1]:5070;lr>',
  'Contact: *',
  'Contact: "A, B" <sip:a@h;x=1>;q=0.5;expires=60, <sips:b@h>',
  'm: <sip:c@h>;+sip.instance="<urn:uuid:1>";reg-id=1',
  'From: "\\"\\\\" <sip:a@example.com>;tag=q',
  'To: tel:+15551234;tag=t',
  'CSeq: 2147483647 MESSAGE',
  'Call-ID: a@b@c',
  'Max-Forwards: 0',
  'Content-Type: message/cpim',
  'c: application/pidf+xml',
  'Content-Length: 0',
  'Subject: folded',
  '  continuation',
  'X-Empty:',
  'Event: presence;id=1',
  'Subscription-State: terminated;reason=timeout',
  'Allow: INVITE,ACK,,BYE',
];
const REQUEST_LINES = ['MESSAGE sip:b@example.org SIP/2.0', 'NOTIFY sips:b@[::1]:5061;transport=tls SIP/2.0', 'INVITE tel:+15551234 SIP/2.0', 'ACK sip:b@example.org SIP/2.0', 'BYE sip:b@example.org sip/2.0', 'X-CUSTOM urn:service:sos SIP/2.0', 'SIP/2.0 180 Ringing', 'SIP/2.0 699 ', 'SIP/2.0 100 Trying'];

/** Mutations on header lines, start line and body that keep the message shape, so more get accepted. */
function mutateSip(input: Buffer, random: Random): Buffer {
  const end = input.indexOf('\r\n\r\n');
  const headEnd = end < 0 ? input.length : end;
  const lines = input.subarray(0, headEnd).toString('latin1').split('\r\n');
  let body = end < 0 ? Buffer.alloc(0) : input.subarray(end + 4);
  for (let r = 1 + Math.floor(random() * 3); r > 0; r--) {
    const at = 1 + Math.floor(random() * Math.max(1, lines.length - 1));
    switch (Math.floor(random() * 6)) {
      case 0:
        lines.splice(at, 0, Buffer.from(pick(random, HEADER_LINES), 'utf8').toString('latin1'));
        break;
      case 1:
        lines.splice(at, 1, Buffer.from(pick(random, HEADER_LINES), 'utf8').toString('latin1'));
        break;
      case 2:
        lines[0] = pick(random, REQUEST_LINES);
        break;
      case 3: {
        // the value of one header moved under another name (a Via value as a Contact, a URI as a CSeq)
        const from = lines[1 + Math.floor(random() * Math.max(1, lines.length - 1))] ?? '';
        const to = lines[at] ?? '';
        const fc = from.indexOf(':');
        const tc = to.indexOf(':');
        if (fc > 0 && tc > 0) lines[at] = to.slice(0, tc + 1) + from.slice(fc + 1);
        break;
      }
      case 4:
        lines.splice(at, 1);
        break;
      default:
        body = Buffer.concat([body, Buffer.from(pick(random, ['x', 'é', '\r\n', '\0', '<?xml version="1.0"?><a/>']), 'utf8')]);
    }
  }
  // Mostly keep Content-Length true to the body, or the message is refused before the headers matter.
  const fixLength = random() < 0.8;
  const head = lines.map((l) => (fixLength && /^(content-length|l)[ \t]*:/i.test(l) ? `Content-Length: ${body.length}` : l)).join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from('\r\n\r\n', 'latin1'), body]);
}

/** The meaning a serializer must keep: start line, header entries in order (Content-Length is recomputed), body. */
function meaning(m: SipMessage): string {
  const start = m.kind === 'request' ? `${m.method} ${m.uri}` : `${m.status} ${m.reason}`;
  return JSON.stringify([start, m.headers.entries.filter(([n]) => n !== 'content-length'), m.body.toString('base64')]);
}

/**
 * A header value the sub-parser accepts must format, and re-parse to the same formatted text. Returns
 * undefined when accepted, else the refusal (it feeds the outcome signature).
 */
function checkValue<T>(what: string, value: string, parse: (v: string) => T, format: (t: T) => string): string | undefined {
  const first = expectOnly(what, SipSyntaxError, () => parse(value));
  if (!first.ok) return first.error.message;
  const text = { value: noThrow(`format after ${what}`, () => format(first.value)) };
  const again = expectOnly(`${what} of its own output`, SipSyntaxError, () => parse(text.value));
  if (!again.ok) throw new Finding(`${what}: formatted value does not re-parse`, `${JSON.stringify(value)} -> ${JSON.stringify(text.value)}: ${again.error.message}`);
  const text2 = format(again.value);
  if (text2 !== text.value) throw new Finding(`${what}: format/re-parse changed the value`, `${JSON.stringify(text.value)} -> ${JSON.stringify(text2)}`);
  return undefined;
}

export const target: FuzzTarget = {
  name: 'sip-message',
  description: 'parseMessage + serializeMessage; parseVia / parseNameAddr / parseCSeq on what it parsed',
  seeds: SEEDS,
  tokens: TOKENS,
  maxInputBytes: 72 * 1024,
  mutateStructured: mutateSip,
  parseOnly(input) {
    const outcome = parseMessage(input);
    // The stack reads these of every request it handles.
    const m = outcome.ok ? outcome.message : outcome.partial;
    if (m) for (const v of m.headers.getAll('via')) parseVia(v);
  },
  run(input, random) {
    const stream = random() < 0.3;
    const maxSize = random() < 0.1 ? Math.floor(random() * 2000) : undefined;
    const outcome = noThrow('parseMessage', () => parseMessage(input, maxSize === undefined ? { stream } : { stream, maxSize }));
    if (!outcome.ok && outcome.reason === 'Malformed message') {
      throw new Finding('parseMessage swallowed an exception (its catch-all reason came back)');
    }
    const m = outcome.ok ? outcome.message : outcome.partial;
    // Which values the sub-parsers refused, and why: new combinations join the corpus.
    const refused = new Set<string>();
    const note = (r: string | undefined): void => {
      if (r !== undefined) refused.add(r);
    };
    if (m) {
      for (const v of m.headers.getAll('via')) note(checkValue('parseVia', v, parseVia, formatVia));
      for (const n of ['from', 'to', 'contact', 'route', 'record-route']) {
        for (const v of m.headers.getAll(n)) if (v !== '*') note(checkValue('parseNameAddr', v, parseNameAddr, formatNameAddr));
      }
      for (const v of m.headers.getAll('cseq')) note(checkValue('parseCSeq', v, parseCSeq, formatCSeq));
    }
    const values = [...refused].sort().join(':');
    if (!outcome.ok) return `no:${outcome.reason}:${m ? 'partial' : ''}:${values}`;
    const bytes = noThrow('serializeMessage', () => serializeMessage(outcome.message));
    const again = noThrow('parseMessage', () => parseMessage(bytes, { stream: true, maxSize: bytes.length + 1 }));
    if (!again.ok) throw new Finding('serialized message does not re-parse', `${again.reason}\n${JSON.stringify(bytes.toString('latin1').slice(0, 400))}`);
    if (meaning(again.message) !== meaning(outcome.message)) {
      throw new Finding('serialize/re-parse changed the meaning', `${meaning(outcome.message).slice(0, 500)}\n${meaning(again.message).slice(0, 500)}`);
    }
    const m2 = outcome.message;
    return `ok:${m2.kind === 'request' ? m2.method : m2.status}:${m2.headers.entries.length > 20 ? 'many' : m2.headers.entries.length}:${values}`;
  },
};
