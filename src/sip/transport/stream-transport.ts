import type { Server, Socket } from 'node:net';
import type { SipEndpoint } from '../message.js';
import { errorOf, normalizeAddress, remoteKey } from './addresses.js';
import { StreamFramer } from './stream-framer.js';
import type { ReceivedBytes, Transport, TransportChange, TransportEvents, TransportLimits, TransportStats, TransportTlsOptions } from './types.js';

/** What differs between TCP and TLS; everything else about connections is shared. */
export interface StreamFlavor {
  protocol: 'tcp' | 'tls';
  /**
   * The server. Without a handshake the raw accepted socket carries SIP; with one (TLS), the server calls
   * `accept` with the socket once the handshake is done.
   */
  createServer(accept: (socket: Socket) => void): Server;
  handshake: boolean;
  /** Start an outbound connection; the returned socket emits `readyEvent` once it can carry SIP. */
  dial(dest: SipEndpoint): Socket;
  readyEvent: 'connect' | 'secureConnect';
  /** Verified peer identities, or undefined when the peer presented no certificate that verified. */
  identities?(socket: Socket): string[] | undefined;
  /** New certificate, key and CA for the handshakes to come (TLS only). */
  reloadTls?(server: Server, opts: TransportTlsOptions): void;
}

interface Connection {
  id: string;
  socket: Socket;
  remote: SipEndpoint;
  framer: StreamFramer;
  /** Index keys this connection is reachable under for reuse (actual remote, and the dialed name). */
  keys: string[];
  tlsIdentities: string[] | undefined;
  /** After a framing error: still writable for the answer, no longer offered for reuse or read. */
  closing: boolean;
  messageTimer: NodeJS.Timeout | undefined;
  /** framer.messagesCompleted when messageTimer was armed: same value → still the same slow message. */
  timedMessage: number;
}

const PONG = Buffer.from('\r\n', 'latin1');
/** How long a connection that failed framing stays open for the stack's 513/400 before we send FIN. */
const FRAMING_ERROR_LINGER_MS = 250;
/** After our FIN, how long the peer gets to close before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;
/**
 * A peer that stops reading must not make us buffer without bound: past this much queued output the
 * connection is dropped (about 64 maximum-size messages).
 */
const MAX_QUEUED_WRITE_BYTES = 4 * 1024 * 1024;

export class StreamTransport implements Transport {
  readonly protocol: 'tcp' | 'tls';
  private bound: SipEndpoint;
  private readonly server: Server;
  private readonly connections = new Map<string, Connection>();
  private readonly byRemote = new Map<string, Connection[]>();
  private readonly pendingDials = new Map<string, Promise<Connection>>();
  /** Every socket we must destroy on close: accepted (incl. mid-handshake) and dialing. */
  private readonly sockets = new Set<Socket>();
  private readonly perSource = new Map<string, number>();
  private seq = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly counters = { received: 0, sent: 0, framingErrors: 0, refusedConnections: 0 };

  private constructor(
    private readonly flavor: StreamFlavor,
    private readonly events: TransportEvents,
    private limits: TransportLimits,
    private readonly onError: (err: Error) => void,
    private readonly connectTimeoutMs: number,
  ) {
    this.protocol = flavor.protocol;
    this.bound = { transport: flavor.protocol, address: '', port: 0 };
    this.server = flavor.createServer((socket) => this.adopt(socket, []));
    // Caps are enforced on the raw TCP accept, before a TLS handshake costs us CPU.
    this.server.on('connection', (raw: Socket) => {
      if (this.admit(raw) && !flavor.handshake) this.adopt(raw, []);
    });
    this.server.on('error', (err) => this.onError(err));
  }

  static async listen(
    flavor: StreamFlavor,
    host: string,
    port: number,
    events: TransportEvents,
    limits: TransportLimits,
    onError: (err: Error) => void,
    connectTimeoutMs: number,
  ): Promise<StreamTransport> {
    const t = new StreamTransport(flavor, events, limits, onError, connectTimeoutMs);
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error): void => reject(err);
      t.server.once('error', fail);
      t.server.listen({ host, port }, () => {
        t.server.off('error', fail);
        resolve();
      });
    });
    const addr = t.server.address();
    if (addr === null || typeof addr === 'string') throw new Error(`${flavor.protocol} listener has no address`);
    t.bound = { transport: flavor.protocol, address: normalizeAddress(addr.address), port: addr.port };
    return t;
  }

  get local(): SipEndpoint {
    return this.bound;
  }

  reconfigure(change: TransportChange): void {
    this.limits = change.limits;
    if (change.tls && this.flavor.reloadTls) this.flavor.reloadTls(this.server, change.tls);
  }

  get stats(): Readonly<TransportStats> {
    return { ...this.counters, openConnections: this.sockets.size };
  }

  async send(data: Buffer, dest: SipEndpoint, connectionId?: string): Promise<void> {
    if (this.closed) throw new Error(`${this.protocol} transport is closed`);
    // Everything up to the first await runs synchronously, so sends to an open connection keep their order
    // and a send made from inside onFramingError is written before the lingering close.
    let conn = connectionId === undefined ? undefined : this.connections.get(connectionId);
    if (conn && !isWritable(conn.socket)) conn = undefined;
    conn ??= this.findOpen(remoteKey(dest.address, dest.port));
    conn ??= await this.dial(dest);
    await this.write(conn, data);
    this.counters.sent++;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    const serverClosed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const socketsClosed = [...this.sockets].map(
      (s) =>
        new Promise<void>((resolve) => {
          if (s.closed) return resolve();
          s.once('close', () => resolve());
          s.destroy();
        }),
    );
    await Promise.all([serverClosed, ...socketsClosed]);
  }

  private admit(raw: Socket): boolean {
    const ip = normalizeAddress(raw.remoteAddress ?? '');
    const fromSource = this.perSource.get(ip) ?? 0;
    if (this.closed || !ip || fromSource >= this.limits.maxConnectionsPerSource || this.sockets.size >= this.limits.maxConnections) {
      this.counters.refusedConnections++;
      raw.destroy();
      return false;
    }
    this.perSource.set(ip, fromSource + 1);
    this.sockets.add(raw);
    raw.setNoDelay(true);
    raw.once('close', () => {
      this.sockets.delete(raw);
      const n = (this.perSource.get(ip) ?? 1) - 1;
      if (n <= 0) this.perSource.delete(ip);
      else this.perSource.set(ip, n);
    });
    return true;
  }

  private adopt(socket: Socket, extraKeys: string[]): Connection | undefined {
    if (socket.destroyed || socket.remoteAddress === undefined || socket.remotePort === undefined) {
      socket.destroy();
      return undefined;
    }
    const remote: SipEndpoint = { transport: this.protocol, address: normalizeAddress(socket.remoteAddress), port: socket.remotePort };
    const conn: Connection = {
      id: `${this.protocol}:${++this.seq}`,
      socket,
      remote,
      framer: new StreamFramer(this.limits.maxMessageBytes),
      keys: [...new Set([remoteKey(remote.address, remote.port), ...extraKeys])],
      tlsIdentities: this.flavor.identities?.(socket),
      closing: false,
      messageTimer: undefined,
      timedMessage: -1,
    };
    this.connections.set(conn.id, conn);
    for (const k of conn.keys) {
      const list = this.byRemote.get(k);
      if (list) list.push(conn);
      else this.byRemote.set(k, [conn]);
    }
    socket.setNoDelay(true);
    socket.setTimeout(this.limits.idleTimeoutMs);
    socket.on('timeout', () => socket.destroy());
    socket.on('data', (chunk: Buffer) => this.onData(conn, chunk));
    socket.on('error', (err) => this.onError(new Error(`${conn.id} ${remote.address}:${remote.port}: ${err.message}`, { cause: err })));
    socket.once('close', () => this.forget(conn));
    return conn;
  }

  private forget(conn: Connection): void {
    clearTimeout(conn.messageTimer);
    this.connections.delete(conn.id);
    this.unindex(conn);
    try {
      this.events.onConnectionClosed?.(conn.id);
    } catch (err) {
      this.onError(errorOf(err));
    }
  }

  private unindex(conn: Connection): void {
    for (const k of conn.keys) {
      const list = this.byRemote.get(k);
      if (!list) continue;
      const rest = list.filter((c) => c !== conn);
      if (rest.length === 0) this.byRemote.delete(k);
      else this.byRemote.set(k, rest);
    }
  }

  private findOpen(key: string): Connection | undefined {
    const list = this.byRemote.get(key);
    if (!list) return undefined;
    // Newest first: an older connection to the same peer is the likelier one to be half-dead.
    for (let i = list.length - 1; i >= 0; i--) {
      const c = list[i]!;
      if (!c.closing && isWritable(c.socket)) return c;
    }
    return undefined;
  }

  private onData(conn: Connection, chunk: Buffer): void {
    if (conn.closing) return;
    const items = conn.framer.push(chunk);
    for (const item of items) {
      if (conn.socket.destroyed) return;
      if (item.kind === 'message') {
        this.counters.received++;
        const msg: ReceivedBytes = { data: item.data, source: conn.remote, local: this.local, connectionId: conn.id };
        if (conn.tlsIdentities) msg.tlsIdentities = conn.tlsIdentities;
        try {
          this.events.onMessage(msg);
        } catch (err) {
          this.onError(errorOf(err));
        }
      } else if (item.kind === 'ping') {
        conn.socket.write(PONG);
      } else {
        this.counters.framingErrors++;
        this.lingerThenClose(conn);
        try {
          this.events.onFramingError({
            reason: item.reason,
            source: conn.remote,
            local: this.local,
            connectionId: conn.id,
            ...(item.headerBlock ? { headerBlock: item.headerBlock } : {}),
            ...(item.tooLarge ? { tooLarge: true } : {}),
          });
        } catch (err) {
          this.onError(errorOf(err));
        }
        return;
      }
    }
    this.watchSlowMessage(conn);
  }

  /**
   * Arms the slowloris timer while a message is incomplete. Most reads end on a message boundary, so the
   * common case touches no timer at all; a new partial message refreshes the timer rather than extending it.
   */
  private watchSlowMessage(conn: Connection): void {
    if (!conn.framer.hasPartialMessage) {
      if (conn.messageTimer) {
        clearTimeout(conn.messageTimer);
        conn.messageTimer = undefined;
      }
      return;
    }
    const current = conn.framer.messagesCompleted;
    if (conn.messageTimer && conn.timedMessage === current) return;
    conn.timedMessage = current;
    if (conn.messageTimer) {
      conn.messageTimer.refresh();
      return;
    }
    conn.messageTimer = setTimeout(() => {
      conn.messageTimer = undefined;
      this.onError(new Error(`${conn.id} ${conn.remote.address}:${conn.remote.port}: message not complete within ${this.limits.headerReadTimeoutMs} ms, closing`));
      conn.socket.destroy();
    }, this.limits.headerReadTimeoutMs);
    conn.messageTimer.unref();
  }

  private lingerThenClose(conn: Connection): void {
    conn.closing = true;
    clearTimeout(conn.messageTimer);
    conn.messageTimer = undefined;
    this.unindex(conn);
    const t = setTimeout(() => {
      conn.socket.end();
      setTimeout(() => conn.socket.destroy(), CLOSE_GRACE_MS).unref();
    }, FRAMING_ERROR_LINGER_MS);
    t.unref();
  }

  private write(conn: Connection, data: Buffer): Promise<void> {
    const socket = conn.socket;
    if (socket.writableLength + data.length > MAX_QUEUED_WRITE_BYTES) {
      socket.destroy();
      return Promise.reject(new Error(`${conn.id} ${conn.remote.address}:${conn.remote.port}: peer is not reading, connection dropped`));
    }
    return new Promise<void>((resolve, reject) => {
      socket.write(data, (err) => (err ? reject(new Error(`${conn.id}: write failed: ${err.message}`, { cause: err })) : resolve()));
    });
  }

  /** One connection attempt per destination at a time; concurrent sends share it (and keep their order). */
  private dial(dest: SipEndpoint): Promise<Connection> {
    const key = remoteKey(dest.address, dest.port);
    let pending = this.pendingDials.get(key);
    if (!pending) {
      pending = this.connect(dest, key).finally(() => this.pendingDials.delete(key));
      this.pendingDials.set(key, pending);
    }
    return pending;
  }

  private async connect(dest: SipEndpoint, key: string): Promise<Connection> {
    const target = `${this.protocol} connect to ${dest.address}:${dest.port}`;
    if (this.sockets.size >= this.limits.maxConnections) throw new Error(`${target} refused: ${this.sockets.size} connections open`);
    const socket = this.flavor.dial(dest);
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
    try {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error): void => {
          clearTimeout(timer);
          socket.off(this.flavor.readyEvent, onReady);
          socket.off('error', onFail);
          socket.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onReady = (): void => done();
        const onFail = (err: Error): void => done(err);
        const onClose = (): void => done(new Error('connection closed'));
        const timer = setTimeout(() => done(new Error(`no connection within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
        socket.once(this.flavor.readyEvent, onReady);
        socket.once('error', onFail);
        socket.once('close', onClose);
      });
    } catch (err) {
      socket.destroy();
      // Its 'close' comes later; the failed attempt must not count as open meanwhile.
      this.sockets.delete(socket);
      throw new Error(`${target} failed: ${errorOf(err).message}`, { cause: err });
    }
    if (this.closed) {
      socket.destroy();
      throw new Error(`${this.protocol} transport is closed`);
    }
    const conn = this.adopt(socket, [key]);
    if (!conn) throw new Error(`${target} failed: connection closed`);
    return conn;
  }
}

function isWritable(socket: Socket): boolean {
  return !socket.destroyed && socket.writable;
}
