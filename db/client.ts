import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema';

/** The query builder over our schema. */
export type Db = PostgresJsDatabase<typeof schema>;
/** A transaction of the query builder (what `db.transaction` hands its callback). */
export type DbTx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** The query builder, or one of its transactions: a statement that may join the caller's. */
export type DbOrTx = Db | DbTx;
/** Plain postgres.js (see Database.sql). */
export type Sql = postgres.Sql;
/** A transaction of plain postgres.js (what `sql.begin` hands its callback). */
export type TxSql = postgres.TransactionSql;
/** Plain postgres.js, or one of its transactions. */
export type SqlOrTx = Sql | TxSql;

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

/**
 * Deadlines for the connections of the server and the CLI (not the workers': an activity has its
 * own timeouts, and a slow statement there is retried, not refused). A database that does not
 * accept a connection within connectTimeoutS, or a statement that runs longer than
 * statementTimeoutMs (a lock held by someone else, a runaway query), fails instead of hanging a
 * request: the API answers 503 with Retry-After, a command says what did not answer.
 */
export interface DatabaseDeadlines {
  connectTimeoutS: number;
  statementTimeoutMs: number;
}

/** The HTTP server's: a request fails fast, its client retries. */
export const SERVER_DEADLINES: DatabaseDeadlines = { connectTimeoutS: 5, statementTimeoutMs: 10_000 };
/** The CLI's: an import or export of a large file may run one long statement. */
export const CLI_DEADLINES: DatabaseDeadlines = { connectTimeoutS: 10, statementTimeoutMs: 300_000 };

export function connectDatabase(
  url: string,
  opts: {
    max?: number;
    /** PostgreSQL's application_name for these connections (default postgres.js's). */
    applicationName?: string;
    deadlines?: DatabaseDeadlines;
  } = {},
): Database {
  const max = opts.max ?? 10;
  const connection: Record<string, string | number> = {};
  if (opts.applicationName) connection.application_name = opts.applicationName;
  if (opts.deadlines) connection.statement_timeout = opts.deadlines.statementTimeoutMs;
  const options = {
    onnotice: () => undefined,
    ...(Object.keys(connection).length ? { connection } : {}),
    ...(opts.deadlines ? { connect_timeout: opts.deadlines.connectTimeoutS } : {}),
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

/**
 * One connection of its own for LISTEN (the worker's contact-change listener), under the workers'
 * application_name: its own writes (none today) must not notify either.
 */
export function connectListener(url: string): Sql {
  return postgres(url, {
    max: 1,
    onnotice: () => undefined,
    connection: { application_name: WORKER_APPLICATION_NAME },
    // the driver's default backoff grows to 10–20 s between tries: after an outage CRM edits
    // would wait that long; one connection may try every 2 s at most
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 2),
  });
}
