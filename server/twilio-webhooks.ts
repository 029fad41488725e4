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

export function registerTwilioWebhooks(app: FastifyInstance, deps: WebhookDeps): void {
  app.post<{ Querystring: Query }>('/twilio/status', async (req, reply) => {
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
      await forget(deps.db, key); // not passed on after all: Twilio's retry must get through
      if (err instanceof WorkflowNotFoundError) {
        req.log.warn({ wf, callSid: p.CallSid }, 'status callback for a workflow that is not running');
        return reply.code(404).send({ error: `no running workflow ${wf}` });
      }
      throw err;
    }
    return reply.code(204).send();
  });

  // Someone or something answered (telephony.md §1.4). A fax is hung up on; a machine too, or it
  // hears the campaign's machine message. A person is bridged to a free agent of the campaign,
  // claimed atomically; with agents but none free they hear the safe-harbor message (NoAgent);
  // a campaign without agents plays its message and ends the call (§2 row 20: Connected).
  app.post<{ Querystring: Query }>('/twilio/answer', async (req, reply) => {
    const p = verified(deps, req, reply);
    if (!p) return reply;
    const twiml = (body: string) =>
      reply.type('text/xml').send(`<?xml version="1.0" encoding="UTF-8"?><Response>${body}</Response>`);
    const [c] = req.query.campaign
      ? await deps.db.sql<
          {
            message: string;
            machine_detection: string;
            machine_message: string | null;
            transfer_timeout_seconds: number;
            agents: number;
            dialing_mode: string;
          }[]
        >`select message, machine_detection, machine_message, transfer_timeout_seconds, dialing_mode,
            -- an agentless campaign has no agent step, whatever agents name it
            case when dialing_mode = 'agentless' then 0
              else (select count(*)::int from agents a where a.campaign_name = c.name) end as agents
          from campaigns c where name = ${req.query.campaign}`
      : [];
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
    // The agent is claimed only if the call's workflow takes the fact: a callback for a call no
    // workflow is waiting for (an unknown or finished one) claims nobody and changes nothing.
    const claimed = await deps.db.sql
      .begin(async (tx) => {
        // preview: the agent who took this attempt waits for it; otherwise any free agent
        const [agent] =
          c.dialing_mode === 'preview'
            ? await tx<{ id: number; endpoint: string }[]>`
                update agents set current_call_sid = ${p.CallSid!}, updated_at = now()
                where id = (select agent_id from preview_offers
                            where workflow_id = ${req.query.wf!} and decision = 'take'
                              and attempt_no = ${num(req.query.attempt) ?? -1})
                  and status = 'on-call' and current_call_sid is null
                returning id, endpoint`
            : await tx<{ id: number; endpoint: string }[]>`
                update agents set status = 'on-call', current_call_sid = ${p.CallSid!}, wrap_up_until = null, updated_at = now()
                where id = (
                  select id from agents
                  where campaign_name = ${req.query.campaign!}
                    and (status = 'available' or (status = 'wrap-up' and wrap_up_until <= now()))
                  order by updated_at, id limit 1
                  for update skip locked)
                returning id, endpoint`;
        const known = await signalFacts(
          deps,
          req.query.wf!,
          p.CallSid!,
          agent ? { agentStep: true } : { noAgentFree: true },
        );
        if (!known) throw new UnknownCall();
        return { agent };
      })
      .catch((err: unknown) => {
        if (err instanceof UnknownCall) return undefined;
        throw err;
      });
    if (!claimed) {
      req.log.warn(
        { wf: req.query.wf, callSid: p.CallSid },
        'answer callback for a workflow that is not running',
      );
      return twiml(message);
    }
    const agent = claimed.agent;
    // an agent was just claimed (or none was free): the campaign paces by its agents, so it looks
    // again now rather than at its next periodic look; the TwiML does not wait for it
    if (c.dialing_mode !== 'agentless') {
      void deps.temporal.workflow
        .getHandle(campaignWorkflowId(req.query.campaign!))
        .signal(refillSignal)
        .catch((err: unknown) => req.log.debug({ err }, 'campaign not told of the claimed agent'));
    }
    if (!agent) return twiml(message);
    const action = new URL(deps.publicBaseUrl + req.url);
    action.pathname = action.pathname.replace(/answer$/, 'dial-action');
    action.searchParams.set('agent', String(agent.id));
    const target = agent.endpoint.startsWith('client:')
      ? `<Client>${xml(agent.endpoint.slice('client:'.length))}</Client>`
      : `<Number>${xml(agent.endpoint)}</Number>`;
    return twiml(
      `<Dial timeout="${c.transfer_timeout_seconds}" action="${xml(action.toString())}" method="POST">${target}</Dial>`,
    );
  });

  // The <Dial> to the agent ended: how, and who left first, decide rows 16–20 of telephony.md §2.
  // The agent goes to wrap-up for the campaign's wrap-up time.
  app.post<{ Querystring: Query & { agent?: string } }>('/twilio/dial-action', async (req, reply) => {
    const p = verified(deps, req, reply);
    if (!p) return reply;
    const dial = p.DialCallStatus ?? 'failed';
    // the workflow first: the final status callback is on its way too; a repeat is absorbed
    const key = { callSid: p.CallSid ?? '', event: `dial:${dial}:${p.CallStatus ?? ''}`, seq: -1 };
    if (
      req.query.wf &&
      p.CallSid &&
      (await passOnce(deps.db, { ...req.query, wf: req.query.wf }, key)) === 'fresh'
    ) {
      const calleeStillThere = p.CallStatus === 'in-progress';
      const told = await signalFacts(deps, req.query.wf, p.CallSid, {
        dialCallStatus: dial,
        agentHungUpFirst: dial === 'completed' && calleeStillThere,
        calleeLeftFirst: !calleeStillThere,
      }).catch(async (err: unknown) => {
        await forget(deps.db, key);
        throw err;
      });
      if (!told) await forget(deps.db, key);
    }
    const agentId = Number(req.query.agent);
    // no agent took the person who is still on the line: the safe-harbor message, not silence
    const bridged = dial === 'completed' || dial === 'answered';
    const stillThere = p.CallStatus === 'in-progress';
    const [campaign] =
      !bridged && stillThere && req.query.campaign
        ? await deps.db.sql<
            { message: string }[]
          >`select message from campaigns where name = ${req.query.campaign}`
        : [];
    if (Number.isSafeInteger(agentId)) {
      await deps.db.sql`
        update agents a set status = 'wrap-up', current_call_sid = null, updated_at = now(),
          wrap_up_until = now() + make_interval(secs => coalesce(
            (select wrap_up_seconds from campaigns c where c.name = a.campaign_name), 10))
        where id = ${agentId} and status = 'on-call' and current_call_sid = ${p.CallSid ?? ''}`;
    }
    return reply
      .type('text/xml')
      .send(
        `<?xml version="1.0" encoding="UTF-8"?><Response>${campaign ? `<Say>${xml(campaign.message)}</Say>` : ''}<Hangup/></Response>`,
      );
  });
}

class UnknownCall extends Error {}

/** A callback's identity: the call, what it says, and Twilio's sequence number (-1 without one). */
interface CallbackKey {
  callSid: string;
  event: string;
  seq: number;
}

/**
 * Issue 19, callbacks absorbed once: a callback goes on to its workflow only if its call belongs to
 * the attempt its URL names (the attempt's SID, or none stored yet: a fast callback may come
 * before the SID is written) and the same (call, event, sequence number) has not gone on before.
 * One statement. A replayed signed callback is 'repeat'; one for another call is 'foreign'.
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
  const [r] = await db.sql<{ mine: boolean; fresh: boolean }[]>`
    with mine as (
      select 1 from call_attempts
      where campaign_name = ${q.campaign} and contact_id = ${contactId} and attempt_no = ${attempt}
        and workflow_id = ${q.wf} and (call_sid = ${key.callSid} or call_sid is null)
    ), fresh as (
      insert into webhook_callbacks (call_sid, event, sequence_number)
      select ${key.callSid}, ${key.event}, ${key.seq} where exists (select 1 from mine)
      on conflict do nothing returning 1
    )
    select exists (select 1 from mine) as mine, exists (select 1 from fresh) as fresh`;
  if (Math.random() < 0.001) void forgetOld(db);
  return !r?.mine ? 'foreign' : r.fresh ? 'fresh' : 'repeat';
}

/** A callback that did not reach its workflow after all is not remembered as passed on. */
async function forget(db: Database, key: CallbackKey): Promise<void> {
  await db.sql`delete from webhook_callbacks
    where call_sid = ${key.callSid} and event = ${key.event} and sequence_number = ${key.seq}`;
}

/** Twilio retries a callback for minutes, not days: two days of memory is plenty. */
async function forgetOld(db: Database): Promise<void> {
  await db.sql`delete from webhook_callbacks where seen_at < now() - interval '2 days'`.catch(
    () => undefined,
  );
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
