/**
 * Thrown by the SIP grammar functions (URI, header values). Its message names the problem in a few
 * words so that a caller may put it in a log line or, after its own judgement, in a Reason-Phrase.
 */
export class SipSyntaxError extends Error {
  override readonly name = 'SipSyntaxError';
}
