import { isIP } from 'node:net';

export interface HttpListen {
  /** Without brackets, even for IPv6. */
  host: string;
  port: number;
}

const HOST_PORT = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/;

/**
 * `http.listen` as an operator writes it: "127.0.0.1:9464", "[::1]:9464" or "localhost:9464". No scheme:
 * the server speaks plain HTTP only and is meant for loopback or a management network. Used by config
 * validation (its message is what operators see) and by the admin CLI to find a running instance.
 */
export function parseHttpListen(value: string): HttpListen {
  const m = HOST_PORT.exec(value);
  const fail = (): never => {
    throw new Error(`expected host:port such as 127.0.0.1:9464 (IPv6 as [::1]:9464), got ${JSON.stringify(value)}`);
  };
  if (!m) return fail();
  const bracketed = m[1];
  if (bracketed !== undefined && isIP(bracketed) !== 6) return fail();
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) return fail();
  return { host: bracketed ?? m[2] ?? '', port };
}

/** The form a URL needs: IPv6 in brackets. */
export function httpAuthority(l: HttpListen): string {
  return `${l.host.includes(':') ? `[${l.host}]` : l.host}:${l.port}`;
}
