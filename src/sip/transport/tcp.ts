import { createConnection, createServer } from 'node:net';
import type { StreamFlavor } from './stream-transport.js';

/** RFC 3261 §18 over plain TCP: the accepted socket is the SIP connection. */
export function tcpFlavor(): StreamFlavor {
  return {
    protocol: 'tcp',
    handshake: false,
    createServer: () => createServer({ noDelay: true }),
    dial: (dest) => createConnection({ host: dest.address, port: dest.port, noDelay: true }),
    readyEvent: 'connect',
  };
}
