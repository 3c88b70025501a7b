import { createServer, type Server, type Socket } from 'node:net';

/**
 * A stand-in XMPP server for the memory and resume benchmarks: it accepts XEP-0114 component streams
 * (any secret), then reads and drops every stanza, counting presences per second of arrival.
 *
 * Why not Prosody there: a restored SIP watcher's dialog probes the watched XMPP user at its paced slot,
 * and Prosody answers a probe from a contact it has no roster entry for with `unsubscribed`, which ends the
 * subscription; giving Prosody 100k roster entries first would cost minutes. The NOTIFY throughput
 * benchmark, which needs a real server, uses Prosody.
 */
export interface XmppSink {
  port: number;
  /** Presence stanzas received, by whole second since `since` (index 0 = the first second). */
  presencesPerSecond(since: number): number[];
  readonly presences: number;
  close(): Promise<void>;
}

export async function startXmppSink(): Promise<XmppSink> {
  // Arrival times (performance.now(), ms) of presences; a few hundred thousand numbers at most.
  const arrivals: number[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let opened = false;
    let shaken = false;
    let tail = '';
    socket.on('data', (chunk: Buffer) => {
      const text = tail + chunk.toString('utf8');
      if (!opened && text.includes('<stream:stream')) {
        opened = true;
        const to = /\sto=["']([^"']+)["']/.exec(text)?.[1] ?? 'component';
        socket.write(
          `<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='sink${Date.now()}' from='${to}'>`,
        );
      }
      if (opened && !shaken && text.includes('</handshake>')) {
        shaken = true;
        socket.write('<handshake/>');
      }
      const now = performance.now();
      let at = text.indexOf('<presence');
      while (at >= 0) {
        arrivals.push(now);
        at = text.indexOf('<presence', at + 9);
      }
      // Keep the few characters a tag name may have been cut after.
      tail = text.slice(-8);
      if (tail.includes('<')) tail = tail.slice(tail.lastIndexOf('<'));
      else tail = '';
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const addr = server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
  return {
    port,
    get presences() {
      return arrivals.length;
    },
    presencesPerSecond(since) {
      const bins: number[] = [];
      for (const t of arrivals) {
        if (t < since) continue;
        const i = Math.floor((t - since) / 1000);
        while (bins.length <= i) bins.push(0);
        bins[i]!++;
      }
      return bins;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
