export { TransactionLayer, type TransactionLayerOptions } from './layer.js';
export type {
  ClientHandlers,
  ClientInviteState,
  ClientNonInviteState,
  ClientTransaction,
  PreparedResponse,
  ServerInviteState,
  ServerNonInviteState,
  ServerTransaction,
  TransactionTarget,
} from './types.js';
export { buildResponse, buildStatelessResponse, defaultReason, newBranch, newTag, rebuildsStatelessly, statelessToTag, toTagFor } from './response.js';
export { buildAckForFailure, buildCancel } from './requests.js';
export { DEFAULT_TIMERS, resolveTimers, type BaseTimers, type TimerValues } from './timers.js';
export { MAGIC_COOKIE, tagOf } from './keys.js';
