/**
 * Finding contacts and reading one whole (the console's contacts screen): a search by id, by the
 * last digits of the number or by name, and a contact with its attempts and its decisions.
 */
import type { Sql } from '../db/client';
import { type ContactAttemptRow, attemptsOfContact } from '../db/queries/call-attempts';
import { type ContactRow, type ContactSearchRow, findContact, searchContacts } from '../db/queries/contacts';
import { type LoggedEvent, contactEvents } from './contact-events';
import { OperationError } from './errors';

/** How many contacts a search lists at most. */
export const SEARCH_LIMIT = 50;

/** Fewer digits than this match too many numbers to be a search by number. */
const MIN_DIGITS = 4;

export type SearchQuery = { id?: number; digits?: string; name?: string };

/**
 * What the operator typed, read: digits alone (spaces, dashes, dots, a leading + allowed) are an
 * id and the number's last digits; anything else is a part of a name.
 */
export function readSearch(text: string): SearchQuery {
  const t = text.trim();
  if (t === '') throw new OperationError('invalid', 'Type an id, the last digits of a number, or a name');
  if (/^\+?[\d\s().-]+$/.test(t)) {
    const digits = t.replace(/\D/g, '');
    const id = Number(digits);
    const q: SearchQuery = {};
    if (digits.length <= 15 && Number.isSafeInteger(id) && id > 0) q.id = id;
    if (digits.length >= MIN_DIGITS) q.digits = digits;
    if (q.id === undefined && q.digits === undefined)
      throw new OperationError('invalid', `Type at least ${MIN_DIGITS} digits of a number, or an id`);
    return q;
  }
  return { name: t };
}

export async function findContacts(sql: Sql, text: string): Promise<ContactSearchRow[]> {
  return searchContacts(sql, { ...readSearch(text), limit: SEARCH_LIMIT });
}

export interface ContactDetail {
  row: ContactRow;
  attempts: ContactAttemptRow[];
  events: LoggedEvent[];
}

/** A contact's row, its attempts and its decisions (what `dialer contacts why` prints), or not-found. */
export async function contactDetail(sql: Sql, id: number): Promise<ContactDetail> {
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new OperationError('invalid', `"${id}" is not a contact id`);
  const row = await findContact(sql, id);
  if (!row) throw new OperationError('not-found', `No contact with id ${id}`);
  const [attempts, events] = await Promise.all([attemptsOfContact(sql, id), contactEvents(sql, id)]);
  return { row, attempts, events };
}

/** The contact's number, for the operator who asked to see it; not-found if none. */
export async function contactNumber(sql: Sql, id: number): Promise<string | null> {
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new OperationError('invalid', `"${id}" is not a contact id`);
  const row = await findContact(sql, id);
  if (!row) throw new OperationError('not-found', `No contact with id ${id}`);
  return row.phone_number;
}
