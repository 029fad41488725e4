import formbody from '@fastify/formbody';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type pino from 'pino';
import { pingDatabase } from '../db/queries/health';
import { logSerializers, redactUrl } from '../infra/logger';
import { DatabaseTimeoutError, withTimeout } from '../infra/unavailable';
import { registerApi } from './api';
import { type CodecDeps, registerCodecServer } from './codec';
import { registerConsole } from './console';
import { registerTwilioWebhooks, type WebhookDeps } from './twilio-webhooks';

export type ServerDeps = WebhookDeps &
  Omit<CodecDeps, 'apiToken'> & {
    logger: pino.Logger;
    /** The workers' task queue: where campaigns started through the API run. */
    taskQueue: string;
    /** Country for numbers the API receives without a country code. */
    defaultRegion: string;
    /** DIALER_API_TOKEN: the bearer token of the /api routes (they answer 503 without it). */
    apiToken?: string;
    /** A request not answered within this is answered 503 (default REQUEST_DEADLINE_MS). */
    requestDeadlineMs?: number;
    /** The Temporal UI as browsers reach it: the console links a campaign's workflows there. */
    temporalUiUrl?: string;
  };

/**
 * The last resort for a request stuck on a dependency that holds its connection open but does not
 * answer (a frozen database: statement_timeout is enforced by the server, so it cannot fire):
 * above the database's statement timeout (10 s) and the Temporal call deadline (4 s).
 */
export const REQUEST_DEADLINE_MS = 15_000;

/**
 * Fastify's request lines, at `info` for the API and the rest, at `debug` for Twilio's webhooks:
 * those come several times per attempt, and at `info` an attempt costs no log line (nothing is
 * formatted unless the level asks for it). Errors stay at `error`.
 */
class RequestLogs extends LogController {
  private static levelOf(req: FastifyRequest): 'debug' | 'info' {
    return req.url.startsWith('/twilio/') ? 'debug' : 'info';
  }

  override incomingRequest(req: FastifyRequest): void {
    req.log[RequestLogs.levelOf(req)]({ req }, 'incoming request');
  }

  override requestCompleted(error: Error | null | undefined, req: FastifyRequest, reply: FastifyReply): void {
    if (error) return super.requestCompleted(error, req, reply);
    reply.log[RequestLogs.levelOf(req)]({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
  }
}

/**
 * The HTTP server: Twilio's webhooks, the HTTP API under /api, the codec server under /codec and
 * the operator's console under /console.
 */
export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const app: FastifyInstance = Fastify({
    // request lines without query strings and with numbers masked, whichever logger was given
    loggerInstance: deps.logger.child({}, { serializers: logSerializers }) as FastifyBaseLogger,
    // refuse unknown fields instead of dropping them silently
    ajv: { customOptions: { removeAdditional: false } },
    handlerTimeout: deps.requestDeadlineMs ?? REQUEST_DEADLINE_MS,
    // request lines at a level by route
    logController: new RequestLogs(),
  });
  await app.register(formbody);
  app.get('/health', async (_req, reply) => {
    const checks = await healthChecks(deps);
    const ok = checks.database === 'ok' && checks.temporal === 'ok';
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks });
  });
  // Fastify's own 404 echoes the URL (a ?token= sent by mistake) in its body and its log line
  app.setNotFoundHandler((req, reply) =>
    reply.code(404).send({ error: `No route ${req.method} ${redactUrl(req.url)}` }),
  );
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
  await registerCodecServer(app, deps);
  await registerConsole(app, {
    db: deps.db,
    temporal: deps.temporal,
    taskQueue: deps.taskQueue,
    apiToken: deps.apiToken,
    publicBaseUrl: deps.publicBaseUrl,
    temporalUiUrl: deps.temporalUiUrl,
    defaultRegion: deps.defaultRegion,
  });
  return app;
}

/** Each check's deadline: both run at once, so /health answers within about 1.5 s (under 2 s). */
const HEALTH_CHECK_MS = 1500;

/**
 * ok or down per dependency, each within its deadline. The reason a check failed (hosts, ports,
 * driver messages) goes to the log only, never into the answer.
 */
async function healthChecks(deps: ServerDeps): Promise<{ database: 'ok' | 'down'; temporal: 'ok' | 'down' }> {
  const check = async (name: string, probe: () => Promise<unknown>) => {
    try {
      await probe();
      return 'ok' as const;
    } catch (err) {
      deps.logger.warn({ err }, `health check: ${name} down`);
      return 'down' as const;
    }
  };
  const [database, temporal] = await Promise.all([
    check('database', () =>
      withTimeout(
        pingDatabase(deps.db.sql),
        HEALTH_CHECK_MS,
        () => new DatabaseTimeoutError(`select 1 did not answer within ${HEALTH_CHECK_MS} ms`),
      ),
    ),
    check('temporal', () =>
      deps.temporal.connection.withDeadline(Date.now() + HEALTH_CHECK_MS, () =>
        deps.temporal.workflowService.getSystemInfo({}),
      ),
    ),
  ]);
  return { database, temporal };
}
