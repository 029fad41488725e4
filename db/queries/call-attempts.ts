/**
 * `call_attempts`: one row per attempt, written before Twilio is asked for a call (telephony §1),
 * and the number it holds while it may have a live call (invariant 9, §9).
 */
import { and, eq, inArray, lte } from 'drizzle-orm';
import type { JSONValue } from 'postgres';
import type { DbOrTx, DbTx, Sql, SqlOrTx } from '../client';
import { type CallAttempt, callAttempts } from '../schema';
import { LIVE_ANSWER_STATES } from '../../domain/abandon';
import { type CallFacts, LastState } from '../../domain/contract';
import { abandonedWhere } from './abandon-ledger';
import { type NewContactEvent, insertContactEventWhen } from './contact-events';
import { recordContactOutcomeWhen } from './contacts';

export type { CallAttempt };

/** An attempt's key: its campaign, its contact and its number among the contact's attempts. */
export interface AttemptKey {
  campaign: string;
  contactId: number;
  attemptNo: number;
}

/** Another attempt that holds a number (invariant 9). */
export interface NumberHoldRow {
  campaign: string;
  contactId: number;
  attemptNo: number;
  liveUntil: Date | null;
}

/** The partial unique index that lets one attempt at a time hold a number (invariant 9). */
const LIVE_NUMBER_INDEX = 'call_attempts_live_number_idx';

const attemptWhere = (k: AttemptKey) =>
  and(
    eq(callAttempts.campaignName, k.campaign),
    eq(callAttempts.contactId, k.contactId),
    eq(callAttempts.attemptNo, k.attemptNo),
  );

/** The attempt's row, in plain SQL (of call_attempts unaliased). */
const keyWhere = (sql: Sql, k: AttemptKey) =>
  sql`campaign_name = ${k.campaign} and contact_id = ${k.contactId} and attempt_no = ${k.attemptNo}`;

/** Whether `err` (or an error it wraps, as drizzle wraps the driver's) broke this unique index. */
function violatesUnique(err: unknown, index: string): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && typeof e === 'object' && e !== null; depth++) {
    const pg = e as { code?: unknown; constraint_name?: unknown; cause?: unknown };
    if (pg.code === '23505' && pg.constraint_name === index) return true;
    e = pg.cause;
  }
  return false;
}

/** Writes the attempt's row unless it exists (a retried placing step finds the first one's). */
export async function insertAttemptIfAbsent(
  db: DbOrTx,
  a: AttemptKey & { workflowId: string; phoneNumber: string; dueAt: Date | null },
): Promise<void> {
  await db
    .insert(callAttempts)
    .values({
      campaignName: a.campaign,
      contactId: a.contactId,
      attemptNo: a.attemptNo,
      workflowId: a.workflowId,
      phoneNumber: a.phoneNumber,
      dueAt: a.dueAt,
    })
    .onConflictDoNothing();
}

/** The attempt's row, if any. */
export async function attemptByKey(db: DbOrTx, k: AttemptKey): Promise<CallAttempt | undefined> {
  const [attempt] = await db.select().from(callAttempts).where(attemptWhere(k));
  return attempt;
}

/** The attempt's row, locked until the transaction ends. */
export async function lockAttempt(tx: DbTx, k: AttemptKey): Promise<CallAttempt | undefined> {
  const [attempt] = await tx.select().from(callAttempts).where(attemptWhere(k)).for('update');
  return attempt;
}

/**
 * Stores the call's SID on its attempt, placed now, and logs `dialed` in the same statement;
 * returns the SID the row holds afterwards.
 */
export async function storeAttemptCallSid(
  sql: Sql,
  k: AttemptKey,
  callSid: string,
  placedAt: Date,
  dialed: NewContactEvent,
): Promise<string | null | undefined> {
  const [r] = await sql<{ call_sid: string | null }[]>`
    with s as (
      update call_attempts set call_sid = ${callSid}, placed = true, placed_at = ${placedAt}
      where ${keyWhere(sql, k)} returning call_sid
    ), e as (${insertContactEventWhen(sql, dialed, sql`exists (select 1 from s where call_sid = ${callSid})`)})
    select call_sid from s`;
  return r?.call_sid;
}

/** Of these call SIDs, those some attempt already owns. */
export async function ownedCallSids(db: DbOrTx, callSids: string[]): Promise<Set<string | null>> {
  if (callSids.length === 0) return new Set();
  const rows = await db
    .select({ callSid: callAttempts.callSid })
    .from(callAttempts)
    .where(inArray(callAttempts.callSid, callSids));
  return new Set(rows.map((r) => r.callSid));
}

/**
 * Marks the create as sent (at `requestedAt`, by this worker) and, in the same statement, takes
 * the number's hold until `liveUntil`: the unique index refuses it while another attempt holds the
 * number ('number-busy'). Returns the create time the row holds afterwards.
 */
export async function markAttemptCreateRequested(
  db: DbOrTx,
  k: AttemptKey,
  m: { requestedAt: Date; workerIdentity: string | null; liveNumber: string; liveUntil: Date },
): Promise<{ at: Date | null } | undefined | 'number-busy'> {
  try {
    const marked = await db
      .update(callAttempts)
      .set({
        createRequestedAt: m.requestedAt,
        workerIdentity: m.workerIdentity,
        liveNumber: m.liveNumber,
        liveUntil: m.liveUntil,
      })
      .where(attemptWhere(k))
      .returning({ at: callAttempts.createRequestedAt });
    return marked[0];
  } catch (err) {
    if (violatesUnique(err, LIVE_NUMBER_INDEX)) return 'number-busy';
    throw err;
  }
}

/** The attempt that holds the number now, if any. */
export async function numberHolder(db: DbOrTx, e164: string): Promise<NumberHoldRow | undefined> {
  const [h] = await db
    .select({
      campaign: callAttempts.campaignName,
      contactId: callAttempts.contactId,
      attemptNo: callAttempts.attemptNo,
      liveUntil: callAttempts.liveUntil,
    })
    .from(callAttempts)
    .where(eq(callAttempts.liveNumber, e164));
  return h;
}

/** Frees the number from every hold that ended by `now`; returns the attempts freed. */
export async function releaseStaleNumberHolds(db: DbOrTx, e164: string, now: Date): Promise<AttemptKey[]> {
  return db
    .update(callAttempts)
    .set({ liveNumber: null })
    .where(and(eq(callAttempts.liveNumber, e164), lte(callAttempts.liveUntil, now)))
    .returning({
      campaign: callAttempts.campaignName,
      contactId: callAttempts.contactId,
      attemptNo: callAttempts.attemptNo,
    });
}

/** The attempt lets go of the number it holds. */
export async function releaseAttemptNumber(db: DbOrTx, k: AttemptKey): Promise<void> {
  await db.update(callAttempts).set({ liveNumber: null }).where(attemptWhere(k));
}

/** Ends an attempt that never sent a create: its facts and outcome, its number let go. */
export async function endAttemptBeforeCreate(
  db: DbOrTx,
  k: AttemptKey,
  facts: CallFacts,
  lastState: number,
): Promise<void> {
  await db.update(callAttempts).set({ facts, lastState, liveNumber: null }).where(attemptWhere(k));
}

/** Writes the attempt's outcome, recorded and ended at `now`, its number let go. */
export async function recordAttemptOutcome(
  tx: DbTx,
  k: AttemptKey,
  o: { facts: CallFacts; lastState: number; placed: boolean; now: Date },
): Promise<void> {
  await tx
    .update(callAttempts)
    .set({
      facts: o.facts,
      lastState: o.lastState,
      placed: o.placed,
      endedAt: o.now,
      recordedAt: o.now,
      liveNumber: null,
    })
    .where(attemptWhere(k));
}

/** What an attempt's outcome is worked out from: its row and its contact's (outcomeBasis). */
export interface OutcomeBasis {
  recordedAt: Date | null;
  lastState: number | null;
  placed: boolean;
  facts: CallFacts | null;
  /** Null: the contact no longer exists. */
  contact: { numberOfContacts: number; contactSuccessful: number; redialTime: Date | null } | null;
}

/** The attempt's row and its contact's, as recording the outcome needs them; undefined: no attempt. */
export async function outcomeBasis(sql: Sql, k: AttemptKey): Promise<OutcomeBasis | undefined> {
  const [r] = await sql<
    {
      recorded_at: Date | null;
      last_state: number | null;
      placed: boolean;
      facts: CallFacts | null;
      number_of_contacts: number | null;
      contact_successful: number | null;
      redial_time: Date | null;
    }[]
  >`select a.recorded_at, a.last_state, a.placed, a.facts,
      c.number_of_contacts, c.contact_successful, c.redial_time
    from call_attempts a left join contacts c on c.id = a.contact_id
    where a.campaign_name = ${k.campaign} and a.contact_id = ${k.contactId} and a.attempt_no = ${k.attemptNo}`;
  if (!r) return undefined;
  return {
    recordedAt: r.recorded_at,
    lastState: r.last_state,
    placed: r.placed,
    facts: r.facts,
    contact:
      r.number_of_contacts === null
        ? null
        : {
            numberOfContacts: r.number_of_contacts,
            contactSuccessful: r.contact_successful!,
            redialTime: r.redial_time,
          },
  };
}

/** An outcome to write (writeOutcomeIfAsRead), and what it was worked out from. */
export interface OutcomeWrite {
  /** What the rows said when the outcome was decided; the write happens only if they still do. */
  basis: { numberOfContacts: number; placed: boolean; facts: CallFacts | null };
  attempt: { facts: CallFacts; lastState: number; placed: boolean; now: Date };
  contact: {
    contactSuccessful: number;
    lastState: number;
    numberOfContacts: number;
    redialTime: Date | null;
  };
  event: NewContactEvent;
}

/**
 * Records the outcome (§7) in one statement, if the attempt is not recorded yet and both rows
 * still say what it was decided from: the attempt ended and recorded, its number let go; the
 * contact's outcome (out of the cache); the `outcome` event. Both rows are locked first, so the
 * three writes happen together or not at all. False: nothing was written (read again).
 */
export async function writeOutcomeIfAsRead(sql: Sql, k: AttemptKey, w: OutcomeWrite): Promise<boolean> {
  const { basis, attempt: o } = w;
  const [r] = await sql<{ written: boolean }[]>`
    with lk as (
      select a.id from call_attempts a join contacts c on c.id = a.contact_id
      where a.campaign_name = ${k.campaign} and a.contact_id = ${k.contactId} and a.attempt_no = ${k.attemptNo}
        and a.recorded_at is null and a.placed = ${basis.placed}
        and a.facts is not distinct from ${basis.facts ? sql.json(basis.facts as JSONValue) : null}::jsonb
        and c.number_of_contacts = ${basis.numberOfContacts}
      for update of a, c
    ), a as (
      update call_attempts set facts = ${sql.json(o.facts as JSONValue)}::jsonb, last_state = ${o.lastState},
        placed = ${o.placed}, ended_at = ${o.now}, recorded_at = ${o.now}, live_number = null
      where id in (select id from lk) returning 1
    ), c as (${recordContactOutcomeWhen(sql, k.contactId, w.contact, sql`exists (select 1 from a)`)}),
    e as (${insertContactEventWhen(sql, w.event, sql`exists (select 1 from c)`)})
    select exists (select 1 from c) as written`;
  return r?.written ?? false;
}

/** What the placing step checks right before the create (see dialCheckRow). */
export interface DialCheckRow {
  calling_window: string;
  time_zone: string | null;
  max_attempts_per_day: number | null;
  max_attempts_per_24h: number | null;
  min_attempt_gap_seconds: number | null;
  abandon_cooloff: boolean;
  contact_zone: string | null;
  banned_since: Date | null;
  banned_reason: string | null;
  holder_campaign: string | null;
  holder_contact: string | null;
  holder_attempt: number | null;
  holder_until: Date | null;
}

/** The dial check's columns, of the campaign aliased `c` (the FROM of dialCheckFrom). */
const dialCheckColumns = (sql: Sql, k: AttemptKey) => sql`
  c.calling_window, c.time_zone, c.max_attempts_per_day, c.max_attempts_per_24h,
  c.min_attempt_gap_seconds, c.abandon_cooloff,
  (select time_zone from contacts where id = ${k.contactId}) as contact_zone,
  b.created_at as banned_since, b.reason as banned_reason,
  h.campaign_name as holder_campaign, h.contact_id as holder_contact,
  h.attempt_no as holder_attempt, h.live_until as holder_until`;

/** The campaign, the number's do-not-call entry and the other attempt holding the number, if any. */
const dialCheckFrom = (sql: Sql, k: AttemptKey, e164: string | null) => sql`
  campaigns c left join banned_numbers b on b.phone_number = ${e164}
    left join call_attempts h on h.live_number = ${e164}
      and not (h.campaign_name = ${k.campaign} and h.contact_id = ${k.contactId} and h.attempt_no = ${k.attemptNo})`;

/**
 * What the placing step checks right before the create, in one statement: the campaign's dialing
 * rules, the contact's time zone now, whether the number is on the do-not-call list, and which
 * other attempt, if any, holds the number. Undefined: no such campaign.
 */
export async function dialCheckRow(sql: Sql, k: AttemptKey, e164: string): Promise<DialCheckRow | undefined> {
  const [row] = await sql<DialCheckRow[]>`select ${dialCheckColumns(sql, k)}
    from ${dialCheckFrom(sql, k, e164)} where c.name = ${k.campaign}`;
  return row;
}

/** A contact's recent attempt, for the caps: when its create was sent, and when it ended as an abandon. */
export interface RecentAttempt {
  at: Date;
  abandoned_at: Date | null;
}

/** What openAttempt returns: the attempt's row as the placing step needs it, and the dial check. */
export interface OpenedAttempt {
  callSid: string | null;
  facts: CallFacts | null;
  createRequestedAt: Date | null;
  liveNumber: string | null;
  /** Undefined: no such campaign. */
  check: DialCheckRow | undefined;
  /** The contact's recent attempts (as recentAttemptsOfContact), or null if the campaign has no cap. */
  recent: RecentAttempt[] | null;
}

/** How far back the caps look at a contact's attempts (the cool-off after an abandon is 72 h). */
export const CAP_HISTORY_MS = 4 * 24 * 3600_000;

/**
 * The contact's attempts the caps look at, as JSON (null: the campaign `c` has no cap): those of
 * any campaign sent within CAP_HISTORY_MS (or the minimum gap, if longer) before `now`, this
 * attempt excepted.
 */
const recentAttemptsJson = (sql: Sql, k: AttemptKey, now: Date) => sql`
  case when c.max_attempts_per_day is not null or c.max_attempts_per_24h is not null
      or c.min_attempt_gap_seconds is not null or c.abandon_cooloff then (
    select coalesce(json_agg(json_build_object('at', create_requested_at, 'abandoned_at',
        case when ${abandonedWhere(sql)} then coalesce(ended_at, create_requested_at) end)), '[]')
    from call_attempts
    where contact_id = ${k.contactId} and create_requested_at is not null
      and create_requested_at > ${now}::timestamptz - greatest(${CAP_HISTORY_MS / 1000} * interval '1 second',
        (coalesce(c.min_attempt_gap_seconds, 0) + 1) * interval '1 second')
      and not (campaign_name = ${k.campaign} and attempt_no = ${k.attemptNo}))
  end`;

type OpenRow = {
  call_sid: string | null;
  facts: CallFacts | null;
  create_requested_at: Date | null;
  live_number: string | null;
  found: boolean | null;
  recent: { at: string; abandoned_at: string | null }[] | null;
} & DialCheckRow;

/**
 * The placing step's one look, in one statement: writes the attempt's row unless it exists (a
 * retried step finds the first one's), and returns it with the dial check (dialCheckRow) and the
 * contact's recent attempts. Undefined: the row was written meanwhile by another try of the same
 * attempt, whose write this statement's snapshot cannot see (try again).
 */
export async function openAttempt(
  sql: Sql,
  a: AttemptKey & { workflowId: string; phoneNumber: string; dueAt: Date | null },
  e164: string | null,
  now: Date,
): Promise<OpenedAttempt | undefined> {
  const [r] = await sql<OpenRow[]>`
    with ins as (
      insert into call_attempts (campaign_name, contact_id, attempt_no, workflow_id, phone_number, due_at)
      values (${a.campaign}, ${a.contactId}, ${a.attemptNo}, ${a.workflowId}, ${a.phoneNumber}, ${a.dueAt})
      on conflict do nothing
      returning call_sid, facts, create_requested_at, live_number
    ), att as (
      select * from ins
      union all
      select call_sid, facts, create_requested_at, live_number from call_attempts
      where campaign_name = ${a.campaign} and contact_id = ${a.contactId} and attempt_no = ${a.attemptNo}
        and not exists (select 1 from ins)
    )
    select att.*, d.* from att left join lateral (
      select ${dialCheckColumns(sql, a)}, ${recentAttemptsJson(sql, a, now)} as recent, true as found
      from ${dialCheckFrom(sql, a, e164)} where c.name = ${a.campaign}) d on true`;
  if (!r) return undefined;
  const { call_sid, facts, create_requested_at, live_number, found, recent, ...check } = r;
  return {
    callSid: call_sid,
    facts,
    createRequestedAt: create_requested_at,
    liveNumber: live_number,
    check: found === true ? check : undefined,
    recent:
      recent?.map((p) => ({
        at: new Date(p.at),
        abandoned_at: p.abandoned_at ? new Date(p.abandoned_at) : null,
      })) ?? null,
  };
}

/**
 * The contact's attempts in any campaign whose create was sent after `since`, this attempt's
 * campaign-and-number excepted: when each was sent, and when it ended if it was an abandon.
 */
export async function recentAttemptsOfContact(
  sql: Sql,
  k: AttemptKey,
  since: Date,
): Promise<{ at: Date; abandoned_at: Date | null }[]> {
  return sql<{ at: Date; abandoned_at: Date | null }[]>`
    select create_requested_at as at,
      case when ${abandonedWhere(sql)} then coalesce(ended_at, create_requested_at) end as abandoned_at
    from call_attempts
    where contact_id = ${k.contactId} and create_requested_at is not null and create_requested_at > ${since}
      and not (campaign_name = ${k.campaign} and attempt_no = ${k.attemptNo})`;
}

/**
 * Of the campaign's latest `sample` placed attempts that ended: how many, how many a person
 * answered, how many of those were abandoned, the mean ring time of the live answers and the mean
 * talk time of the connected ones (what predictive pacing works from).
 */
export async function recentPlacedAttemptStats(sql: Sql, campaign: string, sample: number) {
  const [r] = await sql<
    { placed: number; live: number; abandons: number; ring: number | null; talk: number | null }[]
  >`
    with recent as (
      select last_state, facts, placed_at, ended_at from call_attempts
      where campaign_name = ${campaign} and placed and ended_at is not null
      order by ended_at desc limit ${sample})
    select count(*)::int as placed,
      count(*) filter (where last_state = any(${LIVE_ANSWER_STATES}::int[]))::int as live,
      count(*) filter (where ${abandonedWhere(sql)})::int as abandons,
      avg(greatest(0, extract(epoch from ended_at - placed_at) - coalesce((facts->>'callDurationSeconds')::numeric, 0)))
        filter (where last_state = any(${LIVE_ANSWER_STATES}::int[]))::float8 as ring,
      avg((facts->>'callDurationSeconds')::numeric)
        filter (where last_state in (${LastState.Connected}, ${LastState.AgentHangUp}))::float8 as talk
    from recent`;
  return r;
}

/** Every attempt of the campaign. */
export async function attemptsOfCampaign(db: DbOrTx, campaign: string): Promise<CallAttempt[]> {
  return db.select().from(callAttempts).where(eq(callAttempts.campaignName, campaign));
}

/** A campaign's attempts counted per LastState (null: no outcome yet), ordered by LastState. */
export async function countAttemptsByLastState(
  sql: SqlOrTx,
  campaign: string,
): Promise<{ ls: number | null; n: number }[]> {
  return sql<{ ls: number | null; n: number }[]>`
    select last_state as ls, count(*)::int as n from call_attempts where campaign_name = ${campaign} group by 1 order by 1`;
}

/** A campaign's attempts: all, those placed, and the redials among them (attempt 2 and later). */
export async function countAttempts(
  sql: SqlOrTx,
  campaign: string,
): Promise<{ attempts: number; placed: number; redials: number }> {
  const [a] = await sql<{ attempts: number; placed: number; redials: number }[]>`
    select count(*)::int as attempts, count(*) filter (where placed)::int as placed,
           count(*) filter (where attempt_no > 1)::int as redials
    from call_attempts where campaign_name = ${campaign}`;
  return a!;
}

/** How late a campaign's redials asked Twilio for their call after they were due: p50, p99, max in ms. */
export async function redialLateness(
  sql: SqlOrTx,
  campaign: string,
): Promise<{ p50: number | null; p99: number | null; max: number | null }> {
  const [late] = await sql<{ p50: number | null; p99: number | null; max: number | null }[]>`
    select percentile_cont(0.5) within group (order by ms) as p50,
           percentile_cont(0.99) within group (order by ms) as p99, max(ms) as max
    from (select extract(epoch from (create_requested_at - due_at)) * 1000 as ms from call_attempts
          where campaign_name = ${campaign} and attempt_no > 1 and due_at is not null and create_requested_at is not null) t`;
  return late!;
}

/**
 * Per campaign: the attempts whose create was sent since `since` (dials in the last minute, for
 * the console) and those that may have a live call now (lines in use). An attempt whose create
 * was sent since then has not ended before then either, which lets the (campaign, ended_at) index
 * find the recent ones without reading the campaign's whole history.
 */
export async function recentDialCounts(
  sql: Sql,
  campaigns: string[],
  since: Date,
  now: Date,
): Promise<{ campaign: string; dials: number; live: number }[]> {
  return sql<{ campaign: string; dials: number; live: number }[]>`
    select c.name as campaign,
      (select count(*)::int from call_attempts a
        where a.campaign_name = c.name and (a.ended_at is null or a.ended_at >= ${since})
          and a.create_requested_at >= ${since}) as dials,
      (select count(*)::int from call_attempts a
        where a.live_number is not null and a.campaign_name = c.name and a.live_until > ${now}) as live
    from unnest(${campaigns}::text[]) as c(name)`;
}

/** A campaign's creates sent since `since`, counted per minute (minutes without one are absent). */
export async function dialsPerMinute(
  sql: Sql,
  campaign: string,
  since: Date,
): Promise<{ minute: Date; dials: number }[]> {
  return sql<{ minute: Date; dials: number }[]>`
    select date_trunc('minute', create_requested_at) as minute, count(*)::int as dials
    from call_attempts
    where campaign_name = ${campaign} and (ended_at is null or ended_at >= ${since})
      and create_requested_at >= ${since}
    group by 1 order by 1`;
}

/** One attempt as a contact's page shows it (no number: the attempt dialed the contact's). */
export interface ContactAttemptRow {
  campaign_name: string;
  attempt_no: number;
  placed: boolean;
  created_at: Date;
  ended_at: Date | null;
  last_state: number | null;
}

/** The contact's attempts in every campaign, oldest first. */
export async function attemptsOfContact(sql: Sql, contactId: number): Promise<ContactAttemptRow[]> {
  return sql<ContactAttemptRow[]>`
    select campaign_name, attempt_no, placed, created_at, ended_at, last_state from call_attempts
    where contact_id = ${contactId} order by created_at, id`;
}
