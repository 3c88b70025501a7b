import { isIP } from 'node:net';

/**
 * One spelling per address so that a connection accepted from "::ffff:10.0.0.1" is found again when the
 * stack sends to "10.0.0.1" (from a Via `received`), and "[::1]" and "::1" are the same peer.
 */
export function normalizeAddress(address: string): string {
  let a = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  a = a.toLowerCase();
  if (a.startsWith('::ffff:') && isIP(a.slice(7)) === 4) a = a.slice(7);
  return a;
}

export function remoteKey(address: string, port: number): string {
  return `${normalizeAddress(address)}|${port}`;
}

export function errorOf(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
