/**
 * The RFC 3261 §17 transaction layer: matches what arrives to live transactions, starts new ones, and
 * forgets them when they terminate. Sans-I/O: the stack supplies the wire (`sendRequest`,
 * `sendResponse`) and the clock.
 *
 * Completed non-INVITE transactions over UDP are most of what is alive under load (Timer J is 64*T1,
 * Timer K is T4) and all they do is answer or absorb retransmissions, so they are kept as compact records
 * in `ExpiringMap`s rather than as transaction objects with timers: a server one as the `PreparedResponse`
 * that re-sends its final response, a client one as its key alone.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { InboundMessage, SipRequest, SipResponse } from '../message.js';
import { ClientInviteTransaction } from './client-invite.js';
import { ClientNonInviteTransaction } from './client-non-invite.js';
import { ExpiringMap } from './expiring-map.js';
import { clientKeyForRequest, clientKeyForResponse, serverKey } from './keys.js';
import { buildResponse, toTagFor } from './response.js';
import { ServerInviteTransaction } from './server-invite.js';
import { ServerNonInviteTransaction } from './server-non-invite.js';
import { resolveTimers, type BaseTimers, type TimerValues } from './timers.js';
import { asError, type ClientHandlers, type ClientTransaction, type PreparedResponse, type ServerTransaction, type TransactionContext, type TransactionTarget } from './types.js';

export interface TransactionLayerOptions {
  clock: Clock;
  timers?: Partial<BaseTimers>;
  /** Put a request on the wire (new or retransmission, ACK, CANCEL). */
  sendRequest(req: SipRequest, target: TransactionTarget): void;
  /** Put a response on the wire for the request that came in as `inbound` (the stack applies RFC 3261 §18.2.2 / RFC 3581 routing). */
  sendResponse(res: SipResponse, inbound: InboundMessage): void;
  /**
   * Route and serialize a final response once, for a non-INVITE server transaction over an unreliable
   * transport: the layer sends it with `send()` now and again for each retransmission of the request until
   * Timer J, and keeps nothing else (not the request, the response or the transaction object). Undefined
   * when the response cannot be sent anywhere; retransmissions are then absorbed. Without this option the
   * layer keeps the transaction and calls `sendResponse` for each retransmission.
   */
  prepareResponse?(res: SipResponse, inbound: InboundMessage): PreparedResponse | undefined;
  /** A request that matched no transaction; called once per new server transaction. */
  onRequest(tx: ServerTransaction): void;
  /** ACK matching no INVITE server transaction: the ACK for a 2xx, the dialog layer's business. */
  onStrayAck?(inbound: InboundMessage): void;
  /** Response matching no client transaction, e.g. a 2xx retransmission after the INVITE transaction ended. */
  onStrayResponse?(inbound: InboundMessage): void;
  /**
   * CANCEL matched an INVITE server transaction. The layer has already answered the CANCEL 200;
   * if `!tx.finalSent` the TU should answer the INVITE 487. Without this handler the layer sends
   * that 487 itself.
   */
  onCancel?(tx: ServerTransaction, cancel: InboundMessage): void;
  /** Timer H fired: a 3xx-6xx to an INVITE was never ACKed (RFC 3261 §17.2.1). */
  onAckTimeout?(tx: ServerTransaction): void;
  /** `sendResponse` threw on a retransmission or the automatic 100; the transaction is terminated. */
  onServerTransportError?(tx: ServerTransaction, err: Error): void;
}

type ClientMachine = ClientInviteTransaction | ClientNonInviteTransaction;
type ServerMachine = ServerInviteTransaction | ServerNonInviteTransaction;

/** What a completed non-INVITE server transaction leaves behind: the transaction itself without `prepareResponse`. */
type CompletedServer = PreparedResponse | ServerNonInviteTransaction;

/** Stands for a final response that had nowhere to go: retransmissions are absorbed. */
const NOWHERE: PreparedResponse = { send: () => undefined };

/** The sweep of completed records runs at most this often; a record outlives its timer by less than this. */
const MAX_SWEEP_STEP_MS = 1000;

export class TransactionLayer {
  private readonly clients = new Map<string, ClientMachine>();
  private readonly servers = new Map<string, ServerMachine>();
  /** Completed non-INVITE server transactions over UDP, until Timer J. */
  private readonly completedServers: ExpiringMap<CompletedServer>;
  /** Completed non-INVITE client transactions over UDP, until Timer K. */
  private readonly completedClients: ExpiringMap<true>;
  private readonly deferred = new Set<TimerHandle>();
  private readonly ctx: TransactionContext;
  private closed = false;

  constructor(private readonly opts: TransactionLayerOptions) {
    const timers: TimerValues = resolveTimers(opts.timers);
    // T1 steps keep test timers (T1 = 100) exact enough; real ones sweep once a second at most.
    const step = Math.min(timers.T1, MAX_SWEEP_STEP_MS);
    this.completedServers = new ExpiringMap(opts.clock, timers.J, step);
    this.completedClients = new ExpiringMap(opts.clock, timers.K, step);
    this.ctx = {
      clock: opts.clock,
      timers,
      isClosed: () => this.closed,
      sendRequest: (req, target) => opts.sendRequest(req, target),
      sendResponse: (res, inbound) => opts.sendResponse(res, inbound),
      serverCompleted: (tx, res) => this.serverCompleted(tx as ServerNonInviteTransaction, res),
      prepareResponse: (res, inbound) => opts.prepareResponse?.(res, inbound),
      clientCompleted: (tx) => {
        if (this.clients.get(tx.id) === tx) this.clients.delete(tx.id);
        this.completedClients.set(tx.id, true);
      },
      request: (req, target, handlers) => this.request(req, target, handlers),
      defer: (fn) => {
        const handle = opts.clock.setTimer(0, () => {
          this.deferred.delete(handle);
          fn();
        });
        this.deferred.add(handle);
      },
      clientTerminated: (tx) => {
        if (this.clients.get(tx.id) === tx) this.clients.delete(tx.id);
      },
      serverTerminated: (tx) => {
        if (this.servers.get(tx.id) === tx) this.servers.delete(tx.id);
        if (this.completedServers.get(tx.id) === tx) this.completedServers.delete(tx.id);
      },
      onAckTimeout: (tx) => opts.onAckTimeout?.(tx),
      onServerTransportError: (tx, err) => opts.onServerTransportError?.(tx, err),
    };
  }

  /** Live transactions, client and server, the completed ones kept as records included. */
  get size(): number {
    return this.clients.size + this.servers.size + this.completedServers.size + this.completedClients.size;
  }

  /** Whether `req` would match a live server transaction, i.e. is a retransmission (RFC 3261 §17.2.3). */
  matchesServerTransaction(req: SipRequest): boolean {
    const id = serverKey(req);
    return this.servers.has(id) || this.completedServers.has(id);
  }

  /** Route a parsed incoming message (RFC 3261 §17.1.3 for responses, §17.2.3 for requests). */
  receive(inbound: InboundMessage): void {
    if (this.closed) return;
    const msg = inbound.message;
    if (msg.kind === 'response') this.receiveResponse(msg, inbound);
    else this.receiveRequest(msg, inbound);
  }

  /**
   * Start a client transaction. The caller has set the top Via with a unique branch; the request is
   * sent at once. `target.endpoint.transport` decides reliability (only UDP retransmits).
   */
  request(req: SipRequest, target: TransactionTarget, handlers: ClientHandlers): ClientTransaction {
    if (this.closed) throw new Error('transaction layer is closed');
    if (req.method === 'ACK') throw new TypeError('ACK is not a transaction: send the ACK for a 2xx directly (RFC 3261 §17.1.1.3)');
    const id = clientKeyForRequest(req);
    if (this.clients.has(id) || this.completedClients.has(id)) throw new Error(`a client transaction with branch/method ${id} already exists`);
    const tx =
      req.method === 'INVITE'
        ? new ClientInviteTransaction(id, req, target, handlers, this.ctx)
        : new ClientNonInviteTransaction(id, req, target, handlers, this.ctx);
    this.clients.set(id, tx);
    tx.start();
    return tx;
  }

  /**
   * A request `sendRequest` accepted could not be delivered (connection-oriented transports fail
   * asynchronously). The client transaction it belongs to, if still waiting, reports a transport error.
   */
  clientTransportFailed(req: SipRequest, err: Error): void {
    if (this.closed || req.method === 'ACK') return;
    this.clients.get(clientKeyForRequest(req))?.transportFailed(err);
  }

  /** Stop every timer and forget every transaction without telling anyone; later input is ignored. */
  close(): void {
    this.closed = true;
    for (const tx of this.clients.values()) tx.dispose();
    for (const tx of this.servers.values()) tx.dispose();
    this.clients.clear();
    this.servers.clear();
    this.completedServers.clear();
    this.completedClients.clear();
    for (const h of this.deferred) h.cancel();
    this.deferred.clear();
  }

  private receiveResponse(res: SipResponse, inbound: InboundMessage): void {
    const id = clientKeyForResponse(res);
    const tx = id === undefined ? undefined : this.clients.get(id);
    if (tx) tx.receiveResponse(res);
    else if (id === undefined || !this.completedClients.has(id)) this.opts.onStrayResponse?.(inbound);
  }

  private receiveRequest(req: SipRequest, inbound: InboundMessage): void {
    const id = serverKey(req);
    const existing = this.servers.get(id);
    if (req.method === 'ACK') {
      if (existing instanceof ServerInviteTransaction) existing.receiveAck();
      else this.opts.onStrayAck?.(inbound);
      return;
    }
    if (existing) {
      existing.receiveRequest();
      return;
    }
    const completed = this.completedServers.get(id);
    if (completed) {
      if (completed instanceof ServerNonInviteTransaction) completed.receiveRequest();
      else {
        try {
          completed.send(inbound);
        } catch {
          // Breaks the PreparedResponse contract; forgetting the record is all that is left to do.
          this.completedServers.delete(id);
        }
      }
      return;
    }
    if (req.method === 'CANCEL') {
      const invite = this.servers.get(serverKey(req, 'INVITE'));
      if (invite instanceof ServerInviteTransaction) {
        this.cancelInvite(id, invite, inbound);
        return;
      }
      // No INVITE to cancel: the TU answers 481 (RFC 3261 §9.2).
    }
    const tx = req.method === 'INVITE' ? new ServerInviteTransaction(id, inbound, this.ctx) : new ServerNonInviteTransaction(id, inbound, this.ctx);
    this.servers.set(id, tx);
    if (tx instanceof ServerInviteTransaction) tx.start();
    try {
      this.opts.onRequest(tx);
    } catch (e) {
      // An unanswered transaction would live forever (Trying/Proceeding have no timeout); RFC 3261
      // §21.5.1 has the answer for a UAS that failed.
      if (!tx.finalSent) {
        try {
          tx.respond(buildResponse(tx.request, 500));
        } catch {
          // The transaction terminated on the failed send; the TU's error below is the one to report.
        }
      }
      throw e;
    }
  }

  private serverCompleted(tx: ServerNonInviteTransaction, res: SipResponse): void {
    if (this.servers.get(tx.id) === tx) this.servers.delete(tx.id);
    if (this.closed) return;
    if (!this.opts.prepareResponse) {
      this.completedServers.set(tx.id, tx);
      try {
        this.opts.sendResponse(res, tx.inbound);
      } catch (e) {
        this.completedServers.delete(tx.id);
        throw e;
      }
      return;
    }
    const prepared = this.opts.prepareResponse(res, tx.inbound) ?? NOWHERE;
    this.completedServers.set(tx.id, prepared);
    try {
      if (prepared.rebuilds) this.opts.sendResponse(res, tx.inbound);
      else prepared.send(tx.inbound);
    } catch (e) {
      this.completedServers.delete(tx.id);
      throw e;
    }
  }

  /** RFC 3261 §9.2: the CANCEL is its own transaction, answered 200 here whatever the INVITE's state. */
  private cancelInvite(id: string, invite: ServerInviteTransaction, inbound: InboundMessage): void {
    const cancelTx = new ServerNonInviteTransaction(id, inbound, this.ctx);
    this.servers.set(id, cancelTx);
    try {
      // §9.2: the same To tag as the responses to the INVITE.
      cancelTx.respond(buildResponse(cancelTx.request, 200, undefined, undefined, toTagFor(invite.request)));
    } catch {
      // A lost 200 makes the peer retransmit the CANCEL; the INVITE is cancelled regardless.
    }
    if (this.opts.onCancel) {
      this.opts.onCancel(invite, inbound);
      return;
    }
    if (invite.finalSent) return;
    try {
      invite.respond(buildResponse(invite.request, 487));
    } catch (e) {
      this.opts.onServerTransportError?.(invite, asError(e));
    }
  }
}
