import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema';

export type Db = PostgresJsDatabase<typeof schema>;

export interface Database {
  /** The query builder, for everything that fits it. */
  db: Db;
  /**
   * Plain postgres.js for the statements the builder cannot express (the reservation's
   * UPDATE … FROM (SELECT … FOR UPDATE SKIP LOCKED)). A client of its own: drizzle replaces its
   * client's date parsers and serializers, and raw queries want postgres.js's Date handling.
   */
  sql: postgres.Sql;
  close(): Promise<void>;
}

/**
 * The application_name of every connection a worker process opens. The contacts trigger
 * (migration 0010) sends no change notification for writes made under it: the campaign already
 * knows about its own reservations, outcomes and releases.
 */
export const WORKER_APPLICATION_NAME = 'campaign-dialer-worker';

export function connectDatabase(
  url: string,
  opts: {
    max?: number;
    /** PostgreSQL's application_name for these connections (default postgres.js's). */
    applicationName?: string;
  } = {},
): Database {
  const max = opts.max ?? 10;
  const options = {
    onnotice: () => undefined,
    ...(opts.applicationName ? { connection: { application_name: opts.applicationName } } : {}),
  };
  const sql = postgres(url, { ...options, max: Math.max(1, Math.ceil(max / 2)) });
  const builderClient = postgres(url, { ...options, max });
  const db = drizzle(builderClient, { schema });
  return {
    db,
    sql,
    close: async () => {
      await Promise.all([sql.end({ timeout: 5 }), builderClient.end({ timeout: 5 })]);
    },
  };
}
