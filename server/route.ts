import type {} from '@fastify/swagger'; // schema.summary and schema.tags
import type {
  FastifyInstance,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
  RouteGenericInterface,
  RouteHandlerMethod,
} from 'fastify';
import { PROBLEM_MEDIA_TYPE, problemSchema } from './problem';

/**
 * How every route of the API is declared: a compact spec from which the JSON schema (input checks,
 * serializer and the OpenAPI document at /docs) is built. The shared parts are written once here:
 * the tag of the route's group, the schema of each path parameter by its name, and the problem
 * documents (server/problem.ts) of the error answers.
 */
export interface RouteSpec {
  summary: string;
  description?: string;
  headers?: object;
  querystring?: object;
  body?: object;
  /** The answers other than errors, by status (none: the handler's value, undocumented). */
  answers?: Record<number, object>;
  /** The error statuses the route answers besides 400, 401 and 503 (every route), with a description or not. */
  errors?: readonly (number | readonly [number, string])[];
  /** The largest body accepted, in bytes (default fastify's 1 MiB). */
  bodyLimit?: number;
}

export type Tag = 'contacts' | 'campaigns' | 'agents' | 'codec';

type Handler<G extends RouteGenericInterface> = RouteHandlerMethod<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  G
>;

/** A path parameter has one schema wherever it stands (`/contacts/:id`, `/campaigns/:name`, …). */
const PATH_PARAMS: Record<string, object> = {
  // a contact id: a bigint in the table, but one JavaScript holds exactly (20 digits would be a 500)
  id: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
  name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$' },
  endpoint: { type: 'string', description: 'client:<identity> or an E.164 number' },
};

/** The schema of a URL's path parameters (undefined when it has none). */
function paramsSchema(url: string): object | undefined {
  const names = [...url.matchAll(/:(\w+)/g)].map((m) => m[1]!);
  if (names.length === 0) return undefined;
  const properties = Object.fromEntries(
    names.map((n) => {
      const schema = PATH_PARAMS[n];
      if (!schema) throw new Error(`${url}: no schema for the path parameter ${n}`);
      return [n, schema];
    }),
  );
  return { type: 'object', required: names, properties };
}

const problemAnswer = (description = 'problem details') => ({
  description,
  content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema } },
});

/** The route's answers: its own, each error as a problem document, and those every route can give. */
function responses(spec: RouteSpec): Record<number, object> {
  const answers: Record<number, object> = { ...spec.answers };
  for (const e of spec.errors ?? []) {
    const [status, description] = typeof e === 'number' ? [e] : e;
    answers[status] = problemAnswer(description);
  }
  answers[400] = problemAnswer('bad input: the field is named');
  answers[401] = problemAnswer('missing or wrong bearer token');
  answers[503] = problemAnswer('a dependency is down or slow (Retry-After), or the API is disabled');
  return answers;
}

/** The routes of one group of the API (one OpenAPI tag): `routes(api, 'contacts').post(url, spec, handler)`. */
export function routes(api: FastifyInstance, tag: Tag) {
  const add =
    (method: 'GET' | 'POST' | 'PUT') =>
    <G extends RouteGenericInterface = RouteGenericInterface>(
      url: string,
      spec: RouteSpec,
      handler: Handler<G>,
    ): void => {
      const { answers: _, errors: __, bodyLimit, ...rest } = spec;
      const params = paramsSchema(url);
      const schema = { ...rest, tags: [tag], ...(params ? { params } : {}), response: responses(spec) };
      api.route<G>({ method, url, schema, handler, ...(bodyLimit ? { bodyLimit } : {}) });
    };
  return { get: add('GET'), post: add('POST'), put: add('PUT') };
}
