/**
 * The RFC 3261 §17 transaction layer: matches what arrives to live transactions, starts new ones, and
 * forgets them when they terminate. Sans-I/O: the stack supplies the wire (`sendRequest`,
 * `sendResponse`) and the clock.
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { InboundMessage, SipRequest, SipResponse } from '../message.js';
import { ClientInviteTransaction } from './client-invite.js';
import { ClientNonInviteTransaction } from './client-non-invite.js';
import { clientKeyForRequest, clientKeyForResponse, serverKey } from './keys.js';
import { buildResponse, toTagFor } from './response.js';
import { ServerInviteTransaction } from './server-invite.js';
import { ServerNonInviteTransaction } from './server-non-invite.js';
import { resolveTimers, type BaseTimers, type TimerValues } from './timers.js';
import { asError, type ClientHandlers, type ClientTransaction, type ServerTransaction, type TransactionContext, type TransactionTarget } from './types.js';

export interface TransactionLayerOptions {
  clock: Clock;
  timers?: Partial<BaseTimers>;
  /** Put a request on the wire (new or retransmission, ACK, CANCEL). */
  sendRequest(req: SipRequest, target: TransactionTarget): void;
  /** Put a response on the wire for the request that came in as `inbound` (the stack applies RFC 3261 §18.2.2 / RFC 3581 routing). */
  sendResponse(res: SipResponse, inbound: InboundMessage): void;
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

export class TransactionLayer {
  private readonly clients = new Map<string, ClientMachine>();
  private readonly servers = new Map<string, ServerMachine>();
  private readonly deferred = new Set<TimerHandle>();
  private readonly ctx: TransactionContext;
  private closed = false;

  constructor(private readonly opts: TransactionLayerOptions) {
    const timers: TimerValues = resolveTimers(opts.timers);
    this.ctx = {
      clock: opts.clock,
      timers,
      sendRequest: (req, target) => opts.sendRequest(req, target),
      sendResponse: (res, inbound) => opts.sendResponse(res, inbound),
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
      },
      onAckTimeout: (tx) => opts.onAckTimeout?.(tx),
      onServerTransportError: (tx, err) => opts.onServerTransportError?.(tx, err),
    };
  }

  /** Live transactions, client and server. */
  get size(): number {
    return this.clients.size + this.servers.size;
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
    if (this.clients.has(id)) throw new Error(`a client transaction with branch/method ${id} already exists`);
    const tx =
      req.method === 'INVITE'
        ? new ClientInviteTransaction(id, req, target, handlers, this.ctx)
        : new ClientNonInviteTransaction(id, req, target, handlers, this.ctx);
    this.clients.set(id, tx);
    tx.start();
    return tx;
  }

  /** Stop every timer and forget every transaction without telling anyone; later input is ignored. */
  close(): void {
    this.closed = true;
    for (const tx of this.clients.values()) tx.dispose();
    for (const tx of this.servers.values()) tx.dispose();
    this.clients.clear();
    this.servers.clear();
    for (const h of this.deferred) h.cancel();
    this.deferred.clear();
  }

  private receiveResponse(res: SipResponse, inbound: InboundMessage): void {
    const id = clientKeyForResponse(res);
    const tx = id === undefined ? undefined : this.clients.get(id);
    if (tx) tx.receiveResponse(res);
    else this.opts.onStrayResponse?.(inbound);
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
