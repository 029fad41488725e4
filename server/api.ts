import type {} from '@fastify/swagger'; // schema.summary and schema.tags
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AGENT_STATUSES, listAgents, setAgentStatus, upsertAgent } from '../lib/agents';
import { decidePreview, nextPreview } from '../lib/preview';
import { parseDuration } from '../client/parse';
import { OperationError } from '../lib/contact-operations';
import { type CrmDeps, registerCrmRoutes } from './crm-routes';
import { sameSecret } from '../lib/secrets';

/**
 * The dialer's HTTP API under /api, for CRMs and other systems: every request carries
 * `Authorization: Bearer <DIALER_API_TOKEN>`; every body is checked against its JSON schema and
 * a bad one is refused with 400 naming the field, before anything changes.
 */
export interface ApiDeps extends CrmDeps {
  /** DIALER_API_TOKEN; without it the API answers 503. */
  apiToken?: string;
}

const STATUS_CODES = {
  'not-found': 404,
  invalid: 400,
  conflict: 409,
  unprocessable: 422,
  unavailable: 503,
} as const;

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

const endpointParam = {
  type: 'object',
  required: ['endpoint'],
  properties: { endpoint: { type: 'string', description: 'client:<identity> or an E.164 number' } },
} as const;

export async function registerApi(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  await app.register(
    async (api) => {
      api.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
        if (!deps.apiToken) {
          return reply.code(503).send({ error: 'The API is disabled: set DIALER_API_TOKEN on the server.' });
        }
        const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
        if (!m?.[1] || !sameSecret(m[1], deps.apiToken)) {
          reply.header('WWW-Authenticate', 'Bearer realm="dialer"');
          return reply.code(401).send({ error: 'Missing or wrong bearer token.' });
        }
      });
      api.setErrorHandler((err: unknown, req, reply) => {
        if (err instanceof OperationError)
          return reply.code(STATUS_CODES[err.kind]).send({ error: err.message });
        const e = err as {
          validation?: unknown;
          validationContext?: string;
          message?: string;
          statusCode?: number;
        };
        if (e.validation) return reply.code(400).send({ error: `Bad request: ${e.message}` });
        if (e.statusCode && e.statusCode < 500) return reply.code(e.statusCode).send({ error: e.message });
        req.log.error({ err }, 'API request failed');
        return reply.code(500).send({ error: 'Internal error; see the server log.' });
      });

      registerCrmRoutes(api, deps);

      api.get<{ Querystring: { campaign?: string } }>(
        '/agents',
        {
          schema: {
            summary: 'List agents',
            tags: ['agents'],
            querystring: {
              type: 'object',
              properties: { campaign: { type: 'string' } },
              additionalProperties: false,
            },
            response: {
              200: { type: 'object', properties: { agents: { type: 'array', items: agentSchema } } },
            },
          },
        },
        async (req) => ({ agents: await listAgents(deps.db.sql, req.query.campaign) }),
      );

      api.put<{
        Params: { endpoint: string };
        Body: { name?: string | null; campaign?: string | null; status?: (typeof AGENT_STATUSES)[number] };
      }>(
        '/agents/:endpoint',
        {
          schema: {
            summary: 'Add an agent, or update it',
            tags: ['agents'],
            params: endpointParam,
            body: {
              type: 'object',
              properties: {
                name: { type: ['string', 'null'], maxLength: 200 },
                campaign: { type: ['string', 'null'] },
                status: { type: 'string', enum: AGENT_STATUSES },
              },
              additionalProperties: false,
            },
            response: { 200: agentSchema },
          },
        },
        async (req) => upsertAgent(deps.db.sql, { endpoint: req.params.endpoint, ...req.body }),
      );

      api.put<{ Params: { endpoint: string }; Body: { status: string } }>(
        '/agents/:endpoint/status',
        {
          schema: {
            summary: 'Set an agent’s status',
            tags: ['agents'],
            params: endpointParam,
            body: {
              type: 'object',
              required: ['status'],
              properties: { status: { type: 'string', enum: AGENT_STATUSES } },
              additionalProperties: false,
            },
            response: { 200: agentSchema },
          },
        },
        async (req) => setAgentStatus(deps.db.sql, req.params.endpoint, req.body.status),
      );

      const preview = { sql: deps.db.sql, temporal: deps.temporal };
      api.post<{ Params: { endpoint: string } }>(
        '/agents/:endpoint/next',
        {
          schema: {
            summary: 'Preview mode: claim the next contact for this agent (null when none waits)',
            tags: ['agents'],
            params: endpointParam,
          },
        },
        async (req) => ({ contact: await nextPreview(preview, req.params.endpoint) }),
      );
      for (const decision of ['take', 'skip'] as const) {
        api.post<{
          Params: { endpoint: string };
          Body: { contactId?: number; reason?: string; hold?: string };
        }>(
          `/agents/:endpoint/${decision}`,
          {
            schema: {
              summary:
                decision === 'take'
                  ? 'Preview mode: dial the contact this agent holds (bridged to them)'
                  : 'Preview mode: give the contact this agent holds back undialed',
              tags: ['agents'],
              params: endpointParam,
              body: {
                type: 'object',
                additionalProperties: false,
                properties: {
                  contactId: { type: 'integer', minimum: 1 },
                  ...(decision === 'skip'
                    ? { reason: { type: 'string', maxLength: 500 }, hold: { type: 'string' } }
                    : {}),
                },
              },
            },
          },
          async (req) => {
            let holdMs: number | undefined;
            if (req.body?.hold !== undefined) {
              try {
                holdMs = parseDuration(req.body.hold);
              } catch (err) {
                throw new OperationError('invalid', `hold: ${(err as Error).message}`);
              }
            }
            return decidePreview(preview, req.params.endpoint, decision, {
              contactId: req.body?.contactId,
              reason: req.body?.reason,
              holdMs,
            });
          },
        );
      }
    },
    { prefix: '/api' },
  );
}
