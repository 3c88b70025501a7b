import { client, xml } from '@xmpp/client';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { Element } from 'ltx';
import type { Proc } from './peers.js';

/**
 * What the benchmarks' XMPP load processes (bench/im-clients.ts, bench/presence-clients.ts) share: users
 * logged in with @xmpp/client whose sockets are then read by a scanner that only finds stanza ends (no
 * element is built), a wall clock with sub-millisecond resolution for one-way latency, pacing, latency
 * summaries and the IPC loop that bench/im.ts and bench/presence.ts drive them through.
 */

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** p50/p90/p99/max of `values`. */
export function summarize(values: number[] | Float64Array): LatencySummary {
  const v = Float64Array.from(values).sort();
  const at = (q: number): number => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(q * v.length))]!);
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: v.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(v.length === 0 ? NaN : v[v.length - 1]!) };
}

/**
 * Wall-clock microseconds with sub-millisecond resolution, the clock sipp's <gettimeofday/> reads too.
 * Date.now() floors to the millisecond, so its offset to the monotonic clock is read many times and the
 * largest reading (the one right after a tick) kept; `calibrate` is redone before each step so the two
 * clocks cannot drift apart.
 */
let offsetMs = 0;
export function calibrate(): void {
  let best = -Infinity;
  const end = performance.now() + 3;
  while (performance.now() < end) best = Math.max(best, Date.now() - performance.now());
  offsetMs = best;
}
export function nowUs(): number {
  return Math.round((performance.now() + offsetMs) * 1000);
}

/**
 * Calls `onStanza` with each whole `<name …>…</name>` in the socket's stream (from its start tag to just
 * before its end tag) and the time its bytes arrived. Anything else never ends in `</name>`; only a bounded
 * tail of it is kept.
 */
export function scanStanzas(socket: Socket, name: string, onStanza: (stanza: string, arrivedUs: number) => void): void {
  const decoder = new StringDecoder('utf8');
  const endTag = `</${name}>`;
  const startTag = `<${name}`;
  let buf = '';
  socket.on('data', (chunk: Buffer) => {
    const arrived = nowUs();
    buf += decoder.write(chunk);
    let from = 0;
    for (;;) {
      const end = buf.indexOf(endTag, from);
      if (end < 0) break;
      const start = buf.lastIndexOf(startTag, end);
      onStanza(buf.slice(start < from ? from : start, end), arrived);
      from = end + endTag.length;
    }
    buf = buf.slice(from);
    if (buf.length > 1 << 20) buf = buf.slice(-65536);
  });
}

/**
 * Logs one user in (SASL PLAIN), optionally fetches the roster (RFC 6121 §2.1.6: only an "interested"
 * resource is told about `subscribed`), sends initial presence and hands back the socket with
 * @xmpp/client's own reading detached, for `scanStanzas`.
 */
export async function loginLoadUser(service: string, domain: string, user: { name: string; password: string }, opts: { fetchRoster?: boolean } = {}): Promise<Socket> {
  const entity = client({ service, domain, username: user.name, password: user.password, resource: 'bench' });
  entity.reconnect.stop();
  // @xmpp/client's SCRAM-SHA-1 fails against this Prosody (peers.md): leave it only PLAIN to pick.
  entity.prependListener('element', (el: Element) => {
    const mechanisms = el.getChild('mechanisms', 'urn:ietf:params:xml:ns:xmpp-sasl');
    if (!mechanisms) return;
    for (const m of mechanisms.getChildElements()) if (m.getText() !== 'PLAIN') mechanisms.remove(m);
  });
  entity.on('status', (status) => {
    if (status === 'connect') entity.socket?.setNoDelay(true);
  });
  entity.on('error', () => {});
  await entity.start();
  if (opts.fetchRoster) await entity.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
  await entity.send(xml('presence'));
  const socket = entity.socket;
  if (!socket) throw new Error(`user ${user.name} has no socket after login`);
  socket.removeAllListeners('data');
  return socket;
}

/**
 * Writes `count` stanzas at `rate`/s from a 1 ms timer, one socket write per user per tick: `stanza(i)`
 * says which user sends the i-th and what.
 */
export function paced(
  sockets: ReadonlyArray<Socket | undefined>,
  rate: number,
  count: number,
  stanza: (i: number) => { from: number; data: string },
  opts: { leadOne?: boolean } = {},
): Promise<{ sent: number; elapsedMs: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(count, Math.floor((rate * (performance.now() - t0)) / 1000) + (opts.leadOne ? 1 : 0));
      if (due > sent) {
        const out = new Map<number, string>();
        for (; sent < due; sent++) {
          const s = stanza(sent);
          out.set(s.from, (out.get(s.from) ?? '') + s.data);
        }
        for (const [from, data] of out) sockets[from]?.write(data);
      }
      if (sent < count) setTimeout(tick, 1);
      else resolve({ sent, elapsedMs: performance.now() - t0 });
    };
    tick();
  });
}

export type LoadReply = { seq: number; ok: true; value?: unknown } | { seq: number; ok: false; error: string };

/** The forked worker's loop: each command from the parent is handled and answered with its `seq`. */
export function serveCommands<C extends { cmd: string }>(handle: (c: C) => Promise<unknown>, onCommand?: (c: C) => void): void {
  calibrate();
  process.on('message', (m: { seq: number } & C) => {
    onCommand?.(m);
    handle(m).then(
      (value) => process.send!({ seq: m.seq, ok: true, value } satisfies LoadReply),
      (err: unknown) => process.send!({ seq: m.seq, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies LoadReply),
    );
  });
  // The parent gone means the benchmark was interrupted: nothing left to measure for.
  process.on('disconnect', () => process.exit(0));
}

/** The parent's end of `serveCommands`: each call resolves with the worker's answer to it. */
export class LoadClients<C extends { cmd: string }> {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(readonly proc: Proc) {
    proc.child.on('message', (m: LoadReply) => {
      const w = this.waiting.get(m.seq);
      if (!w) return;
      this.waiting.delete(m.seq);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(`clients: ${m.error}`));
    });
    void proc.exited.then(() => {
      for (const w of this.waiting.values()) w.reject(new Error(`clients process exited: ${proc.output().slice(-2000)}`));
      this.waiting.clear();
    });
  }

  call<T>(c: C): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve: resolve as (v: unknown) => void, reject });
      this.proc.child.send({ seq, ...c });
    });
  }
}
