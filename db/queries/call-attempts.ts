import type { SqlOrTx } from '../types';

/** A campaign's attempts counted per LastState (null: no outcome yet), ordered by LastState. */
export async function countAttemptsByLastState(
  sql: SqlOrTx,
  campaign: string,
): Promise<{ ls: number | null; n: number }[]> {
  return sql<{ ls: number | null; n: number }[]>`
    select last_state as ls, count(*)::int as n from call_attempts where campaign_name = ${campaign} group by 1 order by 1`;
}

/** A campaign's attempts: all, those placed, and the redials among them (attempt 2 and later). */
export async function countAttempts(
  sql: SqlOrTx,
  campaign: string,
): Promise<{ attempts: number; placed: number; redials: number }> {
  const [a] = await sql<{ attempts: number; placed: number; redials: number }[]>`
    select count(*)::int as attempts, count(*) filter (where placed)::int as placed,
           count(*) filter (where attempt_no > 1)::int as redials
    from call_attempts where campaign_name = ${campaign}`;
  return a!;
}

/** How late a campaign's redials asked Twilio for their call after they were due: p50, p99, max in ms. */
export async function redialLateness(
  sql: SqlOrTx,
  campaign: string,
): Promise<{ p50: number | null; p99: number | null; max: number | null }> {
  const [late] = await sql<{ p50: number | null; p99: number | null; max: number | null }[]>`
    select percentile_cont(0.5) within group (order by ms) as p50,
           percentile_cont(0.99) within group (order by ms) as p99, max(ms) as max
    from (select extract(epoch from (create_requested_at - due_at)) * 1000 as ms from call_attempts
          where campaign_name = ${campaign} and attempt_no > 1 and due_at is not null and create_requested_at is not null) t`;
  return late!;
}
