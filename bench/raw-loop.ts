/**
 * The raw loop: the dialer's own activity code (the same `twilio` SDK calls and database writes
 * per attempt: reserve, write the attempt, create the call, record the outcome) driven by a plain
 * loop with a fixed number of calls in flight, and the status callbacks taken by a small signed
 * webhook receiver here. No Temporal: what a campaign costs without durability.
 */
import http from 'node:http';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import twilio from 'twilio';
import { createActivities } from '../activities';
import { twilioCalls } from '../activities/twilio-calls';
import type { Database } from '../db/client';
import { SIMULATOR_ACCOUNT_SID, SIMULATOR_AUTH_TOKEN } from '../infra/config';
import { freePort } from '../harness/processes';
import { createTwilioClient } from '../infra/twilio';
import { CallStatusTracker } from '../workflows/call-status-tracker';
import { DEFAULT_CAMPAIGN_OPTIONS } from '../workflows/shared';
import { statusEvent } from '../server/twilio-webhooks';
import type { CallFacts } from '../domain/contract';

type Waiting = Map<string, { tracker: CallStatusTracker; done: (f: CallFacts) => void }>;

interface RawLoopOptions {
  db: Database;
  temporal: Client;
  simulatorUrl: string;
  campaign: string;
  inFlight: number;
}

export async function rawLoop(o: RawLoopOptions): Promise<{ attempts: number; seconds: number }> {
  const port = await freePort();
  const publicBaseUrl = `http://127.0.0.1:${port}`;
  const waiting: Waiting = new Map();
  const receiver = webhookReceiver(o, publicBaseUrl, waiting);
  await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', () => r()));

  const { acts, run } = loopActivities(o, publicBaseUrl);
  const settings = await run(acts.loadCampaign, { name: o.campaign });
  const t0 = Date.now();
  let attempts = 0;
  try {
    for (let batch = 0; ; batch++) {
      const { contacts } = await run(acts.reserveContacts, {
        campaign: o.campaign,
        holder: `raw/${o.campaign}`,
        reservation: `raw/${o.campaign}/${batch}`,
        limit: o.inFlight,
        lookaheadLimit: 0,
        maxAttempts: settings.maxAttempts,
        lookaheadMs: 0,
      });
      if (contacts.length === 0) break;
      await Promise.all(
        contacts.map(async (c) => {
          await attemptOne({ o, acts, run, settings, waiting }, c);
          attempts++;
        }),
      );
    }
  } finally {
    await new Promise<void>((r) => receiver.close(() => r()));
  }
  return { attempts, seconds: (Date.now() - t0) / 1000 };
}

/** Takes the signed status callbacks, as the webhook server does, and answers the TwiML request. */
function webhookReceiver(o: RawLoopOptions, publicBaseUrl: string, waiting: Waiting): http.Server {
  return http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      const url = publicBaseUrl + req.url!;
      if (
        !twilio.validateRequest(SIMULATOR_AUTH_TOKEN, String(req.headers['x-twilio-signature']), url, params)
      ) {
        res.writeHead(403).end();
        return;
      }
      const wf = new URL(url).searchParams.get('wf') ?? '';
      if (req.url!.startsWith('/twilio/answer')) {
        answerWithMessage(o, res);
        return;
      }
      const w = waiting.get(wf);
      if (w && params.CallSid && params.CallStatus) {
        w.tracker.add(statusEvent({ ...params, CallSid: params.CallSid, CallStatus: params.CallStatus }));
        const final = w.tracker.final;
        if (final) w.done(final);
      }
      res.writeHead(204).end();
    });
  });
}

// what the webhook server answers for a campaign without agents: its message, then hang up
function answerWithMessage(o: RawLoopOptions, res: http.ServerResponse): void {
  void o.db.sql<{ message: string; agents: number }[]>`
    select message, (select count(*)::int from agents a where a.campaign_name = c.name) as agents
    from campaigns c where name = ${o.campaign}`.then(([c]) => {
    res.writeHead(200, { 'content-type': 'text/xml' });
    res.end(`<?xml version="1.0" encoding="UTF-8"?><Response><Say>${c!.message}</Say><Hangup/></Response>`);
  });
}

function loopActivities(o: RawLoopOptions, publicBaseUrl: string) {
  const acts = createActivities({
    db: o.db,
    calls: twilioCalls(
      createTwilioClient({
        accountSid: SIMULATOR_ACCOUNT_SID,
        authToken: SIMULATOR_AUTH_TOKEN,
        apiBaseUrl: o.simulatorUrl,
        timeoutMs: 10_000,
      }),
    ),
    temporal: o.temporal,
    clock: () => new Date(),
    publicBaseUrl,
    defaultRegion: 'US',
  });
  const env = new MockActivityEnvironment(undefined, { logger: new DefaultLogger('WARN') });
  // each activity runs with an activity context of its own, as a worker would give it
  const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...a: A) =>
    env.run(fn, ...a) as Promise<R>;
  return { acts, run };
}

type Activities = ReturnType<typeof loopActivities>['acts'];
type Settings = Awaited<ReturnType<Activities['loadCampaign']>>;
type Reserved = Awaited<ReturnType<Activities['reserveContacts']>>['contacts'][number];

/** One attempt, as the contact workflow makes it: place, wait for the final status, record. */
async function attemptOne(
  loop: {
    o: RawLoopOptions;
    acts: Activities;
    run: ReturnType<typeof loopActivities>['run'];
    settings: Settings;
    waiting: Waiting;
  },
  c: Reserved,
): Promise<void> {
  const { o, acts, run, settings, waiting } = loop;
  const key = { campaign: o.campaign, contactId: c.id, attemptNo: c.attemptNo };
  const workflowId = `raw/${o.campaign}/${c.id}`;
  const tracker = new CallStatusTracker();
  const outcome = new Promise<CallFacts>((done) => waiting.set(workflowId, { tracker, done }));
  const placed = await run(acts.placeCall, {
    ...key,
    workflowId,
    phoneNumber: c.phoneNumber,
    callerId: settings.callerId,
    ringTimeoutSeconds: settings.ringTimeoutSeconds,
    dueAt: c.redialAt,
    machineDetection: settings.machineDetection,
    callTimeoutMs: DEFAULT_CAMPAIGN_OPTIONS.callTimeoutMs,
  });
  let facts: CallFacts;
  if (placed.kind === 'placed') {
    tracker.expect(placed.callSid);
    const early = tracker.final;
    facts = early ?? (await outcome);
  } else if (placed.kind === 'final') facts = placed.facts;
  else throw new Error(`the benchmark's campaign held a call back: ${placed.reason}`);
  waiting.delete(workflowId);
  await run(acts.recordOutcome, {
    ...key,
    facts,
    maxAttempts: settings.maxAttempts,
    retryRules: settings.retryRules,
    // as the contact workflow does: what it knows of the rows lets the write go in one statement
    ...(placed.kind === 'placed' ? { known: { numberOfContacts: c.numberOfContacts, placed: true } } : {}),
  });
}
