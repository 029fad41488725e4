import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { parseDuration } from '../domain/time-text';
import type { Database } from '../db/client';
import {
  campaignStatus,
  type CampaignSignal,
  signalCampaign,
  startCampaign,
} from '../ops/campaign-operations';
import { contactExists, findContact } from '../db/queries/contacts';
import { contactEvents } from '../ops/contact-events';
import { IDEMPOTENCY_KEY_MAX, registerIdempotency } from './idempotency';
import { type RouteSpec, routes } from './route';
import { type AddContactsRequest, addContacts } from '../ops/contact-import';
import { DATA_MAX_BYTES, DATA_MAX_DEPTH, NAME_MAX, findBadText } from '../ops/contact-fields';
import { OperationError } from '../ops/errors';
import { parseTime, pushRedial, releaseContact, resetContact } from '../ops/contact-operations';
import type { CampaignOptions } from '../workflows/shared';

/**
 * The CRM's routes (registered inside the authenticated /api scope): contacts in, redials and
 * follow-ups pushed into running campaigns, a contact pulled out of a cache, campaign control
 * and status. Everything is checked before anything changes.
 */
export interface CrmDeps {
  db: Database;
  temporal: Client;
  taskQueue: string;
  defaultRegion: string;
}

const time = {
  type: 'string',
  description: 'ISO 8601 with a zone (2026-12-01T09:30:00+01:00), "now", or +30m / +2h / +1d',
} as const;
const duration = { type: 'string', description: 'e.g. 90s, 5m, 2h, 1h30m' } as const;
/** The state in which each control command has nothing to do (§5a). */
const ALREADY = { pause: 'paused', resume: 'running', stop: 'stopping' } as const;

/** Longer is a typing mistake (and a hold past year 2200 would not fit a timestamp). */
const MAX_DURATION_MS = 366 * 86_400_000;

function durationMs(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err) {
    throw new OperationError('invalid', `${field}: ${(err as Error).message}`, `/${field}`);
  }
  if (!(ms <= MAX_DURATION_MS))
    throw new OperationError('invalid', `${field}: "${text}" is longer than a year`, `/${field}`);
  return ms;
}

/**
 * Text PostgreSQL cannot store (NUL, half a character) anywhere in a request's body, path or query
 * is a 400 naming where, before any route reads it: otherwise it reaches the database as a 500.
 */
function refuseUnstorableText(api: FastifyInstance): void {
  api.addHook('preValidation', async (req) => {
    for (const [where, value] of [
      ['body', req.body],
      ['params', req.params],
      ['query', req.query],
    ] as const) {
      const bad = findBadText(value);
      if (!bad) continue;
      const field = where === 'body' ? bad.pointer : bad.pointer.replace(/^\//, '');
      throw new OperationError('invalid', `${where === 'body' ? bad.pointer : field} ${bad.problem}`, field);
    }
  });
}

export function registerCrmRoutes(api: FastifyInstance, deps: CrmDeps): void {
  // first, so that their hooks run for every route of the scope (the agents' routes too)
  refuseUnstorableText(api);
  registerIdempotency(api, deps.db.sql);

  registerAddContacts(api, deps);
  registerContactReads(api, deps);
  registerContactCommands(api, deps);
  registerCampaignStatus(api, deps);
  registerStartCampaign(api, deps);
  for (const what of ['pause', 'resume', 'stop'] as const satisfies readonly CampaignSignal[]) {
    registerCampaignControl(api, deps, what);
  }
  registerRefill(api, deps);
}

/** What the contact operations need. */
const operationDeps = (deps: CrmDeps) => ({ sql: deps.db.sql, temporal: deps.temporal });

/** What the campaign operations need. */
const campaignDeps = (deps: CrmDeps) => ({
  db: deps.db,
  temporal: async () => deps.temporal,
  taskQueue: deps.taskQueue,
});

const addContactsSpec: RouteSpec = {
  summary: 'Add contacts to a campaign (all or nothing); a running campaign sees them within about a second',
  description:
    'A number the campaign already has, or one given twice, is refused (409, naming the contact) unless allowDuplicateNumber. Send an Idempotency-Key to retry safely.',
  headers: {
    type: 'object',
    properties: {
      'idempotency-key': {
        type: 'string',
        maxLength: IDEMPOTENCY_KEY_MAX,
        description:
          'any POST of the API: a retry with the same key and body gets the first answer again (Idempotent-Replayed: true) and writes nothing; kept 24 h; another body with the key is 422',
      },
    },
  },
  body: {
    type: 'object',
    required: ['campaign', 'contacts'],
    additionalProperties: false,
    properties: {
      campaign: { type: 'string', minLength: 1, maxLength: 200 },
      allowDuplicateNumber: {
        type: 'boolean',
        description: 'add numbers the campaign already has (e.g. a household phone)',
      },
      contacts: {
        type: 'array',
        minItems: 1,
        maxItems: 1000,
        items: {
          type: 'object',
          required: ['phoneNumber'],
          additionalProperties: false,
          properties: {
            phoneNumber: {
              type: 'string',
              maxLength: 64,
              description: 'E.164, or national for the server’s region; no extension',
            },
            name: { type: 'string', maxLength: NAME_MAX },
            timeZone: { type: 'string', maxLength: 64, description: 'IANA, e.g. Europe/Berlin' },
            redialTime: time,
            data: {
              type: 'object',
              additionalProperties: true,
              description: `at most ${DATA_MAX_BYTES} bytes as JSON and ${DATA_MAX_DEPTH} levels deep`,
            },
          },
        },
      },
    },
  },
  answers: { 201: { type: 'object', properties: { ids: { type: 'array', items: { type: 'integer' } } } } },
  errors: [404, 409],
};

function registerAddContacts(api: FastifyInstance, deps: CrmDeps): void {
  routes(api, 'contacts').post<{ Body: AddContactsRequest }>(
    '/contacts',
    addContactsSpec,
    // No refill signal here: the rows are written, and the contacts trigger (migration 0010)
    // tells a running campaign within about a second. Awaiting Temporal would make a written
    // POST hang or fail while Temporal is slow or down, and the CRM's retry would duplicate it.
    async (req, reply) => reply.code(201).send(await addContacts(deps.db.sql, req.body, deps.defaultRegion)),
  );
}

const EVENTS_SUMMARY =
  'Why the contact was or was not dialed: every decision about it (cached, delayed, skipped, dialed, outcome, released, rescheduled), oldest first';

function registerContactReads(api: FastifyInstance, deps: CrmDeps): void {
  const contacts = routes(api, 'contacts');
  const notFound = (id: number) => new OperationError('not-found', `No contact with id ${id}`);
  contacts.get<{ Params: { id: number } }>(
    '/contacts/:id',
    { summary: 'One contact row', errors: [404] },
    async (req) => {
      const row = await findContact(deps.db.sql, req.params.id);
      if (!row) throw notFound(req.params.id);
      return { ...row, id: Number(row.id) };
    },
  );
  contacts.get<{ Params: { id: number } }>(
    '/contacts/:id/events',
    { summary: EVENTS_SUMMARY, errors: [404] },
    async (req) => {
      if (!(await contactExists(deps.db.sql, req.params.id))) throw notFound(req.params.id);
      return { contactId: req.params.id, events: await contactEvents(deps.db.sql, req.params.id) };
    },
  );
}

/** An object body of these fields (the `required` ones must be there) and no other. */
const fields = (properties: object, required: string[] = []) => ({
  type: 'object',
  ...(required.length ? { required } : {}),
  additionalProperties: false,
  properties,
});

/** Redial, release and reset: what the CRM does to one contact (docs/contract.md §8). */
function registerContactCommands(api: FastifyInstance, deps: CrmDeps): void {
  const contacts = routes(api, 'contacts');
  const errors = [404, 409];
  contacts.post<{ Params: { id: number }; Body: { at: string } }>(
    '/contacts/:id/redial',
    {
      summary: 'Call this contact at a time (a follow-up); a cached contact’s timer moves, no second dial',
      body: fields({ at: time }, ['at']),
      errors,
    },
    async (req) => pushRedial(operationDeps(deps), req.params.id, parseTime(req.body.at)),
  );
  contacts.post<{ Params: { id: number }; Body: { hold?: string } }>(
    '/contacts/:id/release',
    {
      summary: 'Pull a contact out of its running campaign’s cache (refused once its call is under way)',
      body: fields({ hold: duration }),
      errors,
    },
    async (req) => releaseContact(operationDeps(deps), req.params.id, durationMs(req.body?.hold, 'hold')),
  );
  contacts.post<{ Params: { id: number }; Body: { at?: string; keepAttempts?: boolean } }>(
    '/contacts/:id/reset',
    {
      summary: 'Put a reviewed contact (e.g. Unreachable) back: 0, or 2 at a time; attempts back to 0',
      body: fields({ at: time, keepAttempts: { type: 'boolean' } }),
      errors,
    },
    async (req) =>
      resetContact(operationDeps(deps), req.params.id, {
        ...(req.body?.at !== undefined ? { at: parseTime(req.body.at) } : {}),
        keepAttempts: req.body?.keepAttempts ?? false,
      }),
  );
}

function registerCampaignStatus(api: FastifyInstance, deps: CrmDeps): void {
  routes(api, 'campaigns').get<{ Params: { name: string } }>(
    '/campaigns/:name',
    { summary: 'Counts per ContactSuccessful and LastState, cache and calls in flight', errors: [404] },
    async (req) => campaignStatus(campaignDeps(deps), req.params.name),
  );
}

interface StartBody {
  refillInterval?: string;
  callTimeout?: string;
  lookahead?: string;
  untilEmpty?: boolean;
  keepRunning?: boolean;
  maxHistory?: number;
}

const startSpec: RouteSpec = {
  summary:
    'Start dialing a campaign; it stays open (waits for the CRM) until paused or stopped, unless untilEmpty',
  body: {
    type: 'object',
    additionalProperties: false,
    properties: {
      refillInterval: duration,
      callTimeout: duration,
      lookahead: duration,
      untilEmpty: {
        type: 'boolean',
        description:
          'a batch run: complete once nothing is left to dial (no eligible contact, redial or call in flight)',
      },
      keepRunning: {
        type: 'boolean',
        deprecated: true,
        description: 'accepted and ignored: a campaign stays open until paused or stopped by default',
      },
      maxHistory: { type: 'integer', minimum: 50, maximum: 50_000 },
    },
  },
  answers: { 202: { type: 'object', properties: { workflowId: { type: 'string' } } } },
  errors: [404, 409],
};

/** The campaign's options as the start body gives them (durations checked, in ms). */
function startOptions(b: StartBody): Partial<CampaignOptions> {
  return {
    ...(b.refillInterval !== undefined
      ? { refillIntervalMs: durationMs(b.refillInterval, 'refillInterval') }
      : {}),
    ...(b.callTimeout !== undefined ? { callTimeoutMs: durationMs(b.callTimeout, 'callTimeout') } : {}),
    ...(b.lookahead !== undefined ? { lookaheadMs: durationMs(b.lookahead, 'lookahead') } : {}),
    finishWhenDone: b.untilEmpty === true,
    ...(b.maxHistory !== undefined ? { maxHistoryEvents: b.maxHistory } : {}),
  };
}

function registerStartCampaign(api: FastifyInstance, deps: CrmDeps): void {
  routes(api, 'campaigns').post<{ Params: { name: string }; Body: StartBody }>(
    '/campaigns/:name/start',
    startSpec,
    async (req, reply) =>
      reply
        .code(202)
        .send(await startCampaign(campaignDeps(deps), req.params.name, startOptions(req.body ?? {}))),
  );
}

/** The answers of pause, resume and stop: 202 when signalled, 200 when there was nothing to do. */
const controlSpec = (what: 'pause' | 'resume' | 'stop'): RouteSpec => ({
  summary: `${what[0]!.toUpperCase()}${what.slice(1)} a running campaign; a campaign already ${ALREADY[what]}, or not running, is left alone (200)`,
  answers: {
    202: {
      description: 'signalled',
      type: 'object',
      properties: {
        campaign: { type: 'string' },
        signal: { type: 'string' },
        message: { type: 'string' },
      },
    },
    200: {
      description: 'nothing to change: the campaign is already so, or not running',
      type: 'object',
      properties: {
        status: {
          type: 'string',
          description: 'the state it was found in, e.g. paused, stopping, stopped',
        },
        message: { type: 'string' },
      },
    },
  },
  errors: [404, [409, 'pausing or resuming a campaign that is stopping']],
});

function registerCampaignControl(
  api: FastifyInstance,
  deps: CrmDeps,
  what: 'pause' | 'resume' | 'stop',
): void {
  routes(api, 'campaigns').post<{ Params: { name: string } }>(
    `/campaigns/:name/${what}`,
    controlSpec(what),
    async (req, reply) => {
      const r = await signalCampaign(campaignDeps(deps), req.params.name, what);
      if (!r.changed) return reply.code(200).send({ status: r.status, message: r.message });
      return reply.code(202).send({ campaign: req.params.name, signal: what, message: r.message });
    },
  );
}

function registerRefill(api: FastifyInstance, deps: CrmDeps): void {
  routes(api, 'campaigns').post<{ Params: { name: string } }>(
    '/campaigns/:name/refill',
    {
      summary: 'Look at the contacts table now (after the CRM added or changed contacts)',
      answers: {
        202: { type: 'object', properties: { campaign: { type: 'string' }, signal: { type: 'string' } } },
      },
      errors: [404, [409, 'the campaign is not running']],
    },
    async (req, reply) => {
      await signalCampaign(campaignDeps(deps), req.params.name, 'refill');
      return reply.code(202).send({ campaign: req.params.name, signal: 'refill' });
    },
  );
}
