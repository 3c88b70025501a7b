/**
 * RFC 3261 §17.1.2 non-INVITE client transaction (Figure 6).
 *
 *   Trying --1xx--> Proceeding --200-699--> Completed --Timer K--> Terminated
 *   Trying --200-699--> Completed
 *   Trying/Proceeding --Timer F--> Terminated (timeout)
 *
 * Completed only absorbs retransmitted finals, which the layer does with a bare key (see
 * `TransactionLayer`), so Timer K is not a timer here: the state reads Terminated once K has elapsed.
 */
import type { SipRequest, SipResponse } from '../message.js';
import { TimerSet } from './timers.js';
import { asError, type ClientHandlers, type ClientNonInviteState, type ClientTransaction, type TransactionContext, type TransactionTarget } from './types.js';

export class ClientNonInviteTransaction implements ClientTransaction {
  private current: ClientNonInviteState = 'trying';
  private readonly timers: TimerSet;
  private readonly reliable: boolean;
  private completedAt = 0;

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

  get state(): ClientNonInviteState {
    if (this.current === 'completed' && (this.ctx.isClosed() || this.ctx.clock.now() - this.completedAt >= this.ctx.timers.K)) return 'terminated';
    return this.current;
  }

  start(): void {
    const t = this.ctx.timers;
    if (!this.reliable) this.armTimerE(t.E);
    this.timers.start('F', t.F, () => {
      if (this.current !== 'trying' && this.current !== 'proceeding') return;
      this.terminate();
      this.handlers.onTimeout();
    });
    this.transmit(true);
  }

  receiveResponse(res: SipResponse): void {
    if (this.current !== 'trying' && this.current !== 'proceeding') return;
    if (res.status < 200) {
      this.current = 'proceeding';
      this.handlers.onProvisional?.(res);
      return;
    }
    this.timers.stopAll();
    this.current = 'completed';
    // Timer K only exists to absorb retransmitted responses, which reliable transports never carry.
    if (this.reliable) this.terminate();
    else {
      this.completedAt = this.ctx.clock.now();
      this.ctx.clientCompleted(this);
    }
    this.handlers.onFinal(res);
  }

  /** Non-INVITE requests cannot be cancelled in any useful way (RFC 3261 §9.1 SHOULD NOT). */
  cancel(): void {}

  /** Silent teardown for `TransactionLayer.close()`. */
  dispose(): void {
    this.timers.stopAll();
    this.current = 'terminated';
  }

  private armTimerE(interval: number): void {
    this.timers.start('E', interval, () => {
      if (this.current !== 'trying' && this.current !== 'proceeding') return;
      if (!this.transmit(false)) return;
      // §17.1.2.2: doubling up to T2 while Trying; once the far side answered, a steady T2.
      const T2 = this.ctx.timers.T2;
      this.armTimerE(this.current === 'trying' ? Math.min(2 * interval, T2) : T2);
    });
  }

  /**
   * The request could not be delivered after `sendRequest` returned (a TCP connect or TLS handshake
   * failed): RFC 3261 §17.1.4, tell the TU at once and terminate rather than wait for the timeout.
   */
  transportFailed(err: Error): void {
    if (this.current !== 'trying' && this.current !== 'proceeding') return;
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

  private terminate(): void {
    if (this.current === 'terminated') return;
    this.timers.stopAll();
    this.current = 'terminated';
    this.ctx.clientTerminated(this);
  }
}
