/**
 * RFC 3261 §17.2.1 INVITE server transaction (Figure 7).
 *
 *   Proceeding --1xx from TU--> Proceeding (100 Trying sent for the TU after 200 ms of silence)
 *   Proceeding --2xx from TU--> Terminated (the TU retransmits 2xx until ACKed, end to end)
 *   Proceeding --300-699 from TU--> Completed --ACK--> Confirmed --Timer I--> Terminated
 *   Completed --Timer H--> Terminated (no ACK)
 */
import type { InboundMessage, SipRequest, SipResponse } from '../message.js';
import { buildResponse } from './response.js';
import { TimerSet } from './timers.js';
import { asError, type PreparedResponse, type ServerInviteState, type ServerTransaction, type TransactionContext } from './types.js';

export class ServerInviteTransaction implements ServerTransaction {
  private current: ServerInviteState = 'proceeding';
  private readonly timers: TimerSet;
  private readonly reliable: boolean;
  private lastResponse: SipResponse | undefined;
  /** The 3xx-6xx final serialized once for Timer G's retransmissions, when the layer owner can prepare it. */
  private prepared: PreparedResponse | undefined;
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

  get state(): ServerInviteState {
    return this.current;
  }

  get finalSent(): boolean {
    return this.final;
  }

  start(): void {
    this.timers.start('trying', this.ctx.timers.trying100, () => {
      if (this.current !== 'proceeding' || this.lastResponse) return;
      this.lastResponse = buildResponse(this.request, 100);
      this.transmitQuietly();
    });
  }

  respond(res: SipResponse): void {
    if (this.current !== 'proceeding') return;
    if (res.status < 100 || res.status > 699) throw new RangeError(`SIP status must be 100-699, got ${res.status}`);
    this.timers.stop('trying');
    this.lastResponse = res;
    if (res.status < 200) {
      this.transmitOrThrow();
      return;
    }
    this.final = true;
    if (res.status < 300) {
      this.terminate();
      this.transmitOrThrow();
      return;
    }
    this.current = 'completed';
    const t = this.ctx.timers;
    if (!this.reliable) {
      this.prepared = this.ctx.prepareResponse(res, this.inbound);
      this.armTimerG(t.G);
    }
    this.timers.start('H', t.H, () => {
      if (this.current !== 'completed') return;
      this.terminate();
      this.ctx.onAckTimeout(this);
    });
    this.transmitOrThrow();
  }

  /** A retransmission of the INVITE. */
  receiveRequest(): void {
    // §17.2.1: the latest provisional (or the final, in Completed) answers it; before any response
    // there is nothing to send, and the auto 100 is on its way.
    if ((this.current === 'proceeding' || this.current === 'completed') && this.lastResponse) this.transmitQuietly();
  }

  /** An ACK matching this transaction: necessarily for a 3xx-6xx, since a 2xx ends the transaction. */
  receiveAck(): void {
    if (this.current !== 'completed') return;
    this.timers.stopAll();
    this.current = 'confirmed';
    // Timer I only absorbs ACK retransmissions, which reliable transports never carry.
    if (this.reliable) this.terminate();
    else this.timers.start('I', this.ctx.timers.I, () => this.terminate());
  }

  /** Silent teardown for `TransactionLayer.close()`. */
  dispose(): void {
    this.timers.stopAll();
    this.current = 'terminated';
  }

  private armTimerG(interval: number): void {
    this.timers.start('G', interval, () => {
      if (this.current !== 'completed') return;
      if (this.transmitQuietly()) this.armTimerG(Math.min(2 * interval, this.ctx.timers.T2));
    });
  }

  /** TU-initiated send: a transport failure ends the transaction and is the TU's to handle. */
  private transmitOrThrow(): void {
    const res = this.lastResponse;
    if (!res) return;
    try {
      if (this.prepared) this.prepared.send();
      else this.ctx.sendResponse(res, this.inbound);
    } catch (e) {
      this.terminate();
      throw e;
    }
  }

  /** Timer- or retransmission-driven send: nobody to throw to, so report through the layer. */
  private transmitQuietly(): boolean {
    const res = this.lastResponse;
    if (!res) return false;
    try {
      if (this.prepared && this.current === 'completed') this.prepared.send();
      else this.ctx.sendResponse(res, this.inbound);
      return true;
    } catch (e) {
      this.terminate();
      this.ctx.onServerTransportError(this, asError(e));
      return false;
    }
  }

  private terminate(): void {
    if (this.current === 'terminated') return;
    this.timers.stopAll();
    this.current = 'terminated';
    this.ctx.serverTerminated(this);
  }
}
