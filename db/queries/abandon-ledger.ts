/**
 * The abandon ledger's counts, read from call_attempts (domain/abandon.ts says what counts).
 */
import type { Sql } from '../client';
import {
  ABANDON_GRACE_SECONDS,
  ALWAYS_ABANDONED,
  type CampaignLedgerCounts,
  LIVE_ANSWER_STATES,
  type LedgerCounts,
} from '../../domain/abandon';
import { LastState } from '../../domain/contract';

/** The SQL condition on a call_attempts row that makes it an abandon (domain/abandon.ts). */
export function abandonedWhere(sql: Sql) {
  return sql`(last_state = any(${ALWAYS_ABANDONED}::int[])
    or (last_state = ${LastState.Abandoned}
        and coalesce((facts->>'callDurationSeconds')::numeric, ${ABANDON_GRACE_SECONDS + 1}) > ${ABANDON_GRACE_SECONDS}))`;
}

/** Live answers and abandons of one campaign among attempts that ended in [from, to). */
export async function countLedgerPeriod(
  sql: Sql,
  campaign: string,
  from: Date,
  to: Date,
): Promise<LedgerCounts> {
  const [row] = await sql<{ live: number; abandons: number }[]>`
    select
      count(*) filter (where last_state = any(${LIVE_ANSWER_STATES}::int[]))::int as live,
      count(*) filter (where ${abandonedWhere(sql)})::int as abandons
    from call_attempts
    where campaign_name = ${campaign} and ended_at >= ${from} and ended_at < ${to}`;
  return { liveAnswers: row?.live ?? 0, abandons: row?.abandons ?? 0 };
}

/**
 * Both periods' counts (since `month` and since `day`, up to `now`) for every campaign that is
 * running, paused or stopping, or changed since `month`, in one statement.
 */
export async function countRecentLedgers(
  sql: Sql,
  now: Date,
  month: Date,
  day: Date,
): Promise<CampaignLedgerCounts[]> {
  const live = sql`last_state = any(${LIVE_ANSWER_STATES}::int[])`;
  const rows = await sql<{ name: string; live30: number; ab30: number; live24: number; ab24: number }[]>`
    select c.name,
      count(a.id) filter (where ${live})::int as live30,
      count(a.id) filter (where ${abandonedWhere(sql)})::int as ab30,
      count(a.id) filter (where a.ended_at >= ${day} and ${live})::int as live24,
      count(a.id) filter (where a.ended_at >= ${day} and ${abandonedWhere(sql)})::int as ab24
    from campaigns c
    left join call_attempts a on a.campaign_name = c.name and a.ended_at >= ${month} and a.ended_at <= ${now}
    where c.status in ('running', 'paused', 'stopping') or c.updated_at > ${month}
    group by c.name`;
  return rows.map((r) => ({
    campaign: r.name,
    last30Days: { liveAnswers: r.live30, abandons: r.ab30 },
    last24Hours: { liveAnswers: r.live24, abandons: r.ab24 },
  }));
}
