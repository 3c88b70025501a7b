export { TransactionLayer, type TransactionLayerOptions } from './layer.js';
export type {
  ClientHandlers,
  ClientInviteState,
  ClientNonInviteState,
  ClientTransaction,
  ServerInviteState,
  ServerNonInviteState,
  ServerTransaction,
  TransactionTarget,
} from './types.js';
export { buildResponse, defaultReason, newBranch, newTag, toTagFor } from './response.js';
export { buildAckForFailure, buildCancel } from './requests.js';
export { DEFAULT_TIMERS, resolveTimers, type BaseTimers, type TimerValues } from './timers.js';
export { MAGIC_COOKIE } from './keys.js';
