/**
 * The abandon ledger's rules: per campaign, the calls a person answered (live answers) and those
 * of them the dialer abandoned, over the campaign's rolling 30 days (the US rule, FCC 47 CFR 64.1200(a)(7): at most 3 % per campaign over
 * 30 days) and over the last 24 h (the UK rule, Ofcom: at most 3 % of live calls per campaign in any
 * 24 hours).
 *
 * A live answer is an attempt that ended Connected, AgentHangUp, NoAgent, AgentTransfer,
 * TransferTimeout or Abandoned: a person was on the line. An abandon is one of them where the person
 * was not put through to an agent: NoAgent (none was free), AgentTransfer and TransferTimeout (the
 * agent's leg failed or was not answered in time), and Abandoned when the person had waited more
 * than 2 s after answering (one who hangs up within 2 s of their greeting left before the dialer's
 * 2 s were up). The greeting's end is taken as the answer: Twilio's call duration counts from it.
 * Machines, faxes and calls nobody answered are neither.
 */
import { LastState } from './contract';

export const LIVE_ANSWER_STATES = [
  LastState.Connected,
  LastState.AgentHangUp,
  LastState.NoAgent,
  LastState.AgentTransfer,
  LastState.TransferTimeout,
  LastState.Abandoned,
];
/** Live answers that are abandons whatever their duration. */
export const ALWAYS_ABANDONED = [LastState.NoAgent, LastState.AgentTransfer, LastState.TransferTimeout];
/** The person's wait after answering beyond which an Abandoned call is the dialer's abandon. */
export const ABANDON_GRACE_SECONDS = 2;
/** The most abandons a campaign may have per live answer (3 %) unless it says otherwise. */
export const DEFAULT_ABANDON_TARGET = 0.03;

export const DAY_MS = 24 * 3600_000;

export interface LedgerCounts {
  liveAnswers: number;
  abandons: number;
}

export interface LedgerPeriod extends LedgerCounts {
  from: string;
  to: string;
  /** abandons / liveAnswers; null before any live answer. */
  rate: number | null;
}

export interface AbandonLedger {
  campaign: string;
  target: number;
  /** US: the campaign's rolling 30 days. */
  last30Days: LedgerPeriod;
  /** UK: the last 24 hours. */
  last24Hours: LedgerPeriod;
  /** Whether either rate is over the target. */
  overTarget: boolean;
}

export interface CampaignLedgerCounts {
  campaign: string;
  last30Days: LedgerCounts;
  last24Hours: LedgerCounts;
}

/** A period's counts with its bounds and rate. */
export function ledgerPeriodOf(counts: LedgerCounts, from: Date, to: Date): LedgerPeriod {
  const { liveAnswers, abandons } = counts;
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    liveAnswers,
    abandons,
    rate: liveAnswers === 0 ? null : abandons / liveAnswers,
  };
}

/** Whether the period's rate is over the campaign's target (never before a live answer). */
export const isOverTarget = (p: LedgerPeriod, target: number): boolean => p.rate !== null && p.rate > target;

/** "2 of 80 live answers (2.5 %)" */
export function describePeriod(p: LedgerPeriod): string {
  const pct = p.rate === null ? '—' : `${(p.rate * 100).toFixed(1)} %`;
  return `${p.abandons} abandoned of ${p.liveAnswers} live answers (${pct})`;
}
