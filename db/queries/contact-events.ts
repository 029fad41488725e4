/**
 * The decision log, `contact_events`: one row per decision about a contact, written by the step
 * that made it (in its transaction where it has one).
 */
import type { JSONValue, PendingQuery, Row } from 'postgres';
import type { DbOrTx, Sql, SqlOrTx } from '../client';
import { contactEvents } from '../schema';

/** A decision as it is written. */
export interface NewContactEvent {
  contactId: number;
  campaign: string | null;
  attemptNo: number | null;
  kind: string;
  reason: string;
  until?: Date | null;
  details?: Record<string, unknown> | null;
}

/** A decision as it was written. */
export interface ContactEventRow {
  id: string;
  at: Date;
  campaign_name: string | null;
  attempt_no: number | null;
  kind: string;
  reason: string;
  until: Date | null;
  details: Record<string, unknown> | null;
}

/** Appends events; an attempt's `dialed` and `outcome` are kept once however often they are written. */
export async function insertContactEvents(db: DbOrTx, events: NewContactEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insert(contactEvents)
    .values(
      events.map((e) => ({
        contactId: e.contactId,
        campaignName: e.campaign,
        attemptNo: e.attemptNo,
        kind: e.kind,
        reason: e.reason,
        until: e.until ?? null,
        details: e.details ?? null,
      })),
    )
    .onConflictDoNothing();
}

/** Appends one event through the plain driver (or its transaction). */
export async function insertContactEventSql(sql: SqlOrTx, e: NewContactEvent): Promise<void> {
  const details = e.details ? sql.json(e.details as JSONValue) : null;
  await sql`insert into contact_events (contact_id, campaign_name, attempt_no, kind, reason, until, details)
    values (${e.contactId}, ${e.campaign}, ${e.attemptNo}, ${e.kind}, ${e.reason}, ${e.until ?? null}, ${details})`;
}

/**
 * An event's insert as part of another statement (a CTE of it): written only `when` the
 * condition holds; kept once, as insertContactEvents does.
 */
export const insertContactEventWhen = (sql: Sql, e: NewContactEvent, when: PendingQuery<Row[]>) => sql`
  insert into contact_events (contact_id, campaign_name, attempt_no, kind, reason, until, details)
  select ${e.contactId}::bigint, ${e.campaign}::text, ${e.attemptNo}::int, ${e.kind}::text, ${e.reason}::text,
    ${e.until ?? null}::timestamptz, ${e.details ? sql.json(e.details as JSONValue) : null}::jsonb
  where ${when}
  on conflict do nothing`;

/** A contact's decisions, oldest first. */
export async function contactEventRows(sql: Sql, contactId: number): Promise<ContactEventRow[]> {
  return sql<ContactEventRow[]>`select id, at, campaign_name, attempt_no, kind, reason, until, details
    from contact_events where contact_id = ${contactId} order by id`;
}

/**
 * The campaign's contacts held back (delayed) or not dialed (skipped) since `since`, counted by
 * kind and rule (details.rule; null for events written before it was recorded):
 * contact_events_held_idx keeps this to those events.
 */
export async function heldBackCounts(
  sql: Sql,
  campaign: string,
  since: Date,
): Promise<{ kind: string; rule: string | null; events: number; contacts: number; latest: Date }[]> {
  return sql<{ kind: string; rule: string | null; events: number; contacts: number; latest: Date }[]>`
    select kind, details->>'rule' as rule, count(*)::int as events,
      count(distinct contact_id)::int as contacts, max(at) as latest
    from contact_events
    where campaign_name = ${campaign} and kind in ('delayed', 'skipped') and at >= ${since}
    group by 1, 2 order by 3 desc`;
}
