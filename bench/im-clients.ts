import { client, xml } from '@xmpp/client';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import { pathToFileURL } from 'node:url';
import type { Element } from 'ltx';

/**
 * The IM benchmark's XMPP users, in a process of their own so their work never shares Stox's event loop
 * (bench/im.ts forks this file and drives it over IPC). Users log in with @xmpp/client (SASL PLAIN,
 * peers.md); after that each socket is read by a scanner that only finds `</message>` ends and the
 * markers in the body, and messages are written as pre-built strings: the XMPP clients' own parsing and
 * serialization would otherwise take CPU from Prosody and Stox on this 2-core machine and be measured as
 * theirs.
 *
 * Every message carries `b<step> t<µs>` in its body (and id `b<step>-<n>` when sent from here): the step
 * it belongs to, so a straggler is never counted in the next step, and its send time in wall-clock
 * microseconds, the clock sipp's <gettimeofday/> reads too.
 */

export type ClientCommand =
  | { cmd: 'login'; service: string; domain: string; users: Array<{ name: string; password: string }> }
  | { cmd: 'send'; step: number; rate: number; count: number; routes: Array<{ from: number; to: string }> }
  | { cmd: 'stats'; step: number }
  | { cmd: 'calibrate' }
  | { cmd: 'quit' };

export interface LatencySummary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

export interface StepCounts {
  received: number;
  errors: number;
  errorSamples: string[];
  /** One-way latency in ms, from the body's send stamp to the arrival of the bytes here. */
  latencyMs: LatencySummary;
}

export type ClientReply = { seq: number; ok: true; value?: unknown } | { seq: number; ok: false; error: string };

/** p50/p90/p99/max of `values` (sorted in place). */
export function summarize(values: number[] | Float64Array): LatencySummary {
  const v = Float64Array.from(values).sort();
  const at = (q: number): number => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(q * v.length))]!);
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: v.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(v.length === 0 ? NaN : v[v.length - 1]!) };
}

/**
 * Wall-clock microseconds with sub-millisecond resolution. Date.now() floors to the millisecond, so its
 * offset to the monotonic clock is read many times and the largest reading (the one taken right after a
 * millisecond tick) kept; redone before each step so the two clocks cannot drift apart.
 */
let offsetMs = 0;
function calibrate(): void {
  let best = -Infinity;
  const end = performance.now() + 3;
  while (performance.now() < end) best = Math.max(best, Date.now() - performance.now());
  offsetMs = best;
}
function nowUs(): number {
  return Math.round((performance.now() + offsetMs) * 1000);
}

interface StepState {
  received: number;
  errors: number;
  errorSamples: string[];
  latencies: number[];
}

const steps = new Map<number, StepState>();
function stepState(step: number): StepState {
  let s = steps.get(step);
  if (!s) {
    s = { received: 0, errors: 0, errorSamples: [], latencies: [] };
    steps.set(step, s);
  }
  return s;
}

const MARK = /b(\d+) t(\d+)/;
const ID_STEP = /\sid=["']b(\d+)-/;
const ERROR_TYPE = /\stype=["']error["']/;

function onMessage(stanza: string, arrivedUs: number): void {
  if (ERROR_TYPE.test(stanza)) {
    const st = stepState(Number(stanza.match(ID_STEP)?.[1] ?? -1));
    st.errors++;
    if (st.errorSamples.length < 3) st.errorSamples.push(stanza.slice(0, 600));
    return;
  }
  const m = stanza.match(MARK);
  if (!m) return;
  const st = stepState(Number(m[1]));
  st.received++;
  st.latencies.push((arrivedUs - Number(m[2])) / 1000);
}

/** Finds whole `<message>…</message>` stanzas in a stream without building any element. */
function scan(socket: Socket): void {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  socket.on('data', (chunk: Buffer) => {
    const arrived = nowUs();
    buf += decoder.write(chunk);
    let from = 0;
    for (;;) {
      const end = buf.indexOf('</message>', from);
      if (end < 0) break;
      const start = buf.lastIndexOf('<message', end);
      onMessage(buf.slice(start < from ? from : start, end), arrived);
      from = end + 10;
    }
    buf = buf.slice(from);
    // Anything else (presence, a ping) never ends in </message>; keep only a bounded tail.
    if (buf.length > 1 << 20) buf = buf.slice(-65536);
  });
}

const sockets: Socket[] = [];

async function login(service: string, domain: string, users: Array<{ name: string; password: string }>): Promise<void> {
  await Promise.all(
    users.map(async (u, i) => {
      const entity = client({ service, domain, username: u.name, password: u.password, resource: 'bench' });
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
      await entity.send(xml('presence'));
      const socket = entity.socket;
      if (!socket) throw new Error(`user ${u.name} has no socket after login`);
      socket.removeAllListeners('data');
      scan(socket);
      sockets[i] = socket;
    }),
  );
}

/** Sends `count` messages at `rate`/s round-robin over `routes`, one socket write per user per timer tick. */
function send(step: number, rate: number, count: number, routes: Array<{ from: number; to: string }>): Promise<{ sent: number; elapsedMs: number }> {
  calibrate();
  return new Promise((resolve) => {
    const t0 = performance.now();
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(count, Math.floor((rate * (performance.now() - t0)) / 1000));
      if (due > sent) {
        const ts = nowUs();
        const out = new Map<number, string>();
        for (; sent < due; sent++) {
          const r = routes[sent % routes.length]!;
          out.set(r.from, (out.get(r.from) ?? '') + `<message to='${r.to}' id='b${step}-${sent}' type='chat'><body>b${step} t${ts}</body></message>`);
        }
        for (const [from, data] of out) sockets[from]?.write(data);
      }
      if (sent < count) setTimeout(tick, 1);
      else resolve({ sent, elapsedMs: performance.now() - t0 });
    };
    tick();
  });
}

function stats(step: number): StepCounts {
  const s = stepState(step);
  return { received: s.received, errors: s.errors, errorSamples: s.errorSamples, latencyMs: summarize(s.latencies) };
}

async function handle(c: ClientCommand): Promise<unknown> {
  switch (c.cmd) {
    case 'login':
      return login(c.service, c.domain, c.users);
    case 'send':
      return send(c.step, c.rate, c.count, c.routes);
    case 'stats':
      return stats(c.step);
    case 'calibrate':
      return calibrate();
    case 'quit':
      for (const s of sockets) s?.destroy();
      setImmediate(() => process.exit(0));
      return undefined;
  }
}

// Only as the forked worker: bench/im.ts imports this module for its types and summarize().
if (process.send !== undefined && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  calibrate();
  process.on('message', (m: { seq: number } & ClientCommand) => {
    handle(m).then(
      (value) => process.send!({ seq: m.seq, ok: true, value } satisfies ClientReply),
      (err: unknown) => process.send!({ seq: m.seq, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies ClientReply),
    );
  });
  // The parent gone means the benchmark was interrupted: nothing left to measure for.
  process.on('disconnect', () => process.exit(0));
}
