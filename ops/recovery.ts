import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Sql } from '../db/client';
import { type CachedRow, cachedContacts, returnOrphanedContact } from '../db/queries/contacts';
import { campaignOfWorkflowId, contactWorkflowId, heldContactsQuery } from '../workflows/shared';

export interface RecoveryOptions {
  /** Only contacts held by this campaign workflow id. */
  holder?: string;
  /** The caller is that campaign, starting afresh: it holds nothing yet, so ask it nothing. */
  self?: boolean;
  /**
   * A running campaign may have reserved contacts it has not taken in yet; leave contacts cached
   * more recently than this alone.
   */
  graceMs?: number;
  /** Leave contacts cached more recently than this alone, whoever holds them (the reconciler). */
  minAgeMs?: number;
}

export interface RecoveryReport {
  /** Returned to the value they had before they were cached. */
  released: number[];
  /** Still held: by a running campaign, or by a contact workflow that is still running. */
  kept: number[];
  /**
   * Running campaigns that did not answer what they hold (no worker serves them now): their
   * contacts are kept, since a campaign that comes back may still dial them. Run recover again
   * once their workers are up, or stop them.
   */
  unanswered?: string[];
}

type Row = CachedRow;

/** The workflow's state: RUNNING, how it closed (TERMINATED, FAILED …), or NOT_FOUND. */
export async function workflowState(temporal: Client, workflowId: string): Promise<string> {
  try {
    return (await temporal.workflow.getHandle(workflowId).describe()).status.name;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
    throw err;
  }
}

const isRunning = async (temporal: Client, workflowId: string) =>
  (await workflowState(temporal, workflowId)) === 'RUNNING';

/**
 * §6: no contact may stay at 3 without a live campaign that holds it. Finds contacts at 3 that
 * neither their campaign (by its heldContacts query) nor a running contact workflow holds, and
 * puts them back to the value they had before (0 or 2), nothing else changed.
 */
export async function recoverOrphans(
  sql: Sql,
  temporal: Client,
  opts: RecoveryOptions = {},
): Promise<RecoveryReport> {
  const rows = await cachedContacts(sql, opts.holder);
  const byHolder = new Map<string, Row[]>();
  for (const r of rows) {
    const key = r.cached_by ?? '';
    byHolder.set(key, [...(byHolder.get(key) ?? []), r]);
  }
  const report: RecoveryReport = { released: [], kept: [] };
  const grace = opts.graceMs ?? 60_000;
  for (const [holder, list] of byHolder) {
    const campaign = campaignOfWorkflowId(holder);
    let held = new Set<number>();
    let campaignRunning = false;
    if (holder && !opts.self && (await isRunning(temporal, holder))) {
      campaignRunning = true;
      const h = await temporal.workflow
        .getHandle(holder)
        .query(heldContactsQuery)
        .catch(() => undefined);
      if (!h) {
        (report.unanswered ??= []).push(holder);
        report.kept.push(...list.map((r) => Number(r.id)));
        continue;
      }
      held = new Set([...h.cached, ...h.inFlight]);
    }
    for (const r of list) {
      const id = Number(r.id);
      const age = r.cached_at === null ? Infinity : Date.now() - r.cached_at.getTime();
      const recent = (campaignRunning && age < grace) || age < (opts.minAgeMs ?? 0);
      const childRunning = campaign !== null && (await isRunning(temporal, contactWorkflowId(campaign, id)));
      if (held.has(id) || recent || childRunning) {
        report.kept.push(id);
        continue;
      }
      if (await returnOrphanedContact(sql, id, r.cached_by)) report.released.push(id);
    }
  }
  return report;
}
