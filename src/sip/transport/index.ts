import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { parseListenUrl } from './listen-url.js';
import { StreamTransport } from './stream-transport.js';
import { tcpFlavor } from './tcp.js';
import { tlsFlavor } from './tls.js';
import { DEFAULT_TRANSPORT_LIMITS, type Transport, type TransportEvents, type TransportLimits, type TransportOptions } from './types.js';
import { UdpTransport } from './udp.js';

export * from './types.js';
export { parseListenUrl, type ListenUrl } from './listen-url.js';
export { StreamFramer, readContentLength, type FramedItem } from './stream-framer.js';

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Listen on "udp://127.0.0.1:5060", "tcp://[::1]:5060" or "tls://0.0.0.0:5061" (port 0 picks a free port). */
export async function createTransport(url: string, events: TransportEvents, opts: TransportOptions = {}): Promise<Transport> {
  const { transport, host, port } = parseListenUrl(url);
  const limits = resolveLimits(opts.limits);
  const onError = opts.onError ?? (() => undefined);
  // One concrete address per listener, so `local` is something a Via can carry.
  const address = isIP(host) ? host : (await lookup(host)).address;
  switch (transport) {
    case 'udp':
      return UdpTransport.bind(address, port, events, limits, onError);
    case 'tcp':
      return StreamTransport.listen(tcpFlavor(), address, port, events, limits, onError, opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    case 'tls':
      if (!opts.tls) throw new Error(`${url}: a TLS listener needs tls.cert and tls.key`);
      return StreamTransport.listen(
        tlsFlavor(opts.tls, limits.headerReadTimeoutMs),
        address,
        port,
        events,
        limits,
        onError,
        opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      );
  }
}

/** The limits a transport runs with: the defaults, overridden by what the operator set. */
export function resolveLimits(given: Partial<TransportLimits> | undefined): TransportLimits {
  const limits: TransportLimits = { ...DEFAULT_TRANSPORT_LIMITS };
  for (const key of Object.keys(limits) as Array<keyof TransportLimits>) {
    const v = given?.[key];
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`transport limit ${key} must be a positive number, got ${String(v)}`);
    limits[key] = v;
  }
  return limits;
}
