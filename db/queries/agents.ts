import type { Sql, SqlOrTx } from '../types';

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
