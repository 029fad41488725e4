import path from 'node:path';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { connectDatabase } from './client';

export const migrationsFolder = path.resolve(__dirname, 'migrations');

/** Creates the database named in the URL when it does not exist yet (needs a role that may). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) throw new Error(`DATABASE_URL names no database: ${target.origin}`);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const sql = postgres(admin.toString(), { max: 1, onnotice: () => undefined });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    if (rows.length > 0) return false;
    await sql.unsafe(`create database "${name.replace(/"/g, '""')}"`);
    return true;
  } catch (err) {
    // Two processes may race to create it; the loser sees duplicate_database.
    if ((err as { code?: string }).code === '42P04') return false;
    throw err;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Applies the committed migrations, one process at a time (advisory lock). */
export async function migrateDatabase(url: string): Promise<void> {
  const database = connectDatabase(url, { max: 1 });
  try {
    await database.sql`select pg_advisory_lock(7431001)`;
    try {
      await migrate(database.db, { migrationsFolder });
    } finally {
      await database.sql`select pg_advisory_unlock(7431001)`;
    }
  } finally {
    await database.close();
  }
}
