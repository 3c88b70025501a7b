/**
 * IP addresses and CIDR prefixes for the peering policy's `sources`. Pure: parsing and bit comparison.
 *
 * Both families are held as 16 bytes, IPv4 as the IPv4-mapped IPv6 address ::ffff:a.b.c.d (RFC 4291
 * §2.5.5.2), because a dual-stack socket reports an IPv4 peer that way: the same peer must match an IPv4
 * source whichever socket it reached. A zone (fe80::1%eth0) is ignored: sources name hosts, not links.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface IpPrefix {
  /** The network address, 16 bytes. */
  readonly bytes: Uint8Array;
  /** Prefix length over the 16 bytes (an IPv4 /24 is 120). */
  readonly bits: number;
}

export type CidrParse = { ok: true; prefix: IpPrefix } | { ok: false; message: string };

const V4_MAPPED_PREFIX_BITS = 96;

function v4Bytes(text: string, out: Uint8Array, at: number): void {
  const parts = text.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/** 16 bytes for an IPv4 or IPv6 address (brackets and a zone allowed), or undefined when it is not one. */
export function parseIp(text: string): Uint8Array | undefined {
  let t = text.trim();
  if (t.startsWith('[') && t.endsWith(']')) t = t.slice(1, -1);
  const zone = t.indexOf('%');
  if (zone >= 0) t = t.slice(0, zone);
  const out = new Uint8Array(16);
  if (isIPv4(t)) {
    out[10] = 0xff;
    out[11] = 0xff;
    v4Bytes(t, out, 12);
    return out;
  }
  if (!isIPv6(t)) return undefined;
  // isIPv6 has vouched for the syntax, so the split below only has to place the groups.
  const [head = '', tail] = t.split('::');
  const groupsOf = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const headGroups = groupsOf(head);
  const tailGroups = tail === undefined ? [] : groupsOf(tail);
  const words: number[] = [];
  const push = (groups: string[]): number[] => {
    const w: number[] = [];
    for (const g of groups) {
      if (g.includes('.')) {
        const b = new Uint8Array(4);
        v4Bytes(g, b, 0);
        w.push(((b[0] ?? 0) << 8) | (b[1] ?? 0), ((b[2] ?? 0) << 8) | (b[3] ?? 0));
      } else {
        w.push(parseInt(g, 16));
      }
    }
    return w;
  };
  const headWords = push(headGroups);
  const tailWords = push(tailGroups);
  words.push(...headWords);
  for (let i = headWords.length + tailWords.length; i < 8; i++) words.push(0);
  words.push(...tailWords);
  for (let i = 0; i < 8; i++) {
    const w = words[i] ?? 0;
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  }
  return out;
}

function isV4Mapped(bytes: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** Text form for messages: dotted quad for IPv4-mapped, RFC 5952 compressed otherwise. */
export function formatIp(bytes: Uint8Array): string {
  if (isV4Mapped(bytes)) return `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0));
  let bestAt = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestAt < 0) return hex(words);
  return `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
}

function maskedEqual(a: Uint8Array, b: Uint8Array, bits: number): boolean {
  const whole = bits >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return ((a[whole] ?? 0) & mask) === ((b[whole] ?? 0) & mask);
}

function networkOf(bytes: Uint8Array, bits: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    out[i] = (bytes[i] ?? 0) & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/**
 * An address (a /32 or /128) or a CIDR prefix. A prefix with host bits set is refused rather than masked:
 * `203.0.113.5/24` more likely means a typo than the whole /24, so the operator is asked which.
 */
export function parseCidr(text: string): CidrParse {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  // Zones, brackets and blanks belong to how an address is written on the wire, not in a config list.
  const bytes = /[%[\]\s]/.test(text) ? undefined : parseIp(addrText);
  if (!bytes) return { ok: false, message: 'expected an IP address or CIDR such as 203.0.113.0/24 or 2001:db8::/32' };
  const v4 = isIPv4(addrText);
  const max = v4 ? 32 : 128;
  if (slash < 0) return { ok: true, prefix: { bytes, bits: 128 } };
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) {
    return { ok: false, message: `expected a prefix length from 0 to ${max} after the /` };
  }
  const bits = Number(lenText) + (v4 ? V4_MAPPED_PREFIX_BITS : 0);
  const network = networkOf(bytes, bits);
  if (!maskedEqual(network, bytes, 128)) {
    return { ok: false, message: `expected no host bits after the prefix (did you mean ${formatIp(network)}/${lenText}?)` };
  }
  return { ok: true, prefix: { bytes: network, bits } };
}

/** A set of prefixes; `has` takes an address as a socket reports it. */
export class CidrSet {
  readonly #prefixes: readonly IpPrefix[];

  private constructor(prefixes: readonly IpPrefix[]) {
    this.#prefixes = prefixes;
  }

  /** Throws naming the first entry that is neither an address nor a CIDR. */
  static of(entries: readonly string[]): CidrSet {
    const prefixes = entries.map((e) => {
      const r = parseCidr(e);
      if (!r.ok) throw new Error(`${r.message}, got ${JSON.stringify(e)}`);
      return r.prefix;
    });
    return new CidrSet(prefixes);
  }

  get size(): number {
    return this.#prefixes.length;
  }

  has(address: string): boolean {
    const bytes = parseIp(address);
    if (!bytes) return false;
    return this.#prefixes.some((p) => maskedEqual(bytes, p.bytes, p.bits));
  }
}
