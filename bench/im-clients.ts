import type { Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import { calibrate, loginLoadUser, nowUs, paced, scanStanzas, serveCommands, summarize, type LatencySummary } from './xmpp-load-clients.js';

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

export type { LatencySummary, LoadReply as ClientReply } from './xmpp-load-clients.js';
export { summarize } from './xmpp-load-clients.js';

export interface StepCounts {
  received: number;
  errors: number;
  errorSamples: string[];
  /** One-way latency in ms, from the body's send stamp to the arrival of the bytes here. */
  latencyMs: LatencySummary;
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

const sockets: Socket[] = [];

async function login(service: string, domain: string, users: Array<{ name: string; password: string }>): Promise<void> {
  await Promise.all(
    users.map(async (u, i) => {
      const socket = await loginLoadUser(service, domain, u);
      scanStanzas(socket, 'message', onMessage);
      sockets[i] = socket;
    }),
  );
}

/** Sends `count` messages at `rate`/s round-robin over `routes`, one socket write per user per timer tick. */
function send(step: number, rate: number, count: number, routes: Array<{ from: number; to: string }>): Promise<{ sent: number; elapsedMs: number }> {
  calibrate();
  return paced(sockets, rate, count, (i) => {
    const r = routes[i % routes.length]!;
    return { from: r.from, data: `<message to='${r.to}' id='b${step}-${i}' type='chat'><body>b${step} t${nowUs()}</body></message>` };
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
if (process.send !== undefined && process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) serveCommands(handle);
