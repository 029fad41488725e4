import type { FastifyInstance } from 'fastify';
import type pino from 'pino';
import { z } from 'zod';
import type { CallEngine } from './engine';
import { applyFaults, parseFaults } from './faults';
import { formatIssues, parseScenario, ScenarioError, type Scenario } from './scenario';
import type { SimFaults } from './types';

/**
 * The simulator's own API for tests, demos and outside tools (telephony.md §3). The paths are
 * a contract: keep them. It needs no auth because it listens on loopback unless told otherwise.
 */

export interface ControlApiOptions {
  engine: CallEngine;
  /** The scenario the simulator started with: what POST /sim/reset restores. */
  startScenario: Scenario;
  /** The faults in force, shared with the REST API and the engine (changed in place). */
  faults: SimFaults;
  logger: pino.Logger;
}

const hangupBody = z
  .strictObject({ side: z.enum(['callee', 'agent']).default('callee') })
  .default({ side: 'callee' });

/** `curl -X POST /sim/reset -H 'content-type: application/json'` sends no body; accept that. */
function acceptEmptyJson(app: FastifyInstance): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(
        Object.assign(new Error(`body is not valid JSON: ${(err as Error).message}`), { statusCode: 400 }),
      );
    }
  });
}

export async function controlApi(app: FastifyInstance, opts: ControlApiOptions): Promise<void> {
  const { engine, startScenario, faults, logger } = opts;
  acceptEmptyJson(app);

  app.setErrorHandler((err: unknown, _req, reply) => {
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status >= 500) logger.error({ err }, 'simulator control request failed');
    return reply.code(status).send({ error: (err as Error).message });
  });

  app.get('/health', async () => ({ status: 'ok' }));

  app.post('/sim/reset', async () => {
    engine.reset(startScenario);
    return { ok: true, scenario: engine.scenario };
  });

  app.get('/sim/scenario', async () => engine.scenario);

  app.put('/sim/scenario', async (req, reply) => {
    try {
      engine.scenario = parseScenario(req.body, 'scenario');
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      return reply.code(400).send({ error: err.message, problems: err.problems });
    }
    return engine.scenario;
  });

  app.get('/sim/faults', async () => faults);

  app.put('/sim/faults', async (req, reply) => {
    try {
      applyFaults(faults, parseFaults(req.body, 'faults'));
    } catch (err) {
      if (!(err instanceof ScenarioError)) throw err;
      return reply.code(400).send({ error: err.message, problems: err.problems });
    }
    return faults;
  });

  app.get<{ Querystring: { to?: string } }>('/sim/calls', async (req) => engine.list({ to: req.query.to }));

  app.get<{ Params: { sid: string } }>('/sim/calls/:sid', async (req, reply) => {
    const call = engine.get(req.params.sid);
    return call ?? reply.code(404).send({ error: `no call ${req.params.sid}` });
  });

  app.get('/sim/rejections', async () => engine.rejections());

  app.post<{ Params: { sid: string } }>('/sim/calls/:sid/hangup', async (req, reply) => {
    const body = hangupBody.safeParse(req.body);
    if (!body.success) {
      const problems = formatIssues(body.error.issues);
      return reply.code(400).send({ error: `invalid hangup request: ${problems.join('; ')}`, problems });
    }
    const result = engine.hangup(req.params.sid, body.data.side);
    if (!result.ok) return reply.code(result.httpStatus).send({ error: result.error });
    return result.call;
  });
}
