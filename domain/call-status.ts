/**
 * Twilio's call statuses after which nothing more happens to a call (telephony §2): the call's
 * outcome can be decided from them. Every other status (queued, initiated, ringing, in-progress)
 * is on its way.
 */
const TERMINAL_CALL_STATUSES: ReadonlySet<string> = new Set([
  'completed',
  'busy',
  'no-answer',
  'failed',
  'canceled',
]);

export function isTerminalCallStatus(status: string): boolean {
  return TERMINAL_CALL_STATUSES.has(status);
}
