import type { SqlOrTx } from '../types';

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

/** Which contacts: all, or one campaign's, or those at one ContactSuccessful, or both. */
export interface ContactFilter {
  campaign?: string;
  state?: number;
}

/** One contact's fields as the API shows them (id, campaign, number, name, zone, state, data). */
export async function findContact(sql: SqlOrTx, id: number): Promise<ContactRow | undefined> {
  const [row] = await sql<ContactRow[]>`
    select id, campaign_name, phone_number, name, time_zone, contact_successful, last_state,
           number_of_contacts, redial_time, data
    from contacts where id = ${id}`;
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
    select campaign_name, phone_number, contact_successful, last_state, number_of_contacts, redial_time
    from contacts where id = ${id}`;
  return row;
}

/** The first `limit` contacts matching the filter, by id. */
export async function listContacts(
  sql: SqlOrTx,
  filter: ContactFilter,
  limit: number,
): Promise<ContactListRow[]> {
  return sql<ContactListRow[]>`
    select id, campaign_name, phone_number, name, contact_successful, last_state, number_of_contacts, redial_time
    from contacts
    where (${filter.campaign ?? null}::text is null or campaign_name = ${filter.campaign ?? null})
      and (${filter.state ?? null}::smallint is null or contact_successful = ${filter.state ?? null})
    order by id limit ${limit}`;
}

/** Every contact matching the filter, by id, `batch` rows at a time (a cursor: any number of rows). */
export function exportContacts(
  sql: SqlOrTx,
  filter: ContactFilter,
  batch: number,
): AsyncIterable<ContactRow[]> {
  return sql<ContactRow[]>`
    select id, campaign_name, phone_number, name, time_zone, contact_successful, last_state,
           number_of_contacts, redial_time, data
    from contacts
    where (${filter.campaign ?? null}::text is null or campaign_name = ${filter.campaign ?? null})
      and (${filter.state ?? null}::smallint is null or contact_successful = ${filter.state ?? null})
    order by id`.cursor(batch);
}
