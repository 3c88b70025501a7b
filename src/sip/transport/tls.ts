import { isIP } from 'node:net';
import { connect, createServer, type PeerCertificate, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { normalizeAddress } from './addresses.js';
import type { StreamFlavor } from './stream-transport.js';
import type { TransportTlsOptions } from './types.js';

/**
 * RFC 3261 §26.2.1 / RFC 5922 TLS. Inbound: our certificate, optionally asking for the peer's (mutual TLS).
 * Outbound: always verify the server against the configured CA; Node checks the certificate against the
 * dialed name (or, for an IP literal, against its IP subjectAltNames), and the name goes in SNI. Our own
 * certificate is offered to servers that ask, so two gateways can authenticate each other.
 */
export function tlsFlavor(initial: TransportTlsOptions, handshakeTimeoutMs: number): StreamFlavor {
  // Replaced on reload (SIGHUP): later dials and handshakes use the new material.
  let opts = initial;
  return {
    protocol: 'tls',
    handshake: true,
    createServer: (accept) => {
      const server = createServer(
        {
          cert: opts.cert,
          key: opts.key,
          ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
          requestCert: opts.requestCert ?? false,
          // Passed through: Node's default (true) refuses unverified client certificates when requestCert is on.
          ...(opts.rejectUnauthorized !== undefined ? { rejectUnauthorized: opts.rejectUnauthorized } : {}),
          handshakeTimeout: handshakeTimeoutMs,
        },
        accept,
      );
      // A failed or timed-out handshake (bad client cert, port scan, refused over the cap) concerns that
      // peer only. Node leaves the socket open once anyone listens for this event, so close it here.
      server.on('tlsClientError', (_err, socket) => socket.destroy());
      return server;
    },
    dial: (dest) => {
      const host = normalizeAddress(dest.address);
      return connect({
        host,
        port: dest.port,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...(opts.ca !== undefined ? { ca: opts.ca } : {}),
        cert: opts.cert,
        key: opts.key,
        rejectUnauthorized: true,
      });
    },
    readyEvent: 'secureConnect',
    identities: (socket) => verifiedIdentities(socket as TLSSocket),
    // Whether to ask for client certificates is fixed when the server is created; a change to it is the
    // caller's to refuse (it needs a restart), certificate, key and CA are swapped here.
    reloadTls: (server, next) => {
      (server as TlsServer).setSecureContext({ cert: next.cert, key: next.key, ...(next.ca !== undefined ? { ca: next.ca } : {}) });
      opts = next;
    },
  };
}

/** Subject CN and subjectAltName DNS entries of a peer certificate that verified, else undefined. */
export function verifiedIdentities(socket: TLSSocket): string[] | undefined {
  if (!socket.authorized) return undefined;
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return undefined;
  return certificateIdentities(cert);
}

export function certificateIdentities(cert: PeerCertificate): string[] {
  const out: string[] = [];
  // Node types CN as a string, but a subject with several CNs yields an array.
  const cn: unknown = cert.subject?.CN;
  for (const v of Array.isArray(cn) ? cn : [cn]) if (typeof v === 'string' && v) out.push(v);
  for (const dns of subjectAltDnsNames(cert.subjectaltname ?? '')) out.push(dns);
  return [...new Set(out)];
}

/**
 * Node renders subjectAltName as "DNS:a, DNS:b, IP Address:1.2.3.4", JSON-quoting a value that contains a
 * comma or quote; entries are walked in order so a quoted value (say a URI holding ", DNS:evil") can never
 * be read as an entry of its own.
 */
export function subjectAltDnsNames(san: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < san.length) {
    const colon = san.indexOf(':', i);
    if (colon < 0) break;
    const type = san.slice(i, colon);
    let j = colon + 1;
    let value: string;
    if (san[j] === '"') {
      let k = j + 1;
      while (k < san.length && san[k] !== '"') k += san[k] === '\\' ? 2 : 1;
      try {
        value = JSON.parse(san.slice(j, k + 1)) as string;
      } catch {
        break;
      }
      j = k + 1;
    } else {
      const comma = san.indexOf(', ', j);
      j = comma < 0 ? san.length : comma;
      value = san.slice(colon + 1, j);
    }
    if (type === 'DNS' && value) out.push(value);
    if (!san.startsWith(', ', j)) break;
    i = j + 2;
  }
  return out;
}
