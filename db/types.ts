import type postgres from 'postgres';

/**
 * The driver's types, for code outside db/ that passes a handle on to db/queries without
 * importing the driver itself.
 */

/** A plain postgres.js client (Database.sql). */
export type Sql = postgres.Sql;

/** A transaction opened on it (sql.begin). */
export type TransactionSql = postgres.TransactionSql;

/** Either: a statement that runs alone or inside a caller's transaction. */
export type SqlOrTx = postgres.Sql | postgres.TransactionSql;
