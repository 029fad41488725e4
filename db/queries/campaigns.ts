import type { SqlOrTx } from '../types';

/** What the answer webhook needs of a campaign. */
export interface AnswerSettings {
  message: string;
  machine_detection: string;
  machine_message: string | null;
  transfer_timeout_seconds: number;
  /** How many agents the campaign has (0 for an agentless one, whatever agents name it). */
  agents: number;
  dialing_mode: string;
}

/** The campaign's messages, machine detection, transfer timeout, dialing mode and agent count. */
export async function findAnswerSettings(sql: SqlOrTx, name: string): Promise<AnswerSettings | undefined> {
  const [c] = await sql<AnswerSettings[]>`
    select message, machine_detection, machine_message, transfer_timeout_seconds, dialing_mode,
      -- an agentless campaign has no agent step, whatever agents name it
      case when dialing_mode = 'agentless' then 0
        else (select count(*)::int from agents a where a.campaign_name = c.name) end as agents
    from campaigns c where name = ${name}`;
  return c;
}

/** The campaign's safe-harbor message, if the campaign exists. */
export async function findCampaignMessage(sql: SqlOrTx, name: string): Promise<string | undefined> {
  const [c] = await sql<{ message: string }[]>`select message from campaigns where name = ${name}`;
  return c?.message;
}
