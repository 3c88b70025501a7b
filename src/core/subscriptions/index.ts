/**
 * Presence subscription state machines (mapping reference §3): X2S (an XMPP user watches a SIP contact)
 * and S2X (a SIP user watches an XMPP contact). Both are sans-I/O tables driven by events.
 */
export * from './types.js';
export * from './x2s.js';
export * from './s2x.js';
