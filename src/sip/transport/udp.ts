import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { SipEndpoint } from '../message.js';
import { errorOf, normalizeAddress } from './addresses.js';
import type { ReceivedBytes, Transport, TransportEvents, TransportLimits, TransportStats } from './types.js';

/**
 * Large kernel buffers let a burst (sipp at ~15k messages/s) wait in the kernel while the event loop is
 * busy instead of being dropped; the kernel may clamp this (net.core.rmem_max), which is fine.
 */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');

/** RFC 3261 §18 over UDP: one socket per listen URL, one datagram is one message. */
export class UdpTransport implements Transport {
  readonly protocol = 'udp' as const;
  private bound: SipEndpoint;
  private readonly counters = { received: 0, sent: 0, framingErrors: 0 };
  private closing: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly socket: Socket,
    private readonly family: 4 | 6,
    private readonly events: TransportEvents,
    private readonly limits: TransportLimits,
    private readonly onError: (err: Error) => void,
  ) {
    this.bound = { transport: 'udp', address: '', port: 0 };
    socket.on('message', (data, rinfo) => this.onDatagram(data, rinfo));
    // ICMP unreachable and friends surface here on some platforms; they concern one peer, not the socket.
    socket.on('error', (err) => this.onError(err));
  }

  /** `address` must be an IP literal (names are resolved by the caller). */
  static async bind(address: string, port: number, events: TransportEvents, limits: TransportLimits, onError: (err: Error) => void): Promise<UdpTransport> {
    const family = isIP(address) === 6 ? 6 : 4;
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address, port, exclusive: true }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    for (const set of [() => socket.setRecvBufferSize(SOCKET_BUFFER_BYTES), () => socket.setSendBufferSize(SOCKET_BUFFER_BYTES)]) {
      try {
        set();
      } catch {
        // Not fatal: the default buffers work, they only absorb less of a burst.
      }
    }
    const t = new UdpTransport(socket, family, events, limits, onError);
    const a = socket.address();
    t.bound = { transport: 'udp', address: normalizeAddress(a.address), port: a.port };
    return t;
  }

  get local(): SipEndpoint {
    return this.bound;
  }

  get stats(): Readonly<TransportStats> {
    return { ...this.counters, refusedConnections: 0, openConnections: 0 };
  }

  send(data: Buffer, dest: SipEndpoint, _connectionId?: string): Promise<void> {
    if (this.closed) return Promise.reject(new Error('udp transport is closed'));
    let address = normalizeAddress(dest.address);
    const destFamily = isIP(address);
    if (destFamily === 4 && this.family === 6) {
      // A dual-stack v6 socket reaches IPv4 peers through their mapped form (we hand out the plain v4 form).
      address = `::ffff:${address}`;
    } else if (destFamily === 6 && this.family === 4) {
      return Promise.reject(new Error(`udp send to ${dest.address}:${dest.port}: IPv6 destination on an IPv4 socket`));
    }
    return new Promise<void>((resolve, reject) => {
      this.socket.send(data, dest.port, address, (err) => {
        if (err) {
          reject(new Error(`udp send to ${dest.address}:${dest.port} failed: ${err.message}`, { cause: err }));
          return;
        }
        this.counters.sent++;
        resolve();
      });
    });
  }

  close(): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.closed = true;
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }

  private onDatagram(data: Buffer, rinfo: RemoteInfo): void {
    if (isKeepalive(data)) return;
    const source: SipEndpoint = { transport: 'udp', address: normalizeAddress(rinfo.address), port: rinfo.port };
    try {
      if (data.length > this.limits.maxMessageBytes) {
        this.counters.framingErrors++;
        const end = data.indexOf(HEADER_END);
        this.events.onFramingError({
          reason: `Datagram of ${data.length} bytes exceeds ${this.limits.maxMessageBytes} bytes`,
          source,
          local: this.local,
          ...(end >= 0 ? { headerBlock: Buffer.from(data.subarray(0, end + 4)) } : {}),
          tooLarge: true,
        });
        return;
      }
      this.counters.received++;
      const msg: ReceivedBytes = { data, source, local: this.local };
      this.events.onMessage(msg);
    } catch (err) {
      this.onError(errorOf(err));
    }
  }
}

/** RFC 5626 §4.4.1 / RFC 3261 §7.5: CRLF-only datagrams (and empty ones) are keepalives, not messages. */
function isKeepalive(data: Buffer): boolean {
  for (let i = 0; i < data.length; i++) {
    const b = data[i];
    if (b !== 0x0d && b !== 0x0a) return false;
  }
  return true;
}
