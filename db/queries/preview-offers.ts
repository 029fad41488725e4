/**
 * `preview_offers`: in preview mode an attempt waits here for an agent, who claims it, then
 * takes it (it is dialed) or skips it. One row per attempt.
 */
import { and, eq, isNull, or, sql as sqlText } from 'drizzle-orm';
import type { DbOrTx, DbTx, Sql, SqlOrTx } from '../client';
import { previewOffers } from '../schema';
import type { AttemptKey } from './call-attempts';

/** An open or claimed offer, with the contact it is for. */
export interface OfferRow {
  id: string;
  campaign_name: string;
  contact_id: string;
  attempt_no: number;
  workflow_id: string;
  offered_at: Date;
  name: string | null;
  phone_number: string | null;
  time_zone: string | null;
  last_state: number | null;
  number_of_contacts: number;
  data: Record<string, unknown>;
}

const offerWhere = (k: AttemptKey) =>
  and(
    eq(previewOffers.campaignName, k.campaign),
    eq(previewOffers.contactId, k.contactId),
    eq(previewOffers.attemptNo, k.attemptNo),
  );

/**
 * Offers the attempt: a new offer, or a decided one offered afresh; an open one stays as it is,
 * so a retried offer changes nothing.
 */
export async function offerAttempt(sql: Sql, k: AttemptKey & { workflowId: string }): Promise<void> {
  await sql`
    insert into preview_offers (campaign_name, contact_id, attempt_no, workflow_id)
    values (${k.campaign}, ${k.contactId}, ${k.attemptNo}, ${k.workflowId})
    on conflict (campaign_name, contact_id, attempt_no) do update set
      offered_at = now(), agent_id = null, claimed_at = null, decision = null, decided_at = null
    where preview_offers.decision is not null`;
}

/** The attempt's offer (its agent and decision), locked until the transaction ends. */
export async function lockOffer(
  tx: DbTx,
  k: AttemptKey,
): Promise<{ agentId: number | null; decision: string | null } | undefined> {
  const [offer] = await tx
    .select({ agentId: previewOffers.agentId, decision: previewOffers.decision })
    .from(previewOffers)
    .where(offerWhere(k))
    .for('update');
  return offer;
}

/** The agent who took the attempt's offer, if one did. */
export async function agentWhoTookOffer(db: DbOrTx, k: AttemptKey): Promise<number | null> {
  const [offer] = await db
    .select({ agentId: previewOffers.agentId })
    .from(previewOffers)
    .where(and(offerWhere(k), eq(previewOffers.decision, 'take')));
  return offer?.agentId ?? null;
}

/** Withdraws the attempt's offer if it is open or was taken. */
export async function withdrawOffer(db: DbOrTx, k: AttemptKey): Promise<void> {
  await db
    .update(previewOffers)
    .set({ decision: 'withdrawn', decidedAt: sqlText`now()` })
    .where(and(offerWhere(k), or(isNull(previewOffers.decision), eq(previewOffers.decision, 'take'))));
}

/** The open offer this agent holds, with its contact, if any. */
export async function offerHeldBy(sql: Sql, agentId: number): Promise<OfferRow | undefined> {
  const [row] = await sql<OfferRow[]>`
    select o.id, o.campaign_name, o.contact_id, o.attempt_no, o.workflow_id, o.offered_at,
      c.name, c.phone_number, c.time_zone, c.last_state, c.number_of_contacts, c.data
    from preview_offers o join contacts c on c.id = o.contact_id
    where o.agent_id = ${agentId} and o.decision is null`;
  return row;
}

/** Claims the campaign's oldest open offer for the agent (skipping those being claimed); false: none. */
export async function claimOldestOffer(sql: Sql, agentId: number, campaign: string | null): Promise<boolean> {
  const [claimed] = await sql<{ id: string }[]>`
    update preview_offers set agent_id = ${agentId}, claimed_at = now()
    where id = (select id from preview_offers
                where campaign_name = ${campaign} and decision is null and agent_id is null
                order by id limit 1 for update skip locked)
    returning id`;
  return claimed !== undefined;
}

/** Writes the agent's decision on the open offer they hold; false: decided or withdrawn meanwhile. */
export async function decideOffer(
  tx: SqlOrTx,
  offerId: string,
  agentId: number,
  decision: 'take' | 'skip',
): Promise<boolean> {
  const [row] = await tx`
    update preview_offers set decision = ${decision}, decided_at = now()
    where id = ${offerId} and agent_id = ${agentId} and decision is null returning id`;
  return row !== undefined;
}
