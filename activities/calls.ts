import { Context } from '@temporalio/activity';
import {
  type AttemptKey,
  CAP_HISTORY_MS,
  type DialCheckRow,
  type OpenedAttempt,
  type RecentAttempt,
  dialCheckRow,
  endAttemptBeforeCreate,
  markAttemptCreateRequested,
  numberHolder,
  openAttempt,
  ownedCallSids,
  recentAttemptsOfContact,
  releaseAttemptNumber,
  releaseStaleNumberHolds,
  storeAttemptCallSid,
} from '../db/queries/call-attempts';
import { calleeZones } from '../domain/calling-window';
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
import { mapOutcome } from '../domain/outcome';
import type { CallFacts, MachineDetection } from '../domain/contract';
import { permanent } from './errors';
import { CreateRejected, type CallInfo } from './twilio-calls';
import type { Deps } from './index';
import { type RecordOutcomeInput, recordOutcome } from './record-outcome';

export type { RecordOutcomeInput };
import { isTerminalCallStatus } from '../domain/call-status';

export type { AttemptKey };

export interface PlaceCallInput extends AttemptKey {
  workflowId: string;
  phoneNumber: string;
  callerId: string;
  ringTimeoutSeconds: number;
  dueAt: string | null;
  machineDetection: MachineDetection;
  /**
   * The campaign's call timeout: how long this attempt's number stays held (invariant 9) if the
   * attempt never ends, plus a margin.
   */
  callTimeoutMs: number;
}

export type PlaceCallResult =
  | { kind: 'placed'; callSid: string }
  /** Ended before any call existed: banned, unparsable, or the create was rejected. */
  | { kind: 'final'; facts: CallFacts }
  /** Not now: the calling window or a cap allows the call from `until` on (nothing was sent). */
  | { kind: 'delayed'; until: string; rule: DialCheckRule; reason: string };

/** An attempt no rule will ever allow (a window that never opens) is tried again this much later. */
const NOT_DIALED_RETRY_MS = 24 * 3600_000;

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

type Log = Context['log'];
type HeldBack = Extract<DialVerdict, { dial: false }>;

const webhookUrl = (deps: Deps, path: string, input: PlaceCallInput) => {
  const u = new URL(path, deps.publicBaseUrl + '/');
  u.searchParams.set('wf', input.workflowId);
  u.searchParams.set('campaign', input.campaign);
  u.searchParams.set('attempt', String(input.attemptNo));
  return u.toString();
};

/**
 * A decision not to dial now, with the rule that made it (details.rule: a DialCheckRule,
 * 'do-not-call' or 'not-a-number'), which the console counts held-back contacts by.
 */
const logDecision = (
  deps: Deps,
  k: AttemptKey,
  kind: 'skipped' | 'delayed',
  held: { rule: string; reason: string; until?: Date | null },
) =>
  logEvents(deps.db.db, [
    {
      contactId: k.contactId,
      campaign: k.campaign,
      attemptNo: k.attemptNo,
      kind,
      reason: held.reason,
      until: held.until ?? null,
      details: { rule: held.rule },
    },
  ]);

/**
 * Stores the call's SID on its attempt, and checks that the row says so. The chaos run once saw
 * this update acknowledged and not run (the call then belonged to no attempt): the driver's
 * bug, fixed in scripts/patch-postgres.cjs; this check stays as a second guard. A row that did
 * not change fails the try; the next one adopts the call (the create was sent).
 */
async function storeSid(deps: Deps, k: AttemptKey, callSid: string, reason: string): Promise<void> {
  const dialed = {
    contactId: k.contactId,
    campaign: k.campaign,
    attemptNo: k.attemptNo,
    kind: 'dialed',
    reason,
  };
  const stored = await storeAttemptCallSid(deps.db.sql, k, callSid, deps.clock(), dialed);
  if (stored !== callSid) {
    throw new Error(`the attempt's row did not take call ${callSid}; the next try adopts it`);
  }
}

/** The call is ours: its SID on the attempt, counted, and the activity's answer. */
async function placed(
  deps: Deps,
  input: PlaceCallInput,
  callSid: string,
  reason: string,
): Promise<PlaceCallResult> {
  await storeSid(deps, input, callSid, reason);
  deps.metrics?.callsPlaced.inc({ campaign: input.campaign });
  return { kind: 'placed', callSid };
}

/**
 * The campaign's dialing rules for the callee now (its zones as they are now), from one look; the
 * contact's recent attempts are read here only if that look did not bring them.
 */
async function dialVerdict(
  deps: Deps,
  k: AttemptKey,
  e164: string,
  row: DialCheckRow,
  recent: RecentAttempt[] | null,
): Promise<DialVerdict> {
  const now = deps.clock();
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
  const past = capped ? (recent ?? (await recentAttemptsOfContact(deps.db.sql, k, since))) : [];
  return checkDial(
    rules,
    zones,
    past.map((p) => ({ at: p.at, abandonedAt: p.abandoned_at })),
    now,
  );
}

/** The do-not-call entry, the verdict of the rules, and the other attempt holding the number. */
interface DialCheck {
  banned: { since: Date; reason: string | null } | null;
  verdict: DialVerdict;
  holder: NumberHolder | null;
}

/**
 * What the placing step checks right before the create: whether the number is on the do-not-call
 * list, and the campaign's calling window and caps for this contact now (its rules, the callee's
 * zones: the contact's time_zone as it is now, else the number, else the campaign's zone), with
 * the contact's recent attempts in any campaign, this one excepted, when the campaign has caps;
 * and which other attempt, if any, holds the number (invariant 9). From the placing step's first
 * look (openAttempt) or, on a later try, a fresh one.
 */
async function dialCheck(
  deps: Deps,
  k: AttemptKey,
  e164: string,
  looked?: Pick<OpenedAttempt, 'check' | 'recent'>,
): Promise<DialCheck> {
  const row = looked ? looked.check : await dialCheckRow(deps.db.sql, k, e164);
  if (!row) throw permanent('UnknownCampaign', `No campaign named "${k.campaign}"`);
  const banned = row.banned_since ? { since: row.banned_since, reason: row.banned_reason } : null;
  const verdict = await dialVerdict(deps, k, e164, row, looked?.recent ?? null);
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
async function releaseStaleHold(deps: Deps, e164: string, log: Log): Promise<void> {
  const freed = await releaseStaleNumberHolds(deps.db.db, e164, deps.clock());
  for (const f of freed)
    log.warn('freed a number held past its call timeout by an attempt that never ended', f);
}

/**
 * Marks the create as sent (a retry must look before it creates) and, in the same statement,
 * takes the number's hold: the unique index refuses it while another attempt holds the number,
 * so two placing steps for one number at the same moment cannot both pass (invariant 9).
 */
async function markCreateRequested(
  deps: Deps,
  input: PlaceCallInput,
  e164: string,
  requestedAt: Date,
): Promise<'marked' | 'number-busy'> {
  const callTimeoutMs = input.callTimeoutMs;
  const marked = await markAttemptCreateRequested(deps.db.db, input, {
    requestedAt,
    workerIdentity: deps.workerIdentity ?? null,
    liveNumber: e164,
    liveUntil: new Date(requestedAt.getTime() + callTimeoutMs + LIVE_HOLD_MARGIN_MS),
  });
  if (marked === 'number-busy') return marked;
  if (marked?.at?.getTime() !== requestedAt.getTime()) {
    throw new Error('the attempt’s row did not take the time of its create; nothing was sent');
  }
  return 'marked';
}

/** The attempt that holds the number now (after losing the race for it). */
async function holderOf(deps: Deps, e164: string): Promise<NumberHolder | null> {
  const h = await numberHolder(deps.db.db, e164);
  return h ? { ...h, liveUntil: h.liveUntil ?? new Date(0) } : null;
}

/**
 * Holds the attempt back (nothing is sent): it waits until the verdict's `until` on its
 * workflow's timer, or, for a workflow that cannot wait, ends undialed and is tried again then
 * (a busy number, a short while later) or in 24 h.
 */
async function holdBack(
  deps: Deps,
  input: PlaceCallInput,
  verdict: HeldBack,
  ownHold: boolean,
): Promise<PlaceCallResult> {
  // an earlier try of this attempt took the number and sent nothing: it lets it go while it waits
  if (ownHold) await releaseAttemptNumber(deps.db.db, input);
  if (verdict.until) {
    await logDecision(deps, input, 'delayed', verdict);
    deps.metrics?.dialsDelayed.inc({ campaign: input.campaign, rule: verdict.rule });
    return {
      kind: 'delayed',
      until: verdict.until.toISOString(),
      rule: verdict.rule,
      reason: verdict.reason,
    };
  }
  // no moment allowed to wait for (a window that never opens): looked at again a day later
  const retryAt = new Date(deps.clock().getTime() + NOT_DIALED_RETRY_MS);
  const reason = `${verdict.reason}; not dialed, tried again at ${retryAt.toISOString()}`;
  await logDecision(deps, input, 'skipped', { rule: verdict.rule, reason });
  return finalBeforeCreate(deps, input, {
    notDialed: { rule: verdict.rule, reason: verdict.reason, retryAt: retryAt.toISOString() },
  });
}

async function finalBeforeCreate(deps: Deps, k: AttemptKey, facts: CallFacts): Promise<PlaceCallResult> {
  await endAttemptBeforeCreate(deps.db.db, k, facts, mapOutcome(facts));
  return { kind: 'final', facts };
}

/**
 * Writes the attempt's row before anything is sent, and reads it with the dial check in the same
 * statement (a retry finds the first try's row).
 */
async function writeAttempt(deps: Deps, input: PlaceCallInput, e164: string | null): Promise<OpenedAttempt> {
  const opened = await openAttempt(
    deps.db.sql,
    { ...input, phoneNumber: e164 ?? input.phoneNumber, dueAt: input.dueAt ? new Date(input.dueAt) : null },
    e164,
    deps.clock(),
  );
  if (!opened) throw new Error('another try of this attempt wrote its row meanwhile; trying again');
  return opened;
}

/**
 * An earlier try sent the create and did not live to store the SID: finds that call among
 * Twilio's calls to the number from the caller id since then, and adopts it. Undefined: none.
 */
async function adoptEarlierCall(
  deps: Deps,
  input: PlaceCallInput,
  e164: string,
  createRequestedAt: Date,
  log: Log,
): Promise<PlaceCallResult | undefined> {
  const since = createRequestedAt.getTime() - CLOCK_SKEW_MS;
  const calls = (await deps.calls.list({ to: e164, from: input.callerId, limit: 20 })).filter(
    (c) => c.dateCreated !== null && c.dateCreated.getTime() >= since,
  );
  // a call another attempt (another campaign, the same number and caller id) already owns is not ours
  const owned = await ownedCallSids(
    deps.db.db,
    calls.map((c) => c.sid),
  );
  const mine = calls
    .filter((c) => !owned.has(c.sid))
    .sort((a, b) => a.dateCreated!.getTime() - b.dateCreated!.getTime())[0];
  if (!mine) return undefined;
  log.warn('adopting the call an earlier try created', {
    callSid: mine.sid,
    ...input,
    phoneNumber: maskPhone(e164),
  });
  return placed(deps, input, mine.sid, `call ${mine.sid}, created by an earlier try, adopted`);
}

/**
 * Checked at the moment of dialing, for every attempt (new, redial, CRM follow-up): the
 * do-not-call list, then the calling window and the caps, then whether another attempt is calling
 * the number (invariant 9). Undefined: the call may be created.
 */
async function checkBeforeCreate(
  deps: Deps,
  input: PlaceCallInput,
  e164: string,
  attempt: OpenedAttempt,
  log: Log,
): Promise<PlaceCallResult | undefined> {
  // a try after a create was sent looks afresh (the first look is older than Twilio's list)
  const looked = attempt.createRequestedAt ? undefined : attempt;
  const { banned, verdict, holder } = await dialCheck(deps, input, e164, looked);
  const ownHold = attempt.liveNumber !== null;
  if (banned) {
    await logDecision(deps, input, 'skipped', {
      rule: 'do-not-call',
      reason:
        `the number is on the do-not-call list (since ${banned.since.toISOString()}` +
        (banned.reason ? `: ${banned.reason})` : ')'),
    });
    return finalBeforeCreate(deps, input, { banned: true });
  }
  const free = verdict.dial ? checkNumberFree(holder, deps.clock()) : verdict;
  if (!free.dial) return holdBack(deps, input, free, ownHold);
  if (holder) await releaseStaleHold(deps, e164, log);
  return undefined;
}

/** Asks Twilio for the call, its webhooks pointing at this attempt. */
function sendCreate(deps: Deps, input: PlaceCallInput, e164: string): Promise<CallInfo> {
  return deps.calls.create({
    to: e164,
    from: input.callerId,
    url: webhookUrl(deps, 'twilio/answer', input),
    statusCallback: webhookUrl(deps, 'twilio/status', input),
    statusCallbackEvent: ['initiated', 'ringing', 'answered', 'completed'],
    timeout: input.ringTimeoutSeconds,
    // to leave a message, wait for the greeting's end (the beep); to hang up, decide at once
    ...(input.machineDetection === 'message'
      ? { machineDetection: 'DetectMessageEnd' as const }
      : input.machineDetection === 'hangup'
        ? { machineDetection: 'Enable' as const }
        : {}),
  });
}

/**
 * A create Twilio refused, so no call exists: 20429 is worth another try after a pause
 * (telephony §2 row 4), returned; anything else, or 20429 once the pauses are used up, ends the
 * attempt (the result).
 */
async function createRefused(
  deps: Deps,
  input: PlaceCallInput,
  err: CreateRejected,
  tryNo: number,
  log: Log,
): Promise<{ pause: number } | { final: PlaceCallResult }> {
  deps.metrics?.createRejections.inc({ code: String(err.code ?? 'none') });
  const backoff = deps.tooManyRequestsBackoffMs ?? TOO_MANY_REQUESTS_BACKOFF_MS;
  const pause = err.code === TOO_MANY_REQUESTS ? backoff[tryNo] : undefined;
  if (pause === undefined) {
    const facts = { createError: { code: err.code, status: err.status, message: err.message } };
    return { final: await finalBeforeCreate(deps, input, facts) };
  }
  log.warn('Twilio refused the create with 20429 (Too Many Requests); trying again', {
    campaign: input.campaign,
    contactId: input.contactId,
    attemptNo: input.attemptNo,
    retryInMs: pause,
  });
  return { pause };
}

/**
 * One try of the create: marks it as sent and takes the number, then asks Twilio. Returns the
 * call, the attempt's end (held back, refused for good), or a pause before the next try.
 */
async function tryCreate(
  deps: Deps,
  input: PlaceCallInput,
  e164: string,
  tryNo: number,
  log: Log,
): Promise<{ call: CallInfo } | { final: PlaceCallResult } | { pause: number }> {
  const requestedAt = deps.clock();
  if (tryNo === 0 && input.dueAt) {
    const late = (requestedAt.getTime() - new Date(input.dueAt).getTime()) / 1000;
    deps.metrics?.lateness.observe({ campaign: input.campaign }, Math.max(0, late));
  }
  // a try that retries must know a create may have been sent (so it looks before it creates)
  if ((await markCreateRequested(deps, input, e164, requestedAt)) === 'number-busy') {
    // another placing step took the number between our check and our mark
    const busy = checkNumberFree(await holderOf(deps, e164), deps.clock());
    if (busy.dial) throw new Error('the number was taken by another attempt and let go since; trying again');
    return { final: await holdBack(deps, input, busy, false) };
  }
  try {
    return { call: await sendCreate(deps, input, e164) };
  } catch (err) {
    if (!(err instanceof CreateRejected)) throw err;
    return createRefused(deps, input, err, tryNo, log);
  }
}

/** Creates the call, trying again after a pause while Twilio answers 20429; stores its SID. */
async function createCall(
  deps: Deps,
  input: PlaceCallInput,
  e164: string,
  log: Log,
): Promise<PlaceCallResult> {
  for (let tryNo = 0; ; tryNo++) {
    const tried = await tryCreate(deps, input, e164, tryNo, log);
    if ('final' in tried) return tried.final;
    if ('pause' in tried) {
      await Context.current().sleep(tried.pause);
      continue;
    }
    const { call } = tried;
    const result = await placed(deps, input, call.sid, `call ${call.sid} created`);
    // per attempt: at debug (an attempt costs no log line at info)
    log.debug('call placed', {
      callSid: call.sid,
      campaign: input.campaign,
      contactId: input.contactId,
      attemptNo: input.attemptNo,
    });
    return result;
  }
}

/**
 * Places at most one call for the attempt (telephony §1). The attempt row is written before the
 * create; a retry that finds a create already sent lists Twilio's calls for the same to/from
 * first and adopts the one it finds instead of creating a second.
 */
async function placeCall(deps: Deps, input: PlaceCallInput): Promise<PlaceCallResult> {
  const log = Context.current().log;
  const e164 = toE164(input.phoneNumber, deps.defaultRegion);
  const attempt = await writeAttempt(deps, input, e164);
  if (attempt.callSid) return { kind: 'placed', callSid: attempt.callSid };
  if (attempt.facts) return { kind: 'final', facts: attempt.facts };
  if (e164 === null) {
    await logDecision(deps, input, 'skipped', {
      rule: 'not-a-number',
      reason: `'${input.phoneNumber}' is not a phone number`,
    });
    return finalBeforeCreate(deps, input, { unparsable: true });
  }
  if (attempt.createRequestedAt) {
    const adopted = await adoptEarlierCall(deps, input, e164, attempt.createRequestedAt, log);
    if (adopted) return adopted;
  }
  const heldBack = await checkBeforeCreate(deps, input, e164, attempt, log);
  return heldBack ?? createCall(deps, input, e164, log);
}

/** Asks Twilio for a call whose final callback never came (telephony §1, item 5). */
async function fetchCallFacts(deps: Deps, { callSid }: { callSid: string }): Promise<CallFacts> {
  const call = await deps.calls.fetch(callSid);
  if (!isTerminalCallStatus(call.status)) {
    // Still live after the call timeout: end it, and decide from what Twilio says then.
    const ended = await deps.calls.hangup(callSid);
    return factsFromCall(ended);
  }
  return factsFromCall(call);
}

/** The activities of one attempt's call: place it, ask Twilio about it, record its outcome. */
export const callActivities = (deps: Deps) => ({
  placeCall: (input: PlaceCallInput) => placeCall(deps, input),
  fetchCallFacts: (input: { callSid: string }) => fetchCallFacts(deps, input),
  recordOutcome: (input: RecordOutcomeInput) => recordOutcome(deps, input),
});

export type CallActivities = ReturnType<typeof callActivities>;
