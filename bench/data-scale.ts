/**
 * Data scale (docs/performance.md): `contacts` campaigns of mixed states over `campaigns` campaigns
 * (default 1,000,000 over 10), then the time the real reservation (activities/contacts.ts
 * `reserveContacts`) takes to take one batch of 100 into a cache, and the time of a campaign's
 * status counts, each with its plan (EXPLAIN ANALYZE) naming the index it uses. Baseline in the
 * same run: a `select 1` round trip. The rows are deleted afterwards.
 */
import { contactActivities } from '../activities/contacts';
import type { Deps } from '../activities';
import type { Database } from '../db/client';
import { CALLER_ID } from '../harness/stack';
import { summary } from './redial-lateness';

export interface ScaleResult {
  contacts: number;
  campaigns: number;
  insertSeconds: number;
  /** Median wall time of one reservation of 100 contacts. */
  selectionMs: number;
  selectionRunsMs: ReturnType<typeof summary>;
  /** Median wall time of one campaign's status counts. */
  statusCountsMs: number;
  roundTripMs: number;
  selectionPlan: { executionMs: number; indexes: string[] };
  statusPlan: { executionMs: number; indexes: string[] };
}

type PlanNode = { 'Index Name'?: string; Plans?: PlanNode[] };
const indexesOf = (n: PlanNode): string[] => [
  ...(n['Index Name'] ? [n['Index Name']] : []),
  ...(n.Plans ?? []).flatMap(indexesOf),
];

async function explain(
  db: Database,
  query: string,
  params: (string | number | Date)[],
): Promise<{ executionMs: number; indexes: string[] }> {
  const [row] = await db.sql.unsafe<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }[]>(
    `explain (analyze, format json) ${query}`,
    params as never[],
  );
  const plan = row!['QUERY PLAN'][0];
  return {
    executionMs: Number(plan['Execution Time'].toFixed(2)),
    indexes: [...new Set(indexesOf(plan.Plan))],
  };
}

async function timeMs(f: () => Promise<unknown>, runs: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await f();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

type ScaleOptions = { contacts: number; campaigns: number; log: (line: string) => void };

export async function dataScale(db: Database, o: ScaleOptions): Promise<ScaleResult> {
  const run = Date.now().toString(36);
  const names = Array.from({ length: o.campaigns }, (_, i) => `bench-scale-${run}-${i}`);
  for (const name of names) {
    await db.sql`insert into campaigns (name, caller_id, retry_rules) values (${name}, ${CALLER_ID}, ${db.sql.json({})})`;
  }
  try {
    const insertSeconds = await insertMixedContacts(db, names, o);
    const campaign = names[0]!;
    const { selections, statuses, trips } = await timeQueries(db, campaign);
    const { selectionPlan, statusPlan } = await planQueries(db, campaign);
    const sel = summary(selections);
    return {
      contacts: o.contacts,
      campaigns: o.campaigns,
      insertSeconds: Number(insertSeconds.toFixed(1)),
      selectionMs: Number(sel.p50.toFixed(2)),
      selectionRunsMs: Object.fromEntries(
        Object.entries(sel).map(([k, v]) => [k, Number(v.toFixed(2))]),
      ) as ReturnType<typeof summary>,
      statusCountsMs: Number(summary(statuses).p50.toFixed(2)),
      roundTripMs: Number(summary(trips).p50.toFixed(3)),
      selectionPlan,
      statusPlan,
    };
  } finally {
    o.log('scale: deleting the rows…');
    await db.sql`delete from contacts where campaign_name = any(${names})`;
    await db.sql`delete from campaigns where name = any(${names})`;
  }
}

/** Inserts the contacts in chunks over the campaigns; returns the seconds it took. */
async function insertMixedContacts(db: Database, names: string[], o: ScaleOptions): Promise<number> {
  o.log(`scale: inserting ${o.contacts} contacts over ${o.campaigns} campaigns in mixed states…`);
  const t0 = Date.now();
  const chunk = 100_000;
  for (let from = 0; from < o.contacts; from += chunk) {
    const to = Math.min(o.contacts, from + chunk) - 1;
    // 40 % new, 30 % successful, 20 % redials (due within ±1 day), 10 % unreachable
    await db.sql`
      insert into contacts (campaign_name, phone_number, contact_successful, number_of_contacts, redial_time, last_state)
      select (${names}::text[])[1 + (g % ${o.campaigns})],
        '+1500' || lpad((g % 10000000)::text, 7, '0'),
        case when r < 0.4 then 0 when r < 0.7 then 1 when r < 0.9 then 2 else -1 end,
        case when r < 0.4 then 0 else 1 + (g % 3) end,
        case when r >= 0.7 and r < 0.9 then now() + make_interval(secs => (random() - 0.5) * 172800) end,
        case when r < 0.4 then null when r < 0.7 then 0 when r < 0.9 then 3 else 8 end
      from generate_series(${from}::int, ${to}::int) g, lateral (select random() + g * 0 as r) x`;
    o.log(`  ${to + 1}/${o.contacts}`);
  }
  // as autovacuum would have by now: statistics and the visibility map (index-only scans)
  await db.sql`vacuum analyze contacts`;
  return (Date.now() - t0) / 1000;
}

/** Wall times of the real reservation, the status counts and a bare round trip. */
async function timeQueries(db: Database, campaign: string) {
  const acts = contactActivities({ db, clock: () => new Date() } as Deps);
  const reserve = (i: number) =>
    acts.reserveContacts({
      campaign,
      holder: `bench/${campaign}`,
      reservation: `bench/${campaign}/${i}`,
      limit: 100,
      lookaheadLimit: 100,
      maxAttempts: 3,
      lookaheadMs: 60_000,
    });
  let i = 0;
  await reserve(i++); // the first takes the plan and the pages into memory
  const selections = await timeMs(() => reserve(i++), 20);
  const status = () => db.sql`
    select contact_successful, count(*)::int, coalesce(sum(number_of_contacts), 0)::int
    from contacts where campaign_name = ${campaign} group by contact_successful`;
  await status();
  const statuses = await timeMs(status, 10);
  const trips = await timeMs(() => db.sql`select 1`, 20);
  return { selections, statuses, trips };
}

// the plans: the selection's ordered scan of due redials and new contacts, and the counts
async function planQueries(db: Database, campaign: string) {
  const selectionPlan = await explain(
    db,
    `select id from contacts where campaign_name = $1 and contact_successful in (0, 2)
       and number_of_contacts < 3 and redial_time <= now()
     order by redial_time nulls last, id limit 100`,
    [campaign],
  );
  const statusPlan = await explain(
    db,
    `select contact_successful, count(*), sum(number_of_contacts) from contacts
     where campaign_name = $1 group by contact_successful`,
    [campaign],
  );
  return { selectionPlan, statusPlan };
}
