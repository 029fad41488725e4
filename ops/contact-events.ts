/**
 * The decision log: one row per decision about a contact in `contact_events`.
 * Written by the step that made the decision (in its transaction where it has one); read by
 * `dialer contacts why <id>` and GET /api/contacts/:id/events.
 */
import type { DbOrTx, Sql, SqlOrTx } from '../db/client';
import { contactEventRows, insertContactEventSql, insertContactEvents } from '../db/queries/contact-events';

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

/** The database, or a transaction of it (the event joins the decision's transaction). */
export type EventWriter = DbOrTx;

/** Appends events; an attempt's `dialed` and `outcome` are kept once however often they are written. */
export async function logEvents(db: EventWriter, events: ContactEvent[]): Promise<void> {
  await insertContactEvents(db, events);
}

/** One event through the plain driver (the operations the CLI and the API share use it). */
export async function logEventSql(sql: SqlOrTx, e: ContactEvent): Promise<void> {
  await insertContactEventSql(sql, e);
}

/** A contact's decisions, oldest first. */
export async function contactEvents(sql: Sql, contactId: number): Promise<LoggedEvent[]> {
  const rows = await contactEventRows(sql, contactId);
  return rows.map((r) => ({
    id: Number(r.id),
    at: r.at.toISOString(),
    campaign: r.campaign_name,
    attemptNo: r.attempt_no,
    kind: r.kind as ContactEventKind,
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
