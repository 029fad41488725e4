/**
 * The checks made at the moment of dialing: a campaign's calling window in the callee's time and
 * its attempt caps, as one pure function from a contact's recent attempts to "dial now" or "not
 * before this instant, because …". The placing step asks it right before the create; nothing here
 * does I/O.
 */
import { DateTime } from 'luxon';
import { type CallingWindow, isOpen, nextOpen, parseCallingWindow } from './calling-window';

/** No redial within this long of an abandoned call, when the campaign asks for it. */
export const ABANDON_COOLOFF_MS = 72 * 3600_000;
const DAY_MS = 24 * 3600_000;

/** A campaign's dialing rules as the campaigns table holds them. */
export interface DialRuleSettings {
  callingWindow: string;
  /** The callee's zone when neither the contact nor the number tells it (null: not dialed). */
  timeZone: string | null;
  maxAttemptsPerDay: number | null;
  maxAttemptsPer24h: number | null;
  minAttemptGapSeconds: number | null;
  abandonCooloff: boolean;
}

export interface DialRules {
  window: CallingWindow;
  windowText: string;
  maxPerDay: number | null;
  maxPer24h: number | null;
  minGapMs: number | null;
  abandonCooloffMs: number | null;
}

export function dialRules(s: DialRuleSettings): DialRules {
  const parsed = parseCallingWindow(s.callingWindow);
  // the column is checked when it is written; a row edited by hand to nonsense dials nobody
  if (!parsed.ok) throw new Error(`campaign calling window: ${parsed.error}`);
  return {
    window: parsed.window,
    windowText: s.callingWindow,
    maxPerDay: s.maxAttemptsPerDay,
    maxPer24h: s.maxAttemptsPer24h,
    minGapMs: s.minAttemptGapSeconds === null ? null : s.minAttemptGapSeconds * 1000,
    abandonCooloffMs: s.abandonCooloff ? ABANDON_COOLOFF_MS : null,
  };
}

/** An earlier attempt of the contact that may have rung it: when its create was sent. */
export interface PastAttempt {
  at: Date;
  /** It ended abandoned (NoAgent, or Abandoned): when it ended. */
  abandonedAt: Date | null;
}

export type DialCheckRule = 'window' | 'per-day' | 'per-24h' | 'min-gap' | 'after-abandon' | 'number-busy';

export type DialVerdict =
  | { dial: true }
  /** `until` null: the window never opens in all of the callee's zones within two weeks. */
  | { dial: false; until: Date | null; rule: DialCheckRule; reason: string };

const fmt = (d: Date) => d.toISOString().replace(/\.000Z$/, 'Z');
const local = (d: Date, zone: string) => DateTime.fromJSDate(d).setZone(zone).toFormat('ccc HH:mm:ss');

/**
 * Whether the contact may be dialed at `now`, and if not, the first moment every rule allows and
 * the rule that held it back first. `history` holds the contact's earlier attempts that sent a
 * create (any campaign: the caps protect the person, not the campaign), not the current one.
 */
export function checkDial(rules: DialRules, zones: string[], history: PastAttempt[], now: Date): DialVerdict {
  let first: { rule: DialCheckRule; reason: string } | null = null;
  let t = now;
  // each rule moves t forward to where it allows; a few rounds settle it (a cap's day may start
  // outside the window, the window's opening may fall in a cap's 24 h)
  for (let round = 0; round < 8; round++) {
    const moved = holdBack(rules, zones, history, t);
    if (!moved) break;
    first ??= { rule: moved.rule, reason: moved.reason };
    if (moved.until === null) return { dial: false, until: null, ...first };
    t = moved.until;
  }
  return first === null ? { dial: true } : { dial: false, until: t, ...first };
}

type Hold = { until: Date | null; rule: DialCheckRule; reason: string };

/** The first rule, in the order they are checked, that does not allow dialing at `t`. */
function holdBack(rules: DialRules, zones: string[], history: PastAttempt[], t: Date): Hold | null {
  return (
    minGapHold(rules, history, t) ??
    abandonHold(rules, history, t) ??
    per24hHold(rules, history, t) ??
    perDayHold(rules, zones, history, t) ??
    windowHold(rules, zones, t)
  );
}

function minGapHold(rules: DialRules, history: PastAttempt[], t: Date): Hold | null {
  const last = history.reduce<PastAttempt | null>((a, h) => (a === null || h.at > a.at ? h : a), null);
  if (rules.minGapMs === null || !last || t.getTime() >= last.at.getTime() + rules.minGapMs) return null;
  return {
    until: new Date(last.at.getTime() + rules.minGapMs),
    rule: 'min-gap',
    reason: `the last attempt was at ${fmt(last.at)}; the campaign keeps ${rules.minGapMs / 1000} s between attempts`,
  };
}

function abandonHold(rules: DialRules, history: PastAttempt[], t: Date): Hold | null {
  const abandoned = history
    .filter((h) => h.abandonedAt !== null)
    .reduce<Date | null>((a, h) => (a === null || h.abandonedAt! > a ? h.abandonedAt : a), null);
  if (rules.abandonCooloffMs === null || !abandoned) return null;
  if (t.getTime() >= abandoned.getTime() + rules.abandonCooloffMs) return null;
  return {
    until: new Date(abandoned.getTime() + rules.abandonCooloffMs),
    rule: 'after-abandon',
    reason: `a call was abandoned at ${fmt(abandoned)}; no redial within 72 h of it`,
  };
}

function per24hHold(rules: DialRules, history: PastAttempt[], t: Date): Hold | null {
  if (rules.maxPer24h === null) return null;
  const ms = t.getTime();
  const recent = history
    .filter((h) => h.at.getTime() > ms - DAY_MS && h.at.getTime() <= ms)
    .sort((a, b) => a.at.getTime() - b.at.getTime());
  if (recent.length < rules.maxPer24h) return null;
  // allowed again once enough of them are more than 24 h old
  return {
    until: new Date(recent[recent.length - rules.maxPer24h]!.at.getTime() + DAY_MS),
    rule: 'per-24h',
    reason: `${recent.length} attempt(s) in the 24 h before ${fmt(t)}; the campaign allows ${rules.maxPer24h}`,
  };
}

function perDayHold(rules: DialRules, zones: string[], history: PastAttempt[], t: Date): Hold | null {
  const max = rules.maxPerDay;
  if (max === null || zones.length === 0) return null;
  // the strictest reading: attempts on the callee's current calendar day in any of their zones
  const onDay = (x: number) => {
    const dayStart = Math.min(
      ...zones.map((z) => DateTime.fromMillis(x).setZone(z).startOf('day').toMillis()),
    );
    return history.filter((h) => h.at.getTime() >= dayStart && h.at.getTime() <= x).length;
  };
  const ms = t.getTime();
  const today = onDay(ms);
  if (today < max) return null;
  // the first of the zones' next midnights by which every zone's day is under the cap
  const midnights = zones
    .map((z) => DateTime.fromMillis(ms).setZone(z).startOf('day').plus({ days: 1 }).toMillis())
    .sort((a, b) => a - b);
  return {
    until: new Date(midnights.find((m) => onDay(m) < max) ?? midnights.at(-1)!),
    rule: 'per-day',
    reason: `${today} attempt(s) on the callee's calendar day (${zones.join(', ')}); the campaign allows ${max} a day`,
  };
}

function windowHold(rules: DialRules, zones: string[], t: Date): Hold | null {
  if (isOpen(rules.window, zones, t)) return null;
  const until = nextOpen(rules.window, zones, t);
  const where =
    zones.length === 0
      ? 'no time zone is known for the callee'
      : zones.length === 1
        ? `it is ${local(t, zones[0]!)} in ${zones[0]}`
        : `it is outside the window in at least one of the callee's ${zones.length} zones`;
  return {
    until,
    rule: 'window',
    reason:
      `outside the calling window '${rules.windowText}': ${where}` +
      (until ? '' : '; it does not open in all of them within 14 days'),
  };
}

/**
 * How soon an attempt held back because its number is in another attempt's call looks again. A
 * call's end is not known in advance; most calls take under a minute, and each look costs the
 * contact's workflow a timer and a placing step.
 */
export const NUMBER_BUSY_RETRY_MS = 15_000;
/** A number's hold outlives the campaign's call timeout by this much (the create, the hang-up, the write). */
export const LIVE_HOLD_MARGIN_MS = 5 * 60_000;

/** The attempt that holds a number (call_attempts.live_number): it may be in a call now. */
export interface NumberHolder {
  campaign: string;
  contactId: number;
  attemptNo: number;
  /** After this the hold is stale: a crash or a terminated workflow left it behind. */
  liveUntil: Date;
}

/**
 * Invariant 9 (§9): a person is never in two calls from the dialer at once.
 * An attempt whose number another attempt holds waits, like one the calling window holds back,
 * and looks again a short while later; a stale hold does not count (the placing step frees it).
 */
export function checkNumberFree(holder: NumberHolder | null, now: Date): DialVerdict {
  if (holder === null || holder.liveUntil.getTime() <= now.getTime()) return { dial: true };
  const until = new Date(now.getTime() + NUMBER_BUSY_RETRY_MS);
  return {
    dial: false,
    until,
    rule: 'number-busy',
    reason:
      `the number is in a call for contact ${holder.contactId} of campaign "${holder.campaign}" ` +
      `(attempt ${holder.attemptNo}); one call per number at a time, looked at again at ${fmt(until)}`,
  };
}
