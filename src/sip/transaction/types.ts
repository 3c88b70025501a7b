import type { Clock } from '../clock.js';
import type { InboundMessage, SipEndpoint, SipRequest, SipResponse } from '../message.js';
import type { TimerValues } from './timers.js';

/** Where a client transaction sends its request, retransmissions, ACK and CANCEL. */
export interface TransactionTarget {
  endpoint: SipEndpoint;
  /** Reuse this connection (connection-oriented transports) instead of opening one. */
  connectionId?: string;
}

export interface ClientHandlers {
  onProvisional?(res: SipResponse): void;
  /** The first final response (2xx or 3xx-6xx); retransmissions are absorbed. */
  onFinal(res: SipResponse): void;
  /** Timer B/F fired (or a cancelled INVITE got no final within 64*T1): the TU treats it as 408. */
  onTimeout(): void;
  /**
   * `sendRequest` threw. Without this handler the TU hears `onTimeout` instead, so it is never left
   * waiting. Reported from a 0 ms timer when the very first send fails, so the transaction object
   * has been returned to the caller first.
   */
  onTransportError?(err: Error): void;
}

export type ClientInviteState = 'calling' | 'proceeding' | 'completed' | 'terminated';
export type ClientNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';
export type ServerInviteState = 'proceeding' | 'completed' | 'confirmed' | 'terminated';
export type ServerNonInviteState = 'trying' | 'proceeding' | 'completed' | 'terminated';

export interface ClientTransaction {
  /** The matching key (branch + method). */
  readonly id: string;
  readonly request: SipRequest;
  readonly state: ClientInviteState | ClientNonInviteState;
  /**
   * INVITE only (no-op otherwise): send a CANCEL (RFC 3261 §9.1) once a provisional response has
   * been received, immediately if one has. No-op after a final response or a second call.
   */
  cancel(): void;
}

export interface ServerTransaction {
  /** The matching key. */
  readonly id: string;
  readonly request: SipRequest;
  readonly inbound: InboundMessage;
  readonly state: ServerInviteState | ServerNonInviteState;
  /**
   * Send a provisional or final response. The latest one answers absorbed retransmissions of the
   * request. Ignored once a final response has been sent (e.g. a 200 racing the 487 to a CANCEL).
   * Throws (after terminating the transaction) if `sendResponse` throws.
   */
  respond(res: SipResponse): void;
  readonly finalSent: boolean;
}

/**
 * A final response already routed and serialized, or the means to build it again, kept by a completed
 * non-INVITE server transaction to answer retransmissions of its request (RFC 3261 §17.2.2) with the same
 * bytes. `answered` is the request being answered, the original or a retransmission; Timer G resends have
 * none, and only held bytes serve them. `send` must not throw: there is nobody left to report to.
 */
export interface PreparedResponse {
  send(answered?: InboundMessage): void;
  /**
   * It builds the response again from the request it answers: the first time, the response the TU already
   * built is sent as it is, and this only answers retransmissions.
   */
  readonly rebuilds?: boolean;
}

/** What the transaction machines need from the layer that owns them. */
export interface TransactionContext {
  readonly clock: Clock;
  readonly timers: TimerValues;
  /** The layer was closed: every transaction counts as terminated. */
  isClosed(): boolean;
  sendRequest(req: SipRequest, target: TransactionTarget): void;
  sendResponse(res: SipResponse, inbound: InboundMessage): void;
  /**
   * A non-INVITE server transaction over an unreliable transport sent its final response: send `res` and
   * keep what answers retransmissions until Timer J. Throws (keeping nothing) if the send throws.
   */
  serverCompleted(tx: ServerTransaction, res: SipResponse): void;
  /** A non-INVITE client transaction over an unreliable transport got its final: absorb retransmissions until Timer K. */
  clientCompleted(tx: ClientTransaction): void;
  /**
   * The layer owner's `prepareResponse`, when it has one: a response to send repeatedly (Timer G) serialized
   * once. Undefined result: send through `sendResponse` as usual.
   */
  prepareResponse(res: SipResponse, inbound: InboundMessage): PreparedResponse | undefined;
  /** Start a client transaction (the CANCEL an INVITE client transaction sends). */
  request(req: SipRequest, target: TransactionTarget, handlers: ClientHandlers): ClientTransaction;
  /** Run `fn` from a 0 ms timer that `close()` still cancels. */
  defer(fn: () => void): void;
  /** The machine reached Terminated: forget it. */
  clientTerminated(tx: ClientTransaction): void;
  serverTerminated(tx: ServerTransaction): void;
  onAckTimeout(tx: ServerTransaction): void;
  onServerTransportError(tx: ServerTransaction, err: Error): void;
}

export function asError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
