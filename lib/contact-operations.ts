import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type postgres from 'postgres';
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

/**
 * What operators (the CLI) and CRMs (the API) do to single contacts. Each checks its input and
 * refuses with an OperationError that says what is wrong, before changing anything.
 */
export class OperationError extends Error {
  override name = 'OperationError';
  constructor(
    /** not-found 404 · invalid 400 · conflict 409 · unprocessable 422 · unavailable 503 (a dependency is down) */
    readonly kind: 'not-found' | 'invalid' | 'conflict' | 'unprocessable' | 'unavailable',
    message: string,
    /** Where in the request: a JSON pointer into the body ("/contacts/3/phoneNumber") or a parameter name. */
    readonly field?: string,
  ) {
    super(message);
  }
}

export interface OperationDeps {
  sql: postgres.Sql;
  temporal: Client;
}

type ContactRow = {
  id: string;
  campaign_name: string | null;
  contact_successful: number;
  number_of_contacts: number;
  cached_by: string | null;
};

async function loadContact(sql: postgres.Sql, id: number): Promise<ContactRow> {
  if (!Number.isSafeInteger(id) || id <= 0)
    throw new OperationError('invalid', `"${id}" is not a contact id`);
  const [row] = await sql<ContactRow[]>`
    select id, campaign_name, contact_successful, number_of_contacts, cached_by from contacts where id = ${id}`;
  if (!row) throw new OperationError('not-found', `No contact with id ${id}`);
  return row;
}

/** A time before this or after LATEST_TIME is a typing mistake, not a plan (and past 275760 not a Date). */
const EARLIEST_TIME = Date.parse('2000-01-01T00:00:00Z');
const LATEST_TIME = Date.parse('2200-01-01T00:00:00Z');
const ISO_WITH_ZONE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-](\d{2}):?(\d{2}))$/;

/**
 * A time as operators and CRMs write it: ISO 8601 with a zone, "now", or +30m / +2h / +1d from
 * `now`. Days that do not exist (2026-02-30, which Date rolls over to March 2), hours past 23 and
 * times before 2000 or after 2200 are refused, not stored.
 */
export function parseTime(text: string, now = new Date()): Date {
  const t = text.trim();
  const rel = /^\+?(\d{1,9})(s|m|h|d)$/.exec(t);
  let d: Date;
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    d = new Date(now.getTime() + Number(rel[1]) * unit);
  } else if (t === 'now') {
    d = now;
  } else {
    // ISO 8601 with a zone only: a time without one would silently mean the server's zone
    const iso = ISO_WITH_ZONE.exec(t);
    if (!iso) {
      throw new OperationError(
        'invalid',
        `"${shorten(text)}" is not a time: use ISO 8601 with a zone (2026-12-01T09:30:00+01:00 or …Z), "now", or +30m / +2h / +1d`,
      );
    }
    d = new Date(t);
    if (Number.isNaN(d.getTime()) || !realClock(iso)) {
      throw new OperationError('invalid', `"${shorten(text)}" is not a real time (no such day or hour)`);
    }
  }
  if (!(d.getTime() >= EARLIEST_TIME && d.getTime() < LATEST_TIME))
    throw new OperationError(
      'invalid',
      `"${shorten(text)}" is out of range: give a time between 2000 and 2200`,
    );
  return d;
}

/** Whether an ISO time's parts name a day that exists and a clock time (offset included). */
function realClock(iso: RegExpExecArray): boolean {
  const [y, mo, day, h, mi, s, oh, om] = iso.slice(1).map((v) => (v === undefined ? 0 : Number(v)));
  const date = new Date(Date.UTC(y!, mo! - 1, day!));
  const dayExists =
    date.getUTCFullYear() === y && date.getUTCMonth() === mo! - 1 && date.getUTCDate() === day;
  return dayExists && h! <= 23 && mi! <= 59 && s! <= 59 && oh! <= 23 && om! <= 59;
}

function shorten(text: string): string {
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
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
  await deps.sql`
    update contacts set redial_time = ${at}, hold_until = null,
      contact_successful = case when contact_successful = 0 then 0 else 2 end
    where id = ${id} and contact_successful <> 3`;
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
async function checkAnotherAttempt(sql: postgres.Sql, c: ContactRow): Promise<void> {
  if (c.contact_successful === -1) {
    throw new OperationError(
      'conflict',
      `Contact ${c.id} is Unreachable (-1): review it, then put it back with \`contacts reset\``,
    );
  }
  const [campaign] = await sql<{ max_attempts: number }[]>`
    select max_attempts from campaigns where name = ${c.campaign_name}`;
  if (campaign && c.number_of_contacts >= campaign.max_attempts) {
    throw new OperationError(
      'conflict',
      `Contact ${c.id} has had ${c.number_of_contacts} of ${campaign.max_attempts} attempts: reset it to dial it again`,
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
  const [row] = await deps.sql<{ contact_successful: number }[]>`
    update contacts set
      contact_successful = ${opts.at ? 2 : 0},
      redial_time = ${opts.at ?? null},
      hold_until = null,
      number_of_contacts = ${opts.keepAttempts ? deps.sql`number_of_contacts` : 0}
    where id = ${id} and contact_successful <> 3
    returning contact_successful`;
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
