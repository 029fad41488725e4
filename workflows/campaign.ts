import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { callContactWorkflow } from './call-contact';
import { CampaignRun, type ToStart } from './campaign-run';
import { type CampaignSettings, checkRedialRequest } from '../domain/contract';
import { SHAPES, onSignal, requireInput, updateValidator } from './message-checks';
import {
  type CampaignInput,
  type CampaignResult,
  type CampaignStatus,
  type ReleaseResult,
  CampaignNameKey,
  CampaignStatusKey,
  ContactIdKey,
  DEFAULT_CAMPAIGN_OPTIONS,
  NextDialTimeKey,
  attemptFinishedSignal,
  campaignStatusQuery,
  campaignWorkflowId,
  contactWorkflowId,
  heldContactsQuery,
  lineGrantSignal,
  lineRequestSignal,
  lineReturnSignal,
  pauseSignal,
  redialSignal,
  refillSignal,
  settingsChangedSignal,
  releaseContactUpdate,
  rescheduleSignal,
  resumeSignal,
  scheduleRedialUpdate,
  stopSignal,
  withdrawSignal,
} from './shared';

const db = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: ['UnknownCampaign'] },
});

/**
 * A campaign (§5, §5a, §6, §8): keeps its cache filled from the contacts table and one child per
 * contact dialing. It stays open until paused or stopped (it completes when empty only when asked,
 * finishWhenDone); free lines go down one order over everything due; a CRM redial for a contact
 * the campaign does not hold is written to the row (or refused, and logged).
 */
export async function campaignWorkflow(input: CampaignInput): Promise<CampaignResult> {
  requireInput('campaignWorkflow', SHAPES.campaignInput, input);
  const run = new CampaignRun({ ...DEFAULT_CAMPAIGN_OPTIONS, ...input.options }, input.carry);
  // registered before the first await: an update sent as the campaign starts (a CRM's redial)
  // would otherwise be rejected before its handler exists; it waits in the queue until the loop
  setHandler(scheduleRedialUpdate, (r) => run.scheduleRedial(r), { validator: validateRedial });
  run.settings = input.carry?.settings ?? (await loadSettings(input.name));
  setHandlers(run);
  try {
    await runUntilStopped(run, input);
    return await windDown(run);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // a cancellation (the Temporal UI's button, a client's cancel) is a stop (§5a)
    await CancellationScope.nonCancellable(() => stopWhenCancelled(run));
    throw err;
  }
}

async function runUntilStopped(run: CampaignRun, input: CampaignInput): Promise<void> {
  await setStatus(run, run.status);
  // §6: a contact left at 3 by an earlier run of this campaign that no child holds goes back
  if (!input.carry) await db.recoverContacts({ holder: holder(), self: true });
  while (!run.stopping) {
    if (run.moveError !== undefined) throw run.moveError;
    const seen = run.wakeups;
    if (run.paused) {
      await whilePaused(run);
      continue;
    }
    await step(run);
    setCurrentDetails(run.details());
    if (run.finishedWhenDone) return;
    await continueAsNewIfDue(run, input);
    await sleepUntilWoken(run, seen);
  }
}

/**
 * Cancelled: what `campaign stop` does, then the workflow ends as cancelled. A reservation the
 * cancellation cut short may have taken contacts this run never saw: they go back too.
 */
async function stopWhenCancelled(run: CampaignRun): Promise<void> {
  log.info('cancellation requested: the campaign stops');
  run.ask('stop');
  await windDown(run);
  await db.recoverContacts({ holder: holder(), self: true });
}

/** Every message but scheduleRedial: a malformed signal is logged and ignored, an update refused. */
function setHandlers(run: CampaignRun): void {
  setHandler(pauseSignal, () => run.ask('pause'));
  setHandler(resumeSignal, () => run.ask('resume'));
  setHandler(stopSignal, () => run.ask('stop'));
  setHandler(refillSignal, () => run.ask('refill'));
  setHandler(settingsChangedSignal, () => run.ask('settingsChanged'));
  onSignal(attemptFinishedSignal, SHAPES.attemptFinished, (r) => run.attemptFinished(r));
  onSignal(lineRequestSignal, SHAPES.lineRequest, (r) => run.lineRequested(r));
  onSignal(lineReturnSignal, SHAPES.lineReturn, (r) => run.lineReturned(r));
  setHandler(redialSignal, (r) => warnIfMalformed(run.redialSignalled(r)));
  setHandler(releaseContactUpdate, (r) => releaseContact(run, r.contactId, r.holdMs), {
    validator: updateValidator('releaseContact', SHAPES.releaseContact),
  });
  setHandler(campaignStatusQuery, () => run.view());
  setHandler(heldContactsQuery, () => run.held());
}

/** The campaign's row; an unknown campaign, or one started under another workflow id, fails at once. */
async function loadSettings(name: string): Promise<CampaignSettings> {
  let settings: CampaignSettings;
  try {
    settings = await db.loadCampaign({ name });
  } catch (err) {
    if (
      err instanceof ActivityFailure &&
      err.cause instanceof ApplicationFailure &&
      err.cause.type === 'UnknownCampaign'
    )
      throw ApplicationFailure.nonRetryable(
        `campaignWorkflow: no campaign named "${name}" (create it first: dialer campaign create)`,
        'UnknownCampaign',
      );
    throw err;
  }
  const expected = campaignWorkflowId(settings.name);
  if (workflowInfo().workflowId !== expected)
    throw ApplicationFailure.nonRetryable(
      `campaignWorkflow: campaign "${settings.name}" runs as workflow id "${expected}", not "${workflowInfo().workflowId}"`,
      'WrongWorkflowId',
    );
  return settings;
}

/** The campaign's own workflow id: it holds the contacts it caches (contact_successful 3). */
const holder = () => workflowInfo().workflowId;

const child = (run: CampaignRun, contactId: number) =>
  getExternalWorkflowHandle(contactWorkflowId(run.settings.name, contactId));

function validateRedial(r: unknown): void {
  const request = checkRedialRequest(r);
  if (typeof request === 'string') throw new Error(`scheduleRedial: ${request}`);
}

function warnIfMalformed(error: string | undefined): void {
  if (error !== undefined) log.warn('redial signal ignored: malformed', { error });
}

/** §6: a contact still in the cache goes back to its row; one in flight is its child's to give back. */
async function releaseContact(run: CampaignRun, contactId: number, holdMs: number): Promise<ReleaseResult> {
  if (run.takeFromCache(contactId)) {
    await db.releaseContacts({ holder: holder(), contactIds: [contactId], holdMs });
    return { contactId, outcome: 'released' };
  }
  return { contactId, outcome: run.inFlight.has(contactId) ? 'in-flight' : 'unknown' };
}

/** The campaign's row follows its status; a run continued as new writes only a change. */
async function setStatus(run: CampaignRun, s: CampaignStatus): Promise<void> {
  if (s !== run.status || !run.continued) await db.setCampaignStatus({ name: run.settings.name, status: s });
  run.status = s;
  setCurrentDetails(run.details());
  // for the Temporal UI's list, however the campaign was started (its own form included)
  if (workflowInfo().typedSearchAttributes.get(CampaignStatusKey) !== s && patched(STATUS_ATTRIBUTE_PATCH))
    upsertSearchAttributes([
      { key: CampaignNameKey, value: run.settings.name },
      { key: CampaignStatusKey, value: s },
    ]);
}

/** Since 0.1.0: the campaign keeps its CampaignName and CampaignStatus search attributes itself. */
const STATUS_ATTRIBUTE_PATCH = 'campaign-status-attribute';

/** §6 on pause; a paused campaign still writes the CRM's redials: they are dialed after the resume. */
async function whilePaused(run: CampaignRun): Promise<void> {
  await condition(() => run.movesPending === 0);
  await giveBackUndialed(run);
  await setStatus(run, 'paused');
  for (;;) {
    await condition(() => !run.paused || run.stopping || run.redials.length > 0);
    if (run.redials.length === 0) break;
    await processRedials(run);
  }
  if (!run.stopping) await setStatus(run, 'running');
}

/** One turn of the loop: what the messages asked for, a look at the database if due, the moves. */
async function step(run: CampaignRun): Promise<void> {
  if (run.reloadSettings) {
    run.reloadSettings = false;
    run.settings = await db.loadCampaign({ name: run.settings.name });
  }
  if (run.toRelease.length > 0)
    await db.releaseContacts({ holder: holder(), contactIds: run.toRelease.splice(0) });
  if (run.redials.length > 0) await processRedials(run);
  await Promise.all(
    run
      .takeReschedules()
      .map((r) => signalQuietly(child(run, r.contactId), rescheduleSignal, { dueAt: r.at })),
  );
  if (Date.now() >= run.nextRefillAt()) await refill(run);
  // starts and grants go out without the loop waiting: a burst of starts holds up no grant
  const { grants, starts } = run.nextMoves(Date.now());
  // a cancellation does not cut them short: a child half started would hold its contact unseen
  void CancellationScope.nonCancellable(async () => {
    for (const g of grants)
      run.track(signalQuietly(child(run, g.contactId), lineGrantSignal, { attemptNo: g.attemptNo }));
    for (const s of starts) run.track(startOne(run, s), s);
  });
}

/** Sleeps until a message comes, or until the loop's own next moment (a look, a retried start). */
async function sleepUntilWoken(run: CampaignRun, seen: number): Promise<void> {
  if (run.wakeups !== seen) return;
  const wakeAt = run.wakeAt();
  const woken = () => run.wakeups !== seen;
  await (wakeAt === Infinity ? condition(woken) : condition(woken, Math.max(1, wakeAt - Date.now())));
}

/** History long enough: hand the state to a new run once nothing is on its way or waiting. */
async function continueAsNewIfDue(run: CampaignRun, input: CampaignInput): Promise<void> {
  const info = workflowInfo();
  if (!(info.continueAsNewSuggested || info.historyLength > run.opts.maxHistoryEvents)) return;
  if (!run.mayContinueAsNew) return;
  await condition(() => run.movesPending === 0);
  // a scheduleRedial update waits for this loop: answer it first, continue as new after
  await condition(() => allHandlersFinished() || run.redials.length > 0);
  if (run.redials.length === 0)
    await continueAsNew<typeof campaignWorkflow>({ ...input, carry: run.carry() });
}

/** Stopped, or nothing left to dial: undialed contacts go back (§6); calls in progress finish. */
async function windDown(run: CampaignRun): Promise<CampaignResult> {
  await condition(() => run.movesPending === 0);
  await giveBackUndialed(run);
  if (run.inFlight.size > 0) {
    await setStatus(run, 'stopping');
    await condition(() => run.inFlight.size === 0);
  }
  const final = run.stopping ? 'stopped' : 'completed';
  await setStatus(run, final);
  // redials that came while stopping are written to their rows: dialed when the campaign runs again
  for (;;) {
    await processRedials(run);
    await condition(() => allHandlersFinished() || run.redials.length > 0);
    if (run.redials.length === 0) break;
  }
  return { name: run.settings.name, status: final, stats: run.stats };
}

/**
 * §8: the CRM's redials, in the order they came. A contact the campaign holds moves in memory
 * (cache, or its child's timer); every redial is also written to the contact's row by the
 * scheduleRedial activity, which refuses (and logs) one the contract does not allow.
 */
async function processRedials(run: CampaignRun): Promise<void> {
  const redials = run.redials;
  for (const { request: r, answer } of redials.splice(0)) {
    const route = run.routeRedial(r, Date.now());
    if (route === 'child') run.reschedules.push(r);
    const wrote = await db.scheduleRedial({
      campaign: run.settings.name,
      holder: holder(),
      contactId: r.contactId,
      at: r.at,
      maxAttempts: run.settings.maxAttempts,
    });
    if (wrote.wrote === 'row') {
      run.changed = true;
      // the row was no longer held: that child's attempt has recorded its outcome, the redial is
      // written; its after-call copy goes (kept, or handed back by a report that came meanwhile)
      run.redialsAfterCall.delete(r.contactId);
      const again = redials.findIndex(
        (q) => !q.answer && q.request.contactId === r.contactId && q.request.at === r.at,
      );
      if (again >= 0) redials.splice(again, 1);
    }
    if (!wrote.accepted)
      log.info('a CRM redial was refused', { contactId: r.contactId, reason: wrote.reason });
    const to = wrote.wrote === 'row' ? 'row' : route;
    const where = {
      cached: 'it waits in the cache and is dialed at the new time',
      child: run.redialsAfterCall.has(r.contactId)
        ? 'it is being dialed: the redial is written when this call ends, if another attempt is allowed'
        : 'its workflow waits, and its timer moved to the new time',
      row: wrote.reason,
    }[to];
    const later =
      run.stopping && wrote.accepted ? '; the campaign is stopping: dialed when it runs again' : '';
    answer?.({ contactId: r.contactId, accepted: wrote.accepted, reason: `${where}${later}`, where: to });
  }
}

/** §6 on pause and stop: the cache goes back now; children not yet dialing give theirs back. */
async function giveBackUndialed(run: CampaignRun): Promise<void> {
  await db.releaseContacts({ holder: holder(), contactIds: run.drainCache() });
  run.lineRequests = [];
  await Promise.all([...run.inFlight.keys()].map((id) => signalQuietly(child(run, id), withdrawSignal)));
}

/** A child may have ended between our bookkeeping and the signal; that is not an error. */
async function signalQuietly<Args extends unknown[]>(
  handle: ReturnType<typeof getExternalWorkflowHandle>,
  def: Parameters<typeof handle.signal<Args>>[0],
  ...args: Args
): Promise<void> {
  try {
    await handle.signal(def, ...args);
  } catch (err) {
    log.info('signal to a contact workflow not delivered', {
      workflowId: handle.workflowId,
      error: String(err),
    });
  }
}

/** Takes due contacts into the cache (§6: they are set to 3 as they are taken). */
async function refill(run: CampaignRun): Promise<void> {
  const ask = run.startRefill(Date.now());
  const { contacts, nextRedialAt, agentCapacity, pacing, progress } = await db.reserveContacts({
    campaign: run.settings.name,
    holder: holder(),
    reservation: `${holder()}#${workflowInfo().firstExecutionRunId}#${ask.seq}`,
    limit: ask.limit,
    lookaheadLimit: ask.lookaheadLimit,
    maxAttempts: run.settings.maxAttempts,
    lookaheadMs: run.opts.lookaheadMs,
    ...(ask.withProgress ? { withProgress: true } : {}),
  });
  run.addToCache(contacts, nextRedialAt, Date.now(), agentCapacity, pacing);
  run.counted(progress, Date.now());
}

/** Starts one contact's child; false when its previous run was still closing (tried again shortly). */
async function startOne(run: CampaignRun, s: ToStart): Promise<boolean> {
  const campaign = run.settings.name;
  const c = s.contact;
  try {
    await startChild(callContactWorkflow, {
      workflowId: contactWorkflowId(campaign, c.id),
      args: [
        {
          campaign,
          campaignWorkflowId: holder(),
          contact: c,
          attemptNo: c.attemptNo,
          dueAt: c.redialAt,
          settings: run.settings,
          callTimeoutMs: run.opts.callTimeoutMs,
          lineGranted: s.lineGranted,
        },
      ],
      // The child outlives a stopped or continued-as-new parent and reports by signal; a cancelled
      // campaign withdraws its children itself, as a stopped one does.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      staticSummary: `Contact ${c.id} of campaign ${campaign}, attempt ${c.attemptNo}`,
      cancellationType: ChildWorkflowCancellationType.ABANDON,
      // for the Temporal UI: the masked number and the attempt (never a name or a full number)
      ...(c.display ? { memo: { phone: c.display.phone, attempt: c.attemptNo } } : {}),
      typedSearchAttributes: [
        { key: CampaignNameKey, value: campaign },
        { key: ContactIdKey, value: c.id },
        ...(c.redialAt ? [{ key: NextDialTimeKey, value: new Date(c.redialAt) }] : []),
      ],
    });
    return true;
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    log.info('previous attempt of this contact still closing; retrying the start', { contactId: c.id });
    run.startFailed(c, Date.now());
    return false;
  }
}
