import { client, xml } from '@xmpp/client';
import type { Socket } from 'node:net';
import { StringDecoder } from 'node:string_decoder';
import type { Element } from 'ltx';

/**
 * The presence benchmark's XMPP users, in a process of their own so their work never shares Stox's
 * event loop (bench/presence.ts forks this file and drives it over IPC). Users log in with @xmpp/client
 * (SASL PLAIN, peers.md), send their initial presence and fetch their roster (RFC 6121 §2.1.6: only an
 * "interested" resource is told about `subscribed`); after that each socket is read by a scanner that
 * only finds whole `<presence>` stanzas and the marker in their `<status>`, and stanzas are written as
 * pre-built strings, so the clients' own parsing takes no CPU from Prosody and Stox on this 2-core machine.
 *
 * Markers: `b<step> t<µs>` (a presence of the load, sent at that wall-clock time) or `b<step> init` (the
 * first presence of a new subscription, from the initial NOTIFY).
 */

export type PresenceClientCommand =
  /** Users log in as numbers `first`, `first + 1`, …: the `from` of routes. */
  | { cmd: 'login'; service: string; domain: string; first: number; users: Array<{ name: string; password: string }> }
  | { cmd: 'logout'; first: number; count: number }
  | { cmd: 'subscribe'; step: number; rate: number; routes: Array<{ from: number; to: string }> }
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

export interface PresenceStepCounts {
  /** Presences of the load (marker with a send time). */
  received: number;
  /** First presences of new subscriptions. */
  init: number;
  errors: number;
  errorSamples: string[];
  /** One-way latency in ms, from the marker's send time to the arrival of the bytes here. */
  latencyMs: LatencySummary;
  /** Earliest and latest send time (µs) among the presences received: the span the sender needed. */
  firstSentUs: number;
  lastSentUs: number;
}

export type PresenceClientReply = { seq: number; ok: true; value?: unknown } | { seq: number; ok: false; error: string };

/** p50/p90/p99/max of `values`. */
export function summarize(values: number[] | Float64Array): LatencySummary {
  const v = Float64Array.from(values).sort();
  const at = (q: number): number => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(q * v.length))]!);
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { n: v.length, p50: r(at(0.5)), p90: r(at(0.9)), p99: r(at(0.99)), max: r(v.length === 0 ? NaN : v[v.length - 1]!) };
}

/**
 * Wall-clock microseconds with sub-millisecond resolution: Date.now() floors to the millisecond, so its
 * offset to the monotonic clock is read many times and the largest reading kept (the one right after a
 * tick); redone before each step so the two clocks cannot drift apart. sipp's <gettimeofday/> reads the same clock.
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
  init: number;
  errors: number;
  errorSamples: string[];
  latencies: number[];
  firstSentUs: number;
  lastSentUs: number;
}

const steps = new Map<number, StepState>();
function stepState(step: number): StepState {
  let s = steps.get(step);
  if (!s) {
    s = { received: 0, init: 0, errors: 0, errorSamples: [], latencies: [], firstSentUs: Infinity, lastSentUs: -Infinity };
    steps.set(step, s);
  }
  return s;
}

const MARK = /b(\d+) (?:t(\d+)|init)/;
const ERROR_TYPE = /^<presence[^>]*\stype=["']error["']/;
/** Errors are counted in the step they arrive during (an error stanza carries no marker). */
let currentStep = 0;

function onPresence(stanza: string, arrivedUs: number): void {
  if (ERROR_TYPE.test(stanza)) {
    const st = stepState(currentStep);
    st.errors++;
    if (st.errorSamples.length < 3) st.errorSamples.push(stanza.slice(0, 600));
    return;
  }
  const m = MARK.exec(stanza);
  if (!m) return;
  const st = stepState(Number(m[1]));
  if (m[2] === undefined) {
    st.init++;
    return;
  }
  const sent = Number(m[2]);
  st.received++;
  st.latencies.push((arrivedUs - sent) / 1000);
  if (sent < st.firstSentUs) st.firstSentUs = sent;
  if (sent > st.lastSentUs) st.lastSentUs = sent;
}

/** Finds whole `<presence>…</presence>` stanzas in a stream without building any element. */
function scan(socket: Socket): void {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  socket.on('data', (chunk: Buffer) => {
    const arrived = nowUs();
    buf += decoder.write(chunk);
    let from = 0;
    for (;;) {
      const end = buf.indexOf('</presence>', from);
      if (end < 0) break;
      const start = buf.lastIndexOf('<presence', end);
      onPresence(buf.slice(start < from ? from : start, end), arrived);
      from = end + 11;
    }
    buf = buf.slice(from);
    // Anything else (roster pushes, self-closed presences) never ends in </presence>; keep a bounded tail.
    if (buf.length > 1 << 20) buf = buf.slice(-65536);
  });
}

const sockets: Array<Socket | undefined> = [];

async function login(service: string, domain: string, first: number, users: Array<{ name: string; password: string }>): Promise<void> {
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
      await entity.iqCaller.request(xml('iq', { type: 'get' }, xml('query', { xmlns: 'jabber:iq:roster' })));
      await entity.send(xml('presence'));
      const socket = entity.socket;
      if (!socket) throw new Error(`user ${u.name} has no socket after login`);
      socket.removeAllListeners('data');
      scan(socket);
      sockets[first + i] = socket;
    }),
  );
}

function writeGrouped(items: Array<{ from: number; data: string }>): void {
  const out = new Map<number, string>();
  for (const it of items) out.set(it.from, (out.get(it.from) ?? '') + it.data);
  for (const [from, data] of out) sockets[from]?.write(data);
}

/** Writes `count` stanzas at `rate`/s, one socket write per user per timer tick. */
function paced(rate: number, count: number, stanza: (i: number) => { from: number; data: string }): Promise<{ sent: number; elapsedMs: number }> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    let sent = 0;
    const tick = (): void => {
      const due = Math.min(count, Math.floor((rate * (performance.now() - t0)) / 1000) + 1);
      const items: Array<{ from: number; data: string }> = [];
      for (; sent < due; sent++) items.push(stanza(sent));
      if (items.length > 0) writeGrouped(items);
      if (sent < count) setTimeout(tick, 1);
      else resolve({ sent, elapsedMs: performance.now() - t0 });
    };
    tick();
  });
}

/** Sends `count` directed presences at `rate`/s round-robin over `routes`, stamped with their send time. */
function send(step: number, rate: number, count: number, routes: Array<{ from: number; to: string }>): Promise<{ sent: number; elapsedMs: number }> {
  calibrate();
  return paced(rate, count, (i) => {
    const r = routes[i % routes.length]!;
    return { from: r.from, data: `<presence to='${r.to}'><show>dnd</show><status>b${step} t${nowUs()}</status></presence>` };
  });
}

function stats(step: number): PresenceStepCounts {
  const s = stepState(step);
  return {
    received: s.received,
    init: s.init,
    errors: s.errors,
    errorSamples: s.errorSamples,
    latencyMs: summarize(s.latencies),
    firstSentUs: s.firstSentUs,
    lastSentUs: s.lastSentUs,
  };
}

async function handle(c: PresenceClientCommand): Promise<unknown> {
  switch (c.cmd) {
    case 'login':
      return login(c.service, c.domain, c.first, c.users);
    case 'logout':
      for (let i = c.first; i < c.first + c.count; i++) {
        sockets[i]?.end('</stream:stream>');
        sockets[i] = undefined;
      }
      return undefined;
    case 'subscribe':
      return paced(c.rate, c.routes.length, (i) => {
        const r = c.routes[i]!;
        return { from: r.from, data: `<presence to='${r.to}' type='subscribe'/>` };
      });
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

if (process.send !== undefined) {
  calibrate();
  process.on('message', (m: { seq: number } & PresenceClientCommand) => {
    if (m.cmd === 'subscribe' || m.cmd === 'send') currentStep = m.step;
    handle(m).then(
      (value) => process.send!({ seq: m.seq, ok: true, value } satisfies PresenceClientReply),
      (err: unknown) => process.send!({ seq: m.seq, ok: false, error: err instanceof Error ? err.message : String(err) } satisfies PresenceClientReply),
    );
  });
  // The parent gone means the benchmark was interrupted: nothing left to measure for.
  process.on('disconnect', () => process.exit(0));
}
