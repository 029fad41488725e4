import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Sql } from '../db/client';
import {
  type IdempotencyKeyRow,
  claimIdempotencyKey,
  dropExpiredIdempotencyKeys,
  findIdempotencyKey,
  keepIdempotentAnswer,
  releaseIdempotencyKey,
} from '../db/queries/idempotency-keys';
import { OperationError } from '../ops/errors';

/**
 * `Idempotency-Key` on every POST of the API: a CRM that retries after a timeout gets
 * the first answer again (same status, same body, `Idempotent-Replayed: true`) and nothing is
 * written twice. The first response is kept in `idempotency_keys` for 24 h with a hash of the
 * request (method, path and body); the same key with another request is refused (422).
 *
 * Concurrent requests with one key: the first to insert the key row answers; the others wait for
 * its answer (polling, at most WAIT_MS) and replay it, or get 409 with Retry-After when it takes
 * longer. A 5xx is not kept (the key is forgotten), so that a retry after an outage runs again.
 * A key whose first request never finished (its server died) can be taken over after LEASE_MS.
 */
export const IDEMPOTENCY_TTL_MS = 24 * 3_600_000;
export const IDEMPOTENCY_KEY_MAX = 255;
/** How long a request waits for the first request with its key to answer. */
export const WAIT_MS = 10_000;
/** After this, a key with no answer is taken as abandoned (far beyond any request's deadline). */
const LEASE_MS = 60_000;
const POLL_MS = 50;

type Claim = { claimed: true } | { claimed: false; row: IdempotencyKeyRow | undefined };

/** The request as the key promises it: method, path with query, and body. */
export function requestHash(method: string, url: string, body: unknown): string {
  return crypto
    .createHash('sha256')
    .update(`${method} ${url}\n${JSON.stringify(body ?? null)}`)
    .digest('hex');
}

/** The key as sent, or why it cannot be one: visible ASCII, 1 to 255 characters. */
export function checkKey(header: string | string[]): string {
  if (Array.isArray(header))
    throw new OperationError('invalid', 'Idempotency-Key: send one key, not several', 'Idempotency-Key');
  if (!/^[\x21-\x7e]{1,255}$/.test(header)) {
    throw new OperationError(
      'invalid',
      `Idempotency-Key must be 1 to ${IDEMPOTENCY_KEY_MAX} visible ASCII characters (e.g. a UUID)`,
      'Idempotency-Key',
    );
  }
  return header;
}

/** Inserts the key row, or takes over one that expired or was abandoned; else returns the row there. */
async function claim(sql: Sql, key: string, hash: string): Promise<Claim> {
  if (await claimIdempotencyKey(sql, key, hash, LEASE_MS, IDEMPOTENCY_TTL_MS)) return { claimed: true };
  return { claimed: false, row: await findIdempotencyKey(sql, key) };
}

/**
 * Claims the key for this request, or answers it from the first request's response. Resolves
 * true when this request is to be handled (and its response kept), false when it was answered.
 */
async function claimOrReplay(sql: Sql, key: string, hash: string, reply: FastifyReply): Promise<boolean> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const c = await claim(sql, key, hash);
    if (c.claimed) return true;
    const row = c.row;
    if (row && row.request_hash !== hash) {
      throw new OperationError(
        'unprocessable',
        'This Idempotency-Key was used with another request (method, path or body): use a new key for a new request',
        'Idempotency-Key',
      );
    }
    if (row && row.status !== null) {
      reply.code(row.status).header('Idempotent-Replayed', 'true');
      if (row.content_type) reply.type(row.content_type);
      void reply.send(row.body ?? '');
      return false;
    }
    if (Date.now() >= deadline) {
      reply.header('Retry-After', '1');
      throw new OperationError(
        'conflict',
        'A request with this Idempotency-Key is still being answered: retry it shortly',
        'Idempotency-Key',
      );
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Registers the hooks in the API's scope (after authentication and schema validation). */
export function registerIdempotency(api: FastifyInstance, sql: Sql): void {
  /** Requests that hold their key, until their response is kept. */
  const claimed = new WeakMap<FastifyRequest, string>();

  api.addHook('preHandler', async (req, reply) => {
    const header = req.headers['idempotency-key'];
    if (req.method !== 'POST' || header === undefined) return;
    const key = checkKey(header);
    const answer = await claimOrReplay(sql, key, requestHash(req.method, req.url, req.body), reply);
    if (!answer) return reply;
    claimed.set(req, key);
    // expired keys go lazily: a few at each new key, so the table never needs a job of its own
    await dropExpiredIdempotencyKeys(sql);
  });

  api.addHook('onSend', async (req, reply, payload) => {
    const key = claimed.get(req);
    if (key === undefined) return payload;
    claimed.delete(req);
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString() : null;
    if (reply.statusCode >= 500 || body === null) {
      await releaseIdempotencyKey(sql, key);
      return payload;
    }
    const type = reply.getHeader('content-type');
    await keepIdempotentAnswer(sql, key, {
      status: reply.statusCode,
      contentType: typeof type === 'string' ? type : null,
      body,
    });
    return payload;
  });

  // a request that ended without a response (the client went away) frees its key at once
  api.addHook('onResponse', async (req) => {
    const key = claimed.get(req);
    if (key === undefined) return;
    claimed.delete(req);
    await releaseIdempotencyKey(sql, key);
  });
}
