/**
 * Tells a dependency that is down or too slow apart from a bug: the API answers the first with
 * 503 and Retry-After (a client should try again), the second with 500.
 */
export type Dependency = 'database' | 'temporal';

// gRPC status codes (@grpc/grpc-js status): the call did not reach a Temporal server that answers
const GRPC_DOWN = new Set([
  4, // DEADLINE_EXCEEDED: our deadline passed (the server is frozen, overloaded or far away)
  14, // UNAVAILABLE: nothing answers, or the connection broke
  1, // CANCELLED: the channel was closed under the call
]);

// postgres.js's own connection errors and the socket's
const PG_CONNECTION_CODES = new Set([
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs that mean "try again later": class 08 (connection exception), 53 (insufficient
 * resources, e.g. too many connections), 57014 (statement_timeout), 57P01-57P03 (the server is
 * shutting down or starting), 55P03 (lock_timeout).
 */
function transientSqlState(code: string): boolean {
  return /^(08|53)/.test(code) || ['57014', '57P01', '57P02', '57P03', '55P03'].includes(code);
}

interface ErrorLike {
  code?: unknown;
  name?: unknown;
  cause?: unknown;
  details?: unknown;
}

/** Which dependency an error says is down or timed out, or undefined for any other error. */
export function unavailableDependency(err: unknown): Dependency | undefined {
  let e = err as ErrorLike | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 6; depth++) {
    const code = e.code;
    // a gRPC status (the Temporal client wraps it in a ServiceError's cause)
    if (typeof code === 'number' && typeof e.details === 'string') {
      return GRPC_DOWN.has(code) ? 'temporal' : undefined;
    }
    if (typeof code === 'string') {
      if (e.name === 'PostgresError') return transientSqlState(code) ? 'database' : undefined;
      if (PG_CONNECTION_CODES.has(code)) return 'database';
    }
    if (e.name === 'DatabaseTimeoutError') return 'database';
    e = e.cause as ErrorLike | undefined;
  }
  return undefined;
}

/** A database call that did not answer within its deadline (see withTimeout). */
export class DatabaseTimeoutError extends Error {
  override name = 'DatabaseTimeoutError';
}

/** Rejects with `onTimeout()` if `work` has not settled within `ms` (the work itself goes on). */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}
