import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pino from 'pino';
import { registerApi } from './api';
import { registerTwilioWebhooks, type WebhookDeps } from './twilio-webhooks';

export type ServerDeps = WebhookDeps & {
  logger: pino.Logger;
  /** The workers' task queue: where campaigns started through the API run. */
  taskQueue: string;
  /** Country for numbers the API receives without a country code. */
  defaultRegion: string;
  /** DIALER_API_TOKEN: the bearer token of the /api routes (they answer 503 without it). */
  apiToken?: string;
};

/** The HTTP server: Twilio's webhooks and the HTTP API under /api. */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // refuse unknown fields instead of dropping them silently
    ajv: { customOptions: { removeAdditional: false } },
  });
  await app.register(formbody);
  app.get('/health', async (_req, reply) => {
    const checks: Record<string, string> = {};
    try {
      await deps.db.sql`select 1`;
      checks.database = 'ok';
    } catch (err) {
      checks.database = String(err);
    }
    try {
      await deps.temporal.workflowService.getSystemInfo({});
      checks.temporal = 'ok';
    } catch (err) {
      checks.temporal = String(err);
    }
    const ok = Object.values(checks).every((v) => v === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks });
  });
  registerTwilioWebhooks(app, deps);
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Campaign dialer API',
        version: '1',
        description:
          'Contacts, follow-ups, campaign control and agents. Every request needs `Authorization: Bearer <DIALER_API_TOKEN>`.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    // only the API: Twilio's webhooks and /health are not for integrators
    hideUntagged: true,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await registerApi(app, {
    db: deps.db,
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    defaultRegion: deps.defaultRegion,
    apiToken: deps.apiToken,
  });
  return app;
}
