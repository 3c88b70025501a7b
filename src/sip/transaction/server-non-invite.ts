/**
 * RFC 3261 §17.2.2 non-INVITE server transaction (Figure 8).
 *
 *   Trying --1xx from TU--> Proceeding --200-699 from TU--> Completed --Timer J--> Terminated
 *   Trying --200-699 from TU--> Completed
 */
import type { InboundMessage, SipRequest, SipResponse } from '../message.js';
import { TimerSet } from './timers.js';
import { asError, type ServerNonInviteState, type ServerTransaction, type TransactionContext } from './types.js';

export class ServerNonInviteTransaction implements ServerTransaction {
  private current: ServerNonInviteState = 'trying';
  private readonly timers: TimerSet;
  private readonly reliable: boolean;
  private lastResponse: SipResponse | undefined;
  private final = false;

  constructor(
    readonly id: string,
    readonly inbound: InboundMessage,
    private readonly ctx: TransactionContext,
  ) {
    this.timers = new TimerSet(ctx.clock);
    this.reliable = inbound.source.transport !== 'udp';
  }

  get request(): SipRequest {
    return this.inbound.message as SipRequest;
  }

  get state(): ServerNonInviteState {
    return this.current;
  }

  get finalSent(): boolean {
    return this.final;
  }

  respond(res: SipResponse): void {
    if (this.current !== 'trying' && this.current !== 'proceeding') return;
    if (res.status < 100 || res.status > 699) throw new RangeError(`SIP status must be 100-699, got ${res.status}`);
    this.lastResponse = res;
    if (res.status < 200) {
      this.current = 'proceeding';
    } else {
      this.final = true;
      this.current = 'completed';
      // Timer J only absorbs request retransmissions, which reliable transports never carry.
      if (this.reliable) this.terminate();
      else this.timers.start('J', this.ctx.timers.J, () => this.terminate());
    }
    try {
      this.ctx.sendResponse(res, this.inbound);
    } catch (e) {
      this.terminate();
      throw e;
    }
  }

  /** A retransmission of the request: §17.2.2 answers it with the latest response, if any. */
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
    this.timers.stopAll();
    this.current = 'terminated';
  }

  private terminate(): void {
    if (this.current === 'terminated') return;
    this.timers.stopAll();
    this.current = 'terminated';
    this.ctx.serverTerminated(this);
  }
}
