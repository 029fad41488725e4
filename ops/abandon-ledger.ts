/**
 * The abandon ledger (issue 10, item 3): per campaign, the calls a person answered (live answers)
 * and those of them the dialer abandoned, over the campaign's rolling 30 days (the US rule, FCC
 * 47 CFR 64.1200(a)(7): at most 3 % per campaign over 30 days) and over the last 24 h (the UK rule,
 * Ofcom: at most 3 % of live calls per campaign in any 24 hours).
 *
 * A live answer is an attempt that ended Connected, AgentHangUp, NoAgent, AgentTransfer,
 * TransferTimeout or Abandoned: a person was on the line. An abandon is one of them where the person
 * was not put through to an agent: NoAgent (none was free), AgentTransfer and TransferTimeout (the
 * agent's leg failed or was not answered in time), and Abandoned when the person had waited more
 * than 2 s after answering (one who hangs up within 2 s of their greeting left before the dialer's
 * 2 s were up). The greeting's end is taken as the answer: Twilio's call duration counts from it.
 * Machines, faxes and calls nobody answered are neither.
 */
import type postgres from 'postgres';
import { LastState } from '../domain/contract';

export const LIVE_ANSWER_STATES = [
  LastState.Connected,
  LastState.AgentHangUp,
  LastState.NoAgent,
  LastState.AgentTransfer,
  LastState.TransferTimeout,
  LastState.Abandoned,
];
const ALWAYS_ABANDONED = [LastState.NoAgent, LastState.AgentTransfer, LastState.TransferTimeout];
/** The person's wait after answering beyond which an Abandoned call is the dialer's abandon. */
export const ABANDON_GRACE_SECONDS = 2;
/** The most abandons a campaign may have per live answer (3 %) unless it says otherwise. */
export const DEFAULT_ABANDON_TARGET = 0.03;

export interface LedgerPeriod {
  from: string;
  to: string;
  liveAnswers: number;
  abandons: number;
  /** abandons / liveAnswers; null before any live answer. */
  rate: number | null;
}

export interface AbandonLedger {
  campaign: string;
  target: number;
  /** US: the campaign's rolling 30 days. */
  last30Days: LedgerPeriod;
  /** UK: the last 24 hours. */
  last24Hours: LedgerPeriod;
  /** Whether either rate is over the target. */
  overTarget: boolean;
}

const DAY_MS = 24 * 3600_000;

/** The SQL condition on a call_attempts row that makes it an abandon (see above). */
export function abandonedWhere(sql: postgres.Sql) {
  return sql`(last_state = any(${ALWAYS_ABANDONED}::int[])
    or (last_state = ${LastState.Abandoned}
        and coalesce((facts->>'callDurationSeconds')::numeric, ${ABANDON_GRACE_SECONDS + 1}) > ${ABANDON_GRACE_SECONDS}))`;
}

/** Live answers and abandons of one campaign among attempts that ended in [from, to). */
export async function ledgerPeriod(
  sql: postgres.Sql,
  campaign: string,
  from: Date,
  to: Date,
): Promise<LedgerPeriod> {
  const [row] = await sql<{ live: number; abandons: number }[]>`
    select
      count(*) filter (where last_state = any(${LIVE_ANSWER_STATES}::int[]))::int as live,
      count(*) filter (where ${abandonedWhere(sql)})::int as abandons
    from call_attempts
    where campaign_name = ${campaign} and ended_at >= ${from} and ended_at < ${to}`;
  const live = row?.live ?? 0;
  const abandons = row?.abandons ?? 0;
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    liveAnswers: live,
    abandons,
    rate: live === 0 ? null : abandons / live,
  };
}

export async function abandonLedger(
  sql: postgres.Sql,
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
  const over = (p: LedgerPeriod) => p.rate !== null && p.rate > target;
  return { campaign, target, last30Days, last24Hours, overTarget: over(last30Days) || over(last24Hours) };
}

export interface CampaignLedgerCounts {
  campaign: string;
  last30Days: { liveAnswers: number; abandons: number };
  last24Hours: { liveAnswers: number; abandons: number };
}

/**
 * Both periods' counts for every campaign that is running, paused or stopping, or changed in the
 * last 30 days (the FCC's window outlives a run), in one statement: what /metrics shows.
 */
export async function recentLedgers(
  sql: postgres.Sql,
  now: Date = new Date(),
): Promise<CampaignLedgerCounts[]> {
  const month = new Date(now.getTime() - 30 * DAY_MS);
  const day = new Date(now.getTime() - DAY_MS);
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

/** "2 of 80 live answers (2.5 %)" */
export function describePeriod(p: LedgerPeriod): string {
  const pct = p.rate === null ? '—' : `${(p.rate * 100).toFixed(1)} %`;
  return `${p.abandons} abandoned of ${p.liveAnswers} live answers (${pct})`;
}
