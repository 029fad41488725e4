/**
 * Preview mode for agents, shared by the command line and the HTTP API: an
 * agent asks for the next contact of their campaign (claimed for them alone), looks at it, then
 * takes it (it is dialed and bridged to them) or skips it (it goes back undialed and no campaign
 * takes it again for a while). The contact workflow waits for the decision; every step refuses
 * with a clear error and changes nothing when it cannot be done.
 */
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Sql } from '../db/client';
import { type AgentRef, agentByEndpoint, putAgentOnPreviewCall } from '../db/queries/agents';
import { type OfferRow, claimOldestOffer, decideOffer, offerHeldBy } from '../db/queries/preview-offers';
import { previewDecisionSignal } from '../workflows/shared';
import { logEventSql } from './contact-events';
import { OperationError } from './errors';

export interface PreviewDeps {
  sql: Sql;
  temporal: Client;
}

export interface PreviewContact {
  offerId: number;
  campaign: string;
  contactId: number;
  attemptNo: number;
  name: string | null;
  phoneNumber: string | null;
  timeZone: string | null;
  lastState: number | null;
  numberOfContacts: number;
  data: Record<string, unknown>;
  offeredAt: string;
}

/** A skipped contact stays out of every cache this long unless the agent says otherwise. */
export const DEFAULT_SKIP_HOLD_MS = 60 * 60_000;

type Agent = AgentRef;

async function loadAgent(sql: Sql, endpoint: string): Promise<Agent> {
  const agent = await agentByEndpoint(sql, endpoint);
  if (!agent) throw new OperationError('not-found', `No agent with endpoint ${endpoint}`);
  if (!agent.campaign_name)
    throw new OperationError('conflict', `Agent ${endpoint} takes calls for no campaign`);
  return agent;
}

const toContact = (r: OfferRow): PreviewContact => ({
  offerId: Number(r.id),
  campaign: r.campaign_name,
  contactId: Number(r.contact_id),
  attemptNo: r.attempt_no,
  name: r.name,
  phoneNumber: r.phone_number,
  timeZone: r.time_zone,
  lastState: r.last_state,
  numberOfContacts: r.number_of_contacts,
  data: r.data,
  offeredAt: r.offered_at.toISOString(),
});

/** The open offer this agent holds, if any. */
async function heldOffer(sql: Sql, agent: Agent): Promise<OfferRow | undefined> {
  return offerHeldBy(sql, agent.id);
}

/**
 * The next contact for this agent: the one they already hold, else the oldest open offer of their
 * campaign, claimed for them. Null when none is waiting. The agent must be available.
 */
export async function nextPreview(deps: PreviewDeps, endpoint: string): Promise<PreviewContact | null> {
  const agent = await loadAgent(deps.sql, endpoint);
  const held = await heldOffer(deps.sql, agent);
  if (held) return toContact(held);
  if (agent.status !== 'available') {
    throw new OperationError('conflict', `Agent ${endpoint} is ${agent.status}: set them available first`);
  }
  if (!(await claimOldestOffer(deps.sql, agent.id, agent.campaign_name))) return null;
  return toContact((await heldOffer(deps.sql, agent))!);
}

export interface PreviewDecision {
  contactId: number;
  decision: 'take' | 'skip';
}

/**
 * Takes or skips the contact the agent holds. Take: the agent is on the call from now on (the
 * person is bridged to them when they answer) and the contact is dialed. Skip: it goes back
 * undialed, held out of every cache for `holdMs`.
 */
export async function decidePreview(
  deps: PreviewDeps,
  endpoint: string,
  decision: 'take' | 'skip',
  opts: { contactId?: number; holdMs?: number; reason?: string } = {},
): Promise<PreviewDecision> {
  const agent = await loadAgent(deps.sql, endpoint);
  const offer = await heldOffer(deps.sql, agent);
  if (!offer) {
    throw new OperationError('conflict', `Agent ${endpoint} holds no contact: ask for the next one first`);
  }
  const contactId = Number(offer.contact_id);
  if (opts.contactId !== undefined && opts.contactId !== contactId) {
    throw new OperationError(
      'conflict',
      `Agent ${endpoint} holds contact ${contactId}, not ${opts.contactId}`,
    );
  }
  if (decision === 'take' && agent.status !== 'available') {
    throw new OperationError('conflict', `Agent ${endpoint} is ${agent.status}: set them available first`);
  }
  const holdMs = opts.holdMs ?? DEFAULT_SKIP_HOLD_MS;
  const decided = await deps.sql.begin(async (tx) => {
    if (!(await decideOffer(tx, offer.id, agent.id, decision))) return false;
    if (decision === 'take') await putAgentOnPreviewCall(tx, agent.id);
    await logEventSql(tx, {
      contactId,
      campaign: offer.campaign_name,
      attemptNo: offer.attempt_no,
      kind: decision === 'take' ? 'taken' : 'skipped',
      reason:
        decision === 'take'
          ? `preview: taken by agent ${endpoint}, dialed now`
          : `preview: skipped by agent ${endpoint}${opts.reason ? `: ${opts.reason}` : ''}; back undialed, held ${Math.round(holdMs / 60_000)} min`,
      ...(decision === 'skip' ? { details: { rule: 'preview-skip' } } : {}),
    });
    return true;
  });
  if (!decided)
    throw new OperationError('conflict', `Contact ${contactId} was decided or withdrawn meanwhile`);
  try {
    await deps.temporal.workflow.getHandle(offer.workflow_id).signal(previewDecisionSignal, {
      decision,
      agent: endpoint,
      ...(decision === 'skip' ? { holdMs } : {}),
    });
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    throw new OperationError('conflict', `Contact ${contactId}'s workflow has ended: run \`dialer recover\``);
  }
  return { contactId, decision };
}
