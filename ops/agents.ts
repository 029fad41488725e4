import type { Sql } from '../db/client';
import { campaignExists } from '../db/queries/campaigns';
import {
  type AgentRow,
  agentEndpointById,
  listAgentRows,
  listAgentRowsWithIds,
  setAgentStatusByEndpoint,
  upsertAgentRow,
} from '../db/queries/agents';
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

const view = (r: AgentRow): AgentView => ({
  endpoint: r.endpoint,
  name: r.name,
  campaign: r.campaign_name,
  status: r.status as AgentStatus,
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
export async function upsertAgent(sql: Sql, a: AgentInput): Promise<AgentView> {
  checkEndpoint(a.endpoint);
  const status = a.status ?? 'available';
  checkStatus(status);
  const campaign = a.campaign ?? null;
  if (campaign !== null && !(await campaignExists(sql, campaign))) {
    throw new OperationError('not-found', `Unknown campaign "${campaign}"`);
  }
  return view(await upsertAgentRow(sql, { endpoint: a.endpoint, name: a.name ?? null, campaign, status }));
}

/** Sets an agent's status by hand (clears a running wrap-up). */
export async function setAgentStatus(sql: Sql, endpoint: string, status: string): Promise<AgentView> {
  checkEndpoint(endpoint);
  checkStatus(status);
  const row = await setAgentStatusByEndpoint(sql, endpoint, status);
  if (!row) throw new OperationError('not-found', `No agent with endpoint ${endpoint}`);
  return view(row);
}

export async function listAgents(sql: Sql, campaign?: string): Promise<AgentView[]> {
  return (await listAgentRows(sql, campaign ?? null)).map(view);
}

/** Every agent with its id, for the console (which names an agent by id, not by endpoint). */
export async function listAgentsById(sql: Sql): Promise<(AgentView & { id: number })[]> {
  return (await listAgentRowsWithIds(sql)).map((r) => ({ id: r.id, ...view(r) }));
}

/** setAgentStatus for the agent with this id. */
export async function setAgentStatusById(sql: Sql, id: number, status: string): Promise<AgentView> {
  const endpoint = Number.isSafeInteger(id) ? await agentEndpointById(sql, id) : undefined;
  if (endpoint === undefined) throw new OperationError('not-found', `No agent with id ${id}`);
  return setAgentStatus(sql, endpoint, status);
}
