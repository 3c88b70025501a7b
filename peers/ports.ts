import { createSocket } from 'node:dgram';
import { createConnection, createServer } from 'node:net';

/** A free loopback TCP port: bind port 0, read it, close. Another process can still take it before the caller does. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A free loopback UDP port, picked like freePort(). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    s.bind(0, '127.0.0.1', () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

/** A port free on 127.0.0.1 for both TCP and UDP at the moment of asking (a SIP server listens on both). */
export async function freeUdpTcpPort(): Promise<number> {
  for (let tries = 0; tries < 20; tries++) {
    const port = await freePort();
    if (!(await udpPortBound(port))) return port;
  }
  throw new Error('no port free for both UDP and TCP');
}

/** Whether some socket holds udp 127.0.0.1:`port` (our own bind fails). */
export function udpPortBound(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createSocket('udp4');
    sock.once('error', () => {
      sock.close();
      resolve(true);
    });
    sock.bind(port, '127.0.0.1', () => sock.close(() => resolve(false)));
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:`port`. */
export function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}
