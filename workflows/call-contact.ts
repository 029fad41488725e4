import {
  condition,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PlaceCallResult } from '../activities/calls';
import { CallStatusTracker } from './call-status-tracker';
import {
  type AttemptResult,
  type CallContactInput,
  type CallFacts,
  ContactSuccessful,
  ContactSuccessfulKey,
  type ContactStatusView,
  LastState,
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
// before the retry lists Twilio's calls (telephony.md §1: at most one call per attempt).
const TWILIO_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', maximumInterval: '1m' },
} as const;
const twilio = proxyActivities<Activities>(TWILIO_OPTIONS);

/** Creates go through the campaign's dialing task queue, rate-limited to its calls per second. */
const DIAL_TASK_QUEUE_PATCH = 'dial-task-queue';

/**
 * The outcome is written by a local activity, in the workflow task that took the final callback:
 * no activity task goes through the server's queue (three events and a round trip fewer per
 * attempt, issue 9). The write is idempotent (keyed by the attempt), so running it again after a
 * worker died mid-task changes nothing.
 */
const LOCAL_RECORD_PATCH = 'record-outcome-local';
const dbLocal = proxyLocalActivities<Activities>(DB_OPTIONS);

/**
 * Both patches above in one marker, for contact workflows started from here on: each patch costs
 * every new workflow a marker and a search-attribute update (issue 9). Workflows that recorded the
 * two old markers keep replaying through them.
 */
const CURRENT_PATCH = 'contact-dial-queue-and-local-record';

/**
 * Contact workflows started from here on (issue 10): the placing step may hold an attempt back
 * (the calling window or a cap) and the workflow then waits on a durable timer without a line.
 * Its marker stands for CURRENT_PATCH too, so a new workflow still records one marker.
 */
const DIAL_CHECKS_PATCH = 'contact-dial-checks';

type Phase = ContactStatusView['phase'];

/** How long to wait for the <Dial> action request after the final status callback. */
const DIAL_RESULT_GRACE_MS = 10_000;

/** One attempt for one contact: wait until due, dial, wait for the outcome, record it, report. */
export async function callContactWorkflow(input: CallContactInput): Promise<AttemptResult> {
  const base = { contactId: input.contact.id, attemptNo: input.attemptNo, placed: false, redialTime: null };
  try {
    const result = await attempt(input);
    await reportToCampaign(input.campaignWorkflowId, result);
    return result;
  } catch (err) {
    // The campaign must hear of every child it started, or it would wait for it forever.
    const failed = {
      ...base,
      lastState: LastState.ErrorOccurred,
      contactSuccessful: ContactSuccessful.MarkedForDialing,
    };
    await reportToCampaign(input.campaignWorkflowId, { ...failed, error: String(err) });
    throw err;
  }
}

async function attempt(input: CallContactInput): Promise<AttemptResult> {
  const checks = patched(DIAL_CHECKS_PATCH);
  const current = checks || patched(CURRENT_PATCH);
  const tracker = new CallStatusTracker();
  let dueAt = input.dueAt;
  let hasLine = input.lineGranted;
  let withdrawn = false;
  let holdMs: number | undefined;
  let phase: Phase = 'waiting';
  let callSid: string | null = null;
  let heldBack: ContactStatusView['heldBack'];
  const undialed = () => phase === 'waiting' || phase === 'waiting-for-line' || phase === 'preview';
  // preview mode (settings from before modes have none): an agent decides before the call
  const preview = input.settings.dialingMode === 'preview';
  let decision: { decision: 'take' | 'skip'; agent: string; holdMs?: number } | undefined;
  setHandler(previewDecisionSignal, (d) => {
    if (phase === 'preview' && decision === undefined) decision = d;
  });
  setHandler(callStatusSignal, (e) => tracker.add(e));
  setHandler(callFactsSignal, ({ callSid: sid, facts }) => tracker.addFacts(sid, facts));
  let honoured: string | undefined; // the campaign's last reschedule taken before dialing
  setHandler(rescheduleSignal, ({ dueAt: at }) => {
    if (!undialed()) return;
    dueAt = at;
    honoured = at;
  });
  setHandler(lineGrantSignal, ({ attemptNo }) => {
    if (attemptNo === input.attemptNo) hasLine = true;
  });
  setHandler(withdrawSignal, () => {
    // while placing: honoured if the placing step holds the attempt back (it then waits undialed)
    if (undialed() || phase === 'placing') withdrawn = true;
  });
  setHandler(withdrawUpdate, async (o) => {
    if (!undialed()) return { outcome: 'dialing' as const };
    withdrawn = true;
    holdMs = o.holdMs;
    await condition(() => phase === 'withdrawn');
    return { outcome: 'released' as const };
  });
  setHandler(contactStatusQuery, () => ({
    contactId: input.contact.id,
    attemptNo: input.attemptNo,
    phase,
    dueAt,
    callSid,
    callStatus: tracker.latestStatus,
    callbacks: tracker.count,
    ...(heldBack ? { heldBack } : {}),
  }));

  // Wait for the due time and a line; a reschedule to later gives the line back (§5: never early).
  const campaign = getExternalWorkflowHandle(input.campaignWorkflowId);
  const ids = { contactId: input.contact.id, attemptNo: input.attemptNo };
  let placed: PlaceCallResult;
  for (;;) {
    for (;;) {
      await waitUntilDue(
        () => dueAt,
        () => withdrawn,
      );
      if (withdrawn) break;
      if (!hasLine) {
        phase = 'waiting-for-line';
        await campaign.signal(lineRequestSignal, { ...ids, dueAt });
        const at = dueAt;
        await condition(() => hasLine || withdrawn || dueAt !== at);
        phase = 'waiting';
      }
      if (withdrawn) break;
      if (isDue(dueAt)) break;
      if (hasLine) {
        hasLine = false;
        await campaign.signal(lineReturnSignal, ids);
      }
    }
    const key = { campaign: input.campaign, contactId: input.contact.id, attemptNo: input.attemptNo };
    if (preview && !withdrawn && decision?.decision !== 'take') {
      phase = 'preview';
      await db.offerPreview({ ...key, workflowId: workflowInfo().workflowId });
      await condition(() => decision !== undefined || withdrawn);
      if (decision?.decision === 'skip') {
        // the agent skipped it: back undialed, and out of every cache for a while
        withdrawn = true;
        holdMs = decision.holdMs;
      }
      if (withdrawn && decision?.decision !== 'skip') await db.closePreview(key);
    }
    if (withdrawn) {
      // §6: back to the value it had before it was cached; nothing else on the row changes
      await db.releaseContacts({ holder: input.campaignWorkflowId, contactIds: [input.contact.id], holdMs });
      if (hasLine) await campaign.signal(lineReturnSignal, ids).catch(() => undefined);
      phase = 'withdrawn';
      return {
        ...ids,
        lastState: LastState.ErrorOccurred,
        contactSuccessful: input.contact.cachedFrom as ContactSuccessful,
        placed: false,
        redialTime: null,
        withdrawn: true,
        ...(honoured ? { honouredReschedule: honoured } : {}),
      };
    }

    phase = 'placing';
    const placer =
      current || patched(DIAL_TASK_QUEUE_PATCH)
        ? proxyActivities<Activities>({
            ...TWILIO_OPTIONS,
            taskQueue: dialTaskQueue(workflowInfo().taskQueue, input.campaign),
          })
        : twilio;
    placed = await placer.placeCall({
      campaign: input.campaign,
      contactId: input.contact.id,
      attemptNo: input.attemptNo,
      workflowId: workflowInfo().workflowId,
      phoneNumber: input.contact.phoneNumber,
      callerId: input.settings.callerId,
      ringTimeoutSeconds: input.settings.ringTimeoutSeconds,
      dueAt,
      machineDetection: input.settings.machineDetection ?? 'off',
      ...(checks ? { mayDelay: true } : {}),
      // how long the attempt may hold its number (invariant 9) if it never ends
      callTimeoutMs: input.callTimeoutMs,
    });
    if (placed.kind !== 'delayed') break;
    // Held back by the calling window or a cap (nothing was sent): the line goes back, and the
    // attempt waits on its timer for the first allowed moment, which the placing step checks again.
    heldBack = { rule: placed.rule, reason: placed.reason, until: placed.until };
    dueAt = placed.until;
    phase = 'waiting';
    if (preview) {
      // the agent who took it is free again; it is offered afresh when it may be dialed
      await db.closePreview(key);
      decision = undefined;
    }
    if (hasLine) {
      hasLine = false;
      await campaign.signal(lineReturnSignal, { ...ids, delayedUntil: placed.until, rule: placed.rule });
    }
  }
  let facts: CallFacts;
  if (placed.kind === 'final') {
    facts = placed.facts;
  } else {
    callSid = placed.callSid;
    tracker.expect(placed.callSid);
    phase = 'ringing';
    const ended = await condition(() => tracker.final !== undefined, input.callTimeoutMs);
    // no final callback: ask Twilio (and end the call if it is still live)
    const fetched = ended ? undefined : await twilio.fetchCallFacts({ callSid: placed.callSid });
    // rows 16–20 need the <Dial> result; it may arrive just after the final status
    if (tracker.awaitingDialResult) await condition(() => !tracker.awaitingDialResult, DIAL_RESULT_GRACE_MS);
    facts = fetched ? { ...fetched, ...tracker.webhookFacts() } : tracker.final!;
  }

  phase = 'recording';
  const result = await (current || patched(LOCAL_RECORD_PATCH) ? dbLocal : db).recordOutcome({
    campaign: input.campaign,
    contactId: input.contact.id,
    attemptNo: input.attemptNo,
    facts,
    maxAttempts: input.settings.maxAttempts,
    retryRules: input.settings.retryRules,
    ...(preview ? { preview: true } : {}),
  });
  upsertSearchAttributes([
    { key: LastStateKey, value: result.lastState },
    { key: ContactSuccessfulKey, value: result.contactSuccessful },
    { key: NextDialTimeKey, value: result.redialTime ? new Date(result.redialTime) : null },
  ]);
  phase = 'done';
  return honoured ? { ...result, honouredReschedule: honoured } : result;
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
