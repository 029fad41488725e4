import formbody from '@fastify/formbody';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pino from 'pino';
import { registerTwilioWebhooks, type WebhookDeps } from './twilio-webhooks';

export type ServerDeps = WebhookDeps & { logger: pino.Logger };

/** The HTTP server: Twilio's webhooks (and, with the interfaces issue, the CRM API). */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
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
  return app;
}
