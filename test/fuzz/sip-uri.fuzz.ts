/**
 * Fuzz target: SIP/SIPS/tel/im/pres URIs (src/sip/uri.ts), fed alone and inside the name-addr of a
 * From/To/Contact value (header-values.ts). Run with `npm run fuzz -- sip-uri [seconds] [seed]`.
 *
 * Oracles: parseUri and parseNameAddr throw nothing but SipSyntaxError; what parses formats without
 * throwing, re-parses, means the same (uriEquals both ways) and formats to the same text again.
 */
import { formatUri, parseUri, SipSyntaxError, uriEquals, type SipUri } from '../../src/sip/uri.js';
import { formatNameAddr, parseNameAddr } from '../../src/sip/header-values.js';
import { canonical, expectOnly, noThrow, Finding, type FuzzTarget } from './engine.js';

const SEEDS = [
  'sip:alice@example.com',
  'sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr?Subject=hi&Priority=urgent',
  'sip:+1-212-555-0100;phone-context=example.com@gw.example.com;user=phone',
  'sip:%61lice@EXAMPLE.com:5060;maddr=239.255.255.1;ttl=15;method=INVITE',
  'sip:192.0.2.1;lr',
  'sip:host.example.com.;gr=urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6',
  'sip:j%C3%BCrgen@example.com',
  'tel:+1-201-555-0123;ext=1234',
  'im:romeo@sip.example.com',
  'pres:juliet@xmpp.example.org',
  'urn:service:sos',
  'mailto:a@example.com?subject=x',
  // hostile: CRLF and angle brackets smuggled through escapes, overlong parts, odd IP literals
  'sip:b%0D%0AVia:x@example.org',
  'sip:a@example.com?Route=%3Csip:evil@attacker%3E',
  'sip:a@[::ffff:192.0.2.1]',
  'sip:a@[fe80::1%25eth0]',
  'sip:a@256.1.1.1',
  'sip:a@1.2.3',
  `sip:${'a'.repeat(5000)}@example.com`,
  `sip:a@${'b.'.repeat(2000)}com`,
  `sip:a@example.com${';p'.repeat(1000)}`,
  // name-addr forms
  '"Alice \\"A\\"" <sip:alice@example.com;transport=tcp>;tag=88sja8x;+sip.instance="<urn:uuid:1>"',
  'Bob Smith <sips:bob@example.org>',
  'sip:c@example.com;tag=2;expires=3600',
  'Jürgen <sip:j@example.com>',
  '<tel:+15551234>;q=0.7',
].map((s) => Buffer.from(s, 'utf8'));

const TOKENS = ['sip:', 'sips:', 'tel:', 'SIP:', '@', ':', ';', '?', '&', '=', '%', '%25', '%40', '%3A', '%C3', '%ZZ', '[', ']', '::', '[::1]', '.', '-', 'lr', ';lr', ';transport=', ';user=phone', ';maddr=', ';ttl=', ';method=', '?h=v', '<', '>', '"', ' ', '\t', ';tag=', ',', 'localhost', '127.0.0.1', '0', ':0', ':65535', ':65536', ':99999'];

function checkUri(text: string): SipUri | string {
  const first = expectOnly('parseUri', SipSyntaxError, () => parseUri(text));
  if (!first.ok) return first.error.message;
  const u = first.value;
  const written = noThrow('formatUri of a parsed URI', () => formatUri(u));
  const again = expectOnly('parseUri of formatUri output', SipSyntaxError, () => parseUri(written));
  if (!again.ok) throw new Finding('formatUri output does not re-parse', `${JSON.stringify(text)} -> ${JSON.stringify(written)}: ${again.error.message}`);
  if (!uriEquals(u, again.value) || !uriEquals(again.value, u)) {
    throw new Finding('format/re-parse gives a URI that is not equal', `${JSON.stringify(text)} -> ${JSON.stringify(written)}\n${canonical(u)}\n${canonical(again.value)}`);
  }
  if (canonical(u) !== canonical(again.value)) {
    throw new Finding('format/re-parse changed a URI component', `${JSON.stringify(text)} -> ${JSON.stringify(written)}\n${canonical(u)}\n${canonical(again.value)}`);
  }
  const written2 = formatUri(again.value);
  if (written2 !== written) throw new Finding('formatUri is not stable', `${JSON.stringify(written)} -> ${JSON.stringify(written2)}`);
  return u;
}

export const target: FuzzTarget = {
  name: 'sip-uri',
  description: 'parseUri + formatUri + uriEquals; parseNameAddr + formatNameAddr',
  seeds: SEEDS,
  tokens: TOKENS,
  maxInputBytes: 16 * 1024,
  parseOnly(input) {
    parseUri(input.toString('utf8'));
  },
  run(input) {
    // Header values reach these functions as UTF-8 decoded text (the parser checks UTF-8 first).
    const text = input.toString('utf8');
    const u = checkUri(text);
    let sig = typeof u !== 'string' ? `ok:${u.scheme}:${u.user === undefined ? '' : 'u'}${u.port === undefined ? '' : 'p'}${u.params.size}${u.headers.size}` : `no:${u}`;

    const na = expectOnly('parseNameAddr', SipSyntaxError, () => parseNameAddr(text));
    if (na.ok) {
      // Controls other than HTAB never get past the message parser, and quote() drops them on purpose:
      // only text a peer can send must keep its meaning.
      if (!/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) {
        const written = { value: noThrow('formatNameAddr of a parsed name-addr', () => formatNameAddr(na.value)) };
        const again = expectOnly('parseNameAddr of formatNameAddr output', SipSyntaxError, () => parseNameAddr(written.value));
        if (!again.ok) throw new Finding('formatNameAddr output does not re-parse', `${JSON.stringify(text)} -> ${JSON.stringify(written.value)}: ${again.error.message}`);
        if (formatNameAddr(again.value) !== written.value) throw new Finding('formatNameAddr is not stable', `${JSON.stringify(written.value)}`);
        if (!uriEquals(na.value.uri, again.value.uri) || canonical(na.value.params) !== canonical(again.value.params)) {
          throw new Finding('name-addr format/re-parse changed the URI or parameters', `${JSON.stringify(text)} -> ${JSON.stringify(written.value)}`);
        }
      }
      sig += `:na${na.value.displayName === undefined ? '' : 'd'}${na.value.params.size}`;
    } else {
      sig += `:${na.error.message}`;
    }
    return sig;
  },
};
