/**
 * `agents`: who takes the campaign's answered calls. Their status (available → on-call →
 * wrap-up) changes only through the functions here.
 */
import { and, eq, isNull, sql as sqlText } from 'drizzle-orm';
import type { DbOrTx, Sql, SqlOrTx } from '../client';
import { agents } from '../schema';

/** An agent as the operations show it. */
export interface AgentRow {
  endpoint: string;
  name: string | null;
  campaign_name: string | null;
  status: string;
  wrap_up_until: Date | null;
  current_call_sid: string | null;
}

/** What preview mode needs of an agent. */
export interface AgentRef {
  id: number;
  endpoint: string;
  status: string;
  campaign_name: string | null;
}

/**
 * An agent who took a preview attempt and was never bridged (still on-call, with no call) is
 * available again; one bridged to a call keeps it.
 */
export async function freeAgentNeverBridged(db: DbOrTx, agentId: number): Promise<void> {
  await db
    .update(agents)
    .set({ status: 'available', updatedAt: sqlText`now()` })
    .where(and(eq(agents.id, agentId), eq(agents.status, 'on-call'), isNull(agents.currentCallSid)));
}

/** The agent took a preview attempt: on the call from now on, before the call exists. */
export async function putAgentOnPreviewCall(tx: SqlOrTx, agentId: number): Promise<void> {
  await tx`update agents set status = 'on-call', current_call_sid = null, wrap_up_until = null, updated_at = now()
    where id = ${agentId}`;
}

/** Sets an agent's status by hand (a running wrap-up ends); undefined: no such agent. */
export async function setAgentStatusByEndpoint(
  sql: Sql,
  endpoint: string,
  status: string,
): Promise<AgentRow | undefined> {
  const [row] = await sql<AgentRow[]>`
    update agents set status = ${status}, wrap_up_until = null, updated_at = now() where endpoint = ${endpoint}
    returning endpoint, name, campaign_name, status, wrap_up_until, current_call_sid`;
  return row;
}

/** Adds an agent, or updates the one with that endpoint (name kept unless given). */
export async function upsertAgentRow(
  sql: Sql,
  a: { endpoint: string; name: string | null; campaign: string | null; status: string },
): Promise<AgentRow> {
  const [row] = await sql<AgentRow[]>`
    insert into agents (endpoint, name, campaign_name, status)
    values (${a.endpoint}, ${a.name}, ${a.campaign}, ${a.status})
    on conflict (endpoint) do update set name = coalesce(excluded.name, agents.name),
      campaign_name = excluded.campaign_name, status = excluded.status, updated_at = now()
    returning endpoint, name, campaign_name, status, wrap_up_until, current_call_sid`;
  return row!;
}

/** The agents of one campaign (all of them without one), in the order they were added. */
export async function listAgentRows(sql: Sql, campaign: string | null): Promise<AgentRow[]> {
  return sql<AgentRow[]>`
    select endpoint, name, campaign_name, status, wrap_up_until, current_call_sid from agents
    where (${campaign}::text is null or campaign_name = ${campaign}) order by id`;
}

/** The agent with this endpoint, if any. */
export async function agentByEndpoint(sql: Sql, endpoint: string): Promise<AgentRef | undefined> {
  const [agent] = await sql<AgentRef[]>`
    select id, endpoint, status, campaign_name from agents where endpoint = ${endpoint}`;
  return agent;
}
