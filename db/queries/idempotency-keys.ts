import type { SqlOrTx } from '../client';

/** A key's row as a retry reads it: the request it was first used with, and its answer once kept. */
export interface IdempotencyKeyRow {
  request_hash: string;
  status: number | null;
  content_type: string | null;
  body: string | null;
}

/**
 * Inserts the key's row (locked for `leaseMs`, kept for `ttlMs`), or takes over one that expired,
 * or one with no answer whose lock ran out and whose request is this one; true when it did.
 */
export async function claimIdempotencyKey(
  sql: SqlOrTx,
  key: string,
  hash: string,
  leaseMs: number,
  ttlMs: number,
): Promise<boolean> {
  const [mine] = await sql`
    insert into idempotency_keys (key, request_hash, locked_until, expires_at)
    values (${key}, ${hash}, now() + ${`${leaseMs} milliseconds`}::interval,
            now() + ${`${ttlMs} milliseconds`}::interval)
    on conflict (key) do update set
      request_hash = excluded.request_hash, status = null, content_type = null, body = null,
      locked_until = excluded.locked_until, created_at = now(), expires_at = excluded.expires_at
    where idempotency_keys.expires_at < now()
       or (idempotency_keys.status is null and idempotency_keys.locked_until < now()
           and idempotency_keys.request_hash = excluded.request_hash)
    returning key`;
  return mine !== undefined;
}

/** The key's row, if there is one. */
export async function findIdempotencyKey(sql: SqlOrTx, key: string): Promise<IdempotencyKeyRow | undefined> {
  const [row] = await sql<IdempotencyKeyRow[]>`
    select request_hash, status, content_type, body from idempotency_keys where key = ${key}`;
  return row;
}

/** Deletes up to 100 expired keys. */
export async function dropExpiredIdempotencyKeys(sql: SqlOrTx): Promise<void> {
  await sql`
    delete from idempotency_keys
    where key in (select key from idempotency_keys where expires_at < now() limit 100)`;
}

/** Forgets a key whose request has no answer kept (so that a retry runs it again). */
export async function releaseIdempotencyKey(sql: SqlOrTx, key: string): Promise<void> {
  await sql`delete from idempotency_keys where key = ${key} and status is null`;
}

/** Keeps the answer of the key's request: status, content type and body. */
export async function keepIdempotentAnswer(
  sql: SqlOrTx,
  key: string,
  answer: { status: number; contentType: string | null; body: string },
): Promise<void> {
  await sql`
    update idempotency_keys
    set status = ${answer.status}, content_type = ${answer.contentType}, body = ${answer.body}
    where key = ${key}`;
}
