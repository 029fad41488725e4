/**
 * Recording an attempt's outcome (§7): on the contact's row and the attempt's, with its `outcome`
 * event, exactly once. Usually one statement: the contact workflow says what it knows of the rows
 * (the contact's number_of_contacts as cached, whether the call was placed), the outcome is
 * worked out from that, and the write happens only if the rows still say so. Otherwise (a CRM
 * changed the row, a retry, an attempt that ended before its create) the rows are read and the
 * outcome written from what they say.
 */
import {
  type AttemptKey,
  type OutcomeBasis,
  lockAttempt,
  outcomeBasis,
  recordAttemptOutcome,
  writeOutcomeIfAsRead,
} from '../db/queries/call-attempts';
import { lockContact, recordContactOutcome } from '../db/queries/contacts';
import { agentWhoTookOffer } from '../db/queries/preview-offers';
import { freeAgentNeverBridged } from '../db/queries/agents';
import type { DbTx } from '../db/client';
import { type ContactEvent, logEvents } from '../ops/contact-events';
import { mapOutcome, nextContactState, wasPlaced } from '../domain/outcome';
import { type CallFacts, type ContactSuccessful, type RetryRules, lastStateName } from '../domain/contract';
import type { AttemptResult } from '../workflows/shared';
import { permanent } from './errors';
import type { Deps } from './index';

export interface RecordOutcomeInput extends AttemptKey {
  facts: CallFacts;
  maxAttempts: number;
  retryRules: RetryRules;
  /** The campaign dials in preview mode: an agent took the attempt (freed if never bridged). */
  preview?: boolean;
  /**
   * What the contact workflow knows of the rows: the contact's number_of_contacts when it was
   * cached, and that its call was placed. Absent (an older workflow, an attempt without a call):
   * the rows are read first.
   */
  known?: { numberOfContacts: number; placed: boolean };
}

/** How often the rows are read again when they changed between the read and the write. */
const MAX_READS = 5;

/** The outcome in words: what the attempt ended as and what happens to the contact next. */
function outcomeReason(
  state: number,
  cs: ContactSuccessful,
  placed: boolean,
  count: number,
  maxAttempts: number,
): string {
  const name = lastStateName(state) ?? String(state);
  const what = placed ? `${name} (attempt ${count} of ${maxAttempts})` : `${name}, no call placed`;
  const next =
    cs === 1
      ? 'Successful'
      : cs === -1
        ? count >= maxAttempts && placed
          ? 'Unreachable: no attempts left'
          : 'Unreachable: not dialed again'
        : 'NoSuccess: redial';
  return `${what} → ${next}`;
}

/** An attempt's outcome worked out from its facts and the contact's row (§7). */
function decideOutcome(
  deps: Deps,
  input: RecordOutcomeInput,
  attempt: { facts: CallFacts | null; placed: boolean },
  numberOfContacts: number,
) {
  const facts = { ...(attempt.facts ?? {}), ...input.facts };
  const state = mapOutcome(facts);
  const placed = attempt.placed || wasPlaced(facts);
  const count = numberOfContacts + (placed ? 1 : 0);
  const next = nextContactState(state, count, input.maxAttempts, input.retryRules);
  const now = deps.clock();
  // an attempt no rule allowed is tried again when the placing step said, not by the retry rule
  const redialTime =
    next.redialDelayMs === null
      ? null
      : facts.notDialed
        ? new Date(facts.notDialed.retryAt)
        : new Date(now.getTime() + next.redialDelayMs);
  return { facts, state, placed, count, contactSuccessful: next.contactSuccessful, redialTime, now };
}

type Outcome = ReturnType<typeof decideOutcome>;

/** The decision log's row for the outcome. */
const outcomeEvent = (input: RecordOutcomeInput, o: Outcome): ContactEvent => ({
  contactId: input.contactId,
  campaign: input.campaign,
  attemptNo: input.attemptNo,
  kind: 'outcome',
  reason: outcomeReason(o.state, o.contactSuccessful, o.placed, o.count, input.maxAttempts),
  until: o.redialTime,
  details: {
    lastState: o.state,
    contactSuccessful: o.contactSuccessful,
    placed: o.placed,
    numberOfContacts: o.count,
  },
});

const resultOf = (input: RecordOutcomeInput, o: Outcome): AttemptResult => ({
  contactId: input.contactId,
  attemptNo: input.attemptNo,
  lastState: o.state as AttemptResult['lastState'],
  contactSuccessful: o.contactSuccessful,
  placed: o.placed,
  redialTime: o.redialTime ? o.redialTime.toISOString() : null,
});

/** What an attempt already recorded says (a retry, or a second recorder, returns it). */
const recordedResult = (input: RecordOutcomeInput, b: OutcomeBasis): AttemptResult => ({
  contactId: input.contactId,
  attemptNo: input.attemptNo,
  lastState: b.lastState as AttemptResult['lastState'],
  contactSuccessful: (b.contact?.contactSuccessful ?? 0) as ContactSuccessful,
  placed: b.placed,
  redialTime: b.contact?.redialTime ? b.contact.redialTime.toISOString() : null,
});

/** Writes the outcome decided from `basis` if the rows still say it; true when written. */
async function writeFrom(
  deps: Deps,
  input: RecordOutcomeInput,
  basis: { numberOfContacts: number; placed: boolean; facts: CallFacts | null },
): Promise<Outcome | undefined> {
  const o = decideOutcome(deps, input, basis, basis.numberOfContacts);
  const written = await writeOutcomeIfAsRead(deps.db.sql, input, {
    basis,
    attempt: { facts: o.facts, lastState: o.state, placed: o.placed, now: o.now },
    contact: {
      contactSuccessful: o.contactSuccessful,
      lastState: o.state,
      numberOfContacts: o.count,
      redialTime: o.redialTime,
    },
    event: outcomeEvent(input, o),
  });
  return written ? o : undefined;
}

/** Records the outcome (one statement when the workflow knew the rows), or returns the one recorded. */
async function recordUnlocked(deps: Deps, input: RecordOutcomeInput): Promise<[AttemptResult, boolean]> {
  const known = input.known ? await writeFrom(deps, input, { ...input.known, facts: null }) : undefined;
  if (known) return [resultOf(input, known), true];
  for (let read = 0; read < MAX_READS; read++) {
    const b = await outcomeBasis(deps.db.sql, input);
    if (!b) throw permanent('AttemptMissing', `no attempt row for ${JSON.stringify(input)}`);
    if (!b.contact) throw permanent('ContactMissing', `contact ${input.contactId} no longer exists`);
    if (b.recordedAt !== null) return [recordedResult(input, b), false];
    const o = await writeFrom(deps, input, { ...b.contact, placed: b.placed, facts: b.facts });
    if (o) return [resultOf(input, o), true];
  }
  throw new Error(`the rows of attempt ${JSON.stringify(input)} kept changing; trying again`);
}

/** Writes the outcome on the contact and the attempt, frees a preview agent, and logs it. */
async function writeOutcomeLocked(tx: DbTx, input: RecordOutcomeInput, o: Outcome): Promise<void> {
  await recordContactOutcome(tx, input.contactId, {
    contactSuccessful: o.contactSuccessful,
    lastState: o.state,
    numberOfContacts: o.count,
    redialTime: o.redialTime,
  });
  await recordAttemptOutcome(tx, input, { facts: o.facts, lastState: o.state, placed: o.placed, now: o.now });
  // the agent who took the attempt and was never bridged (no answer, a machine) is free again;
  // one on the call goes to wrap-up through the <Dial> action
  const agentId = await agentWhoTookOffer(tx, input);
  if (agentId !== null) await freeAgentNeverBridged(tx, agentId);
  await logEvents(tx, [outcomeEvent(input, o)]);
}

/**
 * Preview mode: the outcome and the freeing of the agent who took the attempt in one transaction,
 * both rows locked first (the agent must not be freed twice, nor not at all).
 */
async function recordLocked(deps: Deps, input: RecordOutcomeInput): Promise<[AttemptResult, boolean]> {
  return deps.db.db.transaction(async (tx): Promise<[AttemptResult, boolean]> => {
    const attempt = await lockAttempt(tx, input);
    if (!attempt) throw permanent('AttemptMissing', `no attempt row for ${JSON.stringify(input)}`);
    const contact = await lockContact(tx, input.contactId);
    if (!contact) throw permanent('ContactMissing', `contact ${input.contactId} no longer exists`);
    if (attempt.recordedAt !== null) return [recordedResult(input, { ...attempt, contact }), false];
    const o = decideOutcome(deps, input, attempt, contact.numberOfContacts);
    await writeOutcomeLocked(tx, input, o);
    return [resultOf(input, o), true];
  });
}

/**
 * Applies an attempt's outcome to the contact row and the attempt row at once (§7), exactly once:
 * an attempt already recorded returns what was recorded.
 */
export async function recordOutcome(deps: Deps, input: RecordOutcomeInput): Promise<AttemptResult> {
  const [result, fresh] = input.preview ? await recordLocked(deps, input) : await recordUnlocked(deps, input);
  if (fresh) {
    deps.metrics?.outcomes.inc({
      campaign: input.campaign,
      last_state: lastStateName(result.lastState) ?? String(result.lastState),
    });
  }
  return result;
}
