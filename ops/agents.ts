import type postgres from 'postgres';
import { OperationError } from './errors';

/**
 * Agents, as the command line and the HTTP API manage them. The webhook server claims an
 * available agent when a person answers; after the call the agent is in wrap-up for the
 * campaign's wrap-up time, then available again.
 */
export const AGENT_STATUSES = ['available', 'on-call', 'wrap-up', 'offline'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];

/** client:<identity> (a Twilio Client) or a phone number in E.164. */
export const AGENT_ENDPOINT = /^(client:[A-Za-z0-9_.@-]{1,121}|\+[1-9]\d{6,14})$/;

export interface AgentView {
  endpoint: string;
  name: string | null;
  campaign: string | null;
  status: AgentStatus;
  wrapUpUntil: string | null;
  currentCallSid: string | null;
}

export interface AgentInput {
  endpoint: string;
  name?: string | null;
  campaign?: string | null;
  status?: AgentStatus;
}

type Row = {
  endpoint: string;
  name: string | null;
  campaign_name: string | null;
  status: AgentStatus;
  wrap_up_until: Date | null;
  current_call_sid: string | null;
};

const view = (r: Row): AgentView => ({
  endpoint: r.endpoint,
  name: r.name,
  campaign: r.campaign_name,
  status: r.status,
  wrapUpUntil: r.wrap_up_until ? r.wrap_up_until.toISOString() : null,
  currentCallSid: r.current_call_sid,
});

function checkEndpoint(endpoint: string): void {
  if (!AGENT_ENDPOINT.test(endpoint)) {
    throw new OperationError(
      'invalid',
      `"${endpoint}" is not an agent endpoint: client:<identity> or a number in E.164`,
    );
  }
}

function checkStatus(status: string): asserts status is AgentStatus {
  if (!(AGENT_STATUSES as readonly string[]).includes(status)) {
    throw new OperationError('invalid', `"${status}" is not one of ${AGENT_STATUSES.join(', ')}`);
  }
}

/** Adds an agent, or updates the one with that endpoint (name kept unless given). */
export async function upsertAgent(sql: postgres.Sql, a: AgentInput): Promise<AgentView> {
  checkEndpoint(a.endpoint);
  const status = a.status ?? 'available';
  checkStatus(status);
  const campaign = a.campaign ?? null;
  if (campaign !== null && (await sql`select 1 from campaigns where name = ${campaign}`).length === 0) {
    throw new OperationError('not-found', `Unknown campaign "${campaign}"`);
  }
  const [row] = await sql<Row[]>`
    insert into agents (endpoint, name, campaign_name, status)
    values (${a.endpoint}, ${a.name ?? null}, ${campaign}, ${status})
    on conflict (endpoint) do update set name = coalesce(excluded.name, agents.name),
      campaign_name = excluded.campaign_name, status = excluded.status, updated_at = now()
    returning endpoint, name, campaign_name, status, wrap_up_until, current_call_sid`;
  return view(row!);
}

/** Sets an agent's status by hand (clears a running wrap-up). */
export async function setAgentStatus(
  sql: postgres.Sql,
  endpoint: string,
  status: string,
): Promise<AgentView> {
  checkEndpoint(endpoint);
  checkStatus(status);
  const [row] = await sql<Row[]>`
    update agents set status = ${status}, wrap_up_until = null, updated_at = now() where endpoint = ${endpoint}
    returning endpoint, name, campaign_name, status, wrap_up_until, current_call_sid`;
  if (!row) throw new OperationError('not-found', `No agent with endpoint ${endpoint}`);
  return view(row);
}

export async function listAgents(sql: postgres.Sql, campaign?: string): Promise<AgentView[]> {
  const rows = await sql<Row[]>`
    select endpoint, name, campaign_name, status, wrap_up_until, current_call_sid from agents
    where (${campaign ?? null}::text is null or campaign_name = ${campaign ?? null}) order by id`;
  return rows.map(view);
}
