import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type pino from 'pino';
import { notFound, type CallEngine, type CreateCallParams } from './engine';
import type { Scheduler } from './scheduler';
import { API_VERSION, rfc2822, TwilioApiError } from './twilio-format';
import type { HttpMethod } from './twiml';
import { FINAL_STATUSES, STATUS_CALLBACK_EVENTS, type SimCall, type StatusCallbackEvent } from './types';
import { sameSecret } from '../infra/secrets';

/**
 * The part of Twilio's REST API the dialer uses (telephony.md §3), with Twilio's paths, form
 * bodies, JSON shapes and error bodies, so the real SDK parses every answer.
 */

export interface RestApiOptions {
  engine: CallEngine;
  scheduler: Scheduler;
  accountSid: string;
  authToken: string;
  /** Read at each create, so PUT /sim/faults changes it while calls run. */
  faults: { createDelayMs: number };
  /** Requests answered at once; one more is refused with 429 / 20429. Default unlimited. */
  maxConcurrentRequests?: number;
  logger: pino.Logger;
}

type Form = Record<string, string | string[] | undefined>;
type AccountParams = { AccountSid: string };
type CallParams = AccountParams & { callFile: string };

// Twilio rings for 60 s unless told otherwise and refuses to ring longer than 600 s.
const DEFAULT_TIMEOUT = 60;
const MAX_TIMEOUT = 600;
const DEFAULT_PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 1000;
const E164 = /^\+[1-9]\d{1,14}$/;

function first(form: Form | undefined, key: string): string | undefined {
  const v = form?.[key];
  return Array.isArray(v) ? v[0] : v;
}

function all(form: Form | undefined, key: string): string[] {
  const v = form?.[key];
  if (v === undefined) return [];
  return Array.isArray(v) ? v : [v];
}

const badRequest = (code: number, message: string) => new TwilioApiError(400, code, message);

/** Numbers may carry spaces, dots, dashes or parentheses; clients and SIP URIs pass as they are. */
function address(value: string): string | undefined {
  if (/^(client|sip):\S+$/.test(value)) return value;
  const compact = value.replace(/[\s().-]/g, '');
  return E164.test(compact) ? compact : undefined;
}

function httpUrl(value: string | undefined, name: string): string | undefined {
  if (value === undefined || value === '') return undefined;
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw badRequest(21205, `${name} is not a valid URL: ${value}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw badRequest(21205, `${name} is not a valid URL: ${value}`);
  }
  return value;
}

function httpMethod(value: string | undefined, name: string): HttpMethod {
  if (value === undefined || value === '') return 'POST';
  const upper = value.toUpperCase();
  if (upper !== 'GET' && upper !== 'POST')
    throw badRequest(20001, `${name} must be GET or POST, not ${value}`);
  return upper;
}

export function parseCreate(form: Form | undefined): CreateCallParams {
  const rawTo = first(form, 'To');
  if (!rawTo) throw badRequest(21201, "No 'To' number is specified");
  const to = address(rawTo);
  if (!to) throw badRequest(21211, `Invalid 'To' Phone Number: ${rawTo}`);
  const rawFrom = first(form, 'From');
  if (!rawFrom) throw badRequest(21213, "No 'From' number is specified");
  const from = address(rawFrom);
  if (!from) throw badRequest(21212, `Invalid 'From' Phone Number: ${rawFrom}`);

  const twiml = first(form, 'Twiml');
  const url = httpUrl(first(form, 'Url'), 'Url');
  if (first(form, 'ApplicationSid') !== undefined) {
    throw badRequest(20001, 'ApplicationSid is not supported by the simulator; give Url or Twiml');
  }
  if (url === undefined && (twiml === undefined || twiml === '')) {
    throw badRequest(21205, "Either 'Url' or 'Twiml' must be specified");
  }

  const statusCallback = httpUrl(first(form, 'StatusCallback'), 'StatusCallback');
  // Repeated, or space-separated as in TwiML; Twilio sends only 'completed' unless asked.
  const events = all(form, 'StatusCallbackEvent').flatMap((e) => e.split(/\s+/).filter(Boolean));
  for (const e of events) {
    if (!(STATUS_CALLBACK_EVENTS as readonly string[]).includes(e)) {
      throw badRequest(
        20001,
        `StatusCallbackEvent must be one of ${STATUS_CALLBACK_EVENTS.join(', ')}, not ${e}`,
      );
    }
  }
  const statusCallbackEvents: StatusCallbackEvent[] =
    events.length > 0 ? [...new Set(events as StatusCallbackEvent[])] : ['completed'];

  const rawTimeout = first(form, 'Timeout');
  let timeout = DEFAULT_TIMEOUT;
  if (rawTimeout !== undefined && rawTimeout !== '') {
    timeout = Number(rawTimeout);
    if (!Number.isInteger(timeout) || timeout < 1) {
      throw badRequest(20001, `Timeout must be a positive whole number of seconds, not ${rawTimeout}`);
    }
    timeout = Math.min(timeout, MAX_TIMEOUT);
  }

  const rawDetection = first(form, 'MachineDetection');
  let machineDetection: CreateCallParams['machineDetection'];
  if (rawDetection !== undefined && rawDetection !== '') {
    const lower = rawDetection.toLowerCase();
    if (lower === 'enable') machineDetection = 'Enable';
    else if (lower === 'detectmessageend') machineDetection = 'DetectMessageEnd';
    else throw badRequest(20001, `MachineDetection must be Enable or DetectMessageEnd, not ${rawDetection}`);
  }

  return {
    to,
    from,
    url,
    method: httpMethod(first(form, 'Method'), 'Method'),
    twiml: url === undefined ? twiml : undefined,
    statusCallback,
    statusCallbackMethod: httpMethod(first(form, 'StatusCallbackMethod'), 'StatusCallbackMethod'),
    statusCallbackEvents,
    timeout,
    machineDetection,
  };
}

/** A call as Twilio's JSON shows it: every field the SDK's CallInstance reads. */
export function callResource(c: Readonly<SimCall>): Record<string, unknown> {
  const base = `/2010-04-01/Accounts/${c.accountSid}/Calls/${c.sid}`;
  const final = FINAL_STATUSES.has(c.status);
  const queueMs = c.startedAt ? Date.parse(c.startedAt) - Date.parse(c.createdAt) : null;
  return {
    account_sid: c.accountSid,
    annotation: null,
    answered_by: c.answeredBy ?? null,
    api_version: API_VERSION,
    caller_name: null,
    date_created: rfc2822(new Date(c.createdAt)),
    date_updated: rfc2822(new Date(c.updatedAt)),
    direction: 'outbound-api',
    duration: final ? String(c.durationSeconds ?? 0) : null,
    end_time: c.endedAt ? rfc2822(new Date(c.endedAt)) : null,
    forwarded_from: null,
    from: c.from,
    from_formatted: c.from,
    group_sid: null,
    parent_call_sid: null,
    phone_number_sid: null,
    price: null,
    price_unit: 'USD',
    queue_time: queueMs === null ? '0' : String(Math.max(0, queueMs)),
    sid: c.sid,
    start_time: c.startedAt ? rfc2822(new Date(c.startedAt)) : null,
    status: c.status,
    subresource_uris: {
      events: `${base}/Events.json`,
      notifications: `${base}/Notifications.json`,
      payments: `${base}/Payments.json`,
      recordings: `${base}/Recordings.json`,
      siprec: `${base}/Siprec.json`,
      streams: `${base}/Streams.json`,
      transcriptions: `${base}/Transcriptions.json`,
      user_defined_message_subscriptions: `${base}/UserDefinedMessageSubscriptions.json`,
      user_defined_messages: `${base}/UserDefinedMessages.json`,
    },
    to: c.to,
    to_formatted: c.to,
    trunk_sid: null,
    uri: `${base}.json`,
  };
}

/**
 * Twilio's StartTime / EndTime filters take a day (YYYY-MM-DD) or, from the SDK, an instant;
 * `StartTime>` means on or after, `StartTime<` on or before.
 */
function timeFilter(query: Form, field: 'StartTime' | 'EndTime'): ((t: number | undefined) => boolean)[] {
  const tests: ((t: number | undefined) => boolean)[] = [];
  for (const [suffix, cmp] of [
    ['', 'eq'],
    ['>', 'ge'],
    ['<', 'le'],
  ] as const) {
    const raw = first(query, field + suffix);
    if (raw === undefined || raw === '') continue;
    const day = /^\d{4}-\d{2}-\d{2}$/.test(raw);
    const at = Date.parse(day ? `${raw}T00:00:00Z` : raw);
    if (Number.isNaN(at)) throw badRequest(20001, `${field}${suffix} is not a date: ${raw}`);
    const lo = at;
    const hi = day ? at + 86_400_000 - 1 : cmp === 'eq' ? at + 999 : at;
    tests.push((t) => {
      if (t === undefined) return false;
      if (cmp === 'ge') return t >= lo;
      if (cmp === 'le') return t <= hi;
      return t >= lo && t <= hi;
    });
  }
  return tests;
}

const FILTER_KEYS = [
  'To',
  'From',
  'Status',
  'ParentCallSid',
  'StartTime',
  'StartTime>',
  'StartTime<',
  'EndTime',
  'EndTime>',
  'EndTime<',
];

export function listPage(engine: CallEngine, accountSid: string, query: Form): Record<string, unknown> {
  const to = first(query, 'To');
  const from = first(query, 'From');
  const status = first(query, 'Status');
  const parent = first(query, 'ParentCallSid');
  // start_time is empty while a call waits in the queue; date_created stands in for it, so a
  // call that exists is found by a "created after" search however long it has been queued.
  const startTests = timeFilter(query, 'StartTime');
  const endTests = timeFilter(query, 'EndTime');
  const matches = [...engine.records()]
    .reverse() // Twilio lists the newest calls first
    .filter(
      (c) =>
        (to === undefined || c.to === (address(to) ?? to)) &&
        (from === undefined || c.from === (address(from) ?? from)) &&
        (status === undefined || c.status === status) &&
        // Agent legs are not listed, so nothing has a parent.
        parent === undefined &&
        startTests.every((t) => t(Date.parse(c.startedAt ?? c.createdAt))) &&
        endTests.every((t) => t(c.endedAt ? Date.parse(c.endedAt) : undefined)),
    );

  const rawSize = Number(first(query, 'PageSize') ?? DEFAULT_PAGE_SIZE);
  const pageSize =
    Number.isInteger(rawSize) && rawSize > 0 ? Math.min(rawSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
  const rawPage = Number(first(query, 'Page') ?? 0);
  const page = Number.isInteger(rawPage) && rawPage > 0 ? rawPage : 0;
  const token = first(query, 'PageToken');
  // The token names the last call of the previous page, so calls created while a client pages
  // through the list neither repeat nor go missing.
  let start = page * pageSize;
  if (token?.startsWith('PA')) {
    const after = matches.findIndex((c) => c.sid === token.slice(2));
    start = after >= 0 ? after + 1 : matches.length;
  }
  const calls = matches.slice(start, start + pageSize);

  const filters: [string, string][] = [];
  for (const key of FILTER_KEYS) {
    const v = first(query, key);
    if (v !== undefined) filters.push([key, v]);
  }
  const base = `/${API_VERSION}/Accounts/${accountSid}/Calls.json`;
  const uri = (extra: [string, string][]) =>
    `${base}?${new URLSearchParams([...filters, ['PageSize', String(pageSize)], ...extra]).toString()}`;
  const last = calls[calls.length - 1];
  const hasMore = last !== undefined && start + calls.length < matches.length;
  const current: [string, string][] = [['Page', String(page)]];
  if (token) current.push(['PageToken', token]);
  return {
    calls: calls.map(callResource),
    end: Math.max(start, start + calls.length - 1),
    first_page_uri: uri([['Page', '0']]),
    next_page_uri: hasMore
      ? uri([
          ['Page', String(page + 1)],
          ['PageToken', `PA${last.sid}`],
        ])
      : null,
    page,
    page_size: pageSize,
    previous_page_uri: page > 0 ? uri([['Page', String(page - 1)]]) : null,
    start,
    uri: uri(current),
  };
}

function credentials(header: string | undefined): { user: string; pass: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m?.[1]) return undefined;
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), pass: decoded.slice(colon + 1) };
}

function sendError(reply: FastifyReply, err: TwilioApiError): FastifyReply {
  return reply.code(err.status).send(err.toBody());
}

function callSid(params: CallParams, accountSid: string): string {
  const m = /^(CA[0-9a-f]{32})\.json$/.exec(params.callFile);
  if (!m?.[1]) throw notFound(params.callFile.replace(/\.json$/, ''), accountSid);
  return m[1];
}

/** Registered under the prefix /2010-04-01/Accounts/:AccountSid. */
export async function restApi(app: FastifyInstance, opts: RestApiOptions): Promise<void> {
  const { engine, scheduler, accountSid, authToken, faults, maxConcurrentRequests, logger } = opts;
  await app.register(formbody);

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const creds = credentials(req.headers.authorization);
    if (!creds || creds.user !== accountSid || !sameSecret(creds.pass, authToken)) {
      reply.header('WWW-Authenticate', 'Basic realm="Twilio API"');
      return sendError(reply, new TwilioApiError(401, 20003, 'Authenticate'));
    }
    const pathAccount = (req.params as Partial<AccountParams>).AccountSid;
    if (pathAccount !== accountSid) {
      return sendError(
        reply,
        new TwilioApiError(404, 20404, `The requested resource ${req.url.split('?')[0]} was not found`),
      );
    }
  });

  limitConcurrentRequests(app, engine, maxConcurrentRequests);

  app.setErrorHandler((err: unknown, _req, reply) => {
    if (err instanceof TwilioApiError) return sendError(reply, err);
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    if (status < 500) return sendError(reply, new TwilioApiError(status, 20001, (err as Error).message));
    logger.error({ err }, 'simulator REST request failed');
    return sendError(reply, new TwilioApiError(500, 20500, 'Internal Server Error'));
  });

  app.setNotFoundHandler((req, reply) =>
    sendError(
      reply,
      new TwilioApiError(404, 20404, `The requested resource ${req.url.split('?')[0]} was not found`),
    ),
  );

  app.post<{ Params: AccountParams; Body: Form }>('/Calls.json', async (req, reply) => {
    const call = engine.create(parseCreate(req.body));
    // Fault tests: the call exists and runs, but the answer comes late (the client times out).
    if (faults.createDelayMs > 0) await scheduler.sleep(faults.createDelayMs);
    // The answer describes the call as it was created (queued), like Twilio's.
    return reply.code(201).send(callResource(call));
  });

  app.get<{ Params: AccountParams; Querystring: Form }>('/Calls.json', async (req) =>
    listPage(engine, accountSid, req.query),
  );

  app.get<{ Params: CallParams }>('/Calls/:callFile', async (req) => {
    const sid = callSid(req.params, accountSid);
    const call = engine.get(sid);
    if (!call) throw notFound(sid, accountSid);
    return callResource(call);
  });

  app.post<{ Params: CallParams; Body: Form }>('/Calls/:callFile', async (req) =>
    updateCall(engine, accountSid, req.params, req.body),
  );
}

// Twilio's API concurrency limit, checked once the body is parsed so a refused create is
// recorded with its numbers like any other rejected create.
function limitConcurrentRequests(
  app: FastifyInstance,
  engine: CallEngine,
  maxConcurrentRequests: number | undefined,
): void {
  let answering = 0;
  const counted = new WeakSet<FastifyRequest>();
  app.addHook('preHandler', async (req: FastifyRequest) => {
    if (maxConcurrentRequests !== undefined && answering >= maxConcurrentRequests) {
      const message = 'Too Many Requests';
      if (req.method === 'POST' && req.routeOptions.url?.endsWith('/Calls.json')) {
        engine.reject(parseCreate(req.body as Form), 429, 20429, message);
      }
      throw new TwilioApiError(429, 20429, message);
    }
    answering += 1;
    counted.add(req);
  });
  app.addHook('onResponse', async (req: FastifyRequest) => {
    if (counted.delete(req)) answering -= 1;
  });
}

function updateCall(
  engine: CallEngine,
  accountSid: string,
  params: CallParams,
  body: Form,
): Record<string, unknown> {
  const sid = callSid(params, accountSid);
  const status = first(body, 'Status');
  if (first(body, 'Url') !== undefined || first(body, 'Twiml') !== undefined) {
    throw badRequest(20001, 'The simulator updates calls only with Status=completed or Status=canceled');
  }
  if (status === undefined) {
    const call = engine.get(sid);
    if (!call) throw notFound(sid, accountSid);
    return callResource(call);
  }
  if (status !== 'completed' && status !== 'canceled') {
    throw badRequest(20001, `Status must be completed or canceled, not ${status}`);
  }
  return callResource(engine.update(sid, status));
}
