/**
 * The decision log (issue 10, item 6): one row per decision about a contact in `contact_events`.
 * Written by the step that made the decision (in its transaction where it has one); read by
 * `dialer contacts why <id>` and GET /api/contacts/:id/events.
 */
import type postgres from 'postgres';
import type { Database } from '../db/client';
import { contactEvents as contactEventsTable } from '../db/schema';

export type ContactEventKind =
  | 'cached'
  | 'delayed'
  | 'skipped'
  | 'taken'
  | 'dialed'
  | 'outcome'
  | 'released'
  | 'rescheduled'
  /** a redial pushed to a running campaign that the contract does not allow (§8) */
  | 'refused';

export interface ContactEvent {
  contactId: number;
  campaign: string | null;
  attemptNo: number | null;
  kind: ContactEventKind;
  reason: string;
  until?: Date | null;
  details?: Record<string, unknown> | null;
}

export interface LoggedEvent {
  id: number;
  at: string;
  campaign: string | null;
  attemptNo: number | null;
  kind: ContactEventKind;
  reason: string;
  until: string | null;
  details: Record<string, unknown> | null;
}

type Db = Database['db'];
/** The database, or a transaction of it (the event joins the decision's transaction). */
export type EventWriter = Db | Parameters<Parameters<Db['transaction']>[0]>[0];

/** Appends events; an attempt's `dialed` and `outcome` are kept once however often they are written. */
export async function logEvents(db: EventWriter, events: ContactEvent[]): Promise<void> {
  if (events.length === 0) return;
  await db
    .insert(contactEventsTable)
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

/** One event through the plain driver (the operations the CLI and the API share use it). */
export async function logEventSql(sql: postgres.Sql, e: ContactEvent): Promise<void> {
  await sql`insert into contact_events (contact_id, campaign_name, attempt_no, kind, reason, until)
    values (${e.contactId}, ${e.campaign}, ${e.attemptNo}, ${e.kind}, ${e.reason}, ${e.until ?? null})`;
}

/** A contact's decisions, oldest first. */
export async function contactEvents(sql: postgres.Sql, contactId: number): Promise<LoggedEvent[]> {
  const rows = await sql<
    {
      id: string;
      at: Date;
      campaign_name: string | null;
      attempt_no: number | null;
      kind: ContactEventKind;
      reason: string;
      until: Date | null;
      details: Record<string, unknown> | null;
    }[]
  >`select id, at, campaign_name, attempt_no, kind, reason, until, details
    from contact_events where contact_id = ${contactId} order by id`;
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at.toISOString(),
    campaign: r.campaign_name,
    attemptNo: r.attempt_no,
    kind: r.kind,
    reason: r.reason,
    until: r.until ? r.until.toISOString() : null,
    details: r.details,
  }));
}

/** One line per decision, for `dialer contacts why`. */
export function formatEvent(e: LoggedEvent): string {
  const attempt = e.attemptNo === null ? '' : ` #${e.attemptNo}`;
  const until = e.until ? ` (until ${e.until})` : '';
  return `${e.at}  ${e.kind.padEnd(11)} ${e.campaign ?? '—'}${attempt}  ${e.reason}${until}`;
}
