/**
 * `contacts`: the rows the CRM shares with us (§2). The dialer writes contact_successful,
 * last_state, number_of_contacts and redial_time (§7), and its cache bookkeeping (§6).
 */
import { and, eq, inArray, lt, sql as sqlText } from 'drizzle-orm';
import type { PendingQuery, Row } from 'postgres';
import type { DbOrTx, DbTx, Sql, SqlOrTx, TxSql } from '../client';
import { type Contact, contacts } from '../schema';
import type { RedialRow } from '../../domain/redial-rules';

export type { Contact };

/** A contact taken into a campaign's cache, with the number of its next attempt. */
export interface CachedContactRow {
  id: string | number;
  phone_number: string;
  name: string | null;
  redial_time: Date | null;
  number_of_contacts: number;
  cached_from: number;
  attempt_no: number;
}

/** What a reservation looks for (§5), and how many of each tier it takes. */
export interface ReservationQuery {
  campaign: string;
  /** Workflow id of the campaign taking the contacts (recorded on the row). */
  holder: string;
  /** Deterministic per reservation: a retried activity returns the rows it already took. */
  reservation: string;
  /** Due redials and new contacts: as many as the cache has room for. */
  limit: number;
  /** Redials due within the look-ahead window: their children wait without a line. */
  lookaheadLimit: number;
  maxAttempts: number;
  now: Date;
  /** Redials due up to this time come too (their workflows wait for them). */
  horizon: Date;
}

/** The contact's row, locked until the transaction ends. */
export async function lockContact(tx: DbTx, id: number): Promise<Contact | undefined> {
  const [contact] = await tx.select().from(contacts).where(eq(contacts.id, id)).for('update');
  return contact;
}

/** Writes an attempt's outcome on the contact (§7): it leaves the cache. */
export async function recordContactOutcome(
  tx: DbTx,
  id: number,
  o: { contactSuccessful: number; lastState: number; numberOfContacts: number; redialTime: Date | null },
): Promise<void> {
  await tx
    .update(contacts)
    .set({
      contactSuccessful: o.contactSuccessful,
      lastState: o.lastState,
      numberOfContacts: o.numberOfContacts,
      redialTime: o.redialTime,
      cachedFrom: null,
      cachedBy: null,
      cacheReservation: null,
      cachedAt: null,
    })
    .where(eq(contacts.id, id));
}

/**
 * recordContactOutcome as part of another statement (a CTE of it): written only `when` the
 * condition holds; returns 1 for the row written.
 */
export const recordContactOutcomeWhen = (
  sql: Sql,
  id: number,
  o: { contactSuccessful: number; lastState: number; numberOfContacts: number; redialTime: Date | null },
  when: PendingQuery<Row[]>,
) => sql`
  update contacts set contact_successful = ${o.contactSuccessful}, last_state = ${o.lastState},
    number_of_contacts = ${o.numberOfContacts}, redial_time = ${o.redialTime}::timestamptz,
    cached_from = null, cached_by = null, cache_reservation = null, cached_at = null
  where id = ${id} and ${when}
  returning 1`;

/**
 * The columns of a CachedContactRow, of contacts aliased `c`; the next attempt's number comes
 * after the campaign's last and after those counted.
 */
const cachedContactColumns = (pg: Sql, campaign: string) => pg`
  c.id, c.phone_number, c.name, c.redial_time, c.number_of_contacts, c.cached_from,
  (select greatest(coalesce(max(a.attempt_no), 0), c.number_of_contacts) + 1 from call_attempts a
    where a.contact_id = c.id and a.campaign_name = ${campaign}) as attempt_no`;

/** The contacts a reservation already took and still holds (a retried reservation returns them). */
export async function contactsOfReservation(
  pg: Sql,
  q: Pick<ReservationQuery, 'campaign' | 'reservation'>,
): Promise<CachedContactRow[]> {
  return pg<CachedContactRow[]>`
    select ${cachedContactColumns(pg, q.campaign)}
    from contacts c where c.cache_reservation = ${q.reservation} and c.contact_successful = 3`;
}

/**
 * Takes eligible contacts into the campaign's cache (§5, §6) in one statement. Candidates come in
 * the contract's order, each tier an ordered range of contacts_selection_idx: due redials by
 * redial_time, then new contacts by id; redials due up to the horizon come on top, with a limit of
 * their own. The rows are locked with SKIP LOCKED, so no other campaign run or worker can take the
 * same contact, set to 3 together with what to restore on pause or stop, and logged as `cached`.
 */
export async function reserveEligibleContacts(pg: Sql, q: ReservationQuery): Promise<CachedContactRow[]> {
  const eligible = pg`
    campaign_name = ${q.campaign}
    and contact_successful in (0, 2)
    and number_of_contacts < ${q.maxAttempts}
    and phone_number is not null and btrim(phone_number) <> ''
    and (hold_until is null or hold_until <= ${q.now})`;
  // rows are aliased c in cachedContactColumns
  return pg<CachedContactRow[]>`
    with candidates as (
      (select id, 0 as tier from contacts where ${eligible} and redial_time <= ${q.now}
        order by redial_time nulls last, id limit ${q.limit})
      union all
      (select id, 1 from contacts where ${eligible} and redial_time is null
        order by redial_time nulls last, id limit ${q.limit})
    ), picked_now as (
      select c.id from contacts c join candidates k on k.id = c.id
      where c.contact_successful in (0, 2)
      order by k.tier, c.redial_time, c.id
      limit ${q.limit}
      for update of c skip locked
    ), picked_soon as (
      select id from contacts where ${eligible} and redial_time > ${q.now} and redial_time <= ${q.horizon}
      order by redial_time nulls last, id
      limit ${q.lookaheadLimit}
      for update skip locked
    ), picked as (
      select id from picked_now union all select id from picked_soon
    ), taken as (
      update contacts c set
        cached_from = c.contact_successful,
        contact_successful = 3,
        cached_by = ${q.holder},
        cache_reservation = ${q.reservation},
        cached_at = now()
      from picked where c.id = picked.id
      returning ${cachedContactColumns(pg, q.campaign)}
    ), logged as (
      -- the decision log: taken, as what, in the same statement
      insert into contact_events (contact_id, campaign_name, attempt_no, kind, reason, until)
      select id, ${q.campaign}, attempt_no, 'cached',
        case when redial_time is null then 'taken into the cache: a new contact'
          when redial_time <= ${q.now} then 'taken into the cache: a redial that is due'
          else 'taken into the cache: a redial due soon (its workflow waits for it)' end,
        redial_time
      from taken
    )
    select * from taken`;
}

/** The earliest redial_time among the campaign's contacts that may be dialed again. */
export async function earliestRedialTime(
  pg: Sql,
  campaign: string,
  maxAttempts: number,
): Promise<Date | null> {
  const [next] = await pg<{ at: Date | null }[]>`
    select min(redial_time) as at from contacts
    where campaign_name = ${campaign}
      and contact_successful in (0, 2)
      and number_of_contacts < ${maxAttempts}
      and phone_number is not null and btrim(phone_number) <> ''
      and redial_time is not null`;
  return next?.at ?? null;
}

/** The fields a pushed redial is decided on (domain/redial-rules.ts), locked until the transaction ends. */
export async function lockContactForRedial(tx: TxSql, id: number): Promise<RedialRow | undefined> {
  const [row] = await tx<RedialRow[]>`
    select campaign_name, contact_successful, number_of_contacts, cached_by, last_state, phone_number
    from contacts where id = ${id} for update`;
  return row;
}

/** Moves a contact's redial time, nothing else. */
export async function setRedialTime(tx: SqlOrTx, id: number, at: Date): Promise<void> {
  await tx`update contacts set redial_time = ${at} where id = ${id}`;
}

/** Makes the contact a redial (NoSuccess) at `at`, its hold ended. */
export async function makeRedial(tx: SqlOrTx, id: number, at: Date): Promise<void> {
  await tx`update contacts set contact_successful = 2, redial_time = ${at}, hold_until = null
    where id = ${id}`;
}

/**
 * Returns undialed cached contacts to the value they had before (§6): only rows still at 3 and
 * held by `holder`, optionally held out of every cache until `hold`; each is logged `released`
 * with `reason`. Returns the ids released.
 */
export async function releaseCachedContacts(
  sql: Sql,
  r: { holder: string; contactIds: number[]; hold: Date | null; reason: string },
): Promise<{ id: string }[]> {
  return sql<{ id: string }[]>`
    with released as (
      update contacts set
        contact_successful = coalesce(cached_from, 0),
        cached_from = null, cached_by = null, cache_reservation = null, cached_at = null,
        hold_until = coalesce(${r.hold}, hold_until)
      where id = any(${r.contactIds}::bigint[]) and contact_successful = 3 and cached_by = ${r.holder}
      returning id, contact_successful
    ), logged as (
      insert into contact_events (contact_id, campaign_name, kind, reason, until)
      select id, (select campaign_name from contacts k where k.id = released.id), 'released',
        ${r.reason} || ' → ' || case contact_successful when 2 then 'NoSuccess' else 'NotUsed' end, ${r.hold}
      from released
    )
    select id from released`;
}

/** A cached contact: who holds it and since when. */
export interface CachedRow {
  id: string | number;
  cached_by: string | null;
  cached_at: Date | null;
}

/** The contacts at 3 (§6), all or those `holder` holds. */
export async function cachedContacts(sql: Sql, holder?: string): Promise<CachedRow[]> {
  return holder
    ? sql<
        CachedRow[]
      >`select id, cached_by, cached_at from contacts where contact_successful = 3 and cached_by = ${holder}`
    : sql<CachedRow[]>`select id, cached_by, cached_at from contacts where contact_successful = 3`;
}

/** Puts an orphaned cached contact back to its value before (0 or 2) if `cachedBy` still holds it. */
export async function returnOrphanedContact(sql: Sql, id: number, cachedBy: string | null): Promise<boolean> {
  const back = await sql`
    update contacts set
      contact_successful = coalesce(cached_from, 0),
      cached_from = null, cached_by = null, cache_reservation = null, cached_at = null
    where id = ${id} and contact_successful = 3 and cached_by is not distinct from ${cachedBy}
    returning id`;
  return back.length > 0;
}

/** The campaigns whose contacts at 0 or 2 changed after `since`. */
export async function campaignsWithContactsChangedSince(sql: Sql, since: Date): Promise<string[]> {
  const rows = await sql<{ campaign_name: string }[]>`
    select distinct campaign_name from contacts
    where updated_at > ${since} and contact_successful in (0, 2) and campaign_name is not null`;
  return rows.map((r) => r.campaign_name);
}

/** What the operations on one contact check first. */
export interface ContactStateRow {
  id: string;
  campaign_name: string | null;
  contact_successful: number;
  number_of_contacts: number;
  cached_by: string | null;
}

/** The contact's campaign, state, attempts and holder, if it exists. */
export async function contactState(sql: Sql, id: number): Promise<ContactStateRow | undefined> {
  const [row] = await sql<ContactStateRow[]>`
    select id, campaign_name, contact_successful, number_of_contacts, cached_by from contacts where id = ${id}`;
  return row;
}

/**
 * A redial at `at` written while no campaign runs: a new contact stays new, any other becomes
 * NoSuccess; its hold ends. A cached contact (3) is left alone.
 */
export async function setRedialUncached(sql: Sql, id: number, at: Date): Promise<void> {
  await sql`
    update contacts set redial_time = ${at}, hold_until = null,
      contact_successful = case when contact_successful = 0 then 0 else 2 end
    where id = ${id} and contact_successful <> 3`;
}

/**
 * Puts a contact back into its campaign: a redial at `at` (NoSuccess) or a new contact (NotUsed),
 * its hold ended, its attempts back to 0 unless kept. A cached contact (3) is left alone. Returns
 * the row's contact_successful afterwards (no row: left alone or gone).
 */
export async function resetContactRow(
  sql: Sql,
  id: number,
  o: { at?: Date; keepAttempts?: boolean },
): Promise<{ contact_successful: number } | undefined> {
  const [row] = await sql<{ contact_successful: number }[]>`
    update contacts set
      contact_successful = ${o.at ? 2 : 0},
      redial_time = ${o.at ?? null},
      hold_until = null,
      number_of_contacts = ${o.keepAttempts ? sql`number_of_contacts` : 0}
    where id = ${id} and contact_successful <> 3
    returning contact_successful`;
  return row;
}

/**
 * Serialises the writers of these campaigns' contacts until the transaction ends (an advisory lock
 * per campaign, taken in sorted order so that two writers never wait on each other in opposite
 * orders). Rows the CRM writes by SQL do not take it.
 */
export async function lockCampaignContactWriters(tx: TxSql, campaigns: string[]): Promise<void> {
  for (const c of [...new Set(campaigns)].sort())
    await tx`select pg_advisory_xact_lock(hashtextextended(${`dialer.contacts/${c}`}, 0))`;
}

/** The contacts of these campaigns whose numbers end in one of these seven-digit suffixes, by id. */
export async function contactsWithNumberSuffixes(
  sql: SqlOrTx,
  campaigns: string[],
  suffixes: string[],
): Promise<{ id: string; campaign_name: string; phone_number: string | null }[]> {
  return sql<{ id: string; campaign_name: string; phone_number: string | null }[]>`
    select id, campaign_name, phone_number from contacts
    where campaign_name = any(${campaigns})
      and right(regexp_replace(phone_number, '[^0-9]', '', 'g'), 7) = any(${suffixes})
    order by id`;
}

/** A new contact as the import and the API write it. */
export interface NewContactRow {
  campaign_name: string;
  phone_number: string;
  name: string | null;
  time_zone: string | null;
  redial_time: Date | null;
  contact_successful: number;
  data: Record<string, unknown>;
}

/** Inserts new contacts (one statement); returns their ids in order. */
export async function insertContacts(tx: SqlOrTx, rows: NewContactRow[]): Promise<number[]> {
  const values = rows.map((r) => ({ ...r, data: tx.json(r.data as never) }));
  const inserted = await tx<{ id: string }[]>`insert into contacts ${tx(values)} returning id`;
  return inserted.map((r) => Number(r.id));
}

/** The campaign's contacts counted by contact_successful, with their attempts. */
export async function countContactsBySuccess(db: DbOrTx, campaign: string) {
  return db
    .select({
      cs: contacts.contactSuccessful,
      n: sqlText<number>`count(*)::int`,
      attempts: sqlText<number>`coalesce(sum(${contacts.numberOfContacts}), 0)::int`,
    })
    .from(contacts)
    .where(eq(contacts.campaignName, campaign))
    .groupBy(contacts.contactSuccessful);
}

/** The campaign's contacts counted by last_state. */
export async function countContactsByLastState(db: DbOrTx, campaign: string) {
  return db
    .select({ ls: contacts.lastState, n: sqlText<number>`count(*)::int` })
    .from(contacts)
    .where(eq(contacts.campaignName, campaign))
    .groupBy(contacts.lastState);
}

/** Every contact of the campaign. */
export async function contactsOfCampaign(db: DbOrTx, campaign: string): Promise<Contact[]> {
  return db.select().from(contacts).where(eq(contacts.campaignName, campaign));
}

/**
 * The ids of the campaign's contacts at one of these ContactSuccessful values (and with fewer
 * than `attemptsBelow` attempts, when given), by id.
 */
export async function contactIdsInStates(
  db: DbOrTx,
  campaign: string,
  states: number[],
  attemptsBelow?: number,
): Promise<number[]> {
  const rows = await db
    .select({ id: contacts.id })
    .from(contacts)
    .where(
      and(
        eq(contacts.campaignName, campaign),
        inArray(contacts.contactSuccessful, states),
        attemptsBelow === undefined ? undefined : lt(contacts.numberOfContacts, attemptsBelow),
      ),
    )
    .orderBy(contacts.id);
  return rows.map((r) => r.id);
}

/**
 * Where a campaign is: its contacts, its attempts recorded, its contacts cached (3) and those still to dial (0
 * or 2 with fewer than `maxAttempts` attempts).
 */
export async function campaignProgress(
  sql: SqlOrTx,
  campaign: string,
  maxAttempts: number,
): Promise<{ total: number; recorded: number; cached: number; open: number }> {
  const [r] = await sql<{ total: number; recorded: number; cached: number; open: number }[]>`
    select (select count(*)::int from call_attempts where campaign_name = ${campaign} and recorded_at is not null) as recorded,
           count(*)::int as total,
           count(*) filter (where contact_successful = 3)::int as cached,
           count(*) filter (where contact_successful in (0, 2) and number_of_contacts < ${maxAttempts})::int as open
    from contacts where campaign_name = ${campaign}`;
  return r!;
}

/**
 * LISTENs on `channel` (the contacts trigger's, migration 0010); `onListen` runs each time LISTEN
 * takes effect (the first time and after each reconnect, which the driver makes itself).
 */
export async function listenForContactChanges(
  sql: Sql,
  channel: string,
  onNotify: (campaign: string) => void,
  onListen: () => void,
): Promise<void> {
  await sql.listen(channel, onNotify, onListen);
}

/** The database's clock now. */
export async function databaseNow(sql: Sql): Promise<Date> {
  const [row] = await sql<{ now: Date }[]>`select now() as now`;
  return row!.now;
}

/** A contact as the API and the export show it. */
export interface ContactRow {
  id: string | number;
  campaign_name: string | null;
  phone_number: string | null;
  name: string | null;
  time_zone: string | null;
  contact_successful: number;
  last_state: number | null;
  number_of_contacts: number;
  redial_time: Date | null;
  data: Record<string, unknown> | null;
}

/** A contact as `contacts list` shows it. */
export type ContactListRow = Omit<ContactRow, 'time_zone' | 'data'>;

/** The columns of a ContactRow, in its order (what `contacts list --json` and the export print). */
export const CONTACT_COLUMNS = [
  'id',
  'campaign_name',
  'phone_number',
  'name',
  'time_zone',
  'contact_successful',
  'last_state',
  'number_of_contacts',
  'redial_time',
  'data',
] as const satisfies readonly (keyof ContactRow)[];

/** The columns of a ContactRow but these, in its order. */
const contactColumnsBut = (...left: (keyof ContactRow)[]) => CONTACT_COLUMNS.filter((c) => !left.includes(c));

/** The columns of a ContactListRow. */
const CONTACT_LIST_COLUMNS = contactColumnsBut('time_zone', 'data');

/** Which contacts: all, or one campaign's, or those at one ContactSuccessful, or both. */
export interface ContactFilter {
  campaign?: string;
  state?: number;
}

const matchesFilter = (sql: SqlOrTx, filter: ContactFilter) => sql`
  (${filter.campaign ?? null}::text is null or campaign_name = ${filter.campaign ?? null})
  and (${filter.state ?? null}::smallint is null or contact_successful = ${filter.state ?? null})`;

/** One contact's fields as the API shows them (id, campaign, number, name, zone, state, data). */
export async function findContact(sql: SqlOrTx, id: number): Promise<ContactRow | undefined> {
  const [row] = await sql<ContactRow[]>`select ${sql(CONTACT_COLUMNS)} from contacts where id = ${id}`;
  return row;
}

/** Whether a contact with this id exists. */
export async function contactExists(sql: SqlOrTx, id: number): Promise<boolean> {
  const [row] = await sql`select id from contacts where id = ${id}`;
  return row !== undefined;
}

/** A contact's state: campaign, number, ContactSuccessful, LastState, attempts and redial time. */
export async function findContactState(
  sql: SqlOrTx,
  id: number,
): Promise<Omit<ContactListRow, 'id' | 'name'> | undefined> {
  const [row] = await sql<Omit<ContactListRow, 'id' | 'name'>[]>`
    select ${sql(contactColumnsBut('id', 'name', 'time_zone', 'data'))} from contacts where id = ${id}`;
  return row;
}

/** The first `limit` contacts matching the filter, by id. */
export async function listContacts(
  sql: SqlOrTx,
  q: ContactFilter & { limit: number },
): Promise<ContactListRow[]> {
  return sql<ContactListRow[]>`
    select ${sql(CONTACT_LIST_COLUMNS)} from contacts where ${matchesFilter(sql, q)}
    order by id limit ${q.limit}`;
}

/** Every contact matching the filter, by id, `batch` rows at a time (a cursor: any number of rows). */
export function exportContacts(
  sql: SqlOrTx,
  filter: ContactFilter,
  batch: number,
): AsyncIterable<ContactRow[]> {
  return sql<ContactRow[]>`
    select ${sql(CONTACT_COLUMNS)} from contacts where ${matchesFilter(sql, filter)}
    order by id`.cursor(batch);
}

/** The workflow ids that hold contacts at 3 cached at least `minAgeMs` ago. */
export async function holdersOfCachedContacts(sql: Sql, minAgeMs: number): Promise<string[]> {
  const rows = await sql<{ cached_by: string }[]>`
    select distinct cached_by from contacts
    where contact_successful = 3 and cached_by is not null
      and (cached_at is null or cached_at < now() - ${minAgeMs} * interval '1 millisecond')`;
  return rows.map((r) => r.cached_by);
}

/** A redial to come: the contact, when, and whether its campaign already holds it (waiting on its timer). */
export interface NextRedialRow {
  id: string;
  redial_time: Date;
  cached: boolean;
}

/**
 * The campaign's next redials, soonest first: contacts at 0 or 2 with a redial time and attempts
 * left (contacts_selection_idx), and those its workflow `holder` has cached and waits for
 * (contacts_cache_idx). No number: the console shows the contact's id.
 */
export async function nextRedials(
  sql: Sql,
  q: { campaign: string; holder: string; maxAttempts: number; now: Date; limit: number },
): Promise<NextRedialRow[]> {
  return sql<NextRedialRow[]>`
    (select id, redial_time, false as cached from contacts
      where campaign_name = ${q.campaign} and contact_successful in (0, 2) and redial_time is not null
        and number_of_contacts < ${q.maxAttempts}
      order by redial_time limit ${q.limit})
    union all
    (select id, redial_time, true as cached from contacts
      where cached_by = ${q.holder} and contact_successful = 3 and redial_time > ${q.now}
      order by redial_time limit ${q.limit})
    order by redial_time, id limit ${q.limit}`;
}

/** A contact as the console's search lists it (its number is masked before it is shown). */
export type ContactSearchRow = Pick<
  ContactRow,
  'id' | 'campaign_name' | 'phone_number' | 'name' | 'contact_successful' | 'last_state'
>;

/**
 * Contacts by id, by the last digits of their number, or by a part of their name (any one given
 * matches), by id, at most `limit`. The digits are compared with the number's digits only, so that
 * a number written with spaces or dashes is found too.
 */
export async function searchContacts(
  sql: SqlOrTx,
  q: { id?: number; digits?: string; name?: string; limit: number },
): Promise<ContactSearchRow[]> {
  const pattern = q.name === undefined ? null : `%${q.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  return sql<ContactSearchRow[]>`
    select id, campaign_name, phone_number, name, contact_successful, last_state from contacts
    where id = ${q.id ?? null}
      or (${q.digits ?? null}::text is not null
          and right(regexp_replace(phone_number, '[^0-9]', '', 'g'), ${q.digits?.length ?? 0}) = ${q.digits ?? null})
      or name ilike ${pattern}
    order by id limit ${q.limit}`;
}
