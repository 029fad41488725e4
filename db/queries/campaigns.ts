/**
 * `campaigns`: each campaign's settings and its status as the operator last set it.
 */
import { eq, inArray } from 'drizzle-orm';
import type { DbOrTx, Sql, SqlOrTx } from '../client';
import { type Campaign, campaigns } from '../schema';
import type { DialingMode } from '../../domain/pacing';

export type { Campaign };
/** A campaign as it is created (the columns without defaults, and any others). */
export type NewCampaign = typeof campaigns.$inferInsert;
/** Settings a campaign may change. */
export type CampaignUpdate = Partial<NewCampaign>;

/** The campaign named exactly so, if any. */
export async function campaignByName(db: DbOrTx, name: string): Promise<Campaign | undefined> {
  const [row] = await db.select().from(campaigns).where(eq(campaigns.name, name));
  return row;
}

/** The campaign whose name is this one but for case and surrounding spaces, if any. */
export async function campaignNamedAlike(sql: Sql, name: string): Promise<string | undefined> {
  const [row] = await sql<{ name: string }[]>`
    select name from campaigns where lower(btrim(name)) = lower(btrim(${name})) limit 1`;
  return row?.name;
}

/** Creates the campaign unless one with its name exists (then undefined). */
export async function insertCampaignIfAbsent(db: DbOrTx, values: NewCampaign): Promise<Campaign | undefined> {
  const [row] = await db.insert(campaigns).values(values).onConflictDoNothing().returning();
  return row;
}

/** Changes a campaign's settings; returns the row as it is now. */
export async function updateCampaignSettings(
  db: DbOrTx,
  name: string,
  changes: CampaignUpdate,
): Promise<Campaign | undefined> {
  const [row] = await db.update(campaigns).set(changes).where(eq(campaigns.name, name)).returning();
  return row;
}

/** Sets the campaign's status (its workflow's state as the row shows it). */
export async function setCampaignStatusRow(db: DbOrTx, name: string, status: string): Promise<void> {
  await db.update(campaigns).set({ status }).where(eq(campaigns.name, name));
}

/** Every campaign with its status, lines, rate and number of contacts, by name. */
export async function campaignsWithContactCounts(sql: Sql) {
  return sql<{ name: string; status: string; contacts: number; lines: number; calls_per_second: number }[]>`
    select c.name, c.status, c.lines, c.calls_per_second,
           (select count(*)::int from contacts k where k.campaign_name = c.name) as contacts
    from campaigns c order by c.name`;
}

/** The calls per second of these campaigns (those that exist). */
export async function campaignRates(
  db: DbOrTx,
  names: string[],
): Promise<{ name: string; callsPerSecond: number }[]> {
  return db
    .select({ name: campaigns.name, callsPerSecond: campaigns.callsPerSecond })
    .from(campaigns)
    .where(inArray(campaigns.name, names));
}

/** Whether a campaign is named exactly so. */
export async function campaignExists(sql: SqlOrTx, name: string): Promise<boolean> {
  const rows = await sql`select 1 from campaigns where name = ${name}`;
  return rows.length > 0;
}

/** Every campaign's name. */
export async function campaignNames(sql: Sql): Promise<string[]> {
  return (await sql<{ name: string }[]>`select name from campaigns`).map((r) => r.name);
}

/** The campaign's max_attempts, if it exists. */
export async function campaignMaxAttempts(sql: Sql, name: string | null): Promise<number | undefined> {
  const [campaign] = await sql<{ max_attempts: number }[]>`
    select max_attempts from campaigns where name = ${name}`;
  return campaign?.max_attempts;
}

/** The names of the campaigns whose status is running. */
export async function runningCampaignNames(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`select name from campaigns where status = 'running'`;
  return rows.map((r) => r.name);
}

/**
 * The campaign's dialing mode with its agents now: assigned, free (available, or in a wrap-up that
 * ended by `now`), on a call, and in a wrap-up that ends by `soon`. Undefined: no such campaign.
 */
export async function campaignAgentCounts(sql: Sql, campaign: string, now: Date, soon: Date) {
  const [row] = await sql<
    {
      dialing_mode: DialingMode;
      calls_per_agent: number;
      abandon_target: number;
      assigned: number;
      free: number;
      on_call: number;
      free_soon: number;
    }[]
  >`
    select c.dialing_mode, c.calls_per_agent, c.abandon_target,
      count(a.id)::int as assigned,
      count(a.id) filter (where a.status = 'available' or (a.status = 'wrap-up' and a.wrap_up_until <= ${now}))::int as free,
      count(a.id) filter (where a.status = 'on-call')::int as on_call,
      count(a.id) filter (where a.status = 'wrap-up' and a.wrap_up_until > ${now} and a.wrap_up_until <= ${soon})::int as free_soon
    from campaigns c left join agents a on a.campaign_name = c.name
    where c.name = ${campaign}
    group by c.id`;
  return row;
}

/** What the answer webhook needs of a campaign. */
export interface AnswerSettings {
  message: string;
  machine_detection: string;
  machine_message: string | null;
  transfer_timeout_seconds: number;
  /** How many agents the campaign has (0 for an agentless one, whatever agents name it). */
  agents: number;
  dialing_mode: string;
}

/** The campaign's messages, machine detection, transfer timeout, dialing mode and agent count. */
export async function findAnswerSettings(sql: SqlOrTx, name: string): Promise<AnswerSettings | undefined> {
  const [c] = await sql<AnswerSettings[]>`
    select message, machine_detection, machine_message, transfer_timeout_seconds, dialing_mode,
      -- an agentless campaign has no agent step, whatever agents name it
      case when dialing_mode = 'agentless' then 0
        else (select count(*)::int from agents a where a.campaign_name = c.name) end as agents
    from campaigns c where name = ${name}`;
  return c;
}

/** The campaign's safe-harbor message, if the campaign exists. */
export async function findCampaignMessage(sql: SqlOrTx, name: string): Promise<string | undefined> {
  const [c] = await sql<{ message: string }[]>`select message from campaigns where name = ${name}`;
  return c?.message;
}

/** The campaigns whose row says a workflow runs them: running, paused or stopping. */
export async function campaignsMarkedLive(sql: Sql): Promise<string[]> {
  const rows = await sql<{ name: string }[]>`
    select name from campaigns where status in ('running', 'paused', 'stopping')`;
  return rows.map((r) => r.name);
}

/** Marks a campaign stopped if its row still says live; false when another process did first. */
export async function markCampaignStoppedIfLive(sql: Sql, name: string): Promise<boolean> {
  const rows = await sql`
    update campaigns set status = 'stopped'
    where name = ${name} and status in ('running', 'paused', 'stopping') returning name`;
  return rows.length > 0;
}

/** A campaign as the operator's console lists it: what it is set to, and its contacts' progress. */
export interface CampaignBoardRow {
  name: string;
  status: string;
  dialing_mode: string;
  lines: number;
  caller_id: string;
  calling_window: string;
  time_zone: string | null;
  abandon_target: number;
  max_attempts: number;
  /** Its contacts; of them those in a cache (3) and those still to dial (0 or 2, attempts left). */
  total: number;
  cached: number;
  open: number;
}

/**
 * Every campaign (or the one named) with its contacts counted as its progress counts them
 * (activities/contacts.ts progressOf), by name: per campaign, an index-only scan of
 * contacts_campaign_state_idx.
 */
export async function campaignBoardRows(sql: Sql, name?: string): Promise<CampaignBoardRow[]> {
  return sql<CampaignBoardRow[]>`
    select c.name, c.status, c.dialing_mode, c.lines, c.caller_id, c.calling_window, c.time_zone,
      c.abandon_target, c.max_attempts, p.total, p.cached, p.open
    from campaigns c, lateral (
      select count(*)::int as total,
        count(*) filter (where k.contact_successful = 3)::int as cached,
        count(*) filter (where k.contact_successful in (0, 2) and k.number_of_contacts < c.max_attempts)::int as open
      from contacts k where k.campaign_name = c.name) p
    where (${name ?? null}::text is null or c.name = ${name ?? null})
    order by c.name`;
}
