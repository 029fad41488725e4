import { and, eq, inArray, lte, sql } from 'drizzle-orm';
import { Context } from '@temporalio/activity';
import { callAttempts, contacts } from '../db/schema';
import { calleeZones } from '../domain/calling-window';
import { abandonedWhere } from '../ops/abandon-ledger';
import { logEvents } from '../ops/contact-events';
import {
  type DialCheckRule,
  type DialVerdict,
  LIVE_HOLD_MARGIN_MS,
  type NumberHolder,
  checkDial,
  checkNumberFree,
  dialRules,
} from '../domain/dial-rules';
import { toE164 } from '../domain/phone';
import { maskPhone } from '../infra/logger';
import { mapOutcome, nextContactState, wasPlaced } from '../domain/outcome';
import { lastStateName } from '../domain/contract';
import { DEFAULT_CAMPAIGN_OPTIONS } from '../workflows/shared';
import type { CallFacts, ContactSuccessful, MachineDetection, RetryRules } from '../domain/contract';
import type { AttemptResult } from '../workflows/shared';
import { permanent } from './errors';
import { CreateRejected, type CallInfo } from './twilio-calls';
import type { Deps } from './index';
import { isTerminalCallStatus } from '../domain/call-status';

export interface AttemptKey {
  campaign: string;
  contactId: number;
  attemptNo: number;
}

export interface PlaceCallInput extends AttemptKey {
  workflowId: string;
  phoneNumber: string;
  callerId: string;
  ringTimeoutSeconds: number;
  dueAt: string | null;
  machineDetection?: MachineDetection;
  /**
   * The workflow waits when the calling window or a cap holds the call back (it gets `delayed`);
   * without it (workflows started before windows existed) such an attempt ends undialed.
   */
  mayDelay?: boolean;
  /**
   * The campaign's call timeout: how long this attempt's number stays held (invariant 9) if the
   * attempt never ends, plus a margin. Absent (workflows from before it): the default, 10 min.
   */
  callTimeoutMs?: number;
}

export type PlaceCallResult =
  | { kind: 'placed'; callSid: string }
  /** Ended before any call existed: banned, unparsable, or the create was rejected. */
  | { kind: 'final'; facts: CallFacts }
  /** Not now: the calling window or a cap allows the call from `until` on (nothing was sent). */
  | { kind: 'delayed'; until: string; rule: DialCheckRule; reason: string };

export interface RecordOutcomeInput extends AttemptKey {
  facts: CallFacts;
  maxAttempts: number;
  retryRules: RetryRules;
  /** The campaign dials in preview mode: an agent took the attempt (freed if never bridged). */
  preview?: boolean;
}

/** An attempt no rule will ever allow (a window that never opens) is tried again this much later. */
const NOT_DIALED_RETRY_MS = 24 * 3600_000;
/** How far back the caps look at a contact's attempts (the cool-off after an abandon is 72 h). */
const CAP_HISTORY_MS = 4 * 24 * 3600_000;

/** The partial unique index that lets one attempt at a time hold a number (invariant 9). */
const LIVE_NUMBER_INDEX = 'call_attempts_live_number_idx';

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

/** Twilio's clock and ours differ a little; a call created this long before our stamp is still ours. */
const CLOCK_SKEW_MS = 60_000;

const TOO_MANY_REQUESTS = 20429;
const TOO_MANY_REQUESTS_BACKOFF_MS = [1000, 2000, 4000];

export function factsFromCall(call: CallInfo): CallFacts {
  return {
    callSid: call.sid,
    callStatus: call.status,
    ...(call.durationSeconds !== null ? { callDurationSeconds: call.durationSeconds } : {}),
    ...(call.answeredBy ? { answeredBy: call.answeredBy } : {}),
  };
}

/** The outcome in words: what the attempt ended as and what happens to the contact next. */
function outcomeReason(
  state: number,
  cs: ContactSuccessful,
  placed: boolean,
  count: number,
  maxAttempts: number,
): string {
  const name = lastStateName(state) ?? String(state);
  const what = placed ? `${name} (attempt ${count} of ${maxAttempts})` : `${name}, no call placed`;
  const next =
    cs === 1
      ? 'Successful'
      : cs === -1
        ? count >= maxAttempts && placed
          ? 'Unreachable: no attempts left'
          : 'Unreachable: not dialed again'
        : 'NoSuccess: redial';
  return `${what} → ${next}`;
}

export const callActivities = (deps: Deps) => {
  const { db } = deps.db;
  const attemptWhere = (k: AttemptKey) =>
    and(
      eq(callAttempts.campaignName, k.campaign),
      eq(callAttempts.contactId, k.contactId),
      eq(callAttempts.attemptNo, k.attemptNo),
    );

  const webhookUrl = (path: string, input: PlaceCallInput) => {
    const u = new URL(path, deps.publicBaseUrl + '/');
    u.searchParams.set('wf', input.workflowId);
    u.searchParams.set('campaign', input.campaign);
    u.searchParams.set('attempt', String(input.attemptNo));
    return u.toString();
  };

  /**
   * Stores the call's SID on its attempt, and checks that the row says so. The chaos run once saw
   * this update acknowledged and not run (the call then belonged to no attempt): the driver's
   * bug, fixed in scripts/patch-postgres.cjs; this check stays as a second guard. A row that did
   * not change fails the try; the next one adopts the call (the create was sent).
   */
  async function storeSid(k: AttemptKey, callSid: string, reason: string): Promise<void> {
    const changed = await db
      .update(callAttempts)
      .set({ callSid, placed: true, placedAt: deps.clock() })
      .where(attemptWhere(k))
      .returning({ callSid: callAttempts.callSid });
    if (changed[0]?.callSid !== callSid) {
      throw new Error(`the attempt's row did not take call ${callSid}; the next try adopts it`);
    }
    await logEvents(db, [
      { contactId: k.contactId, campaign: k.campaign, attemptNo: k.attemptNo, kind: 'dialed', reason },
    ]);
  }

  /**
   * What the placing step checks right before the create, in one look at the database: whether
   * the number is on the do-not-call list, and the campaign's calling window and caps for this
   * contact now (its rules, the callee's zones: the contact's time_zone as it is now, else the
   * number, else the campaign's zone), with the contact's recent attempts in any campaign, this
   * one excepted, read only when the campaign has caps; and which other attempt, if any, holds the
   * number (invariant 9).
   */
  async function dialCheck(
    k: AttemptKey,
    e164: string,
  ): Promise<{
    banned: { since: Date; reason: string | null } | null;
    verdict: DialVerdict;
    holder: NumberHolder | null;
  }> {
    const { sql } = deps.db;
    const now = deps.clock();
    const [row] = await sql<
      {
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
      }[]
    >`select c.calling_window, c.time_zone, c.max_attempts_per_day, c.max_attempts_per_24h,
        c.min_attempt_gap_seconds, c.abandon_cooloff,
        (select time_zone from contacts where id = ${k.contactId}) as contact_zone,
        b.created_at as banned_since, b.reason as banned_reason,
        h.campaign_name as holder_campaign, h.contact_id as holder_contact,
        h.attempt_no as holder_attempt, h.live_until as holder_until
      from campaigns c left join banned_numbers b on b.phone_number = ${e164}
        left join call_attempts h on h.live_number = ${e164}
          and not (h.campaign_name = ${k.campaign} and h.contact_id = ${k.contactId} and h.attempt_no = ${k.attemptNo})
      where c.name = ${k.campaign}`;
    if (!row) throw permanent('UnknownCampaign', `No campaign named "${k.campaign}"`);
    const banned = row.banned_since ? { since: row.banned_since, reason: row.banned_reason } : null;
    const rules = dialRules({
      callingWindow: row.calling_window,
      timeZone: row.time_zone,
      maxAttemptsPerDay: row.max_attempts_per_day,
      maxAttemptsPer24h: row.max_attempts_per_24h,
      minAttemptGapSeconds: row.min_attempt_gap_seconds,
      abandonCooloff: row.abandon_cooloff,
    });
    const callee = await calleeZones(e164, row.contact_zone);
    const zones = callee.zones.length ? callee.zones : row.time_zone ? [row.time_zone] : [];
    const capped =
      rules.maxPerDay !== null ||
      rules.maxPer24h !== null ||
      rules.minGapMs !== null ||
      rules.abandonCooloffMs !== null;
    const since = new Date(now.getTime() - Math.max(CAP_HISTORY_MS, (rules.minGapMs ?? 0) + 1000));
    const past = capped
      ? await sql<{ at: Date; abandoned_at: Date | null }[]>`
          select create_requested_at as at,
            case when ${abandonedWhere(sql)} then coalesce(ended_at, create_requested_at) end as abandoned_at
          from call_attempts
          where contact_id = ${k.contactId} and create_requested_at is not null and create_requested_at > ${since}
            and not (campaign_name = ${k.campaign} and attempt_no = ${k.attemptNo})`
      : [];
    const verdict = checkDial(
      rules,
      zones,
      past.map((p) => ({ at: p.at, abandonedAt: p.abandoned_at })),
      now,
    );
    const holder =
      row.holder_campaign !== null
        ? {
            campaign: row.holder_campaign,
            contactId: Number(row.holder_contact),
            attemptNo: row.holder_attempt ?? 0,
            // a hold written without an end (by hand) counts as stale at once
            liveUntil: row.holder_until ?? new Date(0),
          }
        : null;
    return { banned, verdict, holder };
  }

  /**
   * Frees a number whose hold outlived its attempt's call timeout (a crash, a terminated workflow:
   * the attempt never ended). Only the stale hold is freed; a live one stays.
   */
  async function releaseStaleHold(e164: string, now: Date, log: Context['log']): Promise<void> {
    const freed = await db
      .update(callAttempts)
      .set({ liveNumber: null })
      .where(and(eq(callAttempts.liveNumber, e164), lte(callAttempts.liveUntil, now)))
      .returning({
        campaign: callAttempts.campaignName,
        contactId: callAttempts.contactId,
        attemptNo: callAttempts.attemptNo,
      });
    for (const f of freed)
      log.warn('freed a number held past its call timeout by an attempt that never ended', f);
  }

  /**
   * Marks the create as sent (a retry must look before it creates) and, in the same statement,
   * takes the number's hold: the unique index refuses it while another attempt holds the number,
   * so two placing steps for one number at the same moment cannot both pass (invariant 9).
   */
  async function markCreateRequested(
    k: AttemptKey,
    e164: string,
    requestedAt: Date,
    callTimeoutMs: number,
  ): Promise<'marked' | 'number-busy'> {
    let marked: { at: Date | null }[];
    try {
      marked = await db
        .update(callAttempts)
        .set({
          createRequestedAt: requestedAt,
          workerIdentity: deps.workerIdentity ?? null,
          liveNumber: e164,
          liveUntil: new Date(requestedAt.getTime() + callTimeoutMs + LIVE_HOLD_MARGIN_MS),
        })
        .where(attemptWhere(k))
        .returning({ at: callAttempts.createRequestedAt });
    } catch (err) {
      if (violatesUnique(err, LIVE_NUMBER_INDEX)) return 'number-busy';
      throw err;
    }
    if (marked[0]?.at?.getTime() !== requestedAt.getTime()) {
      throw new Error('the attempt’s row did not take the time of its create; nothing was sent');
    }
    return 'marked';
  }

  /** The attempt that holds the number now (after losing the race for it). */
  async function holderOf(e164: string): Promise<NumberHolder | null> {
    const [h] = await db
      .select({
        campaign: callAttempts.campaignName,
        contactId: callAttempts.contactId,
        attemptNo: callAttempts.attemptNo,
        liveUntil: callAttempts.liveUntil,
      })
      .from(callAttempts)
      .where(eq(callAttempts.liveNumber, e164));
    return h ? { ...h, liveUntil: h.liveUntil ?? new Date(0) } : null;
  }

  const logDecision = (k: AttemptKey, kind: 'skipped' | 'delayed', reason: string, until: Date | null) =>
    logEvents(db, [
      { contactId: k.contactId, campaign: k.campaign, attemptNo: k.attemptNo, kind, reason, until },
    ]);

  /**
   * Holds the attempt back (nothing is sent): it waits until the verdict's `until` on its
   * workflow's timer, or, for a workflow that cannot wait, ends undialed and is tried again then
   * (a busy number, a short while later) or in 24 h.
   */
  async function holdBack(
    input: PlaceCallInput,
    verdict: Extract<DialVerdict, { dial: false }>,
    ownHold: boolean,
  ): Promise<PlaceCallResult> {
    // an earlier try of this attempt took the number and sent nothing: it lets it go while it waits
    if (ownHold) await db.update(callAttempts).set({ liveNumber: null }).where(attemptWhere(input));
    if (verdict.until && input.mayDelay) {
      await logDecision(input, 'delayed', verdict.reason, verdict.until);
      deps.metrics?.dialsDelayed.inc({ campaign: input.campaign, rule: verdict.rule });
      return {
        kind: 'delayed',
        until: verdict.until.toISOString(),
        rule: verdict.rule,
        reason: verdict.reason,
      };
    }
    const retryAt =
      verdict.rule === 'number-busy' && verdict.until
        ? verdict.until
        : new Date(deps.clock().getTime() + NOT_DIALED_RETRY_MS);
    const reason = `${verdict.reason}; not dialed, tried again at ${retryAt.toISOString()}`;
    await logDecision(input, 'skipped', reason, null);
    return finalBeforeCreate(input, {
      notDialed: { rule: verdict.rule, reason: verdict.reason, retryAt: retryAt.toISOString() },
    });
  }

  async function finalBeforeCreate(k: AttemptKey, facts: CallFacts): Promise<PlaceCallResult> {
    await db
      .update(callAttempts)
      .set({ facts, lastState: mapOutcome(facts), liveNumber: null })
      .where(attemptWhere(k));
    return { kind: 'final', facts };
  }

  return {
    /**
     * Places at most one call for the attempt (telephony.md §1). The attempt row is written
     * before the create; a retry that finds a create already sent lists Twilio's calls for the
     * same to/from first and adopts the one it finds instead of creating a second.
     */
    async placeCall(input: PlaceCallInput): Promise<PlaceCallResult> {
      const log = Context.current().log;
      const e164 = toE164(input.phoneNumber, deps.defaultRegion);
      await db
        .insert(callAttempts)
        .values({
          campaignName: input.campaign,
          contactId: input.contactId,
          attemptNo: input.attemptNo,
          workflowId: input.workflowId,
          phoneNumber: e164 ?? input.phoneNumber,
          dueAt: input.dueAt ? new Date(input.dueAt) : null,
        })
        .onConflictDoNothing();
      const [attempt] = await db.select().from(callAttempts).where(attemptWhere(input));
      if (!attempt) throw permanent('AttemptMissing', `attempt ${JSON.stringify(input)} vanished`);
      if (attempt.callSid) return { kind: 'placed', callSid: attempt.callSid };
      if (attempt.facts) return { kind: 'final', facts: attempt.facts };

      const event = (kind: 'skipped' | 'delayed', reason: string, until: Date | null = null) =>
        logDecision(input, kind, reason, until);
      if (e164 === null) {
        await event('skipped', `'${input.phoneNumber}' is not a phone number`);
        return finalBeforeCreate(input, { unparsable: true });
      }
      if (attempt.createRequestedAt) {
        // An earlier try sent the create and did not live to store the SID: find that call.
        const since = attempt.createRequestedAt.getTime() - CLOCK_SKEW_MS;
        const calls = (await deps.calls.list({ to: e164, from: input.callerId, limit: 20 })).filter(
          (c) => c.dateCreated !== null && c.dateCreated.getTime() >= since,
        );
        // a call another attempt (another campaign, the same number and caller id) already owns is not ours
        const owned = calls.length
          ? new Set(
              (
                await db
                  .select({ callSid: callAttempts.callSid })
                  .from(callAttempts)
                  .where(
                    inArray(
                      callAttempts.callSid,
                      calls.map((c) => c.sid),
                    ),
                  )
              ).map((r) => r.callSid),
            )
          : new Set<string | null>();
        const mine = calls
          .filter((c) => !owned.has(c.sid))
          .sort((a, b) => a.dateCreated!.getTime() - b.dateCreated!.getTime())[0];
        if (mine) {
          log.warn('adopting the call an earlier try created', {
            callSid: mine.sid,
            ...input,
            phoneNumber: maskPhone(e164),
          });
          await storeSid(input, mine.sid, `call ${mine.sid}, created by an earlier try, adopted`);
          deps.metrics?.callsPlaced.inc({ campaign: input.campaign });
          return { kind: 'placed', callSid: mine.sid };
        }
      }

      // Checked at the moment of dialing, for every attempt (new, redial, CRM follow-up): the
      // do-not-call list, then the calling window and the caps (issue 10, item 2), then whether
      // another attempt is calling the number (invariant 9).
      const { banned, verdict, holder } = await dialCheck(input, e164);
      if (banned) {
        await event(
          'skipped',
          `the number is on the do-not-call list (since ${banned.since.toISOString()}` +
            (banned.reason ? `: ${banned.reason})` : ')'),
        );
        return finalBeforeCreate(input, { banned: true });
      }
      const free = verdict.dial ? checkNumberFree(holder, deps.clock()) : verdict;
      if (!free.dial) return holdBack(input, free, attempt.liveNumber !== null);
      if (holder) await releaseStaleHold(e164, deps.clock(), log);

      const backoff = deps.tooManyRequestsBackoffMs ?? TOO_MANY_REQUESTS_BACKOFF_MS;
      let call: CallInfo | undefined;
      for (let tryNo = 0; call === undefined; tryNo++) {
        const requestedAt = deps.clock();
        if (tryNo === 0 && input.dueAt) {
          const late = (requestedAt.getTime() - new Date(input.dueAt).getTime()) / 1000;
          deps.metrics?.lateness.observe({ campaign: input.campaign }, Math.max(0, late));
        }
        // a try that retries must know a create may have been sent (so it looks before it creates)
        const callTimeoutMs = input.callTimeoutMs ?? DEFAULT_CAMPAIGN_OPTIONS.callTimeoutMs;
        if ((await markCreateRequested(input, e164, requestedAt, callTimeoutMs)) === 'number-busy') {
          // another placing step took the number between our check and our mark
          const busy = checkNumberFree(await holderOf(e164), deps.clock());
          if (busy.dial)
            throw new Error('the number was taken by another attempt and let go since; trying again');
          return holdBack(input, busy, false);
        }
        try {
          call = await deps.calls.create({
            to: e164,
            from: input.callerId,
            url: webhookUrl('twilio/answer', input),
            statusCallback: webhookUrl('twilio/status', input),
            statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
            timeout: input.ringTimeoutSeconds,
            // to leave a message, wait for the greeting's end (the beep); to hang up, decide at once
            ...(input.machineDetection === 'message'
              ? { machineDetection: 'DetectMessageEnd' as const }
              : input.machineDetection === 'hangup'
                ? { machineDetection: 'Enable' as const }
                : {}),
          });
        } catch (err) {
          if (!(err instanceof CreateRejected)) throw err;
          deps.metrics?.createRejections.inc({ code: String(err.code ?? 'none') });
          // Refused, so no call exists: 20429 is worth another try after a pause (row 4).
          const pause = err.code === TOO_MANY_REQUESTS ? backoff[tryNo] : undefined;
          if (pause === undefined) {
            return finalBeforeCreate(input, {
              createError: { code: err.code, status: err.status, message: err.message },
            });
          }
          log.warn('Twilio refused the create with 20429 (Too Many Requests); trying again', {
            campaign: input.campaign,
            contactId: input.contactId,
            attemptNo: input.attemptNo,
            retryInMs: pause,
          });
          await Context.current().sleep(pause);
        }
      }
      await storeSid(input, call.sid, `call ${call.sid} created`);
      deps.metrics?.callsPlaced.inc({ campaign: input.campaign });
      log.info('call placed', {
        callSid: call.sid,
        campaign: input.campaign,
        contactId: input.contactId,
        attemptNo: input.attemptNo,
      });
      return { kind: 'placed', callSid: call.sid };
    },

    /** Asks Twilio for a call whose final callback never came (telephony.md §1.5). */
    async fetchCallFacts({ callSid }: { callSid: string }): Promise<CallFacts> {
      const call = await deps.calls.fetch(callSid);
      if (!isTerminalCallStatus(call.status)) {
        // Still live after the call timeout: end it, and decide from what Twilio says then.
        const ended = await deps.calls.hangup(callSid);
        return factsFromCall(ended);
      }
      return factsFromCall(call);
    },

    /**
     * Applies an attempt's outcome to the contact row and the attempt row in one transaction
     * (§7), exactly once: an attempt already recorded returns what was recorded.
     */
    async recordOutcome(input: RecordOutcomeInput): Promise<AttemptResult> {
      let fresh = false;
      const result = await db.transaction(async (tx) => {
        const [attempt] = await tx.select().from(callAttempts).where(attemptWhere(input)).for('update');
        if (!attempt) throw permanent('AttemptMissing', `no attempt row for ${JSON.stringify(input)}`);
        const [contact] = await tx
          .select()
          .from(contacts)
          .where(eq(contacts.id, input.contactId))
          .for('update');
        if (!contact) throw permanent('ContactMissing', `contact ${input.contactId} no longer exists`);
        if (attempt.recordedAt) {
          return {
            contactId: input.contactId,
            attemptNo: input.attemptNo,
            lastState: attempt.lastState as AttemptResult['lastState'],
            contactSuccessful: contact.contactSuccessful as ContactSuccessful,
            placed: attempt.placed,
            redialTime: contact.redialTime ? contact.redialTime.toISOString() : null,
          };
        }
        const facts = { ...(attempt.facts ?? {}), ...input.facts };
        const state = mapOutcome(facts);
        const placed = attempt.placed || wasPlaced(facts);
        const count = contact.numberOfContacts + (placed ? 1 : 0);
        const next = nextContactState(state, count, input.maxAttempts, input.retryRules);
        const now = deps.clock();
        // an attempt no rule allowed is tried again when the placing step said, not by the retry rule
        const redialTime =
          next.redialDelayMs === null
            ? null
            : facts.notDialed
              ? new Date(facts.notDialed.retryAt)
              : new Date(now.getTime() + next.redialDelayMs);
        await tx
          .update(contacts)
          .set({
            contactSuccessful: next.contactSuccessful,
            lastState: state,
            numberOfContacts: count,
            redialTime,
            cachedFrom: null,
            cachedBy: null,
            cacheReservation: null,
            cachedAt: null,
          })
          .where(eq(contacts.id, input.contactId));
        await tx
          .update(callAttempts)
          .set({ facts, lastState: state, placed, endedAt: now, recordedAt: now, liveNumber: null })
          .where(attemptWhere(input));
        // preview mode: the agent who took the attempt and was never bridged (no answer, a
        // machine) is free again; one on the call goes to wrap-up through the <Dial> action
        if (input.preview) {
          await tx.execute(sql`
          update agents set status = 'available', updated_at = now()
          where id = (select agent_id from preview_offers
                      where campaign_name = ${input.campaign} and contact_id = ${input.contactId}
                        and attempt_no = ${input.attemptNo} and decision = 'take')
            and status = 'on-call' and current_call_sid is null`);
        }
        await logEvents(tx, [
          {
            contactId: input.contactId,
            campaign: input.campaign,
            attemptNo: input.attemptNo,
            kind: 'outcome',
            reason: outcomeReason(state, next.contactSuccessful, placed, count, input.maxAttempts),
            until: redialTime,
            details: {
              lastState: state,
              contactSuccessful: next.contactSuccessful,
              placed,
              numberOfContacts: count,
            },
          },
        ]);
        fresh = true;
        return {
          contactId: input.contactId,
          attemptNo: input.attemptNo,
          lastState: state,
          contactSuccessful: next.contactSuccessful,
          placed,
          redialTime: redialTime ? redialTime.toISOString() : null,
        };
      });
      if (fresh) {
        deps.metrics?.outcomes.inc({
          campaign: input.campaign,
          last_state: lastStateName(result.lastState) ?? String(result.lastState),
        });
      }
      return result;
    },
  };
};

export type CallActivities = ReturnType<typeof callActivities>;
