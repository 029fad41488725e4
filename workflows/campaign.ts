import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ParentClosePolicy,
  condition,
  continueAsNew,
  log,
  proxyActivities,
  setHandler,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { callContactWorkflow } from './call-contact';
import { CampaignRun } from './campaign-run';
import {
  type CachedContact,
  type CampaignInput,
  type CampaignResult,
  type CampaignStatus,
  CampaignNameKey,
  ContactIdKey,
  DEFAULT_CAMPAIGN_OPTIONS,
  NextDialTimeKey,
  attemptFinishedSignal,
  campaignStatusQuery,
  contactWorkflowId,
  pauseSignal,
  refillSignal,
  resumeSignal,
  stopSignal,
} from './shared';

const db = proxyActivities<Activities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s', nonRetryableErrorTypes: ['UnknownCampaign'] },
});

/** A campaign: keeps its cache filled from the contacts table and one child per contact dialing. */
export async function campaignWorkflow(input: CampaignInput): Promise<CampaignResult> {
  const opts = { ...DEFAULT_CAMPAIGN_OPTIONS, ...input.options };
  const holder = workflowInfo().workflowId;
  const settings = input.carry?.settings ?? (await db.loadCampaign({ name: input.name }));
  const run = new CampaignRun(settings, opts, input.carry);
  let status: CampaignStatus = run.paused ? 'paused' : 'running';
  let signals = 0; // every message bumps it; the loop sleeps until it moves
  const poke = () => void signals++;
  setHandler(pauseSignal, () => ((run.paused = true), poke()));
  setHandler(resumeSignal, () => ((run.paused = false), (run.changed = true), poke()));
  setHandler(stopSignal, () => ((run.stopping = true), poke()));
  setHandler(refillSignal, () => ((run.changed = true), poke()));
  setHandler(attemptFinishedSignal, (r) => (run.finished(r), poke()));
  setHandler(campaignStatusQuery, () => run.view(status));

  const setStatus = async (s: CampaignStatus) => {
    if (s !== status || !input.carry) await db.setCampaignStatus({ name: settings.name, status: s });
    status = s;
  };
  await setStatus(status);

  while (!run.stopping) {
    const seen = signals;
    if (run.paused) {
      await db.releaseContacts({ holder, contactIds: run.drainCache() });
      await setStatus('paused');
      await condition(() => !run.paused || run.stopping);
      if (!run.stopping) await setStatus('running');
      continue;
    }
    if (run.toRelease.length > 0) await db.releaseContacts({ holder, contactIds: run.toRelease.splice(0) });
    if (Date.now() >= run.nextRefillAt()) await refill(run, holder, opts.lookaheadMs);
    await startChildren(run, holder, opts.callTimeoutMs);
    if (opts.finishWhenDone && run.done) break;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > opts.maxHistoryEvents) {
      await continueAsNew<typeof campaignWorkflow>({ ...input, carry: run.carry() });
    }
    const wakeAt = Math.min(run.nextRefillAt(), run.retryStartAt ?? Infinity);
    const sleep = wakeAt === Infinity ? undefined : Math.max(1, wakeAt - Date.now());
    if (signals === seen)
      await (sleep === undefined
        ? condition(() => signals !== seen)
        : condition(() => signals !== seen, sleep));
  }

  // Stopped, or nothing left to dial: undialed contacts go back (§6); calls in progress finish.
  await db.releaseContacts({ holder, contactIds: run.drainCache() });
  if (run.inFlight.size > 0) {
    await setStatus('stopping');
    await condition(() => run.inFlight.size === 0);
  }
  const final = run.stopping ? 'stopped' : 'completed';
  await setStatus(final);
  return { name: settings.name, status: final, stats: run.stats };
}

async function refill(run: CampaignRun, holder: string, lookaheadMs: number): Promise<void> {
  const limit = run.refillLimit();
  run.reservationSeq += 1;
  const { contacts, nextRedialAt } = await db.reserveContacts({
    campaign: run.settings.name,
    holder,
    reservation: `${holder}#${workflowInfo().firstExecutionRunId}#${run.reservationSeq}`,
    limit,
    maxAttempts: run.settings.maxAttempts,
    lookaheadMs,
  });
  run.addToCache(contacts, nextRedialAt, Date.now());
}

async function startChildren(run: CampaignRun, holder: string, callTimeoutMs: number): Promise<void> {
  const batch = run.takeForDialing(Date.now());
  await Promise.all(batch.map((c) => startOne(run, holder, c, callTimeoutMs)));
}

async function startOne(run: CampaignRun, holder: string, c: CachedContact, callTimeoutMs: number) {
  const campaign = run.settings.name;
  run.started(c, Date.now());
  try {
    await startChild(callContactWorkflow, {
      workflowId: contactWorkflowId(campaign, c.id),
      args: [
        {
          campaign,
          campaignWorkflowId: holder,
          contact: c,
          attemptNo: c.numberOfContacts + 1,
          dueAt: c.redialAt,
          settings: run.settings,
          callTimeoutMs,
        },
      ],
      // The child outlives a stopped or continued-as-new parent and reports by signal.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: CampaignNameKey, value: campaign },
        { key: ContactIdKey, value: c.id },
        ...(c.redialAt ? [{ key: NextDialTimeKey, value: new Date(c.redialAt) }] : []),
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    log.info('previous attempt of this contact still closing; retrying the start', { contactId: c.id });
    run.startFailed(c, Date.now());
  }
}
