import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import twilio from 'twilio';
import type { Database } from '../db/client';
import { type CallFacts } from '../domain/contract';
import {
  type CallStatusEvent,
  callFactsSignal,
  callStatusSignal,
  campaignWorkflowId,
  contactOfWorkflowId,
  refillSignal,
} from '../workflows/shared';
import { isTerminalCallStatus } from '../domain/call-status';
import {
  type ClaimedAgent,
  claimAgentIf,
  claimFreeAgent,
  claimPreviewAgent,
  setAgentWrapUp,
} from '../db/queries/agents';
import { type AnswerSettings, findAnswerSettings, findCampaignMessage } from '../db/queries/campaigns';
import {
  type CallbackKey,
  claimCallbackOnce,
  dropCallbacksOlderThanTwoDays,
  forgetCallback,
} from '../db/queries/webhook-callbacks';

export interface WebhookDeps {
  temporal: Client;
  db: Database;
  authToken: string;
  /** The server's address as Twilio sees it; Twilio signs that URL, not ours. */
  publicBaseUrl: string;
}

type Params = Record<string, string>;

type Query = { wf?: string; attempt?: string; campaign?: string };

const num = (v: string | undefined): number | undefined => {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
};

/** telephony.md §1.3: only requests signed with our auth token are believed. */
function verified(deps: WebhookDeps, req: FastifyRequest, reply: FastifyReply): Params | undefined {
  const signature = req.headers['x-twilio-signature'];
  const params = (req.body ?? {}) as Params;
  const url = deps.publicBaseUrl + req.url;
  if (typeof signature !== 'string' || !twilio.validateRequest(deps.authToken, signature, url, params)) {
    req.log.warn({ url: req.routeOptions.url }, 'rejected a webhook without a valid X-Twilio-Signature');
    void reply.code(403).send({ error: 'invalid or missing X-Twilio-Signature' });
    return undefined;
  }
  return params;
}

const xml = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!,
  );

/** A status callback's form parameters as the event the contact workflow's tracker takes. */
export function statusEvent(
  p: Record<string, string | undefined> & { CallSid: string; CallStatus: string },
): CallStatusEvent {
  return {
    callSid: p.CallSid,
    callStatus: p.CallStatus,
    sequenceNumber: num(p.SequenceNumber) ?? null,
    ...(num(p.SipResponseCode) !== undefined ? { sipResponseCode: num(p.SipResponseCode) } : {}),
    ...(p.AnsweredBy ? { answeredBy: p.AnsweredBy } : {}),
    ...(num(p.CallDuration) !== undefined ? { callDurationSeconds: num(p.CallDuration) } : {}),
    ...(p.Timestamp ? { timestamp: p.Timestamp } : {}),
  };
}

/**
 * How long the answer webhook keeps a campaign's settings: its calls are answered many times a
 * second, and an edit (a message, an agent added) still shows within a second.
 */
const ANSWER_SETTINGS_TTL_MS = 1000;

type SettingsOf = (campaign: string) => Promise<AnswerSettings | undefined>;

/** findAnswerSettings, each campaign's kept for ANSWER_SETTINGS_TTL_MS (a failed read is not kept). */
function cachedAnswerSettings(db: Database): SettingsOf {
  const kept = new Map<string, { at: number; settings: Promise<AnswerSettings | undefined> }>();
  return (campaign) => {
    const now = Date.now();
    const hit = kept.get(campaign);
    if (hit && now - hit.at < ANSWER_SETTINGS_TTL_MS) return hit.settings;
    if (kept.size > 1000) kept.clear();
    const settings = findAnswerSettings(db.sql, campaign);
    kept.set(campaign, { at: now, settings });
    settings.catch(() => kept.delete(campaign));
    return settings;
  };
}

export function registerTwilioWebhooks(app: FastifyInstance, deps: WebhookDeps): void {
  const settingsOf = cachedAnswerSettings(deps.db);
  app.post<{ Querystring: Query }>('/twilio/status', (req, reply) => onStatus(deps, req, reply));
  app.post<{ Querystring: Query }>('/twilio/answer', (req, reply) => onAnswer(deps, settingsOf, req, reply));
  app.post<{ Querystring: DialActionQuery }>('/twilio/dial-action', (req, reply) =>
    onDialAction(deps, req, reply),
  );
}

type DialActionQuery = Query & { agent?: string };

async function onStatus(deps: WebhookDeps, req: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply) {
  const p = verified(deps, req, reply);
  if (!p) return reply;
  const wf = req.query.wf;
  if (!wf || !p.CallSid || !p.CallStatus) {
    return reply.code(400).send({ error: 'status callback needs ?wf= and CallSid, CallStatus' });
  }
  // Only the callbacks that decide the outcome go to the workflow (telephony.md §1.5): each
  // signal costs the contact workflow a task, and the progress events decide nothing.
  if (!isTerminalCallStatus(p.CallStatus)) {
    req.log.debug({ wf, callSid: p.CallSid, status: p.CallStatus }, 'call progress');
    return reply.code(204).send();
  }
  const event = statusEvent({ ...p, CallSid: p.CallSid, CallStatus: p.CallStatus });
  const key = { callSid: p.CallSid, event: `status:${p.CallStatus}`, seq: event.sequenceNumber ?? -1 };
  const seen = await passOnce(deps.db, { ...req.query, wf }, key);
  if (seen === 'foreign') {
    req.log.warn({ wf, callSid: p.CallSid }, 'status callback for a call of no attempt of this workflow');
    return reply.code(404).send({ error: `no attempt of ${wf} has this call` });
  }
  if (seen === 'repeat') {
    req.log.info({ wf, callSid: p.CallSid, status: p.CallStatus }, 'repeated status callback absorbed');
    return reply.code(204).send();
  }
  try {
    await deps.temporal.workflow.getHandle(wf).signal(callStatusSignal, event);
  } catch (err) {
    await forgetCallback(deps.db.sql, key); // not passed on after all: Twilio's retry must get through
    if (err instanceof WorkflowNotFoundError) {
      req.log.warn({ wf, callSid: p.CallSid }, 'status callback for a workflow that is not running');
      return reply.code(404).send({ error: `no running workflow ${wf}` });
    }
    throw err;
  }
  return reply.code(204).send();
}

const twimlDocument = (body: string) => `<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`;

// Someone or something answered (telephony.md §1.4). A fax is hung up on; a machine too, or it
// hears the campaign's machine message. A person is bridged to a free agent of the campaign,
// claimed atomically; with agents but none free they hear the safe-harbor message (NoAgent);
// a campaign without agents plays its message and ends the call (§2 row 20: Connected).
async function onAnswer(
  deps: WebhookDeps,
  settingsOf: SettingsOf,
  req: FastifyRequest<{ Querystring: Query }>,
  reply: FastifyReply,
) {
  const p = verified(deps, req, reply);
  if (!p) return reply;
  const twiml = (body: string) => reply.type('text/xml').send(twimlDocument(body));
  const c = req.query.campaign ? await settingsOf(req.query.campaign) : undefined;
  const by = p.AnsweredBy ?? '';
  if (by === 'fax') return twiml('<Hangup/>');
  if (by.startsWith('machine')) {
    return twiml(
      c?.machine_detection === 'message' && c.machine_message
        ? `<Say>${xml(c.machine_message)}</Say><Hangup/>`
        : '<Hangup/>',
    );
  }
  const message = `<Say>${xml(c?.message ?? 'Goodbye.')}</Say><Hangup/>`;
  if (!c || c.agents === 0 || !req.query.wf || !p.CallSid) return twiml(message);
  const call = { ...req.query, wf: req.query.wf, campaign: req.query.campaign!, callSid: p.CallSid };
  const claimed = await claimAgentForCall(deps, c.dialing_mode, call);
  if (!claimed) {
    req.log.warn(
      { wf: req.query.wf, callSid: p.CallSid },
      'answer callback for a workflow that is not running',
    );
    return twiml(message);
  }
  // an agent was just claimed (or none was free): the campaign paces by its agents, so it looks
  // again now rather than at its next periodic look; the TwiML does not wait for it
  if (c.dialing_mode !== 'agentless') {
    void deps.temporal.workflow
      .getHandle(campaignWorkflowId(call.campaign))
      .signal(refillSignal)
      .catch((err: unknown) => req.log.debug({ err }, 'campaign not told of the claimed agent'));
  }
  if (!claimed.agent) return twiml(message);
  return twiml(dialAgent(deps, req.url, claimed.agent, c.transfer_timeout_seconds));
}

/**
 * Claims the agent for an answered call: in preview, the agent who took this attempt; otherwise
 * any free one. The claim stands only if the call's workflow takes the fact: a callback for a call
 * no workflow is waiting for (an unknown or finished one) claims nobody and changes nothing
 * (undefined).
 */
function claimAgentForCall(
  deps: WebhookDeps,
  dialingMode: string,
  call: Query & { wf: string; campaign: string; callSid: string },
) {
  return claimAgentIf(
    deps.db.sql,
    (tx) =>
      dialingMode === 'preview'
        ? claimPreviewAgent(tx, {
            callSid: call.callSid,
            workflowId: call.wf,
            attemptNo: num(call.attempt) ?? -1,
          })
        : claimFreeAgent(tx, { callSid: call.callSid, campaign: call.campaign }),
    (agent) => signalFacts(deps, call.wf, call.callSid, agent ? { agentStep: true } : { noAgentFree: true }),
  );
}

/** The <Dial> that bridges the call to the agent; its action is our dial-action webhook. */
function dialAgent(deps: WebhookDeps, url: string, agent: ClaimedAgent, timeoutSeconds: number): string {
  const action = new URL(deps.publicBaseUrl + url);
  action.pathname = action.pathname.replace(/answer$/, 'dial-action');
  action.searchParams.set('agent', String(agent.id));
  const target = agent.endpoint.startsWith('client:')
    ? `<Client>${xml(agent.endpoint.slice('client:'.length))}</Client>`
    : `<Number>${xml(agent.endpoint)}</Number>`;
  return `<Dial timeout="${timeoutSeconds}" action="${xml(action.toString())}" method="POST">${target}</Dial>`;
}

// The <Dial> to the agent ended: how, and who left first, decide rows 16–20 of telephony.md §2.
// The agent goes to wrap-up for the campaign's wrap-up time.
async function onDialAction(
  deps: WebhookDeps,
  req: FastifyRequest<{ Querystring: DialActionQuery }>,
  reply: FastifyReply,
) {
  const p = verified(deps, req, reply);
  if (!p) return reply;
  const dial = p.DialCallStatus ?? 'failed';
  if (req.query.wf && p.CallSid)
    await tellDialOutcome(deps, { ...req.query, wf: req.query.wf }, p.CallSid, p, dial);
  const agentId = Number(req.query.agent);
  // no agent took the person who is still on the line: the safe-harbor message, not silence
  const bridged = dial === 'completed' || dial === 'answered';
  const stillThere = p.CallStatus === 'in-progress';
  const message =
    !bridged && stillThere && req.query.campaign
      ? await findCampaignMessage(deps.db.sql, req.query.campaign)
      : undefined;
  if (Number.isSafeInteger(agentId)) await setAgentWrapUp(deps.db.sql, agentId, p.CallSid ?? '');
  return reply
    .type('text/xml')
    .send(twimlDocument(`${message !== undefined ? `<Say>${xml(message)}</Say>` : ''}<Hangup/>`));
}

/**
 * The workflow first: the final status callback is on its way too; a repeat is absorbed. A fact
 * that reached no workflow is not remembered as passed on.
 */
async function tellDialOutcome(
  deps: WebhookDeps,
  q: Query & { wf: string },
  callSid: string,
  p: Params,
  dial: string,
): Promise<void> {
  const key = { callSid, event: `dial:${dial}:${p.CallStatus ?? ''}`, seq: -1 };
  if ((await passOnce(deps.db, q, key)) !== 'fresh') return;
  const calleeStillThere = p.CallStatus === 'in-progress';
  const told = await signalFacts(deps, q.wf, callSid, {
    dialCallStatus: dial,
    agentHungUpFirst: dial === 'completed' && calleeStillThere,
    calleeLeftFirst: !calleeStillThere,
  }).catch(async (err: unknown) => {
    await forgetCallback(deps.db.sql, key);
    throw err;
  });
  if (!told) await forgetCallback(deps.db.sql, key);
}

/**
 * Callbacks absorbed once (telephony.md §1.3: they can arrive twice): a callback goes on to its
 * workflow only if its call belongs to the attempt its URL names (the attempt's SID, or none stored
 * yet: a fast callback may come before the SID is written) and the same (call, event, sequence
 * number) has not gone on before. One statement. A replayed signed callback is 'repeat'; one for
 * another call is 'foreign'.
 */
async function passOnce(
  db: Database,
  q: Query & { wf: string },
  key: CallbackKey,
): Promise<'fresh' | 'repeat' | 'foreign'> {
  const attempt = num(q.attempt);
  const contactId = contactOfWorkflowId(q.wf);
  if (!q.campaign || attempt === undefined || contactId === null || !Number.isSafeInteger(contactId))
    return 'foreign';
  const r = await claimCallbackOnce(
    db.sql,
    { campaign: q.campaign, contactId, attemptNo: attempt, workflowId: q.wf },
    key,
  );
  // Twilio retries a callback for minutes, not days: two days of memory is plenty
  if (Math.random() < 0.001) void dropCallbacksOlderThanTwoDays(db.sql).catch(() => undefined);
  return !r.mine ? 'foreign' : r.fresh ? 'fresh' : 'repeat';
}

/** Tells the call's workflow a fact; false when no such workflow is running. */
async function signalFacts(
  deps: WebhookDeps,
  wf: string,
  callSid: string,
  facts: CallFacts,
): Promise<boolean> {
  try {
    await deps.temporal.workflow.getHandle(wf).signal(callFactsSignal, { callSid, facts });
    return true;
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    return false;
  }
}
