/** What the console's routes share: their dependencies, and how a refusal reaches the page. */
import type { Client } from '@temporalio/client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../../db/client';
import { unavailableDependency } from '../../infra/unavailable';
import { campaignBoard } from '../../ops/campaign-board';
import type { CampaignDeps } from '../../ops/campaign-operations';
import { OperationError } from '../../ops/errors';
import { OPERATION_STATUS } from '../problem';
import { type AuthDeps, csrfOf, isHtmx } from './auth';

export interface ConsoleDeps extends AuthDeps {
  db: Database;
  temporal: Client;
  /** The workers' task queue: where a campaign started from the console runs. */
  taskQueue: string;
  /** Where a number written without its country code is (DEFAULT_REGION): for imports and do-not-call. */
  defaultRegion: string;
  /** The Temporal UI as browsers reach it (TEMPORAL_UI_ORIGIN); unset: no link to it. */
  temporalUiUrl?: string;
}

/** The console's dependencies with the read models built once. */
export function consoleContext(deps: ConsoleDeps) {
  const campaignDeps: CampaignDeps = {
    db: deps.db,
    temporal: async () => deps.temporal,
    taskQueue: deps.taskQueue,
  };
  return { ...deps, campaignDeps, board: campaignBoard({ ...campaignDeps, clock: deps.clock }) };
}
export type ConsoleContext = ReturnType<typeof consoleContext>;

/** A refusal to show on the page: an operation's own text, or a dependency down. */
export interface Refusal {
  status: number;
  text: string;
}

/** The refusal `err` is, or undefined for an error the console does not explain (a 500). */
export function refusalOf(err: unknown): Refusal | undefined {
  if (err instanceof OperationError) return { status: OPERATION_STATUS[err.kind], text: err.message };
  const down = unavailableDependency(err);
  if (down) {
    const what = down === 'database' ? 'The database' : 'Temporal';
    return { status: 503, text: `${what} is unavailable or too slow; try again shortly.` };
  }
  return undefined;
}

/** Sends a whole page or a fragment as HTML. */
export function sendHtml(reply: FastifyReply, body: string, status = 200) {
  return reply.code(status).type('text/html; charset=utf-8').header('Cache-Control', 'no-store').send(body);
}

/** What a page needs from the request: its CSRF token, and whether htmx asked. */
export const requestView = (ctx: ConsoleContext, req: FastifyRequest) => ({
  csrf: csrfOf(ctx, req),
  htmx: isHtmx(req),
});
