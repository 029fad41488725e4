import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pino from 'pino';
import { registerApi } from './api';
import { registerTwilioWebhooks, type WebhookDeps } from './twilio-webhooks';

export type ServerDeps = WebhookDeps & {
  logger: pino.Logger;
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
  await registerApi(app, { sql: deps.db.sql, apiToken: deps.apiToken });
  return app;
}
