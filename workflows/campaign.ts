import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { callContactWorkflow } from './call-contact';
import { CampaignRun, type ToStart } from './campaign-run';
import {
  type CampaignInput,
  type CampaignResult,
  type CampaignStatus,
  type RedialAnswer,
  type RedialRequest,
  CampaignNameKey,
  ContactIdKey,
  DEFAULT_CAMPAIGN_OPTIONS,
  NextDialTimeKey,
  attemptFinishedSignal,
  campaignStatusQuery,
  contactWorkflowId,
  heldContactsQuery,
  dialOrder,
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
  checkRedialRequest,
  withdrawSignal,
} from './shared';

const db = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: ['UnknownCampaign'] },
});

/** Contact workflows carry a memo for the Temporal UI (name, masked number, attempt). */
const CONTACT_MEMO_PATCH = 'contact-memo';

/**
 * Child starts and line grants go out without the loop waiting for them (issue 9): a burst of
 * starts (the look-ahead's redials at campaign start) no longer holds back the grants of children
 * whose time has come. What is on its way is counted, and awaited before a pause, a stop or
 * continue-as-new (the server drops a signal whose sender has closed).
 */
const BACKGROUND_MOVES_PATCH = 'moves-in-background';
/** With BACKGROUND_MOVES_PATCH: children that are not due yet whose start may be on its way at once. */
const WAITING_STARTS_AT_ONCE = 20;

/**
 * A campaign with agents looks at them at least this often (issue 10, dialing modes): an agent
 * coming free sends no signal, and the mode's calls in flight follow the agents.
 */
const PACING_REFRESH_PATCH = 'pacing-refresh';
const PACING_REFRESH_MS = 1000;
const PACING_IDLE_REFRESH_MS = 10_000;

/**
 * Contract §5, §5a and §8 as the CRM sees them, for campaigns started from here on: a campaign
 * stays open until paused or stopped (completing when empty only when asked); free lines go down
 * one order over everything due, in the cache or on a child's own timer; a CRM redial for a
 * contact the campaign does not hold is written to the row (or refused, and logged).
 */
const CRM_CONTRACT_PATCH = 'campaign-open-one-order';

/** A CRM redial waiting for the main loop, with the update's answer if one waits for it. */
interface QueuedRedial {
  request: RedialRequest;
  answer?: (a: RedialAnswer) => void;
}

/** A campaign: keeps its cache filled from the contacts table and one child per contact dialing. */
export async function campaignWorkflow(input: CampaignInput): Promise<CampaignResult> {
  const crm = patched(CRM_CONTRACT_PATCH);
  const opts = { ...DEFAULT_CAMPAIGN_OPTIONS, finishWhenDone: !crm, ...input.options };
  const holder = workflowInfo().workflowId;
  let signals = 0; // every message bumps it; the loop sleeps until it moves
  const poke = () => void signals++;
  // updates are registered before the first await: one sent as the campaign starts (a CRM's
  // redial) would otherwise be rejected before its handler exists; they wait until it is ready
  let ready = false;
  const redials: QueuedRedial[] = [];
  setHandler(
    scheduleRedialUpdate,
    async (r) => {
      let answer: RedialAnswer | undefined;
      redials.push({ request: checkRedialRequest(r) as RedialRequest, answer: (a) => (answer = a) });
      poke();
      await condition(() => answer !== undefined);
      return answer!;
    },
    {
      validator: (r) => {
        const request = checkRedialRequest(r);
        if (typeof request === 'string') throw new Error(`scheduleRedial: ${request}`);
      },
    },
  );
  const settings = input.carry?.settings ?? (await db.loadCampaign({ name: input.name }));
  const run = new CampaignRun(settings, opts, input.carry);
  ready = true;
  const child = (contactId: number) => getExternalWorkflowHandle(contactWorkflowId(settings.name, contactId));
  const reschedules: RedialRequest[] = [];
  let status: CampaignStatus = run.paused ? 'paused' : 'running';
  // starts and grants on their way (BACKGROUND_MOVES_PATCH); a start's unexpected error fails the task
  let movesPending = 0;
  let moveError: unknown;
  const starting = new Map<number, ToStart>(); // children whose start is on its way
  const waitingStarting = () => [...starting.values()].filter((s) => !s.lineGranted).length;
  const inBackground = (p: Promise<unknown>, start?: ToStart) => {
    movesPending++;
    if (start) starting.set(start.contact.id, start);
    // one handler pair, no finally: every promise in workflow code costs the SDK a stack trace
    p.then(
      (started) => {
        movesPending--;
        if (!start) return;
        starting.delete(start.contact.id);
        // wake the loop: a retry is due, a reschedule waited for this child, or more may start
        if (started === false || reschedules.length > 0 || !start.lineGranted) poke();
      },
      (err) => {
        movesPending--;
        moveError ??= err;
        poke();
      },
    );
  };
  const movesSettled = () => condition(() => movesPending === 0);
  setHandler(pauseSignal, () => ((run.paused = true), poke()));
  setHandler(resumeSignal, () => ((run.paused = false), (run.changed = true), poke()));
  setHandler(stopSignal, () => ((run.stopping = true), poke()));
  setHandler(refillSignal, () => ((run.changed = true), poke()));
  let reloadSettings = false;
  setHandler(settingsChangedSignal, () => ((reloadSettings = true), (run.changed = true), poke()));
  setHandler(attemptFinishedSignal, (r) => {
    const redial = run.finished(r); // a CRM redial that waited for this call to end
    if (redial) redials.push({ request: redial });
    poke();
  });
  setHandler(lineRequestSignal, (r) => (run.requestLine(r), poke()));
  setHandler(lineReturnSignal, (r) => {
    const heldBack = r.delayedUntil && r.rule ? { until: r.delayedUntil, rule: r.rule } : undefined;
    run.returnLine(r.contactId, r.attemptNo, heldBack);
    poke();
  });
  setHandler(redialSignal, (r) => {
    if (!crm) return (legacyRedial(run, reschedules, r), poke());
    const request = checkRedialRequest(r);
    if (typeof request === 'string') log.warn('redial signal ignored: malformed', { error: request });
    else redials.push({ request });
    poke();
  });
  setHandler(releaseContactUpdate, async ({ contactId, holdMs }) => {
    await condition(() => ready);
    if (run.takeFromCache(contactId)) {
      await db.releaseContacts({ holder, contactIds: [contactId], holdMs });
      return { contactId, outcome: 'released' };
    }
    return { contactId, outcome: run.inFlight.has(contactId) ? 'in-flight' : 'unknown' };
  });
  setHandler(campaignStatusQuery, () => run.view(status));
  setHandler(heldContactsQuery, () => ({
    cached: run.cache.map((c) => c.id),
    inFlight: [...run.inFlight.keys()],
  }));

  const setStatus = async (s: CampaignStatus) => {
    if (s !== status || !input.carry) await db.setCampaignStatus({ name: settings.name, status: s });
    status = s;
  };
  await setStatus(status);
  // §6: a contact left at 3 by an earlier run of this campaign that no child holds goes back
  if (!input.carry) await db.recoverContacts({ holder, self: true });

  while (!run.stopping) {
    if (moveError !== undefined) throw moveError;
    const seen = signals;
    if (run.paused) {
      await movesSettled();
      await giveBackUndialed(run, holder, child);
      await setStatus('paused');
      // a paused campaign still writes the CRM's redials: they are dialed after the resume
      for (;;) {
        await condition(() => !run.paused || run.stopping || redials.length > 0);
        if (redials.length === 0) break;
        await processRedials(run, holder, redials, reschedules);
      }
      if (!run.stopping) await setStatus('running');
      continue;
    }
    if (reloadSettings) {
      reloadSettings = false;
      run.settings = await db.loadCampaign({ name: settings.name });
    }
    if (run.toRelease.length > 0) await db.releaseContacts({ holder, contactIds: run.toRelease.splice(0) });
    if (redials.length > 0) await processRedials(run, holder, redials, reschedules);
    // a child whose start is still on its way gets its reschedule once it runs
    const toReschedule = reschedules.filter((r) => !starting.has(r.contactId));
    reschedules.splice(0, reschedules.length, ...reschedules.filter((r) => starting.has(r.contactId)));
    await Promise.all(
      toReschedule.map((r) => signalQuietly(child(r.contactId), rescheduleSignal, { dueAt: r.at })),
    );
    // only while contacts wait for the agents; slower while none works (a campaign left overnight)
    const refresh = () =>
      run.agentCapacity !== null && run.cache.length > 0 && patched(PACING_REFRESH_PATCH)
        ? run.agentCapacity > 0
          ? PACING_REFRESH_MS
          : PACING_IDLE_REFRESH_MS
        : undefined;
    const idleRefill = crm ? opts.idleRefillIntervalMs : undefined;
    if (Date.now() >= run.nextRefillAt(refresh(), idleRefill))
      await refill(run, holder, opts.lookaheadMs, crm);
    const background = patched(BACKGROUND_MOVES_PATCH);
    const { grants, starts } = run.nextMoves(
      Date.now(),
      background ? WAITING_STARTS_AT_ONCE - waitingStarting() : Infinity,
      crm,
      starting,
    );
    const grantsSent = grants.map((g) =>
      signalQuietly(child(g.contactId), lineGrantSignal, { attemptNo: g.attemptNo }),
    );
    const started = starts.map((s) => startOne(run, holder, s, opts.callTimeoutMs));
    if (background) {
      grantsSent.forEach((p) => inBackground(p));
      started.forEach((p, i) => inBackground(p, starts[i]));
    } else {
      await Promise.all([...grantsSent, ...started]);
    }
    if (opts.finishWhenDone && run.idle && redials.length === 0) break;
    const info = workflowInfo();
    if (
      (info.continueAsNewSuggested || info.historyLength > opts.maxHistoryEvents) &&
      reschedules.length === 0 &&
      redials.length === 0
    ) {
      await movesSettled();
      // a scheduleRedial update waits for this loop: answer it first, continue as new after
      await condition(() => allHandlersFinished() || redials.length > 0);
      if (redials.length === 0)
        await continueAsNew<typeof campaignWorkflow>({ ...input, carry: run.carry() });
    }
    const wakeAt = Math.min(run.nextRefillAt(refresh(), idleRefill), run.retryStartAt ?? Infinity);
    const sleep = wakeAt === Infinity ? undefined : Math.max(1, wakeAt - Date.now());
    if (signals === seen) {
      await (sleep === undefined
        ? condition(() => signals !== seen)
        : condition(() => signals !== seen, sleep));
    }
  }

  // Stopped, or nothing left to dial: undialed contacts go back (§6); calls in progress finish.
  await movesSettled();
  await giveBackUndialed(run, holder, child);
  if (run.inFlight.size > 0) {
    await setStatus('stopping');
    await condition(() => run.inFlight.size === 0);
  }
  const final = run.stopping ? 'stopped' : 'completed';
  await setStatus(final);
  // redials that came while stopping are written to their rows: dialed when the campaign runs again
  for (;;) {
    await processRedials(run, holder, redials, reschedules);
    await condition(() => allHandlersFinished() || redials.length > 0);
    if (redials.length === 0) break;
  }
  return { name: settings.name, status: final, stats: run.stats };
}

/**
 * §8: the CRM's redials, in the order they came. A contact the campaign holds moves in memory
 * (cache, or its child's timer); every redial is also written to the contact's row by the
 * scheduleRedial activity, which refuses (and logs) one the contract does not allow.
 */
async function processRedials(
  run: CampaignRun,
  holder: string,
  redials: QueuedRedial[],
  reschedules: RedialRequest[],
): Promise<void> {
  for (const { request: r, answer } of redials.splice(0)) {
    const route = run.routeRedial(r, Date.now());
    if (route === 'child') reschedules.push(r);
    const wrote = await db.scheduleRedial({
      campaign: run.settings.name,
      holder,
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

/** Campaign runs recorded before CRM_CONTRACT_PATCH: the redial moved what it could, or refilled. */
function legacyRedial(run: CampaignRun, reschedules: RedialRequest[], r: RedialRequest): void {
  const cached = run.cache.find((c) => c.id === r.contactId);
  if (cached) {
    cached.redialAt = r.at;
    run.cache.sort(dialOrder(Date.now()));
  } else if (run.inFlight.has(r.contactId)) reschedules.push(r);
  else run.changed = true;
}

/** §6 on pause and stop: the cache goes back now; children not yet dialing give theirs back. */
async function giveBackUndialed(
  run: CampaignRun,
  holder: string,
  child: (contactId: number) => ReturnType<typeof getExternalWorkflowHandle>,
): Promise<void> {
  await db.releaseContacts({ holder, contactIds: run.drainCache() });
  run.lineRequests = [];
  await Promise.all([...run.inFlight.keys()].map((id) => signalQuietly(child(id), withdrawSignal)));
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

/**
 * Takes due contacts into the cache. `keepNews` (CRM_CONTRACT_PATCH): a change told while the
 * reservation runs (the CRM's row committed after its snapshot) makes the campaign look again;
 * before, the refill's end forgot it until the next periodic look (30 min while idle).
 */
async function refill(
  run: CampaignRun,
  holder: string,
  lookaheadMs: number,
  keepNews = false,
): Promise<void> {
  const limit = run.refillLimit();
  run.reservationSeq += 1;
  if (keepNews) run.changed = false;
  const { contacts, nextRedialAt, agentCapacity, pacing } = await db.reserveContacts({
    campaign: run.settings.name,
    holder,
    reservation: `${holder}#${workflowInfo().firstExecutionRunId}#${run.reservationSeq}`,
    limit,
    lookaheadLimit: run.lookaheadLimit(),
    maxAttempts: run.settings.maxAttempts,
    lookaheadMs,
  });
  const toldMeanwhile = run.changed;
  // agentCapacity is absent in results recorded before pacing existed (replay), pacing before modes
  run.addToCache(contacts, nextRedialAt, Date.now(), agentCapacity ?? null, pacing);
  if (keepNews) run.changed = toldMeanwhile;
}

/** Starts one contact's child; false when its previous run was still closing (tried again shortly). */
async function startOne(
  run: CampaignRun,
  holder: string,
  s: ToStart,
  callTimeoutMs: number,
): Promise<boolean> {
  const campaign = run.settings.name;
  const c = s.contact;
  try {
    await startChild(callContactWorkflow, {
      workflowId: contactWorkflowId(campaign, c.id),
      args: [
        {
          campaign,
          campaignWorkflowId: holder,
          contact: c,
          attemptNo: c.attemptNo,
          dueAt: c.redialAt,
          settings: run.settings,
          callTimeoutMs,
          lineGranted: s.lineGranted,
        },
      ],
      // The child outlives a stopped or continued-as-new parent and reports by signal.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      ...(c.display && patched(CONTACT_MEMO_PATCH)
        ? { memo: { contact: c.display.name ?? '', phone: c.display.phone, attempt: c.attemptNo } }
        : {}),
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
