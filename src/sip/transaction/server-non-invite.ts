/**
 * RFC 3261 §17.2.2 non-INVITE server transaction (Figure 8).
 *
 *   Trying --1xx from TU--> Proceeding --200-699 from TU--> Completed --Timer J--> Terminated
 *   Trying --200-699 from TU--> Completed
 *
 * Completed only answers retransmissions with the final response, so the layer keeps a compact record for
 * it (see `TransactionLayer`) and this object is no longer needed by anyone but a TU that still holds it.
 * Its Timer J is therefore not a timer: the state reads Terminated once J has elapsed on the clock.
 */
import type { InboundMessage, SipRequest, SipResponse } from '../message.js';
import { asError, type ServerNonInviteState, type ServerTransaction, type TransactionContext } from './types.js';

export class ServerNonInviteTransaction implements ServerTransaction {
  private current: ServerNonInviteState = 'trying';
  private readonly reliable: boolean;
  private lastResponse: SipResponse | undefined;
  private final = false;
  private completedAt = 0;

  constructor(
    readonly id: string,
    readonly inbound: InboundMessage,
    private readonly ctx: TransactionContext,
  ) {
    this.reliable = inbound.source.transport !== 'udp';
  }

  get request(): SipRequest {
    return this.inbound.message as SipRequest;
  }

  get state(): ServerNonInviteState {
    if (this.current === 'completed' && (this.ctx.isClosed() || this.ctx.clock.now() - this.completedAt >= this.ctx.timers.J)) return 'terminated';
    return this.current;
  }

  get finalSent(): boolean {
    return this.final;
  }

  respond(res: SipResponse): void {
    if (this.current !== 'trying' && this.current !== 'proceeding') return;
    if (res.status < 100 || res.status > 699) throw new RangeError(`SIP status must be 100-699, got ${res.status}`);
    this.lastResponse = res;
    try {
      if (res.status < 200) {
        this.current = 'proceeding';
        this.ctx.sendResponse(res, this.inbound);
        return;
      }
      this.final = true;
      if (this.reliable) {
        // Timer J only absorbs request retransmissions, which reliable transports never carry.
        this.terminate();
        this.ctx.sendResponse(res, this.inbound);
        return;
      }
      this.current = 'completed';
      this.completedAt = this.ctx.clock.now();
      this.ctx.serverCompleted(this, res);
    } catch (e) {
      this.terminate();
      throw e;
    }
  }

  /**
   * A retransmission of the request: §17.2.2 answers it with the latest response, if any. The layer calls
   * this in Proceeding, and in Completed only when it keeps the transaction itself as the record.
   */
  receiveRequest(): void {
    if (this.current === 'trying' || this.current === 'terminated' || !this.lastResponse) return;
    try {
      this.ctx.sendResponse(this.lastResponse, this.inbound);
    } catch (e) {
      this.terminate();
      this.ctx.onServerTransportError(this, asError(e));
    }
  }

  /** Silent teardown for `TransactionLayer.close()`. */
  dispose(): void {
    this.current = 'terminated';
  }

  private terminate(): void {
    if (this.current === 'terminated') return;
    this.current = 'terminated';
    this.ctx.serverTerminated(this);
  }
}
