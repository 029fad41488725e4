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

/** Every agent with its id (the console names agents by id: an endpoint may be a number), by id. */
export async function listAgentRowsWithIds(sql: Sql): Promise<(AgentRow & { id: number })[]> {
  return sql<(AgentRow & { id: number })[]>`
    select id, endpoint, name, campaign_name, status, wrap_up_until, current_call_sid from agents order by id`;
}

/** The endpoint of the agent with this id, if any. */
export async function agentEndpointById(sql: Sql, id: number): Promise<string | undefined> {
  const [row] = await sql<{ endpoint: string }[]>`select endpoint from agents where id = ${id}`;
  return row?.endpoint;
}

/** The agent with this endpoint, if any. */
export async function agentByEndpoint(sql: Sql, endpoint: string): Promise<AgentRef | undefined> {
  const [agent] = await sql<AgentRef[]>`
    select id, endpoint, status, campaign_name from agents where endpoint = ${endpoint}`;
  return agent;
}

/** An agent claimed for a call: who, and where the call is bridged to. */
export interface ClaimedAgent {
  id: number;
  endpoint: string;
}

/**
 * Preview: binds the call to the agent who took this attempt (on-call, no call yet); undefined
 * when there is none.
 */
export async function claimPreviewAgent(
  sql: SqlOrTx,
  call: { callSid: string; workflowId: string; attemptNo: number },
): Promise<ClaimedAgent | undefined> {
  const [agent] = await sql<ClaimedAgent[]>`
    update agents set current_call_sid = ${call.callSid}, updated_at = now()
    where id = (select agent_id from preview_offers
                where workflow_id = ${call.workflowId} and decision = 'take'
                  and attempt_no = ${call.attemptNo})
      and status = 'on-call' and current_call_sid is null
    returning id, endpoint`;
  return agent;
}

/**
 * Puts the campaign's longest-free agent (available, or past its wrap-up) on this call, skipping
 * agents another transaction holds; undefined when none is free.
 */
export async function claimFreeAgent(
  sql: SqlOrTx,
  call: { callSid: string; campaign: string },
): Promise<ClaimedAgent | undefined> {
  const [agent] = await sql<ClaimedAgent[]>`
    update agents set status = 'on-call', current_call_sid = ${call.callSid}, wrap_up_until = null, updated_at = now()
    where id = (
      select id from agents
      where campaign_name = ${call.campaign}
        and (status = 'available' or (status = 'wrap-up' and wrap_up_until <= now()))
      order by updated_at, id limit 1
      for update skip locked)
    returning id, endpoint`;
  return agent;
}

/**
 * Runs `claim` and `keep` in one transaction: the claim stands only if `keep` (told the agent
 * claimed, or none) resolves true; otherwise it is rolled back and the result is undefined.
 */
export async function claimAgentIf(
  sql: Sql,
  claim: (tx: SqlOrTx) => Promise<ClaimedAgent | undefined>,
  keep: (agent: ClaimedAgent | undefined) => Promise<boolean>,
): Promise<{ agent: ClaimedAgent | undefined } | undefined> {
  return sql
    .begin(async (tx) => {
      const agent = await claim(tx);
      if (!(await keep(agent))) throw new NotKept();
      return { agent };
    })
    .catch((err: unknown) => {
      if (err instanceof NotKept) return undefined;
      throw err;
    });
}

class NotKept extends Error {}

/**
 * The agent leaves this call for wrap-up, for its campaign's wrap-up time (10 s without one); only
 * while it is on this call.
 */
export async function setAgentWrapUp(sql: SqlOrTx, agentId: number, callSid: string): Promise<void> {
  await sql`
    update agents a set status = 'wrap-up', current_call_sid = null, updated_at = now(),
      wrap_up_until = now() + make_interval(secs => coalesce(
        (select wrap_up_seconds from campaigns c where c.name = a.campaign_name), 10))
    where id = ${agentId} and status = 'on-call' and current_call_sid = ${callSid}`;
}
