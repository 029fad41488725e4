import postgres from 'postgres';

/** A plain driver connection, for tests that look at the database from outside the dialer. */
export type RawConnection = postgres.Sql;

/**
 * One connection as a CRM, a listener or a tool would open it (notices dropped); with
 * `applicationName` it can pose as one of the dialer's processes (the contacts trigger skips
 * the workers' own writes by it).
 */
export function rawConnection(url: string, o: { applicationName?: string } = {}): RawConnection {
  return postgres(url, {
    max: 1,
    onnotice: () => undefined,
    ...(o.applicationName ? { connection: { application_name: o.applicationName } } : {}),
  });
}

/** The same PostgreSQL server's `postgres` database, where databases are created and dropped. */
function adminUrl(url: string): string {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  return admin.toString();
}

/** Each named database's size in bytes (pg_database_size); one that does not exist is left out. */
export async function databaseSizes(url: string, names: string[]): Promise<Record<string, number>> {
  const sql = rawConnection(adminUrl(url));
  try {
    const rows = await sql<{ datname: string; bytes: string }[]>`
      select datname, pg_database_size(datname)::text as bytes from pg_database where datname = any(${names})`;
    return Object.fromEntries(rows.map((r) => [r.datname, Number(r.bytes)]));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Drops the named databases, closing whatever connections they still have. */
export async function dropDatabases(url: string, names: string[]): Promise<void> {
  const sql = rawConnection(adminUrl(url));
  try {
    for (const n of names)
      await sql.unsafe(`drop database if exists "${n.replace(/"/g, '""')}" with (force)`);
  } finally {
    await sql.end({ timeout: 5 });
  }
}
