/**
 * The benchmark's "CRM follow-up lateness" part (§8): M contacts of an open campaign
 * that ended Successful each get a follow-up written by SQL alone (contact_successful = 2 and a
 * redial_time 0–30 s ahead, every fifth due at once), at random moments over the spread; the campaign refills only every
 * 10 minutes, so the contacts trigger and the workers' listener are what find them. Lateness is
 * create_requested_at − due_at per attempt: for a follow-up due at once it is the whole way from
 * the CRM's commit to the create. Baseline in the same part: bare durable timers to the same kind
 * of times.
 */
import { seededRandom, createCampaign, testPhone, uid } from '../harness/stack';
import { summary, timerBaseline } from './redial-lateness';
import type { BenchStack } from './stack';

/** How far ahead of its write a follow-up is due, at most (a CRM agent's "call back in a bit"). */
const MAX_AHEAD_MS = 30_000;

export interface CrmLateness {
  followUps: number;
  spreadSeconds: number;
  seed: number;
  /** ms from redial_time to the create, per follow-up. */
  crmMs: ReturnType<typeof summary>;
  /** The same for the follow-ups due at once (every fifth): the reaction to the CRM's write. */
  dueAtOnceMs: ReturnType<typeof summary> | null;
  bareTimersMs: ReturnType<typeof summary>;
  early: number;
  missing: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function crmLateness(
  s: BenchStack,
  o: { followUps: number; spreadSeconds: number; seed?: number; log: (line: string) => void },
): Promise<CrmLateness> {
  const m = o.followUps;
  const seed = o.seed ?? 18;
  const random = seededRandom(seed);
  const name = uid('bench-crm');
  await createCampaign(s.env, name, '--calls-per-second', '1000', '--lines', '100', '--max-attempts', '5');
  const ids = await insertConversations(s, name, m);
  // open (the default), and the periodic refill out of the way
  const started = await s.dialer(['campaign', 'start', name, '--refill-interval', '10m']);
  if (started.code !== 0) throw new Error(`campaign start: ${started.stderr}`);
  const spreadMs = o.spreadSeconds * 1000;
  const plan = ids
    // every fifth is due at once: its lateness is the whole reaction, from the CRM's commit to the create
    .map((id, i) => ({
      id,
      at: random() * spreadMs,
      aheadMs: i % 5 === 0 ? 0 : Math.round(random() * MAX_AHEAD_MS),
    }))
    .sort((a, b) => a.at - b.at);
  o.log(
    `crm: ${m} follow-ups written by SQL over ${o.spreadSeconds} s, each due 0–30 s ahead (a fifth at once)…`,
  );
  const written = await writeFollowUps(s, plan);
  await waitForCreates(s, name, m);
  await s.dialer(['campaign', 'stop', name, '--wait']);
  const late = await s.db.sql<{ contact_id: string; late: number }[]>`
    select contact_id, extract(epoch from (create_requested_at - due_at)) * 1000 as late
    from call_attempts
    where campaign_name = ${name} and due_at is not null and create_requested_at is not null`;
  if (late.length === 0) throw new Error(`no follow-up of ${name} was dialed`);
  const ahead = new Map(written.map((w) => [w.id, w.aheadMs]));
  const all = late.map((r) => Number(r.late));
  const atOnce = late.filter((r) => ahead.get(Number(r.contact_id)) === 0).map((r) => Number(r.late));
  o.log(`crm: baseline, ${m} bare durable timers over ${o.spreadSeconds} s…`);
  const bt0 = Date.now() + 5000;
  const bare = await timerBaseline(
    plan.map((p) => new Date(bt0 + p.at + p.aheadMs)),
    s.temporalAddress,
  );
  return {
    followUps: m,
    spreadSeconds: o.spreadSeconds,
    seed,
    crmMs: round(summary(all)),
    dueAtOnceMs: atOnce.length ? round(summary(atOnce)) : null,
    bareTimersMs: round(summary(bare)),
    early: all.filter((x) => x < 0).length,
    missing: m - all.length,
  };
}

// contacts whose first call was a conversation (1): nothing for the campaign until the CRM writes
async function insertConversations(s: BenchStack, name: string, m: number): Promise<number[]> {
  const rows = Array.from({ length: m }, () => ({
    campaign_name: name,
    phone_number: testPhone(),
    contact_successful: 1,
    number_of_contacts: 1,
    last_state: 0,
  }));
  return (await s.db.sql<{ id: string }[]>`insert into contacts ${s.db.sql(rows)} returning id`).map((r) =>
    Number(r.id),
  );
}

/** Writes each follow-up at its planned moment, as a CRM would: by SQL alone. */
async function writeFollowUps(
  s: BenchStack,
  plan: { id: number; at: number; aheadMs: number }[],
): Promise<{ id: number; aheadMs: number }[]> {
  const t0 = Date.now();
  const written: { id: number; aheadMs: number }[] = [];
  for (const p of plan) {
    await sleep(t0 + p.at - Date.now());
    await s.db.sql`
      update contacts set contact_successful = 2, redial_time = now() + ${p.aheadMs} * interval '1 millisecond'
      where id = ${p.id}`;
    written.push(p);
  }
  return written;
}

// every follow-up is due within 30 s of the last write; then a little for the last creates
async function waitForCreates(s: BenchStack, name: string, m: number): Promise<void> {
  const deadline = Date.now() + MAX_AHEAD_MS + 30_000;
  let placed = 0;
  while (Date.now() < deadline) {
    const [r] = await s.db.sql<{ n: number }[]>`
      select count(*)::int as n from call_attempts
      where campaign_name = ${name} and create_requested_at is not null`;
    placed = r!.n;
    if (placed >= m) break;
    await sleep(500);
  }
}

const round = (x: ReturnType<typeof summary>) =>
  Object.fromEntries(Object.entries(x).map(([k, v]) => [k, Math.round(v)])) as ReturnType<typeof summary>;
