import {
  condition,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { CallStatusTracker } from './call-status-tracker';
import {
  type AttemptResult,
  type CallContactInput,
  type CallFacts,
  ContactSuccessful,
  ContactSuccessfulKey,
  LastState,
  type ContactStatusView,
  LastStateKey,
  NextDialTimeKey,
  attemptFinishedSignal,
  callStatusSignal,
  contactStatusQuery,
  rescheduleSignal,
} from './shared';

const db = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

// The SDK's request timeout (10 s) stays below this activity timeout, so a timed-out try is over
// before the retry lists Twilio's calls (telephony.md §1: at most one call per attempt).
const twilio = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', maximumInterval: '1m' },
});

/** One attempt for one contact: wait until due, dial, wait for the outcome, record it, report. */
export async function callContactWorkflow(input: CallContactInput): Promise<AttemptResult> {
  try {
    const result = await attempt(input);
    await reportToCampaign(input.campaignWorkflowId, result);
    return result;
  } catch (err) {
    // The campaign must hear of every child it started, or it would wait for it forever.
    await reportToCampaign(input.campaignWorkflowId, {
      contactId: input.contact.id,
      attemptNo: input.attemptNo,
      lastState: LastState.ErrorOccurred,
      contactSuccessful: ContactSuccessful.MarkedForDialing,
      placed: false,
      redialTime: null,
      error: String(err),
    });
    throw err;
  }
}

async function attempt(input: CallContactInput): Promise<AttemptResult> {
  const tracker = new CallStatusTracker();
  let dueAt = input.dueAt;
  let phase: ContactStatusView['phase'] = 'waiting';
  let callSid: string | null = null;
  setHandler(callStatusSignal, (e) => tracker.add(e));
  setHandler(rescheduleSignal, ({ dueAt: at }) => {
    dueAt = at;
  });
  setHandler(contactStatusQuery, () => ({
    contactId: input.contact.id,
    attemptNo: input.attemptNo,
    phase,
    dueAt,
    callSid,
    callStatus: tracker.latestStatus,
    callbacks: tracker.count,
  }));

  await waitUntilDue(() => dueAt);

  phase = 'placing';
  const placed = await twilio.placeCall({
    campaign: input.campaign,
    contactId: input.contact.id,
    attemptNo: input.attemptNo,
    workflowId: workflowInfo().workflowId,
    phoneNumber: input.contact.phoneNumber,
    callerId: input.settings.callerId,
    ringTimeoutSeconds: input.settings.ringTimeoutSeconds,
    dueAt,
  });
  let facts: CallFacts;
  if (placed.kind === 'final') {
    facts = placed.facts;
  } else {
    callSid = placed.callSid;
    tracker.expect(placed.callSid);
    phase = 'ringing';
    const ended = await condition(() => tracker.final !== undefined, input.callTimeoutMs);
    facts = ended ? tracker.final! : await twilio.fetchCallFacts({ callSid: placed.callSid });
  }

  phase = 'recording';
  const result = await db.recordOutcome({
    campaign: input.campaign,
    contactId: input.contact.id,
    attemptNo: input.attemptNo,
    facts,
    maxAttempts: input.settings.maxAttempts,
    retryRules: input.settings.retryRules,
  });
  upsertSearchAttributes([
    { key: LastStateKey, value: result.lastState },
    { key: ContactSuccessfulKey, value: result.contactSuccessful },
    { key: NextDialTimeKey, value: result.redialTime ? new Date(result.redialTime) : null },
  ]);
  phase = 'done';
  return result;
}

/** A durable timer until the due time; a reschedule signal moves it, earlier or later. */
async function waitUntilDue(due: () => string | null): Promise<void> {
  for (;;) {
    const at = due();
    const wait = at === null ? 0 : new Date(at).getTime() - Date.now();
    if (wait <= 0) return;
    // wakes early when the due time changes; loops to wait for the new one
    await condition(() => due() !== at, wait);
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
