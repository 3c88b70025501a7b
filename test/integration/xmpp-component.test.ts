import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger, type Logger } from '../../src/ops/logging.js';
import { VERSION } from '../../src/version.js';
import { capsVer } from '../../src/xmpp/caps.js';
import { ComponentUnavailableError, StanzaAddressError, XmppComponent, type ComponentState } from '../../src/xmpp/component.js';
import { NS_DISCO_INFO, NS_DISCO_ITEMS, parseDiscoInfo } from '../../src/xmpp/service-discovery.js';
import { stopAll } from '../helpers/processes.js';
import { startProsody, type ProsodyInstance } from '../helpers/prosody.js';
import { connectClient, type TestClient } from '../helpers/xmpp-client.js';

// XEP-0114 against a real Prosody 0.12: handshake, built-in answers to a real client, both directions of
// stanza flow, the server going away and coming back, and a refused secret.

const COMPONENT = 'sip.test';
const SECRET = 'component-secret';
const FEATURES = ['urn:xmpp:receipts', 'http://jabber.org/protocol/chatstates'];
const CLAIMED_NS = 'urn:example:stox-claimed';

interface LogLine {
  level: number;
  msg: string;
  component?: string;
  [k: string]: unknown;
}

function capturingLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  return { logger: createLogger('debug', sink), lines };
}

async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function kSetNoDelay(socket: Socket): unknown {
  // Node keeps the last value given to setNoDelay under this internal symbol (lib/net.js); there is no getter.
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kSetNoDelay');
  return sym === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[sym];
}

describe('XmppComponent against real Prosody (XEP-0114)', () => {
  let prosody: ProsodyInstance;
  let comp: XmppComponent;
  let log: LogLine[];
  const states: ComponentState[] = [];
  const incoming: Element[] = [];
  const clients: TestClient[] = [];
  const components: XmppComponent[] = [];
  const noDelaySpy = vi.spyOn(Socket.prototype, 'setNoDelay');

  const alice = async (): Promise<TestClient> => {
    const c = await connectClient({
      service: `xmpp://127.0.0.1:${prosody.c2sPort}`,
      domain: prosody.domain,
      username: 'alice',
      password: 'alicepw',
      presence: true,
    });
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    prosody = await startProsody({ components: [{ domain: COMPONENT, secret: SECRET }, { domain: 'refused.test', secret: 'right' }] });
    await prosody.register('alice', 'alicepw');
    const cap = capturingLogger();
    log = cap.lines;
    comp = new XmppComponent({
      server: `tcp://127.0.0.1:${prosody.componentPort}`,
      domain: COMPONENT,
      secret: SECRET,
      logger: cap.logger,
      backoff: { initialMs: 100, maxMs: 1_000 },
      builtins: { features: FEATURES, iqNamespaces: [CLAIMED_NS] },
    });
    components.push(comp);
    comp.onStateChange((s) => states.push(s));
    comp.onStanza((s) => incoming.push(s));
    await comp.start();
    await comp.whenOnline(10_000);
  });

  afterAll(async () => {
    noDelaySpy.mockRestore();
    await Promise.allSettled(components.map((c) => c.stop()));
    await Promise.allSettled(clients.map((c) => c.stop()));
    await prosody?.dispose();
    await stopAll();
  });

  it('comes online, logs it once with component "xmpp", and sets TCP_NODELAY on its socket', () => {
    expect(comp.state).toBe('online');
    expect(comp.connected).toBe(true);
    expect(states).toEqual(['connecting', 'online']);
    expect(log.filter((l) => l.msg === 'online' && l.component === 'xmpp')).toHaveLength(1);
    const sockets = noDelaySpy.mock.contexts.filter((s): s is Socket => s instanceof Socket && s.remotePort === prosody.componentPort);
    expect(sockets.length).toBeGreaterThan(0);
    expect(kSetNoDelay(sockets[0]!)).toBe(true);
  });

  it('XEP-0030: disco#info on the component JID gives the gateway/sip identity and the features', async () => {
    const c = await alice();
    const res = await c.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('query', { xmlns: NS_DISCO_INFO })));
    expect(res.attrs.type).toBe('result');
    expect(res.attrs.from).toBe(COMPONENT);
    const info = parseDiscoInfo(res.getChild('query', NS_DISCO_INFO)!);
    expect(info.identities).toEqual([{ category: 'gateway', type: 'sip', name: 'Stox SIP gateway' }]);
    expect(info.features).toEqual(expect.arrayContaining([NS_DISCO_INFO, NS_DISCO_ITEMS, 'urn:xmpp:ping', 'jabber:iq:version', ...FEATURES]));
  });

  it('XEP-0030/0115: user JIDs answer as account (bare) and client (full); the caps node verifies', async () => {
    const c = await alice();
    const bare = await c.iq(xml('iq', { type: 'get', to: `bob@${COMPONENT}` }, xml('query', { xmlns: NS_DISCO_INFO })));
    expect(bare.attrs.type).toBe('result');
    expect(parseDiscoInfo(bare.getChild('query', NS_DISCO_INFO)!).identities).toEqual([{ category: 'account', type: 'registered' }]);

    const full = await c.iq(xml('iq', { type: 'get', to: `bob@${COMPONENT}/phone` }, xml('query', { xmlns: NS_DISCO_INFO })));
    const fullInfo = parseDiscoInfo(full.getChild('query', NS_DISCO_INFO)!);
    expect(fullInfo.identities).toEqual([{ category: 'client', type: 'pc' }]);
    expect(fullInfo.features).toEqual(expect.arrayContaining(['http://jabber.org/protocol/caps', ...FEATURES]));

    // What a caps-verifying client does with the <c/> from presence (XEP-0115 §5.4).
    const caps = comp.discovery.userCaps();
    const node = `${caps.attrs.node as string}#${caps.attrs.ver as string}`;
    const byNode = await c.iq(xml('iq', { type: 'get', to: `bob@${COMPONENT}/phone` }, xml('query', { xmlns: NS_DISCO_INFO, node })));
    const q = byNode.getChild('query', NS_DISCO_INFO)!;
    expect(q.attrs.node).toBe(node);
    expect(capsVer(parseDiscoInfo(q))).toBe(caps.attrs.ver);

    const unknownNode = await c.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('query', { xmlns: NS_DISCO_INFO, node: 'nope' })));
    expect(unknownNode.attrs.type).toBe('error');
    expect(unknownNode.getChild('error')?.getChild('item-not-found')).toBeDefined();
  });

  it('XEP-0030 disco#items is an empty result', async () => {
    const c = await alice();
    const res = await c.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('query', { xmlns: NS_DISCO_ITEMS })));
    expect(res.attrs.type).toBe('result');
    expect(res.getChild('query', NS_DISCO_ITEMS)?.getChildElements()).toEqual([]);
  });

  it('XEP-0199 ping on the component and on a user JID → result', async () => {
    const c = await alice();
    for (const to of [COMPONENT, `bob@${COMPONENT}`]) {
      const res = await c.iq(xml('iq', { type: 'get', to }, xml('ping', { xmlns: 'urn:xmpp:ping' })));
      expect(res.attrs.type, to).toBe('result');
    }
  });

  it('XEP-0092 version: Stox and its version on the component; service-unavailable on a user JID', async () => {
    const c = await alice();
    const res = await c.iq(xml('iq', { type: 'get', to: COMPONENT }, xml('query', { xmlns: 'jabber:iq:version' })));
    expect(res.attrs.type).toBe('result');
    expect(res.getChild('query', 'jabber:iq:version')?.getChildText('name')).toBe('Stox');
    expect(res.getChild('query', 'jabber:iq:version')?.getChildText('version')).toBe(VERSION);
    const user = await c.iq(xml('iq', { type: 'get', to: `bob@${COMPONENT}` }, xml('query', { xmlns: 'jabber:iq:version' })));
    expect(user.attrs.type).toBe('error');
    expect(user.getChild('error')?.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
  });

  it('RFC 6120 §8.4: an unknown iq get → exactly one service-unavailable; a claimed namespace reaches onStanza', async () => {
    const c = await alice();
    const res = await c.iq(xml('iq', { type: 'get', to: `bob@${COMPONENT}`, id: 'unk1' }, xml('vCard', { xmlns: 'vcard-temp' })));
    expect(res.attrs.type).toBe('error');
    expect(res.getChild('error')?.attrs.type).toBe('cancel');
    expect(res.getChild('error')?.getChild('service-unavailable', 'urn:ietf:params:xml:ns:xmpp-stanzas')).toBeDefined();
    // A second answer would mean xmpp.js's own iq callee is still wired in.
    await expect(c.next((s) => s.attrs.id === 'unk1', 300)).rejects.toThrow(/no matching stanza/);
    expect(incoming.some((s) => s.attrs.id === 'unk1')).toBe(false);

    await c.send(xml('iq', { type: 'set', to: `bob@${COMPONENT}`, id: 'claimed1' }, xml('q', { xmlns: CLAIMED_NS })));
    await until(() => incoming.some((s) => s.attrs.id === 'claimed1'), 2_000, 'the claimed iq at onStanza');
    await expect(c.next((s) => s.attrs.id === 'claimed1', 300)).rejects.toThrow(/no matching stanza/);
  });

  it('a message from a client reaches onStanza; one from user@component reaches the client', async () => {
    const c = await alice();
    await c.send(xml('message', { to: `bob@${COMPONENT}`, type: 'chat', id: 'm-in-1' }, xml('body', {}, 'hi bob')));
    await until(() => incoming.some((s) => s.attrs.id === 'm-in-1'), 2_000, 'message at onStanza');
    const got = incoming.find((s) => s.attrs.id === 'm-in-1')!;
    expect(got.attrs.from).toBe(c.jid);
    expect(got.getChildText('body')).toBe('hi bob');

    await comp.send(xml('message', { from: `bob@${COMPONENT}/phone`, to: c.jid, type: 'chat', id: 'm-out-1' }, xml('body', {}, 'hi alice')));
    const msg = await c.next((s) => s.name === 'message' && s.attrs.id === 'm-out-1');
    expect(msg.attrs.from).toBe(`bob@${COMPONENT}/phone`);
    expect(msg.getChildText('body')).toBe('hi alice');
  });

  it('XEP-0114 §3: refuses to send a stanza without from/to or from outside its domain, and stays online', async () => {
    await expect(comp.send(xml('message', { to: 'alice@xmpp.test' }, xml('body', {}, 'x')))).rejects.toBeInstanceOf(StanzaAddressError);
    await expect(comp.send(xml('message', { from: `bob@${COMPONENT}` }, xml('body', {}, 'x')))).rejects.toBeInstanceOf(StanzaAddressError);
    await expect(comp.send(xml('message', { from: 'bob@xmpp.test', to: 'alice@xmpp.test' }))).rejects.toBeInstanceOf(StanzaAddressError);
    expect(comp.state).toBe('online');
  });

  it('a refused secret (not-authorized): stays offline, logs one error, retries with backoff and never spins', async () => {
    const cap = capturingLogger();
    const bad = new XmppComponent({
      server: `tcp://127.0.0.1:${prosody.componentPort}`,
      domain: 'refused.test',
      secret: 'wrong',
      logger: cap.logger,
      backoff: { initialMs: 200, maxMs: 30_000 },
      random: () => 0.5, // delays 150, 250, 450, 850 ms: attempts at ≈ 0, 150, 400, 850, 1700 ms
    });
    components.push(bad);
    const badStates: ComponentState[] = [];
    bad.onStateChange((s) => badStates.push(s));
    const started = performance.now();
    await bad.start();
    await new Promise((r) => setTimeout(r, 2_000));
    const attempts = cap.lines.filter((l) => l.msg === 'connecting');
    const elapsed = performance.now() - started;
    await bad.stop();

    expect(badStates.includes('online')).toBe(false);
    expect(badStates.slice(0, 2)).toEqual(['connecting', 'offline']);
    const errors = cap.lines.filter((l) => l.level >= 50);
    expect(errors, JSON.stringify(cap.lines)).toHaveLength(1);
    expect(errors[0]).toMatchObject({ component: 'xmpp', condition: 'not-authorized' });
    expect(attempts.length, `attempts in ${Math.round(elapsed)} ms`).toBeGreaterThanOrEqual(3);
    expect(attempts.length).toBeLessThanOrEqual(6);
    const times = attempts.map((l) => l.time as number);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(100);
    expect(badStates.at(-1)).toBe('stopped');
  });

  it('Prosody stops → offline, send rejects at once; Prosody restarts → back online by itself, messages flow', async () => {
    for (const c of clients.splice(0)) await c.stop();
    const offlineLogsBefore = log.filter((l) => l.msg === 'offline, retrying').length;

    let offlineAt = 0;
    comp.onStateChange((st) => {
      if (st === 'offline' && offlineAt === 0) offlineAt = performance.now();
    });
    const stopping = performance.now();
    await prosody.stop();
    await until(() => comp.state === 'offline', 2_000, 'state offline');
    console.info(`component offline ${Math.round(offlineAt - stopping)} ms after SIGTERM to Prosody`);
    const t0 = performance.now();
    await expect(comp.send(xml('message', { from: `bob@${COMPONENT}`, to: 'alice@xmpp.test' }))).rejects.toBeInstanceOf(ComponentUnavailableError);
    expect(performance.now() - t0).toBeLessThan(50);

    // Let it fail a few reconnects against a closed port: one warn line, the rest debug.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(comp.state).toBe('offline');
    expect(log.filter((l) => l.msg === 'offline, retrying').length - offlineLogsBefore, JSON.stringify(log.slice(-12))).toBe(1);
    expect(log.filter((l) => l.msg === 'attempt failed, retrying' && l.level === 20).length).toBeGreaterThan(0);

    await prosody.restart();
    const restarted = performance.now();
    await comp.whenOnline(5_000);
    const reconnectMs = performance.now() - restarted;
    // maxMs is 1 000, so the retry after the server came back is at most ~1 s away.
    expect(reconnectMs).toBeLessThan(2_000);
    console.info(`component back online ${Math.round(reconnectMs)} ms after Prosody accepted connections again`);

    const c = await alice();
    await comp.send(xml('message', { from: `bob@${COMPONENT}`, to: c.jid, type: 'chat', id: 'm-out-2' }, xml('body', {}, 'again')));
    const msg = await c.next((s) => s.name === 'message' && s.attrs.id === 'm-out-2');
    expect(msg.getChildText('body')).toBe('again');
    expect(states.slice(-2)).toEqual(['offline', 'online']);
  });
});
