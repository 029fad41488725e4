import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Sql } from '../db/client';
import { campaignMaxAttempts } from '../db/queries/campaigns';
import {
  type ContactStateRow,
  contactState,
  resetContactRow,
  setRedialUncached,
} from '../db/queries/contacts';
import {
  campaignWorkflowId,
  contactWorkflowId,
  type RedialAnswer,
  redialSignal,
  refillSignal,
  scheduleRedialUpdate,
  releaseContactUpdate,
  withdrawUpdate,
} from '../workflows/shared';
import { logEventSql } from './contact-events';
import { OperationError } from './errors';
import { readTime, TimeTextError } from '../domain/time-text';

/**
 * What operators (the CLI) and CRMs (the API) do to single contacts. Each checks its input and
 * refuses with an OperationError that says what is wrong, before changing anything.
 */
export interface OperationDeps {
  sql: Sql;
  temporal: Client;
}

type ContactRow = ContactStateRow;

async function loadContact(sql: Sql, id: number): Promise<ContactRow> {
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new OperationError('invalid', `"${id}" is not a contact id`);
  const row = await contactState(sql, id);
  if (!row) throw new OperationError('not-found', `No contact with id ${id}`);
  return row;
}

/** A time as operators and CRMs write it (domain/time-text.ts), or an OperationError saying why not. */
export function parseTime(text: string, now = new Date()): Date {
  try {
    return readTime(text, now);
  } catch (err) {
    if (err instanceof TimeTextError) throw new OperationError('invalid', err.message);
    throw err;
  }
}

async function signalIfRunning(
  temporal: Client,
  workflowId: string,
  send: (h: ReturnType<Client['workflow']['getHandle']>) => Promise<void>,
): Promise<boolean> {
  const handle = temporal.workflow.getHandle(workflowId);
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return false;
    await send(handle);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export interface RedialResult {
  contactId: number;
  at: string;
  /**
   * cached: the running campaign holds the contact and moved its time (or, while its call is
   * under way, writes the redial when the call ends); queued: the running campaign wrote the row
   * and dials it then; queued-campaign-not-running: the row says when, for the next run.
   */
  how: 'cached' | 'queued' | 'queued-campaign-not-running';
  /** The campaign's answer in words. */
  reason?: string;
}

/**
 * §8: the CRM wants this contact called at `at`. A running campaign decides through its
 * scheduleRedial update (a cached or waiting contact's time moves, no second dial; otherwise it
 * writes the row if another attempt is allowed, and refuses with its reason if not). Without a
 * running campaign the row becomes a redial (contact_successful 2, or 0 if never dialed).
 */
export async function pushRedial(deps: OperationDeps, id: number, at: Date): Promise<RedialResult> {
  const c = await loadContact(deps.sql, id);
  if (!c.campaign_name)
    throw new OperationError('invalid', `Contact ${id} belongs to no campaign (campaign_name is empty)`);
  const iso = at.toISOString();
  const holder =
    c.contact_successful === 3 && c.cached_by ? c.cached_by : campaignWorkflowId(c.campaign_name);
  let answer: RedialAnswer | 'no-answer' | undefined;
  await signalIfRunning(deps.temporal, holder, async (h) => {
    answer = await askCampaign(h, { contactId: id, at: iso });
  });
  if (answer === 'no-answer') {
    const reason = `the campaign has not answered within ${CAMPAIGN_ANSWER_MS / 1000} s (no worker free?): the redial was signalled and is decided when it runs`;
    return { contactId: id, at: iso, how: 'queued', reason };
  }
  if (answer) {
    if (!answer.accepted)
      throw new OperationError('conflict', `Contact ${id}: redial refused: ${answer.reason}`);
    const how = answer.where === 'row' ? 'queued' : 'cached';
    return { contactId: id, at: iso, how, reason: answer.reason };
  }
  if (c.contact_successful === 3) {
    throw new OperationError(
      'conflict',
      `Contact ${id} is held by ${c.cached_by} which is not running: run \`dialer recover\` first`,
    );
  }
  await checkAnotherAttempt(deps.sql, c);
  await setRedialUncached(deps.sql, id, at);
  await logEventSql(deps.sql, {
    contactId: id,
    campaign: c.campaign_name,
    attemptNo: null,
    kind: 'rescheduled',
    reason: 'a redial was asked for (CRM or operator) while its campaign is not running: redial_time set',
    until: at,
  });
  return { contactId: id, at: iso, how: 'queued-campaign-not-running' };
}

/** How long a CRM's redial waits for the running campaign's answer before it is left to the signal (below the server's 4 s Temporal deadline). */
export const CAMPAIGN_ANSWER_MS = 3000;

/**
 * The campaign's scheduleRedial update, or, when it does not answer in time (no worker serves it
 * now, or it is busy), the redial signal: durable in Temporal, decided by the campaign when it runs
 * (the pending update may be decided too; a redial decided twice writes the same row).
 */
async function askCampaign(
  h: ReturnType<Client['workflow']['getHandle']>,
  r: { contactId: number; at: string },
): Promise<RedialAnswer | 'no-answer'> {
  const asked = h.executeUpdate(scheduleRedialUpdate, { args: [r] }).catch((err: unknown) => {
    if ((err as { cause?: { code?: number } }).cause?.code === 4) return 'no-answer' as const; // DEADLINE_EXCEEDED
    throw err;
  });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'no-answer'>(
    (resolve) => (timer = setTimeout(() => resolve('no-answer'), CAMPAIGN_ANSWER_MS)),
  );
  const answer = await Promise.race([asked, late]).finally(() => clearTimeout(timer));
  if (answer !== 'no-answer') return answer;
  asked.catch(() => undefined);
  await h.signal(redialSignal, r);
  return 'no-answer';
}

/** A redial written without a running campaign follows the campaign's rules all the same (§8). */
async function checkAnotherAttempt(sql: Sql, c: ContactRow): Promise<void> {
  if (c.contact_successful === -1) {
    throw new OperationError(
      'conflict',
      `Contact ${c.id} is Unreachable (-1): review it, then put it back with \`contacts reset\``,
    );
  }
  const maxAttempts = await campaignMaxAttempts(sql, c.campaign_name);
  if (maxAttempts !== undefined && c.number_of_contacts >= maxAttempts) {
    throw new OperationError(
      'conflict',
      `Contact ${c.id} has had ${c.number_of_contacts} of ${maxAttempts} attempts: reset it to dial it again`,
    );
  }
}

export interface ReleaseOutcome {
  contactId: number;
  outcome: 'released' | 'dialing';
}

/**
 * §6: pulls one contact out of a running campaign's cache, unless its call is already under way.
 * It goes back to the value it had, and no campaign takes it again for `holdMs` (default 10 min),
 * so that it can be edited; a redial or reset of it ends the hold.
 */
export async function releaseContact(
  deps: OperationDeps,
  id: number,
  holdMs = 10 * 60_000,
): Promise<ReleaseOutcome> {
  const c = await loadContact(deps.sql, id);
  if (c.contact_successful !== 3 || !c.cached_by) {
    throw new OperationError(
      'conflict',
      `Contact ${id} is not in a campaign's cache (contact_successful = ${c.contact_successful})`,
    );
  }
  const campaign = c.cached_by.replace(/^campaign\//, '');
  const answers: { campaign?: string; child?: 'released' | 'dialing' } = {};
  await signalIfRunning(deps.temporal, c.cached_by, async (h) => {
    answers.campaign = (
      await h.executeUpdate(releaseContactUpdate, { args: [{ contactId: id, holdMs }] })
    ).outcome;
  });
  if (answers.campaign === 'released') return { contactId: id, outcome: 'released' };
  await signalIfRunning(deps.temporal, contactWorkflowId(campaign, id), async (h) => {
    answers.child = (await h.executeUpdate(withdrawUpdate, { args: [{ holdMs }] })).outcome;
  });
  if (answers.child) return { contactId: id, outcome: answers.child };
  throw new OperationError(
    'conflict',
    `No running workflow holds contact ${id}: run \`dialer recover\` to return it`,
  );
}

/** For a reviewed Unreachable (-1) contact: back into its campaign as a new contact, attempts reset. */
export async function resetContact(
  deps: OperationDeps,
  id: number,
  opts: { at?: Date; keepAttempts?: boolean } = {},
): Promise<{ contactId: number; contactSuccessful: number }> {
  const c = await loadContact(deps.sql, id);
  if (c.contact_successful === 3)
    throw new OperationError('conflict', `Contact ${id} is in a campaign's cache; release it first`);
  const row = await resetContactRow(deps.sql, id, opts);
  await logEventSql(deps.sql, {
    contactId: id,
    campaign: c.campaign_name,
    attemptNo: null,
    kind: 'rescheduled',
    reason: `reset to ${opts.at ? 'NoSuccess (a redial)' : 'NotUsed (a new contact)'}${opts.keepAttempts ? ', attempts kept' : ', attempts back to 0'}`,
    until: opts.at ?? null,
  });
  if (c.campaign_name) {
    await signalIfRunning(deps.temporal, campaignWorkflowId(c.campaign_name), (h) => h.signal(refillSignal));
  }
  return { contactId: id, contactSuccessful: row!.contact_successful };
}
