/**
 * What no workflow code sees: a campaign terminated, reset, timed out or failed for good leaves
 * its row saying running (or paused, stopping) and its contacts at 3 (§6, invariant 3). The
 * reconciler, run by every worker process, finds such campaigns and such holders and puts things
 * right: the contacts no live workflow holds go back, the row says stopped, and each contact's
 * return is in its decision log. Several reconcilers may run at once: each write is conditional.
 */
import type { Client } from '@temporalio/client';
import type { Sql } from '../db/client';
import { campaignsMarkedLive, markCampaignStoppedIfLive } from '../db/queries/campaigns';
import { insertContactEventSql } from '../db/queries/contact-events';
import { holdersOfCachedContacts } from '../db/queries/contacts';
import { recoverOrphans, workflowState } from './recovery';
import {
  campaignOfWorkflowId,
  campaignWorkflowId,
  contactWorkflowId,
  withdrawSignal,
} from '../workflows/shared';

export interface ReconcileReport {
  /** Campaigns whose row said live while their workflow had closed: now stopped. */
  stopped: { campaign: string; workflow: string }[];
  /** Contacts returned, by the workflow that had held them. */
  released: { holder: string; workflow: string; contactIds: number[] }[];
}

/**
 * Contacts cached this recently are left alone: a reservation may be on its way to its workflow,
 * and the operator's own `recover` may be about to look at them. Returned within 30 s all the same.
 */
export const RECONCILE_MIN_AGE_MS = 15_000;

/** A state in which the workflow still holds what it held (continued as new: its next run does). */
const live = (state: string) => state === 'RUNNING' || state === 'CONTINUED_AS_NEW';

export async function reconcile(sql: Sql, temporal: Client): Promise<ReconcileReport> {
  const report: ReconcileReport = { stopped: [], released: [] };
  for (const campaign of await campaignsMarkedLive(sql)) {
    const state = await workflowState(temporal, campaignWorkflowId(campaign));
    if (live(state)) continue;
    if (await markCampaignStoppedIfLive(sql, campaign)) report.stopped.push({ campaign, workflow: state });
  }
  for (const holder of await holdersOfCachedContacts(sql, RECONCILE_MIN_AGE_MS)) {
    const state = await workflowState(temporal, holder);
    if (live(state)) continue;
    const contactIds = await returnContacts(sql, temporal, holder, state);
    if (contactIds.length > 0) report.released.push({ holder, workflow: state, contactIds });
  }
  return report;
}

/**
 * §6: the holder's contacts that no running contact workflow dials go back, each with its reason.
 * Its children still waiting are withdrawn, as a stop would (no campaign is left to give them a
 * line): they give their contacts back themselves, and a call in flight ends and is recorded.
 */
async function returnContacts(sql: Sql, temporal: Client, holder: string, state: string): Promise<number[]> {
  const opts = { holder, self: true, minAgeMs: RECONCILE_MIN_AGE_MS };
  const { released, kept } = await recoverOrphans(sql, temporal, opts);
  const campaign = campaignOfWorkflowId(holder);
  if (campaign !== null)
    for (const id of kept)
      await temporal.workflow
        .getHandle(contactWorkflowId(campaign, id))
        .signal(withdrawSignal)
        .catch(() => undefined); // it ended meanwhile, or never started
  const why =
    state === 'NOT_FOUND'
      ? `returned: the workflow ${holder} that held it no longer exists`
      : `returned: the workflow ${holder} that held it ended ${state.toLowerCase()}`;
  for (const contactId of released)
    await insertContactEventSql(sql, {
      contactId,
      campaign: campaignOfWorkflowId(holder),
      attemptNo: null,
      kind: 'released',
      reason: why,
    });
  return released;
}
