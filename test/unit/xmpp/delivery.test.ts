import xml from '@xmpp/xml';
import type { Element } from 'ltx';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../../src/ops/logging.js';
import { ComponentUnavailableError } from '../../../src/xmpp/component.js';
import { BARRIER_SPACING_MS, DeliveryTracker, stanzaErrorInfo, type DeliveryOutcome } from '../../../src/xmpp/delivery.js';

const STANZAS = 'urn:ietf:params:xml:ns:xmpp-stanzas';

/** Stands in for the component's socket: records what was sent, can refuse like an offline component. */
function fakeComponent() {
  const sent: Element[] = [];
  return {
    domain: 'sip.test',
    sent,
    online: true,
    send(el: Element): Promise<void> {
      if (!this.online) return Promise.reject(new ComponentUnavailableError('offline'));
      sent.push(el);
      return Promise.resolve();
    },
  };
}

const message = (id: string, to = 'romeo@xmpp.test') => xml('message', { id, to, from: 'alice@sip.test' }, xml('body', {}, 'hi'));
const bounce = (id: string, condition: string, text?: string) =>
  xml('message', { type: 'error', id, from: 'romeo@xmpp.test', to: 'alice@sip.test' }, xml('error', { type: 'cancel' }, xml(condition, { xmlns: STANZAS }), ...(text ? [xml('text', { xmlns: STANZAS }, text)] : [])));
const pong = (barrier: Element) => xml('iq', { type: 'result', id: barrier.attrs.id as string, from: barrier.attrs.to as string, to: 'sip.test' });

function settled<T>(p: Promise<T>): { value?: T } {
  const box: { value?: T } = {};
  void p.then((v) => (box.value = v));
  return box;
}

const flush = () => new Promise((r) => setImmediate(r));

describe('DeliveryTracker: no false success for S2X messages', () => {
  afterEach(() => vi.useRealTimers());

  it('sends a ping barrier to the recipient domain after the message and accepts when it returns', async () => {
    const c = fakeComponent();
    const t = new DeliveryTracker<string>(c, { confirmTimeoutMs: 1000, logger: silentLogger() });
    const out = settled(t.deliver(message('m1'), 'meta'));
    await flush();
    expect(c.sent.map((e) => e.name)).toEqual(['message', 'iq']);
    const barrier = c.sent[1]!;
    expect(barrier.attrs.to).toBe('xmpp.test');
    expect(barrier.getChild('ping', 'urn:xmpp:ping')).toBeDefined();
    expect(out.value).toBeUndefined();
    expect(t.handleIncoming(pong(barrier))).toBe(true);
    await flush();
    expect(out.value).toEqual<DeliveryOutcome>({ status: 'accepted', confirmed: true });
    expect(t.sizes).toEqual({ pending: 0, remembered: 1 });
  });

  it('a bounce that arrives before the barrier answer settles the message as bounced with the condition', async () => {
    const c = fakeComponent();
    const t = new DeliveryTracker<string>(c, { confirmTimeoutMs: 1000, logger: silentLogger() });
    const out = settled(t.deliver(message('m2'), 'meta'));
    await flush();
    expect(t.handleIncoming(bounce('m2', 'service-unavailable', 'no such user'))).toBe(true);
    t.handleIncoming(pong(c.sent[1]!));
    await flush();
    expect(out.value).toEqual({ status: 'bounced', error: { condition: 'service-unavailable', type: 'cancel', text: 'no such user' } });
  });

  it('the messages of one turn share a barrier; a later message gets its own without waiting for the first answer', async () => {
    vi.useFakeTimers();
    const c = fakeComponent();
    const t = new DeliveryTracker<number>(c, { confirmTimeoutMs: 1000, logger: silentLogger() });
    const a = settled(t.deliver(message('a'), 1));
    const b = settled(t.deliver(message('b'), 2));
    await vi.advanceTimersByTimeAsync(0);
    expect(c.sent.map((e) => e.name)).toEqual(['message', 'message', 'iq']);
    // A message a turn later: its barrier waits out the spacing, not the first barrier's answer.
    const d = settled(t.deliver(message('d'), 3));
    await vi.advanceTimersByTimeAsync(BARRIER_SPACING_MS - 1);
    expect(c.sent.map((e) => e.name)).toEqual(['message', 'message', 'iq', 'message']);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.sent.map((e) => e.name)).toEqual(['message', 'message', 'iq', 'message', 'iq']);
    // Answers settle exactly what each barrier covers.
    t.handleIncoming(pong(c.sent[4]!));
    await vi.advanceTimersByTimeAsync(0);
    expect([a.value, b.value, d.value?.status]).toEqual([undefined, undefined, 'accepted']);
    t.handleIncoming(pong(c.sent[2]!));
    await vi.advanceTimersByTimeAsync(0);
    expect([a.value?.status, b.value?.status]).toEqual(['accepted', 'accepted']);
    expect(t.sizes).toEqual({ pending: 0, remembered: 3 });
  });

  it('barriers are per recipient domain', async () => {
    const c = fakeComponent();
    const t = new DeliveryTracker<number>(c, { confirmTimeoutMs: 1000, logger: silentLogger() });
    void t.deliver(message('x', 'a@one.test'), 1);
    void t.deliver(message('y', 'b@two.test'), 2);
    await flush();
    expect(c.sent.filter((e) => e.name === 'iq').map((e) => e.attrs.to)).toEqual(['one.test', 'two.test']);
  });

  it('no barrier answer in time → accepted but unconfirmed (the stanza was handed to the server)', async () => {
    vi.useFakeTimers();
    const c = fakeComponent();
    const t = new DeliveryTracker<number>(c, { confirmTimeoutMs: 500, logger: silentLogger() });
    const out = settled(t.deliver(message('slow'), 1));
    await vi.advanceTimersByTimeAsync(499);
    expect(out.value).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(out.value).toEqual({ status: 'accepted', confirmed: false });
  });

  it('each barrier times out on its own: a later message is not held by an earlier slow barrier; a late answer is ignored', async () => {
    vi.useFakeTimers();
    const c = fakeComponent();
    const t = new DeliveryTracker<number>(c, { confirmTimeoutMs: 400, logger: silentLogger() });
    const first = settled(t.deliver(message('a'), 1));
    await vi.advanceTimersByTimeAsync(300);
    const later = settled(t.deliver(message('b'), 2));
    await vi.advanceTimersByTimeAsync(1);
    const barriers = c.sent.filter((e) => e.name === 'iq');
    expect(barriers).toHaveLength(2);
    // The later message's barrier comes back in time although the first one has not.
    t.handleIncoming(pong(barriers[1]!));
    await vi.advanceTimersByTimeAsync(0);
    expect([first.value, later.value]).toEqual([undefined, { status: 'accepted', confirmed: true }]);
    await vi.advanceTimersByTimeAsync(99);
    expect(first.value).toEqual({ status: 'accepted', confirmed: false });
    // Its answer after the timeout settles nothing twice and sends nothing.
    expect(t.handleIncoming(pong(barriers[0]!))).toBe(true);
    expect(t.sizes).toEqual({ pending: 0, remembered: 2 });
    expect(c.sent.filter((e) => e.name === 'iq')).toHaveLength(2);
  });

  it('a bounce after acceptance goes to onLateBounce with the message metadata, once', async () => {
    const c = fakeComponent();
    const t = new DeliveryTracker<string>(c, { confirmTimeoutMs: 1000, logger: silentLogger() });
    const late: Array<[string, string]> = [];
    t.onLateBounce((meta, err) => late.push([meta, err.condition]));
    void t.deliver(message('m3'), 'call-id-3');
    await flush();
    t.handleIncoming(pong(c.sent[1]!));
    await flush();
    expect(t.handleIncoming(bounce('m3', 'remote-server-timeout'))).toBe(true);
    expect(t.handleIncoming(bounce('m3', 'remote-server-timeout'))).toBe(false);
    expect(late).toEqual([['call-id-3', 'remote-server-timeout']]);
  });

  it('remembered messages are bounded: the oldest are forgotten first', async () => {
    const c = fakeComponent();
    const t = new DeliveryTracker<number>(c, { confirmTimeoutMs: 1000, logger: silentLogger(), maxRemembered: 2 });
    for (const id of ['r1', 'r2', 'r3']) {
      void t.deliver(message(id), 0);
      await flush();
      t.handleIncoming(pong(c.sent[c.sent.length - 1]!));
      await flush();
    }
    expect(t.sizes.remembered).toBe(2);
    expect(t.handleIncoming(bounce('r1', 'gone'))).toBe(false);
    expect(t.handleIncoming(bounce('r3', 'gone'))).toBe(true);
  });

  it('an offline component rejects delivery and tracks nothing', async () => {
    const c = fakeComponent();
    c.online = false;
    const t = new DeliveryTracker<number>(c, { confirmTimeoutMs: 1000, logger: silentLogger() });
    await expect(t.deliver(message('off'), 0)).rejects.toBeInstanceOf(ComponentUnavailableError);
    expect(t.sizes).toEqual({ pending: 0, remembered: 0 });
  });

  it('confirmTimeoutMs 0: no barrier; accepted unconfirmed once the socket took it, a later bounce still reported', async () => {
    const c = fakeComponent();
    const t = new DeliveryTracker<string>(c, { confirmTimeoutMs: 0, logger: silentLogger(), maxRemembered: 2 });
    const late: string[] = [];
    t.onLateBounce((meta, err) => late.push(`${meta}:${err.condition}`));
    await expect(t.deliver(message('z1'), 'call-1')).resolves.toEqual({ status: 'accepted', confirmed: false });
    await t.deliver(message('z2'), 'call-2');
    await t.deliver(message('z3'), 'call-3');
    expect(c.sent.map((e) => e.name)).toEqual(['message', 'message', 'message']);
    expect(t.sizes).toEqual({ pending: 0, remembered: 2 });
    expect(t.handleIncoming(bounce('z1', 'item-not-found'))).toBe(false);
    expect(t.handleIncoming(bounce('z3', 'item-not-found'))).toBe(true);
    expect(late).toEqual(['call-3:item-not-found']);
  });

  it('a message the socket loses after it was tracked is refused, not counted as handed over by its barrier', async () => {
    const c = fakeComponent();
    const lost = new ComponentUnavailableError('socket closed');
    const send = c.send.bind(c);
    // The message's write fails and so does the barrier's behind it, in that order (as socket callbacks run).
    c.send = (el: Element) => (el.name === 'message' ? flush().then(() => Promise.reject(lost)) : flush().then(() => flush()).then(() => send(el)).then(() => Promise.reject(lost)));
    const t = new DeliveryTracker<number>(c, { confirmTimeoutMs: 1000, logger: silentLogger() });
    await expect(t.deliver(message('gone1'), 0)).rejects.toBe(lost);
    await flush();
    await flush();
    expect(t.sizes).toEqual({ pending: 0, remembered: 0 });
  });

  it('ignores stanzas that are neither its bounces nor its barrier answers', () => {
    const t = new DeliveryTracker<number>(fakeComponent(), { confirmTimeoutMs: 1000, logger: silentLogger() });
    expect(t.handleIncoming(xml('message', { id: 'foreign', from: 'a@b', to: 'c@d' }, xml('body', {}, 'x')))).toBe(false);
    expect(t.handleIncoming(bounce('unknown-id', 'gone'))).toBe(false);
  });

  it('stanzaErrorInfo reads condition, type, text and the address of <gone/> (RFC 6120 §8.3.3.5)', () => {
    const el = xml('message', { type: 'error' }, xml('error', { type: 'cancel' }, xml('gone', { xmlns: STANZAS }, 'xmpp:new@example.com'), xml('text', { xmlns: STANZAS }, 'moved')));
    expect(stanzaErrorInfo(el)).toEqual({ condition: 'gone', type: 'cancel', address: 'xmpp:new@example.com', text: 'moved' });
  });

  it('refuses past maxPending with ComponentUnavailableError (503 upstream) and takes messages again once settled', async () => {
    const c = fakeComponent();
    const t = new DeliveryTracker<string>(c, { confirmTimeoutMs: 1000, maxPending: 2, logger: silentLogger() });
    const first = settled(t.deliver(message('p1'), 'a'));
    const second = settled(t.deliver(message('p2'), 'b'));
    await expect(t.deliver(message('p3'), 'c')).rejects.toBeInstanceOf(ComponentUnavailableError);
    await flush();
    expect(c.sent.filter((e) => e.name === 'message').map((e) => e.attrs.id)).toEqual(['p1', 'p2']);
    // One barrier in flight per domain: answering it sends the next one, for the message sent meanwhile.
    for (let answered = 0; t.sizes.pending > 0 && answered < 3; answered++) {
      t.handleIncoming(pong(c.sent.filter((e) => e.name === 'iq').at(-1)!));
      await flush();
    }
    expect(first.value?.status).toBe('accepted');
    expect(second.value?.status).toBe('accepted');
    expect(t.sizes.pending).toBe(0);
    const again = settled(t.deliver(message('p4'), 'd'));
    await flush();
    expect(c.sent.some((e) => e.attrs.id === 'p4')).toBe(true);
    expect(again.value).toBeUndefined();
  });
});
