/**
 * RFC 3261 §17.1.1 INVITE client transaction (Figure 5), plus the CANCEL of §9.1.
 *
 *   Calling --1xx--> Proceeding --300-699 (ACK)--> Completed --Timer D--> Terminated
 *   Calling/Proceeding --2xx--> Terminated (the TU ACKs 2xx, end to end)
 *   Calling --Timer B--> Terminated (timeout)
 */
import type { SipRequest, SipResponse } from '../message.js';
import { buildAckForFailure, buildCancel } from './requests.js';
import { TimerSet } from './timers.js';
import { asError, type ClientHandlers, type ClientInviteState, type ClientTransaction, type TransactionContext, type TransactionTarget } from './types.js';

export class ClientInviteTransaction implements ClientTransaction {
  private current: ClientInviteState = 'calling';
  private readonly timers: TimerSet;
  private readonly reliable: boolean;
  private ack: SipRequest | undefined;
  private cancelRequested = false;
  private cancelSent = false;

  constructor(
    readonly id: string,
    readonly request: SipRequest,
    private readonly target: TransactionTarget,
    private readonly handlers: ClientHandlers,
    private readonly ctx: TransactionContext,
  ) {
    this.timers = new TimerSet(ctx.clock);
    this.reliable = target.endpoint.transport !== 'udp';
  }

  get state(): ClientInviteState {
    return this.current;
  }

  start(): void {
    const t = this.ctx.timers;
    if (!this.reliable) this.armTimerA(t.A);
    this.timers.start('B', t.B, () => {
      if (this.current !== 'calling') return;
      this.terminate();
      this.handlers.onTimeout();
    });
    this.transmit(true);
  }

  receiveResponse(res: SipResponse): void {
    const status = res.status;
    switch (this.current) {
      case 'calling':
      case 'proceeding':
        if (status < 200) {
          // §17.1.1.2: no retransmissions once the far side has answered; Timer B only guards Calling.
          this.timers.stop('A');
          this.timers.stop('B');
          this.current = 'proceeding';
          if (this.cancelRequested && !this.cancelSent) this.sendCancel();
          this.handlers.onProvisional?.(res);
        } else if (status < 300) {
          this.terminate();
          this.handlers.onFinal(res);
        } else {
          this.timers.stopAll();
          this.current = 'completed';
          this.ack = buildAckForFailure(this.request, res);
          this.sendAck();
          if (this.reliable) this.terminate();
          else this.timers.start('D', this.ctx.timers.D, () => this.terminate());
          this.handlers.onFinal(res);
        }
        return;
      case 'completed':
        // A retransmitted final means our ACK was lost; re-send the same ACK, the TU already knows.
        if (status >= 300) this.sendAck();
        return;
      case 'terminated':
        return;
    }
  }

  cancel(): void {
    if (this.cancelRequested || (this.current !== 'calling' && this.current !== 'proceeding')) return;
    this.cancelRequested = true;
    // §9.1: a CANCEL before any provisional could overtake the INVITE and match nothing.
    if (this.current === 'proceeding') this.sendCancel();
  }

  /** Silent teardown for `TransactionLayer.close()`. */
  dispose(): void {
    this.timers.stopAll();
    this.current = 'terminated';
  }

  private sendCancel(): void {
    this.cancelSent = true;
    const noop = (): void => undefined;
    this.ctx.request(buildCancel(this.request), this.target, { onFinal: noop, onTimeout: noop, onTransportError: noop });
    // §9.1: a UAS that never sends the 487 must not keep this transaction alive forever.
    this.timers.start('cancel', 64 * this.ctx.timers.T1, () => {
      if (this.current !== 'calling' && this.current !== 'proceeding') return;
      this.terminate();
      this.handlers.onTimeout();
    });
  }

  private armTimerA(interval: number): void {
    this.timers.start('A', interval, () => {
      if (this.current !== 'calling') return;
      if (this.transmit(false)) this.armTimerA(interval * 2);
    });
  }

  /**
   * The request could not be delivered after `sendRequest` returned (a TCP connect or TLS handshake
   * failed): RFC 3261 §17.1.4, tell the TU at once and terminate rather than wait for the timeout.
   */
  transportFailed(err: Error): void {
    if (this.current !== 'calling' && this.current !== 'proceeding') return;
    this.terminate();
    if (this.handlers.onTransportError) this.handlers.onTransportError(err);
    else this.handlers.onTimeout();
  }

  private transmit(first: boolean): boolean {
    try {
      this.ctx.sendRequest(this.request, this.target);
      return true;
    } catch (e) {
      this.terminate();
      const report = (): void => (this.handlers.onTransportError ? this.handlers.onTransportError(asError(e)) : this.handlers.onTimeout());
      if (first) this.ctx.defer(report);
      else report();
      return false;
    }
  }

  private sendAck(): void {
    if (!this.ack) return;
    try {
      this.ctx.sendRequest(this.ack, this.target);
    } catch {
      // The final response already reached the TU; a lost ACK only makes the peer retransmit it.
    }
  }

  private terminate(): void {
    if (this.current === 'terminated') return;
    this.timers.stopAll();
    this.current = 'terminated';
    this.ctx.clientTerminated(this);
  }
}
