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
