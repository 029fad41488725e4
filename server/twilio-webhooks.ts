import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import twilio from 'twilio';
import { eq } from 'drizzle-orm';
import type { Database } from '../db/client';
import { campaigns } from '../db/schema';
import { type CallStatusEvent, callStatusSignal } from '../workflows/shared';

export interface WebhookDeps {
  temporal: Client;
  db: Database;
  authToken: string;
  /** The server's address as Twilio sees it; Twilio signs that URL, not ours. */
  publicBaseUrl: string;
}

type Params = Record<string, string>;

const TERMINAL = new Set(['completed', 'busy', 'no-answer', 'failed', 'canceled']);
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
    if (!TERMINAL.has(p.CallStatus)) {
      req.log.debug({ wf, callSid: p.CallSid, status: p.CallStatus }, 'call progress');
      return reply.code(204).send();
    }
    const event: CallStatusEvent = {
      callSid: p.CallSid,
      callStatus: p.CallStatus,
      sequenceNumber: num(p.SequenceNumber) ?? null,
      ...(num(p.SipResponseCode) !== undefined ? { sipResponseCode: num(p.SipResponseCode) } : {}),
      ...(p.AnsweredBy ? { answeredBy: p.AnsweredBy } : {}),
      ...(num(p.CallDuration) !== undefined ? { callDurationSeconds: num(p.CallDuration) } : {}),
      ...(p.Timestamp ? { timestamp: p.Timestamp } : {}),
    };
    try {
      await deps.temporal.workflow.getHandle(wf).signal(callStatusSignal, event);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        req.log.warn({ wf, callSid: p.CallSid }, 'status callback for a workflow that is not running');
        return reply.code(404).send({ error: `no running workflow ${wf}` });
      }
      throw err;
    }
    return reply.code(204).send();
  });

  // Someone or something answered (telephony.md §1.4). A fax is hung up on; a machine too, or it
  // hears the campaign's machine message. Without an agent step a person hears the campaign's
  // message and the call ends: §2 row 20 counts that as Connected.
  app.post<{ Querystring: Query }>('/twilio/answer', async (req, reply) => {
    const p = verified(deps, req, reply);
    if (!p) return reply;
    const [c] = req.query.campaign
      ? await deps.db.db
          .select({
            message: campaigns.message,
            machineDetection: campaigns.machineDetection,
            machineMessage: campaigns.machineMessage,
          })
          .from(campaigns)
          .where(eq(campaigns.name, req.query.campaign))
      : [];
    const by = p.AnsweredBy ?? '';
    let twiml = `<Say>${xml(c?.message ?? 'Goodbye.')}</Say><Hangup/>`;
    if (by === 'fax') twiml = '<Hangup/>';
    else if (by.startsWith('machine')) {
      twiml =
        c?.machineDetection === 'message' && c.machineMessage
          ? `<Say>${xml(c.machineMessage)}</Say><Hangup/>`
          : '<Hangup/>';
    }
    return reply.type('text/xml').send(`<?xml version="1.0" encoding="UTF-8"?><Response>${twiml}</Response>`);
  });
}
