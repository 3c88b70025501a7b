import { isIP } from 'node:net';

export interface ListenUrl {
  transport: 'udp' | 'tcp' | 'tls';
  /** Without brackets, even for IPv6. */
  host: string;
  port: number;
}

const LISTEN_URL = /^(udp|tcp|tls):\/\/(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})\/?$/i;

/** "udp://127.0.0.1:5060" | "tcp://[::1]:5060" | "tls://sip.example.com:5061"; used by config validation too. */
export function parseListenUrl(url: string): ListenUrl {
  const m = LISTEN_URL.exec(url);
  const fail = (): never => {
    // The wording is what config validation shows operators; tcp:// and tls:// follow the same shape.
    throw new Error(`expected udp://host:port, got ${JSON.stringify(url)}`);
  };
  if (!m) return fail();
  const bracketed = m[2];
  const host = bracketed ?? m[3] ?? '';
  // Brackets are for IPv6 only, and an unbracketed host must not be a v6 literal (the regex already refuses ':').
  if (bracketed !== undefined && isIP(bracketed) !== 6) return fail();
  const port = Number(m[4]);
  if (!Number.isInteger(port) || port > 65535) return fail();
  return { transport: m[1]!.toLowerCase() as ListenUrl['transport'], host, port };
}
