import type { SqlOrTx } from '../client';

/** A callback's identity: the call, what it says, and Twilio's sequence number (-1 without one). */
export interface CallbackKey {
  callSid: string;
  event: string;
  seq: number;
}

/** The attempt a callback's URL names. */
export interface CallbackAttempt {
  campaign: string;
  contactId: number;
  attemptNo: number;
  workflowId: string;
}

/**
 * Remembers the callback as passed on if its call belongs to the attempt (the attempt's SID, or
 * none stored yet) and the same key was not remembered before; one statement. `mine`: the call is
 * the attempt's; `fresh`: this is the first time.
 */
export async function claimCallbackOnce(
  sql: SqlOrTx,
  attempt: CallbackAttempt,
  key: CallbackKey,
): Promise<{ mine: boolean; fresh: boolean }> {
  const [r] = await sql<{ mine: boolean; fresh: boolean }[]>`
    with mine as (
      select 1 from call_attempts
      where campaign_name = ${attempt.campaign} and contact_id = ${attempt.contactId}
        and attempt_no = ${attempt.attemptNo}
        and workflow_id = ${attempt.workflowId} and (call_sid = ${key.callSid} or call_sid is null)
    ), fresh as (
      insert into webhook_callbacks (call_sid, event, sequence_number)
      select ${key.callSid}, ${key.event}, ${key.seq} where exists (select 1 from mine)
      on conflict do nothing returning 1
    )
    select exists (select 1 from mine) as mine, exists (select 1 from fresh) as fresh`;
  return { mine: r?.mine ?? false, fresh: r?.fresh ?? false };
}

/** Forgets one remembered callback (it did not reach its workflow after all). */
export async function forgetCallback(sql: SqlOrTx, key: CallbackKey): Promise<void> {
  await sql`delete from webhook_callbacks
    where call_sid = ${key.callSid} and event = ${key.event} and sequence_number = ${key.seq}`;
}

/** Drops the callbacks remembered more than two days ago. */
export async function dropCallbacksOlderThanTwoDays(sql: SqlOrTx): Promise<void> {
  await sql`delete from webhook_callbacks where seen_at < now() - interval '2 days'`;
}
