import type { SqlOrTx } from '../client';

/** The cheapest statement: resolves once the database has answered one. */
export async function pingDatabase(sql: SqlOrTx): Promise<void> {
  await sql`select 1`;
}
