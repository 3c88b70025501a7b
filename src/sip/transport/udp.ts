import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';
import type { SipEndpoint } from '../message.js';
import { errorOf, normalizeAddress } from './addresses.js';
import type { ReceivedBytes, Transport, TransportChange, TransportEvents, TransportLimits, TransportStats } from './types.js';

/**
 * Large kernel buffers let a burst (sipp at ~15k messages/s) wait in the kernel while the event loop is
 * busy instead of being dropped; the kernel may clamp this (net.core.rmem_max), which is fine.
 */
const SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');
/** Held datagrams are copied into slabs of this size; one bigger than a quarter of it gets its own buffer. */
const SLAB_BYTES = 64 * 1024;

/**
 * dgram resolves every destination through `dns.lookup`, which answers even an IP literal on the next tick
 * with a closure per send. Stox only sends to addresses (the resolver ran before), so answer those at once.
 */
function literalLookup(hostname: string, options: LookupOneOptions | number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}

/** Where held datagrams go, shared by every datagram for the same peer. */
interface UdpPeer {
  readonly address: string;
  readonly port: number;
  /** The address as this socket's family needs it (IPv4 peers of a v6 socket are v4-mapped). */
  readonly socketAddress: string;
}

/**
 * A datagram kept to be sent again, e.g. the final response a completed server transaction replays for each
 * retransmitted request. Its bytes live in a slab shared with the datagrams held around the same time,
 * which expire around the same time too, so a held datagram costs its bytes and this small object, not a
 * Buffer of its own.
 */
export class HeldDatagram {
  constructor(
    private readonly transport: UdpTransport,
    private readonly peer: UdpPeer,
    private readonly slab: Buffer,
    private readonly offset: number,
    readonly length: number,
  ) {}

  /** Fire and forget: a failure is counted and reported by the transport, never thrown. */
  send(): void {
    this.transport.sendHeld(this.slab, this.offset, this.length, this.peer);
  }
}

/** RFC 3261 §18 over UDP: one socket per listen URL, one datagram is one message. */
export class UdpTransport implements Transport {
  readonly protocol = 'udp' as const;
  private bound: SipEndpoint;
  private readonly counters = { received: 0, sent: 0, framingErrors: 0 };
  private closing: Promise<void> | undefined;
  private closed = false;
  private slab: Buffer = Buffer.alloc(0);
  private slabUsed = 0;
  private lastPeer: UdpPeer | undefined;
  /** One callback for every fire-and-forget send instead of a closure each. */
  private readonly afterSend = (err: Error | null): void => {
    if (err) this.onSendFailure?.(new Error(`udp ${err.message}`, { cause: err }));
    else this.counters.sent++;
  };

  /** Failures of `sendNow` and `HeldDatagram.send`, which have no caller left to reject to. */
  onSendFailure?: (err: Error) => void;

  private constructor(
    private readonly socket: Socket,
    private readonly family: 4 | 6,
    private readonly events: TransportEvents,
    private limits: TransportLimits,
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
    const socket = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
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

  /** UDP has no connections: of the limits only the datagram size applies; TLS is not its business. */
  reconfigure(change: TransportChange): void {
    this.limits = change.limits;
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

  /**
   * `send` without the Promise: fire and forget on the hot path (stateless answers, responses). Throws only
   * when `dest` cannot be reached from this socket at all; send failures go to `onSendFailure`.
   */
  sendNow(data: Buffer, dest: SipEndpoint): void {
    const peer = this.peerFor(dest);
    if (this.closed) return;
    this.socket.send(data, 0, data.length, peer.port, peer.socketAddress, this.afterSend);
  }

  /** Copy `head` (as UTF-8) and `body` into a held datagram for `dest`: send it with `HeldDatagram.send`. */
  hold(head: string, body: Buffer, dest: SipEndpoint): HeldDatagram {
    const peer = this.peerFor(dest);
    const most = head.length * 3 + body.length;
    if (most > SLAB_BYTES / 4) {
      const own = Buffer.allocUnsafeSlow(Buffer.byteLength(head, 'utf8') + body.length);
      const n = own.write(head, 0, 'utf8');
      body.copy(own, n);
      return new HeldDatagram(this, peer, own, 0, own.length);
    }
    if (this.slabUsed + most > this.slab.length) {
      // Slabs are never written twice: a send libuv had to queue still reads from its slab.
      this.slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.slabUsed = 0;
    }
    const offset = this.slabUsed;
    const n = this.slab.write(head, offset, 'utf8');
    body.copy(this.slab, offset + n);
    this.slabUsed += n + body.length;
    return new HeldDatagram(this, peer, this.slab, offset, n + body.length);
  }

  /** @internal for HeldDatagram */
  sendHeld(slab: Buffer, offset: number, length: number, peer: UdpPeer): void {
    if (this.closed) return;
    this.socket.send(slab, offset, length, peer.port, peer.socketAddress, this.afterSend);
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

  /** The peer for `dest`; a peer (usually the one proxy) sending many requests in a row gets one object. */
  private peerFor(dest: SipEndpoint): UdpPeer {
    const last = this.lastPeer;
    if (last && last.port === dest.port && last.address === dest.address) return last;
    let address = normalizeAddress(dest.address);
    const destFamily = isIP(address);
    if (destFamily === 4 && this.family === 6) address = `::ffff:${address}`;
    else if (destFamily === 6 && this.family === 4) throw new Error(`udp send to ${dest.address}:${dest.port}: IPv6 destination on an IPv4 socket`);
    const peer: UdpPeer = { address: dest.address, port: dest.port, socketAddress: address };
    this.lastPeer = peer;
    return peer;
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
