/**
 * telephony §2 as a pure function of recorded facts: the first row that matches wins.
 * Kept free of I/O so the same facts always explain the same outcome, in an activity, a test
 * or a developer's replay.
 */
import {
  type CallFacts,
  ContactSuccessful,
  LastState,
  type LastStateName,
  type RetryRules,
} from './contract';

const BANNED_CREATE_CODES = new Set([21216, 21215, 13227]);
const WRONG_NUMBER_CREATE_CODES = new Set([21211, 21214, 21217]);
const NO_LINE_CREATE_CODES = new Set([20429, 10004]);

export function mapOutcome(f: CallFacts): LastState {
  const sip = f.sipResponseCode;
  const code = f.createError?.code ?? null;
  // rows 1–5: decided before or at the create
  if (f.banned) return LastState.Banned;
  if (f.createError && code !== null && BANNED_CREATE_CODES.has(code)) return LastState.Banned;
  if (f.unparsable) return LastState.WrongNumber;
  if (f.createError && code !== null && WRONG_NUMBER_CREATE_CODES.has(code)) return LastState.WrongNumber;
  if (f.createError && code !== null && NO_LINE_CREATE_CODES.has(code)) return LastState.NoLine;
  if (sip === 503) return LastState.NoLine;
  if (f.createError || f.unresolved || f.notDialed) return LastState.ErrorOccurred;
  // rows 6–12: the call did not reach a person
  if (sip === 603 || sip === 403) return LastState.Rejected;
  if (f.callStatus === 'busy' || sip === 486 || sip === 600) return LastState.Busy;
  if (sip === 404 || sip === 410 || sip === 484 || sip === 604) return LastState.WrongNumber;
  if (sip === 480 || sip === 408 || sip === 502) return LastState.Unreachable;
  if (sip === 488 || sip === 606 || sip === 415) return LastState.Incompatible;
  if (f.callStatus === 'no-answer') return LastState.AlertingTimeout;
  if (f.callStatus === 'failed' || f.callStatus === 'canceled') return LastState.ErrorOccurred;
  // rows 13–20: answered
  if (f.answeredBy === 'fax') return LastState.Fax;
  if (f.answeredBy?.startsWith('machine')) return LastState.AnsweringMachine;
  if (f.noAgentFree) return LastState.NoAgent;
  if (f.agentStep) {
    // row 16: the person hung up while the agent's leg rang (or before the <Dial> reported)
    if (f.dialCallStatus === undefined) return LastState.Abandoned;
    if (f.dialCallStatus !== 'completed' && f.dialCallStatus !== 'answered' && f.calleeLeftFirst) {
      return LastState.Abandoned;
    }
    if (f.dialCallStatus === 'no-answer') return LastState.TransferTimeout;
    if (f.dialCallStatus !== 'completed' && f.dialCallStatus !== 'answered') return LastState.AgentTransfer;
    if (f.agentHungUpFirst) return LastState.AgentHangUp;
    return LastState.Connected;
  }
  if (f.callStatus === 'completed') return LastState.Connected;
  return LastState.ErrorOccurred;
}

/** Whether a call was placed at Twilio, i.e. whether the attempt counts (§7, telephony §2). */
export function wasPlaced(f: CallFacts): boolean {
  return !f.banned && !f.unparsable && !f.createError && f.callSid !== undefined;
}

export interface ContactUpdate {
  contactSuccessful: ContactSuccessful;
  /** ms after `now` for the next try, or null when the contact is not to be redialed. */
  redialDelayMs: number | null;
}

/** §7: what the contact row becomes after an attempt ended in `state`. */
export function nextContactState(
  state: LastState,
  numberOfContactsAfter: number,
  maxAttempts: number,
  rules: RetryRules,
): ContactUpdate {
  if (state === LastState.Connected || state === LastState.AgentHangUp) {
    return { contactSuccessful: ContactSuccessful.Successful, redialDelayMs: null };
  }
  const name = (Object.keys(LastState) as LastStateName[]).find((n) => LastState[n] === state);
  const final =
    state === LastState.WrongNumber ||
    state === LastState.Banned ||
    (name !== undefined && rules.final.includes(name));
  if (final || numberOfContactsAfter >= maxAttempts) {
    return { contactSuccessful: ContactSuccessful.Unreachable, redialDelayMs: null };
  }
  const seconds = (name && rules.delaySeconds[name]) ?? rules.defaultDelaySeconds;
  return { contactSuccessful: ContactSuccessful.NoSuccess, redialDelayMs: seconds * 1000 };
}
