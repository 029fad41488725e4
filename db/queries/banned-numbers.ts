/**
 * `banned_numbers`: the do-not-call list, in E.164. The placing step reads it in its dial check
 * (db/queries/call-attempts.ts dialCheckRow).
 */
import type { Sql, SqlOrTx } from '../client';

/** Adds numbers; those already listed keep their reason. Returns how many were new. */
export async function insertBannedNumbers(
  sql: SqlOrTx,
  rows: { phone_number: string; reason: string | null }[],
): Promise<number> {
  const inserted = await sql`
    insert into banned_numbers ${sql(rows, 'phone_number', 'reason')}
    on conflict (phone_number) do nothing returning phone_number`;
  return inserted.length;
}

/** Removes these numbers; returns those that were listed. */
export async function deleteBannedNumbers(sql: Sql, numbers: string[]): Promise<string[]> {
  const rows = await sql<{ phone_number: string }[]>`
    delete from banned_numbers where phone_number = any(${numbers}) returning phone_number`;
  return rows.map((r) => r.phone_number);
}

/** Removes the numbers listed with this reason. */
export async function deleteBannedNumbersWithReason(sql: SqlOrTx, reason: string): Promise<void> {
  await sql`delete from banned_numbers where reason = ${reason}`;
}

/** The whole list, by number. */
export async function bannedNumberRows(sql: Sql) {
  return sql<{ phone_number: string; reason: string | null; created_at: Date }[]>`
    select phone_number, reason, created_at from banned_numbers order by phone_number`;
}
