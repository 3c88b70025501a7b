/**
 * Fuzz target: message/cpim bodies (src/formats/cpim.ts). Run with `npm run fuzz -- cpim [seconds] [seed]`.
 *
 * Oracles: parseCpim, parseCpimAddress and buildCpim throw nothing but CpimError; a parsed message that
 * buildCpim can express (one From, no header parameters, no default-namespace change, every prefix
 * declared before use) is rebuilt from its parts and re-parsed, and must mean the same: the same headers
 * by namespace, name, language and decoded value (the order may change: buildCpim writes From, To, cc,
 * DateTime, Subject, NS, Require, extensions), the same Require list, content headers and body.
 */
import {
  buildCpim,
  CPIM_DEFAULT_NS,
  CpimError,
  parseCpim,
  parseCpimAddress,
  unescapeCpimValue,
  type CpimBuildInput,
  type CpimMessage,
} from '../../src/formats/cpim.js';
import { IMDN_REQUEST, RFC3862_EXAMPLE } from '../fixtures/cpim-messages.js';
import { canonical, expectOnly, Finding, type FuzzTarget } from './engine.js';

const crlf = (lines: string[]): string => lines.join('\r\n');

const SEEDS = [
  // RFC 3862 §5.1 shape
  crlf([...RFC3862_EXAMPLE]),
  // RFC 5438 IMDN request, no separator before Content-Type (as the RFC prints it)
  crlf([...IMDN_REQUEST]),
  // IMDN notification body
  crlf([
    'From: Bob <im:bob@example.com>',
    'To: Alice <im:alice@example.com>',
    'NS: imdn <urn:ietf:params:imdn>',
    'imdn.Message-ID: d834jied93rf',
    'Content-type: message/imdn+xml',
    'Content-Disposition: notification',
    'Content-length: 100',
    '',
    '<?xml version="1.0" encoding="UTF-8"?><imdn xmlns="urn:ietf:params:xml:ns:imdn"><message-id>34jk324j</message-id><delivery-notification><status><delivered/></status></delivery-notification></imdn>',
  ]),
  // escapes, quoted Formal-name, parameters, folded content header, bare LF line ends
  'From: "Al\\"ice\\u00e9" <sip:alice@example.com>;gr=x\nTo: <sip:bob@example.org>\ncc: <sip:carol@example.net>\nSubject:;lang=de;x="a;b" Gr\\u00fc\\tße\\\\\n\nContent-Type: text/plain;\n charset=utf-8\n\nhi\n',
  // hostile: CRLF injection through an escape, NUL, bare CR, many headers, long lines, undeclared prefix
  crlf(['From: <sip:a@example.com>', 'Subject: a\\r\\nTo: <sip:evil@attacker>', 'To: <sip:b@example.org>', '', 'Content-Type: text/plain', '', 'x']),
  crlf(['From: <sip:a@example.com>', 'Subject: a\0b', '', 'Content-Type: text/plain', '', '']),
  crlf(['From: <sip:a@example.com>', 'Subject: a\rTo: <sip:evil@x>', '', 'Content-Type: text/plain', '', '']),
  crlf([...Array.from({ length: 70 }, (_, i) => `x${i}.H: ${i}`), '', 'Content-Type: text/plain', '', '']),
  crlf(['From: <sip:a@example.com>', `Subject: ${'s'.repeat(20_000)}`, '', 'Content-Type: text/plain', '', '']),
  crlf(['Require: x.Thing', 'x.Thing: 1', 'NS: x <urn:x>', 'NS: <urn:other>', 'From: <sip:a@example.com>', '', 'Content-Type: text/plain', '', '']),
].map((s) => Buffer.from(s, 'utf8'));

const TOKENS = ['From: ', 'To: ', 'cc: ', 'DateTime: ', 'Subject: ', 'Subject:;lang=en ', 'NS: ', 'Require: ', 'imdn.', 'Content-Type: ', 'Content-type: text/plain', '\r\n\r\n', ';lang=', ';x=', '<', '>', '<sip:a@b>', '<im:x@y>', '"', '\\', '\\u', '\\u0000', '\\r\\n', '\\"', '2000-12-13T13:40:00Z', '.', ':', ' ', '\t', '\r\n ', 'message/cpim'];

const CORE = new Set(['From', 'To', 'cc', 'DateTime', 'Subject', 'NS', 'Require']);

/** Why buildCpim cannot express this message (undefined when it can), so the round trip is skipped. */
function unbuildable(msg: CpimMessage): string | undefined {
  const prefixes = new Set<string>();
  for (const h of msg.headers) {
    const core = h.ns === CPIM_DEFAULT_NS && CORE.has(h.localName);
    if (h.params.size > 0) return 'parameters';
    if (h.ns === undefined) return 'undeclared prefix';
    if (core && h.lang !== undefined && h.localName !== 'Subject') return 'lang on a core header';
    if (core && h.localName === 'NS') {
      const m = /^\s*([^\s<]+)\s*</.exec(h.value);
      if (!m?.[1]) return 'default namespace';
      if (prefixes.has(m[1])) return 'prefix declared twice';
      prefixes.add(m[1]);
    }
  }
  // A Require naming a prefix declared only later resolved to no namespace; buildCpim declares first.
  if (msg.required.some((r) => r.ns === undefined)) return 'Require before its NS';
  const count = (name: string): number => msg.headers.filter((h) => h.ns === CPIM_DEFAULT_NS && h.localName === name).length;
  if (count('From') !== 1) return 'not one From';
  if (count('DateTime') > 1) return 'several DateTimes';
  if (msg.contentHeaders.filter((h) => h.name.toLowerCase() === 'content-type').length !== 1) return 'several Content-Types';
  return undefined;
}

function rebuildInput(msg: CpimMessage): CpimBuildInput {
  const core = (name: string) => msg.headers.filter((h) => h.ns === CPIM_DEFAULT_NS && h.localName === name);
  const addr = (v: string) => parseCpimAddress(v);
  const from = core('From')[0];
  if (!from) throw new Error('unreachable: checked by unbuildable');
  const input: CpimBuildInput = {
    from: addr(from.value),
    to: core('To').map((h) => addr(h.value)),
    cc: core('cc').map((h) => addr(h.value)),
    subject: core('Subject').map((h) => (h.lang === undefined ? { text: unescapeCpimValue(h.value) } : { lang: h.lang, text: unescapeCpimValue(h.value) })),
    namespaces: core('NS').map((h) => {
      const m = /^\s*([^\s<]+)\s*<([^>]*)>\s*$/.exec(h.value);
      return { prefix: m?.[1] ?? '', uri: m?.[2] ?? '' };
    }),
    require: msg.required.map((r) => r.name),
    headers: msg.headers
      .filter((h) => !(h.ns === CPIM_DEFAULT_NS && CORE.has(h.localName)))
      .map((h) => (h.lang === undefined ? { name: h.name, value: unescapeCpimValue(h.value) } : { name: h.name, value: unescapeCpimValue(h.value), lang: h.lang })),
    contentType: msg.contentType,
    contentHeaders: msg.contentHeaders.filter((h) => h.name.toLowerCase() !== 'content-type'),
    body: msg.body,
  };
  const dt = core('DateTime')[0];
  if (dt) input.dateTime = dt.value;
  return input;
}

/** An empty Formal-name (`"" <uri>`, or one that unescapes to nothing) and none mean the same. */
function addressMeaning(value: string): { uri: string; displayName?: string } {
  const a = parseCpimAddress(value);
  return a.displayName === '' ? { uri: a.uri } : a;
}

/** Headers as an order-free multiset of (namespace, name, language, decoded value); addresses as parsed. */
function meaning(msg: CpimMessage): unknown {
  const headers = msg.headers
    .filter((h) => !(h.ns === CPIM_DEFAULT_NS && (h.localName === 'Require' || h.localName === 'NS')))
    .map((h) => {
      const isAddress = h.ns === CPIM_DEFAULT_NS && (h.localName === 'From' || h.localName === 'To' || h.localName === 'cc');
      const value = isAddress ? canonical(addressMeaning(h.value)) : unescapeCpimValue(h.value);
      return canonical([h.ns, h.localName, h.lang ?? null, value]);
    })
    .sort();
  return {
    headers,
    required: msg.required.map((r) => [r.ns ?? null, r.localName]),
    contentType: msg.contentType,
    // MIME header order carries no meaning, and buildCpim writes Content-Type first.
    contentHeaders: msg.contentHeaders.map((h) => canonical([h.name.toLowerCase(), h.value])).sort(),
    body: msg.body.toString('base64'),
  };
}

export const target: FuzzTarget = {
  name: 'cpim',
  description: 'parseCpim + parseCpimAddress; buildCpim from the parsed parts, re-parsed',
  seeds: SEEDS,
  tokens: TOKENS,
  maxInputBytes: 64 * 1024,
  parseOnly(input) {
    parseCpim(input);
  },
  run(input, random) {
    const limits = random() < 0.1 ? { maxBytes: Math.floor(random() * 4096), maxHeaders: Math.floor(random() * 16) } : {};
    const parsed = expectOnly('parseCpim', CpimError, () => parseCpim(input, limits));
    if (!parsed.ok) return `no:${parsed.error.message}`;
    const msg = parsed.value;
    let addresses = 0;
    for (const h of msg.headers) {
      if (h.ns === CPIM_DEFAULT_NS && (h.localName === 'From' || h.localName === 'To' || h.localName === 'cc')) {
        if (!expectOnly('parseCpimAddress', CpimError, () => parseCpimAddress(h.value)).ok) return `ok-bad-address:${h.localName}`;
        addresses++;
      }
    }
    const why = unbuildable(msg);
    if (why !== undefined) return `ok-unbuildable:${why}:${addresses}`;
    const built = expectOnly('buildCpim', CpimError, () => buildCpim(rebuildInput(msg)));
    if (!built.ok) return `ok-build-refused:${built.error.message}`;
    const again = expectOnly('parseCpim of buildCpim output', CpimError, () => parseCpim(built.value));
    if (!again.ok) throw new Finding('buildCpim output does not re-parse', `${again.error.message}\n${JSON.stringify(built.value.toString('utf8').slice(0, 500))}`);
    const a = canonical(meaning(msg));
    const b = canonical(meaning(again.value));
    if (a !== b) throw new Finding('build/re-parse changed the meaning', `before: ${a.slice(0, 700)}\nafter:  ${b.slice(0, 700)}`);
    return `ok:${msg.headers.length > 8 ? 'many' : msg.headers.length}:${msg.contentHeaders.length}:${addresses}`;
  },
};
