/**
 * One XEP-0114 external-component connection to the XMPP server, kept up for the life of the gateway.
 *
 * xmpp.js provides the handshake and the stream; everything about staying connected is done here, because
 * @xmpp/reconnect re-dials at a fixed 1 s forever and cannot tell a refused secret from a dead server. Each
 * attempt gets a fresh xmpp.js entity, so no state of a broken stream (half-open socket, pending promises,
 * parser) can leak into the next one.
 */
import type { Socket } from 'node:net';
import { component as createEntity, type ComponentEntity, type XmppError } from '@xmpp/component';
import type { Element } from 'ltx';
import type { Logger } from '../ops/logging.js';
import { backoffDelay, backoffSchedule, type BackoffOptions, type BackoffSchedule } from './backoff.js';
import { Builtins, type BuiltinsConfig } from './builtins.js';

export type ComponentState = 'connecting' | 'online' | 'offline' | 'stopped';

export interface ComponentOptions {
  /** `tcp://host:port` (or `xmpp://`, or bare `host:port`); the port defaults to 5347. */
  server: string;
  domain: string;
  secret: string;
  logger: Logger;
  backoff?: BackoffOptions & {
    /**
     * A connection must stay online this long before the backoff starts again from `initialMs`; a server
     * that accepts the handshake and then drops us straight away keeps backing off instead of being
     * hammered. Default 10 000.
     */
    resetAfterMs?: number;
  };
  /** Jitter source, [0, 1); injectable for tests. */
  random?: () => number;
  /** The queries answered without involving the caller; see builtins.ts. Default: no extra features. */
  builtins?: BuiltinsConfig;
  /** Longest one attempt (TCP connect, stream open, handshake) may take before it counts as failed. Default 10 000. */
  attemptTimeoutMs?: number;
  /**
   * Bytes that may sit unsent in the socket's buffer before `send` refuses with ComponentUnavailableError.
   * Default 8 MiB. Bounds memory when the server stops reading.
   */
  maxBufferedBytes?: number;
}

interface Outbox {
  socket: Socket;
  text: string;
  /** One per stanza in `text`, told when the socket has taken it (or failed). */
  waiters: Array<(err?: Error | null) => void>;
}

/** The component cannot take a stanza now (not connected, stopping, or the server is not reading). */
export class ComponentUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ComponentUnavailableError';
  }
}

/** A stanza that the server would answer with a stream error, which would take the whole connection down. */
export class StanzaAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StanzaAddressError';
  }
}

const STANZA_NAMES = new Set(['message', 'presence', 'iq']);
const MAX_EARLY_STANZAS = 1000;
const STOP_GRACE_MS = 2_000;

/** xmpp.js's connection-tcp only accepts `xmpp:` URIs; operators write `tcp://`. */
export function componentServiceUri(server: string): string {
  const withScheme = server.includes('://') ? server : `tcp://${server}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`component server is not a URI: ${server}`);
  }
  if (url.protocol !== 'tcp:' && url.protocol !== 'xmpp:') {
    throw new TypeError(`component server must be tcp://host:port, got ${server}`);
  }
  if (url.hostname === '') throw new TypeError(`component server has no host: ${server}`);
  return `xmpp://${url.hostname}:${url.port === '' ? '5347' : url.port}`;
}

function describeError(err: unknown): { key: string; text: string; condition?: string } {
  const e = err as Partial<XmppError> & { code?: unknown };
  if (typeof e?.condition === 'string') return { key: `stream:${e.condition}`, text: e.message ?? e.condition, condition: e.condition };
  if (typeof e?.code === 'string') return { key: `code:${e.code}`, text: e.message ?? e.code };
  const text = err instanceof Error ? err.message : String(err);
  return { key: `msg:${text}`, text };
}

export class XmppComponent {
  readonly domain: string;
  private readonly service: string;
  private readonly secret: string;
  private readonly log: Logger;
  private readonly schedule: BackoffSchedule;
  private readonly resetAfterMs: number;
  private readonly random: () => number;
  private readonly attemptTimeoutMs: number;
  private readonly maxBufferedBytes: number;
  private readonly builtins: Builtins;

  private _state: ComponentState = 'offline';
  private running = false;
  /** The entity of the attempt or connection in progress; anything another entity emits is stale. */
  private entity: ComponentEntity | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private attemptTimer: NodeJS.Timeout | undefined;
  private stableTimer: NodeJS.Timeout | undefined;
  /** Consecutive attempts that did not lead to a stable connection; drives the backoff. */
  private failures = 0;
  /** The stream refusal last logged at error level, so a server that keeps refusing is logged once, not per attempt. */
  private lastLoggedCause: string | undefined;
  private readonly stanzaHandlers: Array<(stanza: Element) => void> = [];
  /** Stanzas written during this event-loop turn, to go out as one socket write at its end. */
  private outbox: Outbox | undefined;
  private readonly stateHandlers: Array<(state: ComponentState) => void> = [];

  constructor(opts: ComponentOptions) {
    this.domain = opts.domain;
    this.service = componentServiceUri(opts.server);
    this.secret = opts.secret;
    this.log = opts.logger.child({ component: 'xmpp', domain: opts.domain });
    this.schedule = backoffSchedule(opts.backoff);
    this.resetAfterMs = opts.backoff?.resetAfterMs ?? 10_000;
    this.random = opts.random ?? Math.random;
    this.attemptTimeoutMs = opts.attemptTimeoutMs ?? 10_000;
    this.maxBufferedBytes = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.builtins = new Builtins(opts.builtins ?? { features: [] });
  }

  get state(): ComponentState {
    return this._state;
  }

  get connected(): boolean {
    return this._state === 'online';
  }

  /** The built-in responders, e.g. for `userCaps()` in presence the caller sends. */
  get discovery(): Builtins {
    return this.builtins;
  }

  /** Starts connecting and returns at once; the connection then keeps itself up until `stop()`. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.failures = 0;
    this.lastLoggedCause = undefined;
    this.setState('connecting');
    this.attempt();
  }

  /** Resolves when online (at once if already); rejects after `timeoutMs` or if the component is stopped. */
  whenOnline(timeoutMs = 10_000): Promise<void> {
    if (this._state === 'online') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onState = (state: ComponentState): void => {
        if (state === 'online') {
          done();
          resolve();
        } else if (state === 'stopped') {
          done();
          reject(new ComponentUnavailableError('component stopped before it came online'));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new ComponentUnavailableError(`component not online after ${timeoutMs} ms (state ${this._state})`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        const i = this.stateHandlers.indexOf(onState);
        if (i >= 0) this.stateHandlers.splice(i, 1);
      };
      this.stateHandlers.push(onState);
    });
  }

  /** Closes the stream cleanly (`</stream:stream>`, waiting briefly for the server's) and never reconnects. */
  async stop(): Promise<void> {
    if (!this.running && this._state === 'stopped') return;
    this.running = false;
    this.clearTimers();
    const entity = this.entity;
    this.entity = undefined;
    // What this turn wrote goes out before the stream's end, not after it.
    if (this.outbox) this.flush(this.outbox);
    if (entity !== undefined) {
      if (entity.status === 'online') {
        // xmpp.js waits up to 2 s for the server's </stream:stream> and 2 s more for the TCP close; a
        // shutdown should not hang on a server that stopped answering.
        let timer: NodeJS.Timeout | undefined;
        const gaveUp = new Promise<void>((resolve) => (timer = setTimeout(resolve, STOP_GRACE_MS)));
        try {
          await Promise.race([entity.stop(), gaveUp]);
        } catch (err) {
          this.log.debug({ err: describeError(err).text }, 'closing the stream failed; dropping the socket');
        } finally {
          clearTimeout(timer);
        }
      }
      this.discard(entity);
    }
    this.log.info('stopped');
    this.setState('stopped');
  }

  /**
   * Writes a stanza to the server. Resolves once the socket has taken it; rejects with
   * ComponentUnavailableError when not online or when the server is not reading (the caller answers the
   * sender with a 503-style error rather than queueing), and with StanzaAddressError for a stanza without
   * `from`/`to` or with a `from` outside this component's domain (XEP-0114 §3: the server would kill the stream).
   */
  send(stanza: Element): Promise<void> {
    try {
      this.checkAddresses(stanza);
    } catch (err) {
      return Promise.reject(err);
    }
    const entity = this.entity;
    const socket = entity?.socket;
    if (this._state !== 'online' || entity === undefined || entity.status !== 'online' || !socket) {
      return Promise.reject(new ComponentUnavailableError(`component ${this.domain} is ${this._state}`));
    }
    const unsent = socket.writableLength + (this.outbox?.socket === socket ? this.outbox.text.length : 0);
    if (unsent > this.maxBufferedBytes) {
      return Promise.reject(new ComponentUnavailableError(`component ${this.domain} is congested (${unsent} bytes unsent)`));
    }
    return new Promise((resolve, reject) => {
      this.enqueue(socket, stanza.toString(), (err) => {
        if (err) reject(new ComponentUnavailableError(`component ${this.domain} lost the stanza: ${describeError(err).text}`, { cause: err }));
        else resolve();
      });
    });
  }

  /**
   * Adds a serialized stanza to this turn's outbox. The stanzas one burst of SIP requests produces leave in
   * one write, one TCP segment, instead of a segment each (with Nagle off each would cost the XMPP server
   * a read, and it is the first peer to saturate), and in one string rather than a stream write each: the
   * stream's per-write bookkeeping cost more than the stanza at thousands a second. Written straight to
   * the socket rather than through xmpp.js, whose send wraps each write in two promises and an event; the
   * entity is online (checked by the caller), which is all its own write checks. The wait is bounded by
   * one loop turn.
   */
  private enqueue(socket: Socket, text: string, done: (err?: Error | null) => void): void {
    let box = this.outbox;
    if (box?.socket !== socket) {
      if (box) this.flush(box);
      const fresh: Outbox = { socket, text: '', waiters: [] };
      box = this.outbox = fresh;
      setImmediate(() => this.flush(fresh));
    }
    box.text += text;
    box.waiters.push(done);
  }

  private flush(box: Outbox): void {
    if (this.outbox === box) this.outbox = undefined;
    if (box.waiters.length === 0) return;
    const { text, waiters } = box;
    box.text = '';
    box.waiters = [];
    box.socket.write(text, (err) => {
      for (const done of waiters) done(err);
    });
  }

  onStanza(handler: (stanza: Element) => void): void {
    this.stanzaHandlers.push(handler);
  }

  onStateChange(handler: (state: ComponentState) => void): void {
    this.stateHandlers.push(handler);
  }

  private checkAddresses(stanza: Element): void {
    if (!STANZA_NAMES.has(stanza.name)) throw new StanzaAddressError(`not a stanza: <${stanza.name}/>`);
    const from: unknown = stanza.attrs.from;
    const to: unknown = stanza.attrs.to;
    if (typeof from !== 'string' || from === '' || typeof to !== 'string' || to === '') {
      throw new StanzaAddressError(`<${stanza.name}/> needs both from and to (XEP-0114 §3)`);
    }
    if (domainOf(from) !== this.domain.toLowerCase()) {
      throw new StanzaAddressError(`from ${from} is outside the component domain ${this.domain}`);
    }
  }

  private setState(state: ComponentState): void {
    if (state === this._state) return;
    this._state = state;
    for (const h of [...this.stateHandlers]) {
      try {
        h(state);
      } catch (err) {
        this.log.error({ err }, 'state-change handler threw');
      }
    }
  }

  private attempt(): void {
    this.retryTimer = undefined;
    if (!this.running) return;
    const entity = createEntity({ service: this.service, domain: this.domain, password: this.secret });
    // Stox decides when to reconnect, not @xmpp/reconnect.
    entity.reconnect.stop();
    // @xmpp/component wires @xmpp/middleware onto 'element', and its iq callee answers every iq get/set
    // it has no handler for with service-unavailable — including the ones our stanza handlers answer
    // later. Only the builtins decide what gets refused, so the middleware is unhooked.
    for (const listener of entity.listeners('element')) entity.off('element', listener as (el: Element) => void);
    this.entity = entity;
    this.log.debug({ attempt: this.failures }, 'connecting');

    entity.on('error', (err) => this.onEntityError(entity, err));
    entity.on('status', (status) => {
      if (status === 'connect' && entity.socket) {
        // Nagle would hold small stanzas back for the peer's delayed ACK (peers.md measured 52 ms p99).
        entity.socket.setNoDelay(true);
      }
    });
    // The handshake answer and the first stanzas can arrive in one TCP read; xmpp.js parses them all before
    // it declares itself online, so stanzas seen before 'online' are held and delivered right after.
    const early: Element[] = [];
    entity.on('stanza', (stanza) => {
      if (entity !== this.entity) return;
      if (this._state === 'online') this.dispatch(stanza);
      else if (early.length < MAX_EARLY_STANZAS) early.push(stanza);
      else this.log.warn({ stanzaId: stanza.attrs.id as unknown }, 'stanza before handshake completed dropped');
    });
    entity.on('online', () => {
      this.online(entity);
      for (const stanza of early.splice(0)) {
        if (entity === this.entity && this._state === 'online') this.dispatch(stanza);
      }
    });
    // The server ended its stream (`</stream:stream>`, e.g. shutting down) or the TCP connection closed.
    entity.on('close', () => this.lost(entity, 'server closed the stream'));
    entity.on('disconnect', () => this.lost(entity, 'connection closed'));

    this.attemptTimer = setTimeout(() => {
      this.attemptTimer = undefined;
      this.failed(entity, new Error(`no handshake within ${this.attemptTimeoutMs} ms`));
    }, this.attemptTimeoutMs);

    entity.start().catch((err: unknown) => this.failed(entity, err));
  }

  private online(entity: ComponentEntity): void {
    if (entity !== this.entity || !this.running) return;
    clearTimeout(this.attemptTimer);
    this.attemptTimer = undefined;
    this.lastLoggedCause = undefined;
    this.log.info({ server: this.service }, 'online');
    this.setState('online');
    this.stableTimer = setTimeout(() => {
      this.stableTimer = undefined;
      this.failures = 0;
    }, this.resetAfterMs);
  }

  private onEntityError(entity: ComponentEntity, err: Error | XmppError): void {
    if (entity !== this.entity) return;
    if (this._state === 'online') {
      // The disconnect that follows does the rest; this line says why it happened.
      const { text, condition } = describeError(err);
      this.log.warn({ err: text, condition }, 'connection error');
      return;
    }
    this.failed(entity, err);
  }

  /** An attempt did not reach online. */
  private failed(entity: ComponentEntity, err: unknown): void {
    if (entity !== this.entity || this._state === 'online') return;
    this.entity = undefined;
    clearTimeout(this.attemptTimer);
    this.attemptTimer = undefined;
    this.discard(entity);
    if (!this.running) return;
    const cause = describeError(err);
    const delay = this.scheduleRetry();
    const fields = { err: cause.text, condition: cause.condition, retryInMs: delay, attempt: this.failures };
    if (cause.condition !== undefined && cause.key !== this.lastLoggedCause) {
      // A refusal is a configuration problem an operator must see, once per distinct refusal.
      this.lastLoggedCause = cause.key;
      const what = cause.condition === 'not-authorized' ? 'server refused the handshake (wrong component secret?)' : 'server refused the component stream';
      this.log.error(fields, `${what}; retrying`);
    } else if (this._state !== 'offline') {
      this.log.warn(fields, 'offline, retrying');
    } else {
      this.log.debug(fields, 'attempt failed, retrying');
    }
    this.setState('offline');
  }

  /** An established connection went away. */
  private lost(entity: ComponentEntity, why: string): void {
    if (entity !== this.entity) return;
    if (this._state !== 'online') {
      this.failed(entity, new Error(why));
      return;
    }
    this.entity = undefined;
    clearTimeout(this.stableTimer);
    this.stableTimer = undefined;
    this.discard(entity);
    if (!this.running) return;
    const delay = this.scheduleRetry();
    this.log.warn({ err: why, retryInMs: delay }, 'offline, retrying');
    this.setState('offline');
  }

  private scheduleRetry(): number {
    const delay = backoffDelay(this.schedule, this.failures, this.random);
    this.failures += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.attempt(), delay);
    return delay;
  }

  /** Drops an entity for good: no more events reach us, the socket is gone. */
  private discard(entity: ComponentEntity): void {
    const socket = entity.socket;
    entity.removeAllListeners();
    // xmpp.js still emits 'error' from pending internals (e.g. a handshake answer after a stream error);
    // an EventEmitter without an 'error' listener would throw it.
    entity.on('error', () => {});
    socket?.destroy();
  }

  private clearTimers(): void {
    clearTimeout(this.retryTimer);
    clearTimeout(this.attemptTimer);
    clearTimeout(this.stableTimer);
    this.retryTimer = this.attemptTimer = this.stableTimer = undefined;
  }

  private dispatch(stanza: Element): void {
    const stanzaId: unknown = stanza.attrs.id;
    const answer = this.builtins.answer(stanza);
    if (answer.handled) {
      if (answer.reply !== undefined) {
        this.send(answer.reply).catch((err: unknown) => {
          this.log.debug({ stanzaId, err: describeError(err).text }, 'could not answer a built-in query');
        });
      }
      return;
    }
    for (const handler of this.stanzaHandlers) {
      try {
        handler(stanza);
      } catch (err) {
        this.log.error({ stanzaId, err }, 'stanza handler threw');
      }
    }
  }
}

function domainOf(jid: string): string {
  const slash = jid.indexOf('/');
  const bare = slash < 0 ? jid : jid.slice(0, slash);
  const at = bare.lastIndexOf('@');
  return (at < 0 ? bare : bare.slice(at + 1)).toLowerCase();
}
