import { STATUS_CODES } from 'node:http';
import type { FastifyReply } from 'fastify';
import { OperationError } from '../ops/errors';

/**
 * The API's one error shape: RFC 9457 problem details (`application/problem+json`). `type` names
 * the kind of problem (stable, for a CRM to branch on), `title` is its fixed summary, `detail`
 * says what was wrong in this request, and `field` where: a JSON pointer into the body
 * ("/contacts/3/phoneNumber") or the name of a path or query parameter. `errors` lists every
 * problem when a request has several. No stack, driver message, host or port ever goes here.
 */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  field?: string;
  errors?: { detail: string; field?: string }[];
}

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** The statuses with a kind of their own; another 4xx is a 400's kind, another 5xx a 500's. */
const KNOWN_STATUSES = new Set([400, 401, 404, 405, 406, 409, 413, 415, 422, 429, 500, 503]);

/**
 * A kind is named after its status's reason phrase (RFC 9110 §15: "Not Found" is not-found), but
 * for these: names of their own, or (413, 422) phrases RFC 9110 renamed, kept as first published.
 */
const SLUGS: Record<number, string> = {
  400: 'invalid-request',
  413: 'payload-too-large',
  422: 'unprocessable',
  500: 'internal',
  503: 'unavailable',
};

export const OPERATION_STATUS = {
  'not-found': 404,
  invalid: 400,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
} as const satisfies Record<OperationError['kind'], number>;

/** A problem document for this status: its kind's name in `type`, and the reason phrase as `title`. */
export function problem(status: number, detail: string, extra: Partial<Problem> = {}): Problem {
  const kind = KNOWN_STATUSES.has(status) ? status : status >= 500 ? 500 : 400;
  const title = STATUS_CODES[kind]!;
  const slug = SLUGS[kind] ?? title.toLowerCase().replaceAll(' ', '-');
  return { type: `urn:dialer:problem:${slug}`, title, status, detail, ...extra };
}

/** Sends a problem; Retry-After (seconds) for a 503 a client should retry. */
export function sendProblem(reply: FastifyReply, p: Problem, retryAfterS?: number): FastifyReply {
  if (retryAfterS !== undefined) reply.header('Retry-After', String(retryAfterS));
  return reply.code(p.status).type(PROBLEM_MEDIA_TYPE).send(p);
}

/** True for a body that already is a problem document. */
export function isProblem(body: unknown): body is Problem {
  const b = body as Partial<Problem> | null;
  return typeof b === 'object' && b !== null && typeof b.type === 'string' && typeof b.status === 'number';
}

/** The JSON schema of a problem document (OpenAPI and the serializer of every error response). */
export const problemSchema = {
  type: 'object',
  description: 'RFC 9457 problem details',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string', description: 'the kind of problem, e.g. urn:dialer:problem:not-found' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string', description: 'what was wrong in this request' },
    field: {
      type: 'string',
      description: 'where: a JSON pointer into the body (/contacts/0/phoneNumber) or a parameter name',
    },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { detail: { type: 'string' }, field: { type: 'string' } } },
    },
  },
  additionalProperties: true,
} as const;

/** The problem for an OperationError (the refusals the CLI and the API share). */
export function operationProblem(err: OperationError): Problem {
  // a refusal with several problems (ops/contact-import.ts ContactProblems) lists each with its field
  const list = (err as { errors?: { detail: string; field?: string }[] }).errors;
  return problem(OPERATION_STATUS[err.kind], err.message, {
    ...(err.field ? { field: err.field } : {}),
    ...(list?.length ? { errors: list } : {}),
  });
}

export interface AjvError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: { missingProperty?: string; additionalProperty?: string };
}

/**
 * The problem for a request that failed its JSON schema: the field as a JSON pointer into the
 * body, or the parameter's name for path, query and header values.
 */
export function validationProblem(errors: AjvError[], context: string | undefined, message: string): Problem {
  const fieldOf = (e: AjvError) => {
    const child = e.params?.missingProperty ?? e.params?.additionalProperty;
    const pointer = `${e.instancePath ?? ''}${child !== undefined ? `/${child}` : ''}`;
    if (context === 'body' || context === undefined) return pointer || '/';
    return pointer.replace(/^\//, '') || context;
  };
  const list = errors.map((e) => ({
    detail: `${context ?? 'body'}${e.instancePath ?? ''} ${e.message ?? 'is invalid'}`,
    field: fieldOf(e),
  }));
  const first = list[0];
  return problem(400, message, {
    ...(first ? { field: first.field } : {}),
    ...(list.length > 1 ? { errors: list } : {}),
  });
}
