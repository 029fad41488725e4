import {
  CancellationScope,
  type CancelledFailure,
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PlaceCallResult } from '../activities/calls';
import { ContactAttempt } from './contact-attempt';
import { SHAPES, onSignal, requireInput, updateValidator } from './message-checks';
import { type CallFacts, ContactSuccessful, LastState } from '../domain/contract';
import {
  type AttemptResult,
  type CallContactInput,
  ContactSuccessfulKey,
  LastStateKey,
  NextDialTimeKey,
  attemptFinishedSignal,
  callFactsSignal,
  callStatusSignal,
  contactStatusQuery,
  dialTaskQueue,
  lineGrantSignal,
  lineRequestSignal,
  lineReturnSignal,
  previewDecisionSignal,
  rescheduleSignal,
  withdrawSignal,
  withdrawUpdate,
} from './shared';

const DB_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
} as const;
const db = proxyActivities<Activities>(DB_OPTIONS);

// The SDK's request timeout (10 s) stays below this activity timeout, so a timed-out try is over
// before the retry lists Twilio's calls (telephony §1: at most one call per attempt).
const TWILIO_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', maximumInterval: '1m' },
} as const;
const twilio = proxyActivities<Activities>(TWILIO_OPTIONS);

/**
 * The outcome is written by a local activity, in the workflow task that took the final callback:
 * no activity task goes through the server's queue (three events and a round trip fewer per
 * attempt). The write is idempotent (keyed by the attempt), so running it again after a worker
 * died mid-task changes nothing.
 */
const dbLocal = proxyLocalActivities<Activities>(DB_OPTIONS);

/** How long to wait for the <Dial> action request after the final status callback. */
const DIAL_RESULT_GRACE_MS = 10_000;

/** One attempt for one contact: wait until due, dial, wait for the outcome, record it, report. */
export async function callContactWorkflow(input: CallContactInput): Promise<AttemptResult> {
  requireInput('callContactWorkflow', SHAPES.contactInput, input);
  const a = new ContactAttempt(input);
  // A cancellation (the Temporal UI's button, a client's cancel) is a withdraw: the contact goes
  // back if its call has not been created; a call already made ends and its outcome is recorded.
  let cancelled: CancelledFailure | undefined;
  CancellationScope.current().cancelRequested.catch((err: CancelledFailure) => {
    cancelled = err;
    a.withdraw();
  });
  const result = await CancellationScope.nonCancellable(() => attemptAndReport(a));
  if (cancelled) throw cancelled;
  return result;
}

async function attemptAndReport(a: ContactAttempt): Promise<AttemptResult> {
  const { input } = a;
  const base = { contactId: input.contact.id, attemptNo: input.attemptNo, placed: false, redialTime: null };
  try {
    const result = a.ended(await attempt(a));
    await reportToCampaign(input.campaignWorkflowId, result);
    return result;
  } catch (err) {
    // The campaign must hear of every child it started, or it would wait for it forever.
    const failed = a.ended({
      ...base,
      lastState: LastState.ErrorOccurred,
      contactSuccessful: ContactSuccessful.MarkedForDialing,
    });
    await reportToCampaign(input.campaignWorkflowId, { ...failed, error: String(err) });
    throw err;
  }
}

async function attempt(a: ContactAttempt): Promise<AttemptResult> {
  const { input } = a;
  setHandlers(a);

  const campaign = getExternalWorkflowHandle(input.campaignWorkflowId);
  for (;;) {
    await waitForTurn(a, campaign);
    if (a.preview) await offerToAgent(a);
    if (a.withdrawn) return await giveBack(a, campaign);
    const placed = await place(a);
    if (placed.kind !== 'delayed')
      return await record(a, await callFacts(a, placed), placed.kind === 'placed');
    await waitAfterHoldBack(a, placed, campaign);
  }
}

/** Its messages: a malformed signal is logged and ignored, a malformed update refused. */
function setHandlers(a: ContactAttempt): void {
  onSignal(previewDecisionSignal, SHAPES.previewDecision, (d) => a.decide(d));
  onSignal(callStatusSignal, SHAPES.callStatus, (e) => a.callStatus(e));
  onSignal(callFactsSignal, SHAPES.callFacts, ({ callSid, facts }) => a.callFacts(callSid, facts));
  onSignal(rescheduleSignal, SHAPES.reschedule, ({ dueAt }) => a.reschedule(dueAt));
  onSignal(lineGrantSignal, SHAPES.lineGrant, ({ attemptNo }) => a.lineGranted(attemptNo));
  setHandler(withdrawSignal, () => a.withdraw());
  setHandler(withdrawUpdate, ({ holdMs }) => a.withdrawNow(holdMs), {
    validator: updateValidator('withdraw', SHAPES.withdraw),
  });
  setHandler(contactStatusQuery, () => a.view());
}

type Campaign = ReturnType<typeof getExternalWorkflowHandle>;

/** Wait for the due time and a line; a reschedule to later gives the line back (§5: never early). */
async function waitForTurn(a: ContactAttempt, campaign: Campaign): Promise<void> {
  for (;;) {
    await waitUntilDue(
      () => a.dueAt,
      () => a.withdrawn,
    );
    if (a.withdrawn) return;
    if (!a.hasLine) {
      a.phase = 'waiting-for-line';
      await campaign.signal(lineRequestSignal, { ...a.ids, dueAt: a.dueAt });
      const at = a.dueAt;
      await condition(() => a.hasLine || a.withdrawn || a.dueAt !== at);
      a.phase = 'waiting';
    }
    if (a.withdrawn || isDue(a.dueAt)) return;
    if (a.hasLine) {
      a.hasLine = false;
      await campaign.signal(lineReturnSignal, a.ids);
    }
  }
}

/** Preview mode: an agent is offered the contact and takes it (dialed) or skips it (released). */
async function offerToAgent(a: ContactAttempt): Promise<void> {
  if (a.withdrawn || a.decision?.decision === 'take') return;
  a.phase = 'preview';
  await db.offerPreview({ ...a.key, workflowId: workflowInfo().workflowId });
  await condition(() => a.decision !== undefined || a.withdrawn);
  if (a.decision?.decision === 'skip') a.skipped();
  else if (a.withdrawn) await db.closePreview(a.key);
}

/** §6: withdrawn before it was dialed: the contact goes back, and the line if it held one. */
async function giveBack(a: ContactAttempt, campaign: Campaign): Promise<AttemptResult> {
  await db.releaseContacts({
    holder: a.input.campaignWorkflowId,
    contactIds: [a.input.contact.id],
    holdMs: a.holdMs,
  });
  if (a.hasLine) await campaign.signal(lineReturnSignal, a.ids).catch(() => undefined);
  a.phase = 'withdrawn';
  return a.withdrawnResult();
}

/**
 * Creates go through the campaign's dialing task queue, rate-limited to its calls per second. The
 * placing step may hold the attempt back (the calling window or a cap): then nothing was sent.
 */
async function place(a: ContactAttempt): Promise<PlaceCallResult> {
  a.phase = 'placing';
  const { input } = a;
  const placer = proxyActivities<Activities>({
    ...TWILIO_OPTIONS,
    taskQueue: dialTaskQueue(workflowInfo().taskQueue, input.campaign),
  });
  return await placer.placeCall({
    campaign: input.campaign,
    contactId: input.contact.id,
    attemptNo: input.attemptNo,
    workflowId: workflowInfo().workflowId,
    phoneNumber: input.contact.phoneNumber,
    callerId: input.settings.callerId,
    ringTimeoutSeconds: input.settings.ringTimeoutSeconds,
    dueAt: a.dueAt,
    machineDetection: input.settings.machineDetection,
    // how long the attempt may hold its number (invariant 9) if it never ends
    callTimeoutMs: input.callTimeoutMs,
  });
}

/**
 * Held back (nothing was sent): the line goes back, and the attempt waits on its timer for the
 * first allowed moment, which the placing step checks again.
 */
async function waitAfterHoldBack(
  a: ContactAttempt,
  placed: Extract<PlaceCallResult, { kind: 'delayed' }>,
  campaign: Campaign,
): Promise<void> {
  a.heldBackUntil(placed.until, placed.rule, placed.reason);
  if (a.preview) {
    // the agent who took it is free again; it is offered afresh when it may be dialed
    await db.closePreview(a.key);
    a.decision = undefined;
  }
  if (a.hasLine) {
    a.hasLine = false;
    await campaign.signal(lineReturnSignal, { ...a.ids, delayedUntil: placed.until, rule: placed.rule });
  }
}

/** The call's facts: from its final callback, or from Twilio when none came in time (telephony §1). */
async function callFacts(
  a: ContactAttempt,
  placed: Exclude<PlaceCallResult, { kind: 'delayed' }>,
): Promise<CallFacts> {
  if (placed.kind === 'final') return placed.facts;
  a.callSid = placed.callSid;
  a.tracker.expect(placed.callSid);
  a.phase = 'ringing';
  const ended = await condition(() => a.tracker.final !== undefined, a.input.callTimeoutMs);
  // no final callback: ask Twilio (and end the call if it is still live)
  const fetched = ended ? undefined : await twilio.fetchCallFacts({ callSid: placed.callSid });
  // rows 16–20 need the <Dial> result; it may arrive just after the final status
  if (a.tracker.awaitingDialResult)
    await condition(() => !a.tracker.awaitingDialResult, DIAL_RESULT_GRACE_MS);
  return fetched ? { ...fetched, ...a.tracker.webhookFacts() } : a.tracker.final!;
}

/**
 * §7: the outcome on the contact's row, and on the workflow for the Temporal UI. What the attempt
 * knows of the rows (the contact's count as cached, its call placed) lets the write go in one
 * statement while the rows still say so.
 */
async function record(a: ContactAttempt, facts: CallFacts, placedCall: boolean): Promise<AttemptResult> {
  a.phase = 'recording';
  const { input } = a;
  const cachedCount = input.contact.numberOfContacts;
  const result = await dbLocal.recordOutcome({
    ...a.key,
    facts,
    maxAttempts: input.settings.maxAttempts,
    retryRules: input.settings.retryRules,
    ...(a.preview ? { preview: true } : {}),
    ...(placedCall && typeof cachedCount === 'number'
      ? { known: { numberOfContacts: cachedCount, placed: true } }
      : {}),
  });
  upsertSearchAttributes([
    { key: LastStateKey, value: result.lastState },
    { key: ContactSuccessfulKey, value: result.contactSuccessful },
    { key: NextDialTimeKey, value: result.redialTime ? new Date(result.redialTime) : null },
  ]);
  a.phase = 'done';
  return a.withHonoured(result);
}

const isDue = (at: string | null) => at === null || new Date(at).getTime() <= Date.now();

/** A durable timer until the due time; a reschedule moves it, earlier or later. */
async function waitUntilDue(due: () => string | null, cancelled: () => boolean): Promise<void> {
  for (;;) {
    const at = due();
    const wait = at === null ? 0 : new Date(at).getTime() - Date.now();
    if (wait <= 0 || cancelled()) return;
    // wakes early when the due time changes or the contact is withdrawn; loops for the new time
    await condition(() => due() !== at || cancelled(), wait);
  }
}

async function reportToCampaign(campaignWorkflowId: string, result: AttemptResult): Promise<void> {
  try {
    await getExternalWorkflowHandle(campaignWorkflowId).signal(attemptFinishedSignal, result);
  } catch (err) {
    // The campaign has ended (stopped): the outcome is in the database all the same.
    log.warn('campaign did not take the result', { campaignWorkflowId, error: String(err) });
  }
}
