import type { SipEndpoint } from '../message.js';

/** One framed SIP message as it came off the wire, before parsing. */
export interface ReceivedBytes {
  data: Buffer;
  source: SipEndpoint;
  local: SipEndpoint;
  /** Set for TCP/TLS: pass it back to `send` so the answer travels on the same connection (RFC 3261 §18.2.2). */
  connectionId?: string;
  /** Subject CN and subjectAltName DNS entries of a peer certificate that verified against the configured CA. */
  tlsIdentities?: string[];
}

export interface TransportLimits {
  /** A framed message larger than this is refused (UDP datagram, or header block + Content-Length on a stream). */
  maxMessageBytes: number;
  /** Close TCP/TLS connections with no traffic in either direction for this long. */
  idleTimeoutMs: number;
  /**
   * Close a connection that started a message and has not completed it in this time (slowloris). It also
   * covers the body: a peer trickling a declared body byte by byte is the same attack.
   */
  headerReadTimeoutMs: number;
  /** Accepted connections per remote IP; the next accept is closed at once and counted as refused. */
  maxConnectionsPerSource: number;
  /** Open connections in total, inbound and outbound. */
  maxConnections: number;
}

export const DEFAULT_TRANSPORT_LIMITS: Readonly<TransportLimits> = Object.freeze({
  maxMessageBytes: 65536,
  idleTimeoutMs: 120_000,
  headerReadTimeoutMs: 10_000,
  maxConnectionsPerSource: 64,
  maxConnections: 10_000,
});

export interface FramingError {
  reason: string;
  source: SipEndpoint;
  local: SipEndpoint;
  connectionId?: string;
  /** The complete header block (through the blank line) when it could be read, so the stack can answer 513/400. */
  headerBlock?: Buffer;
  tooLarge?: boolean;
}

export interface TransportEvents {
  onMessage(msg: ReceivedBytes): void;
  /**
   * Something arrived that could not be framed (oversize, no Content-Length on a stream, garbage) — the
   * stack counts it; for oversize the header block is included when available so the stack can answer 513.
   * After this the connection is closed (a stream cannot resync); a `send` on its connectionId made from
   * within this callback, or shortly after, still goes out before the close.
   */
  onFramingError(err: FramingError): void;
  onConnectionClosed?(connectionId: string): void;
}

export interface TransportStats {
  /** Messages delivered through onMessage. */
  received: number;
  /** Messages whose send resolved. */
  sent: number;
  framingErrors: number;
  refusedConnections: number;
  openConnections: number;
}

export interface Transport {
  /** Actual bound address/port (port 0 in the listen URL becomes the real port); addresses never carry brackets. */
  readonly local: SipEndpoint;
  readonly protocol: 'udp' | 'tcp' | 'tls';
  /**
   * UDP: sendto. TCP/TLS: on `connectionId` if still open, else on an open connection to dest (by
   * address:port, including inbound ones whose remote matches), else a new connection. Rejects on failure.
   */
  send(data: Buffer, dest: SipEndpoint, connectionId?: string): Promise<void>;
  /** Stop listening, destroy every connection; resolves once all are closed. */
  close(): Promise<void>;
  readonly stats: Readonly<TransportStats>;
  /**
   * A reloaded configuration (SIGHUP): new limits apply to connections accepted from now on, new TLS
   * certificate, key and CA to handshakes from now on; established connections keep what they have.
   */
  reconfigure(change: TransportChange): void;
}

export interface TransportChange {
  limits: TransportLimits;
  tls?: TransportTlsOptions;
}

export interface TransportTlsOptions {
  /** PEM contents, not paths. */
  cert: string;
  key: string;
  /** Trust anchors for peers (both directions); the system store when absent. */
  ca?: string;
  /** Ask inbound peers for a certificate (mutual TLS). */
  requestCert?: boolean;
  /** With requestCert: refuse inbound peers whose certificate does not verify. */
  rejectUnauthorized?: boolean;
}

export interface TransportOptions {
  limits?: Partial<TransportLimits>;
  tls?: TransportTlsOptions;
  /** Errors that must not escape an event handler (socket errors, a throwing onMessage, timeouts). */
  onError?: (err: Error) => void;
  /** Give up an outbound TCP connect / TLS handshake after this long. Default 10 s. */
  connectTimeoutMs?: number;
}
