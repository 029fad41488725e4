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

const KINDS = {
  400: ['invalid-request', 'Bad request'],
  401: ['unauthorized', 'Unauthorized'],
  404: ['not-found', 'Not found'],
  405: ['method-not-allowed', 'Method not allowed'],
  406: ['not-acceptable', 'Not acceptable'],
  409: ['conflict', 'Conflict'],
  413: ['payload-too-large', 'Payload too large'],
  415: ['unsupported-media-type', 'Unsupported media type'],
  422: ['unprocessable', 'Unprocessable request'],
  429: ['too-many-requests', 'Too many requests'],
  500: ['internal', 'Internal error'],
  503: ['unavailable', 'Service unavailable'],
} as const satisfies Record<number, readonly [string, string]>;

export const OPERATION_STATUS = {
  'not-found': 404,
  invalid: 400,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
} as const satisfies Record<OperationError['kind'], number>;

/** A problem document for this status (4xx and 5xx outside the table fall back to 400 / 500's kind). */
export function problem(status: number, detail: string, extra: Partial<Problem> = {}): Problem {
  const known = (KINDS as Record<number, readonly [string, string]>)[status];
  const [slug, title] = known ?? (status >= 500 ? KINDS[500] : KINDS[400]);
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
