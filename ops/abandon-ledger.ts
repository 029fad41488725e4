/**
 * The abandon ledger as the command line, the API and /metrics read it: the rules are in
 * domain/abandon.ts, the counts in db/queries/abandon-ledger.ts.
 */
import type { Sql } from '../db/client';
import { countLedgerPeriod, countRecentLedgers } from '../db/queries/abandon-ledger';
import {
  type AbandonLedger,
  type CampaignLedgerCounts,
  DAY_MS,
  DEFAULT_ABANDON_TARGET,
  type LedgerPeriod,
  isOverTarget,
  ledgerPeriodOf,
} from '../domain/abandon';

/** Live answers and abandons of one campaign among attempts that ended in [from, to). */
export async function ledgerPeriod(sql: Sql, campaign: string, from: Date, to: Date): Promise<LedgerPeriod> {
  return ledgerPeriodOf(await countLedgerPeriod(sql, campaign, from, to), from, to);
}

export async function abandonLedger(
  sql: Sql,
  campaign: string,
  now: Date = new Date(),
  target: number = DEFAULT_ABANDON_TARGET,
): Promise<AbandonLedger> {
  // `to` just after now: an attempt that ended this millisecond counts
  const to = new Date(now.getTime() + 1);
  const [last30Days, last24Hours] = await Promise.all([
    ledgerPeriod(sql, campaign, new Date(now.getTime() - 30 * DAY_MS), to),
    ledgerPeriod(sql, campaign, new Date(now.getTime() - DAY_MS), to),
  ]);
  const overTarget = isOverTarget(last30Days, target) || isOverTarget(last24Hours, target);
  return { campaign, target, last30Days, last24Hours, overTarget };
}

/**
 * Both periods' counts for every campaign that is running, paused or stopping, or changed in the
 * last 30 days (the FCC's window outlives a run), in one statement: what /metrics shows.
 */
export async function recentLedgers(sql: Sql, now: Date = new Date()): Promise<CampaignLedgerCounts[]> {
  return countRecentLedgers(
    sql,
    now,
    new Date(now.getTime() - 30 * DAY_MS),
    new Date(now.getTime() - DAY_MS),
  );
}
