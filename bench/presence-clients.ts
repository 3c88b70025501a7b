import type { Socket } from 'node:net';
import { calibrate, loginLoadUser, nowUs, paced, scanStanzas, serveCommands, summarize, type LatencySummary } from './xmpp-load-clients.js';

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

export type { LatencySummary } from './xmpp-load-clients.js';
export { summarize } from './xmpp-load-clients.js';

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

export type { LoadReply as PresenceClientReply } from './xmpp-load-clients.js';

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

const sockets: Array<Socket | undefined> = [];

async function login(service: string, domain: string, first: number, users: Array<{ name: string; password: string }>): Promise<void> {
  await Promise.all(
    users.map(async (u, i) => {
      const socket = await loginLoadUser(service, domain, u, { fetchRoster: true });
      scanStanzas(socket, 'presence', onPresence);
      sockets[first + i] = socket;
    }),
  );
}

/** Sends `count` directed presences at `rate`/s round-robin over `routes`, stamped with their send time. */
function send(step: number, rate: number, count: number, routes: Array<{ from: number; to: string }>): Promise<{ sent: number; elapsedMs: number }> {
  calibrate();
  return paced(sockets, rate, count, (i) => {
    const r = routes[i % routes.length]!;
    return { from: r.from, data: `<presence to='${r.to}'><show>dnd</show><status>b${step} t${nowUs()}</status></presence>` };
  }, { leadOne: true });
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
      return paced(sockets, c.rate, c.routes.length, (i) => {
        const r = c.routes[i]!;
        return { from: r.from, data: `<presence to='${r.to}' type='subscribe'/>` };
      }, { leadOne: true });
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
  serveCommands<PresenceClientCommand>(handle, (m) => {
    if (m.cmd === 'subscribe' || m.cmd === 'send') currentStep = m.step;
  });
}
