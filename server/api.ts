import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AGENT_STATUSES, listAgents, setAgentStatus, upsertAgent } from '../ops/agents';
import { decidePreview, nextPreview } from '../ops/preview';
import { parseDuration } from '../domain/time-text';
import { OperationError } from '../ops/errors';
import { redactUrl } from '../infra/logger';
import { sameSecret } from '../infra/secrets';
import { unavailableDependency } from '../infra/unavailable';
import { type CrmDeps, registerCrmRoutes } from './crm-routes';
import { routes } from './route';
import {
  type AjvError,
  isProblem,
  operationProblem,
  PROBLEM_MEDIA_TYPE,
  problem,
  sendProblem,
  validationProblem,
} from './problem';

/**
 * The dialer's HTTP API under /api, for CRMs and other systems: every request carries
 * `Authorization: Bearer <DIALER_API_TOKEN>`; every body is checked against its JSON schema and
 * a bad one is refused with 400 naming the field, before anything changes. Every error, whatever
 * its status, is an RFC 9457 problem document (server/problem.ts).
 */
export interface ApiDeps extends CrmDeps {
  /** DIALER_API_TOKEN; without it the API answers 503. */
  apiToken?: string;
}

const agentSchema = {
  type: 'object',
  properties: {
    endpoint: { type: 'string' },
    name: { type: ['string', 'null'] },
    campaign: { type: ['string', 'null'] },
    status: { type: 'string', enum: AGENT_STATUSES },
    wrapUpUntil: { type: ['string', 'null'] },
    currentCallSid: { type: ['string', 'null'] },
  },
} as const;

/** How long a client should wait before retrying a request refused because a dependency is down. */
const RETRY_AFTER_S = 5;

/**
 * `Authorization: Bearer <token>`; the scheme in any case (RFC 9110 §11.1), compared in constant time.
 * Without a token configured, 503. The API's check, and the codec server's (server/codec.ts).
 */
export async function authenticate(apiToken: string | undefined, req: FastifyRequest, reply: FastifyReply) {
  if (!apiToken) {
    return sendProblem(reply, problem(503, 'The API is disabled: set DIALER_API_TOKEN on the server.'));
  }
  const m = /^bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  if (!m?.[1] || !sameSecret(m[1], apiToken)) {
    reply.header('WWW-Authenticate', 'Bearer realm="dialer"');
    return sendProblem(reply, problem(401, 'Missing or wrong bearer token.'));
  }
}

/** Every error of the API as a problem document; a dependency down is 503 with Retry-After. */
export function handleApiError(err: unknown, req: FastifyRequest, reply: FastifyReply) {
  if (err instanceof OperationError) {
    const p = operationProblem(err);
    return sendProblem(reply, p, p.status === 503 ? RETRY_AFTER_S : undefined);
  }
  const e = err as {
    validation?: AjvError[];
    validationContext?: string;
    message?: string;
    statusCode?: number;
  };
  if (Array.isArray(e.validation)) {
    return sendProblem(
      reply,
      validationProblem(e.validation, e.validationContext, `Bad request: ${e.message}`),
    );
  }
  // fastify's own refusals (413 body too large, 415, 400 bad JSON): their messages hold no secrets
  if (e.statusCode && e.statusCode >= 400 && e.statusCode < 500) {
    return sendProblem(reply, problem(e.statusCode, e.message ?? 'Bad request'));
  }
  if ((err as { code?: string }).code === 'FST_ERR_HANDLER_TIMEOUT') {
    req.log.warn('API request refused: not answered within its deadline');
    return sendProblem(
      reply,
      problem(503, 'The request did not finish in time; try again shortly.'),
      RETRY_AFTER_S,
    );
  }
  const down = unavailableDependency(err);
  if (down) {
    req.log.warn({ err }, `API request refused: ${down} unavailable`);
    const what = down === 'database' ? 'The database' : 'Temporal';
    return sendProblem(
      reply,
      problem(503, `${what} is unavailable or too slow; try again shortly.`),
      RETRY_AFTER_S,
    );
  }
  req.log.error({ err }, 'API request failed');
  return sendProblem(reply, problem(500, 'Internal error; see the server log.'));
}

/**
 * A body a route sends itself in the old `{ error }` shape is turned into a problem document
 * before it leaves (every error answer is documented as one: server/route.ts).
 */
function registerProblemBodies(api: FastifyInstance) {
  api.addHook('preSerialization', async (req, reply, payload: unknown) => {
    if (reply.statusCode < 400 || isProblem(payload)) return payload;
    const old = payload as { error?: unknown; problems?: { index?: number; message?: string }[] } | null;
    const errors = old?.problems?.map((p) => ({
      detail: String(p.message),
      ...(p.index !== undefined ? { field: `/contacts/${p.index}` } : {}),
    }));
    reply.type(PROBLEM_MEDIA_TYPE);
    return problem(reply.statusCode, String(old?.error ?? 'Request failed'), errors ? { errors } : {});
  });
}

export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  await app.register(
    async (api) => {
      registerProblemBodies(api);
      api.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) =>
        authenticate(deps.apiToken, req, reply),
      );
      api.setErrorHandler(handleApiError);
      // an unknown /api path is answered after the token check (onRequest above): 401 without it
      api.setNotFoundHandler((req, reply) =>
        sendProblem(reply, problem(404, `No route ${req.method} ${redactUrl(req.url)}`)),
      );

      registerCrmRoutes(api, deps);
      registerListAgents(api, deps);
      registerAgentWrites(api, deps);
      registerNextPreview(api, deps);
      for (const decision of ['take', 'skip'] as const) registerPreviewDecision(api, deps, decision);
    },
    { prefix: '/api' },
  );
}

function registerListAgents(api: FastifyInstance, deps: ApiDeps): void {
  routes(api, 'agents').get<{ Querystring: { campaign?: string } }>(
    '/agents',
    {
      summary: 'List agents',
      querystring: {
        type: 'object',
        properties: { campaign: { type: 'string' } },
        additionalProperties: false,
      },
      answers: { 200: { type: 'object', properties: { agents: { type: 'array', items: agentSchema } } } },
    },
    async (req) => ({ agents: await listAgents(deps.db.sql, req.query.campaign) }),
  );
}

type AgentFields = {
  name?: string | null;
  campaign?: string | null;
  status?: (typeof AGENT_STATUSES)[number];
};

/** PUT /agents/:endpoint adds or updates an agent; PUT /agents/:endpoint/status sets its status only. */
function registerAgentWrites(api: FastifyInstance, deps: ApiDeps): void {
  const status = { type: 'string', enum: AGENT_STATUSES } as const;
  const agents = routes(api, 'agents');
  agents.put<{ Params: { endpoint: string }; Body: AgentFields }>(
    '/agents/:endpoint',
    {
      summary: 'Add an agent, or update it',
      body: {
        type: 'object',
        properties: {
          name: { type: ['string', 'null'], maxLength: 200 },
          campaign: { type: ['string', 'null'] },
          status,
        },
        additionalProperties: false,
      },
      answers: { 200: agentSchema },
    },
    async (req) => upsertAgent(deps.db.sql, { endpoint: req.params.endpoint, ...req.body }),
  );
  agents.put<{ Params: { endpoint: string }; Body: { status: string } }>(
    '/agents/:endpoint/status',
    {
      summary: 'Set an agent’s status',
      body: { type: 'object', required: ['status'], properties: { status }, additionalProperties: false },
      answers: { 200: agentSchema },
    },
    async (req) => setAgentStatus(deps.db.sql, req.params.endpoint, req.body.status),
  );
}

/** What the preview operations need. */
const previewDeps = (deps: ApiDeps) => ({ sql: deps.db.sql, temporal: deps.temporal });

function registerNextPreview(api: FastifyInstance, deps: ApiDeps): void {
  routes(api, 'agents').post<{ Params: { endpoint: string } }>(
    '/agents/:endpoint/next',
    { summary: 'Preview mode: claim the next contact for this agent (null when none waits)' },
    async (req) => ({ contact: await nextPreview(previewDeps(deps), req.params.endpoint) }),
  );
}

/** A skip's hold as a duration in ms (undefined: the default). */
function holdMs(hold: string | undefined): number | undefined {
  if (hold === undefined) return undefined;
  try {
    return parseDuration(hold);
  } catch (err) {
    throw new OperationError('invalid', `hold: ${(err as Error).message}`);
  }
}

const DECISION_SUMMARY = {
  take: 'Preview mode: dial the contact this agent holds (bridged to them)',
  skip: 'Preview mode: give the contact this agent holds back undialed',
};

function registerPreviewDecision(api: FastifyInstance, deps: ApiDeps, decision: 'take' | 'skip'): void {
  const skipOnly = { reason: { type: 'string', maxLength: 500 }, hold: { type: 'string' } };
  routes(api, 'agents').post<{
    Params: { endpoint: string };
    Body: { contactId?: number; reason?: string; hold?: string };
  }>(
    `/agents/:endpoint/${decision}`,
    {
      summary: DECISION_SUMMARY[decision],
      body: {
        type: 'object',
        additionalProperties: false,
        properties: {
          contactId: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER },
          ...(decision === 'skip' ? skipOnly : {}),
        },
      },
    },
    async (req) =>
      decidePreview(previewDeps(deps), req.params.endpoint, decision, {
        contactId: req.body?.contactId,
        reason: req.body?.reason,
        holdMs: holdMs(req.body?.hold),
      }),
  );
}
