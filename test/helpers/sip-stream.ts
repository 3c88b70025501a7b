import type { Socket } from 'node:net';

/**
 * Calls `onMessage` with each whole SIP message a stream socket (TCP or TLS) carries, framed by its
 * Content-Length (RFC 3261 §18.3), for the small hand-written SIP peers of the tests; a returned string is
 * written back on the same connection.
 */
export function onSipStreamMessages(socket: Socket, onMessage: (message: string) => string | undefined): void {
  let buf = '';
  socket.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    for (;;) {
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      const message = buf.slice(0, end + 4 + len);
      buf = buf.slice(end + 4 + len);
      const out = onMessage(message);
      if (out !== undefined) socket.write(out);
    }
  });
}
