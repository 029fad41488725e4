import { campaignAgentCounts, campaignByName, setCampaignStatusRow } from '../db/queries/campaigns';
import { recentPlacedAttemptStats } from '../db/queries/call-attempts';
import {
  type CachedContactRow,
  type ReservationQuery,
  campaignProgress,
  contactsOfReservation,
  earliestRedialTime,
  lockContactForRedial,
  makeRedial,
  releaseCachedContacts,
  reserveEligibleContacts,
  setRedialTime,
} from '../db/queries/contacts';
import { insertContactEventSql } from '../db/queries/contact-events';
import { maskPhone } from '../infra/logger';
import {
  dialOrder,
  type CachedContact,
  type CampaignSettings,
  type MachineDetection,
} from '../domain/contract';
import type { Sql } from '../db/client';
import { type CampaignProgress, type CampaignStatus } from '../workflows/shared';
import { type RecoveryOptions, type RecoveryReport, recoverOrphans } from '../ops/recovery';
import { type Pacing, type PacingStats, pace } from '../domain/pacing';
import { decideRedial } from '../domain/redial-rules';
import { permanent } from './errors';
import type { Deps } from './index';

/** A reservation as the workflow asks for it; the activity adds the clock (§5). */
export interface ReserveInput extends Omit<ReservationQuery, 'now' | 'horizon'> {
  lookaheadMs: number;
  /** Count the campaign's contacts too (the status view's progress; not on every look). */
  withProgress?: boolean;
}

export interface ReserveResult {
  contacts: CachedContact[];
  /** The earliest redial_time of an eligible contact that was not taken (not due yet). */
  nextRedialAt: string | null;
  /**
   * With agents assigned to the campaign: how many calls it may have in flight (progressive
   * pacing, one per agent that is available or on a call); null without agents.
   */
  agentCapacity: number | null;
  /** The campaign's dialing mode and what it allows now (absent in results from before modes). */
  pacing?: Pacing;
  /** Asked for (withProgress): the campaign's contacts, those done and those still to dial or being dialed. */
  progress?: CampaignProgress;
}

/** How far ahead a wrap-up's end counts as an agent coming free (predictive). */
const FREE_SOON_MS = 5_000;
/** Predictive looks at this many of the campaign's latest placed attempts. */
const PACING_SAMPLE = 200;

/** The campaign's latest placed attempts as predictive pacing reads them. */
async function pacingStats(deps: Deps, campaign: string): Promise<PacingStats> {
  const r = await recentPlacedAttemptStats(deps.db.sql, campaign, PACING_SAMPLE);
  return {
    placed: r?.placed ?? 0,
    liveAnswers: r?.live ?? 0,
    abandons: r?.abandons ?? 0,
    meanRingSeconds: r?.ring ?? null,
    meanTalkSeconds: r?.talk ?? null,
  };
}

/** The campaign's mode and its agents now: the calls in flight it may have (domain/pacing.ts). */
async function paceCampaign(deps: Deps, campaign: string, now: Date): Promise<Pacing> {
  const soon = new Date(now.getTime() + FREE_SOON_MS);
  const row = await campaignAgentCounts(deps.db.sql, campaign, now, soon);
  if (!row) return { mode: 'agentless', capacity: null, callsPerFreeAgent: null };
  const agents = { assigned: row.assigned, free: row.free, onCall: row.on_call, freeSoon: row.free_soon };
  const predictive = row.dialing_mode === 'predictive' && row.assigned > 0;
  const stats = predictive ? await pacingStats(deps, campaign) : undefined;
  return pace(row.dialing_mode, agents, {
    callsPerAgent: row.calls_per_agent,
    abandonTarget: row.abandon_target,
    stats,
  });
}

const toCached = (r: CachedContactRow): CachedContact => ({
  id: Number(r.id),
  phoneNumber: r.phone_number,
  display: { phone: maskPhone(r.phone_number) },
  redialAt: r.redial_time ? r.redial_time.toISOString() : null,
  numberOfContacts: r.number_of_contacts,
  attemptNo: r.attempt_no,
  cachedFrom: r.cached_from,
});

async function loadCampaign(deps: Deps, { name }: { name: string }): Promise<CampaignSettings> {
  const row = await campaignByName(deps.db.db, name);
  if (!row) throw permanent('UnknownCampaign', `No campaign named "${name}"`);
  return {
    name: row.name,
    maxAttempts: row.maxAttempts,
    lines: row.lines,
    callsPerSecond: row.callsPerSecond,
    callerId: row.callerId,
    ringTimeoutSeconds: row.ringTimeoutSeconds,
    retryRules: row.retryRules,
    machineDetection: row.machineDetection as MachineDetection,
    dialingMode: row.dialingMode,
  };
}

/**
 * Takes eligible contacts into the campaign's cache (§5, §6) in one statement
 * (db/queries/contacts.ts reserveEligibleContacts); a retried reservation returns the rows it
 * already took.
 */
async function reserveContacts(deps: Deps, input: ReserveInput): Promise<ReserveResult> {
  await deps.onCampaignActive?.(input.campaign);
  const { sql: pg } = deps.db;
  const now = deps.clock();
  const again = await contactsOfReservation(pg, input);
  const taken =
    again.length > 0
      ? again
      : await reserveEligibleContacts(pg, {
          ...input,
          now,
          horizon: new Date(now.getTime() + input.lookaheadMs),
        });
  const next = await earliestRedialTime(pg, input.campaign, input.maxAttempts);
  const pacing = await paceCampaign(deps, input.campaign, now);
  return {
    contacts: taken.map(toCached).sort(dialOrder(now.getTime())),
    nextRedialAt: next ? next.toISOString() : null,
    agentCapacity: pacing.capacity,
    pacing,
    ...(input.withProgress ? { progress: await progressOf(pg, input) } : {}),
  };
}

/** Done: Successful, Unreachable, or out of attempts; remaining: still to dial, or held (3). */
async function progressOf(pg: Sql, input: ReserveInput): Promise<CampaignProgress> {
  const p = await campaignProgress(pg, input.campaign, input.maxAttempts);
  const remaining = p.open + p.cached;
  return { total: p.total, done: p.total - remaining, remaining };
}

interface RedialInput {
  campaign: string;
  holder: string;
  contactId: number;
  at: string;
  maxAttempts: number;
}

/**
 * §8: a redial the CRM pushed to the running campaign, for a contact the campaign does not hold
 * in memory (or to move a held one's time on its row too). The row is locked, checked
 * (domain/redial-rules.ts) and written in one transaction with its decision-log row; a refused
 * redial changes nothing on the row and is logged with its reason.
 */
async function scheduleRedial(
  deps: Deps,
  input: RedialInput,
): Promise<{ accepted: boolean; reason: string; wrote?: 'time' | 'row' }> {
  return deps.db.sql.begin(async (tx) => {
    const row = await lockContactForRedial(tx, input.contactId);
    const d = decideRedial(row, input);
    const at = new Date(input.at);
    const log = (kind: string, reason: string) =>
      insertContactEventSql(tx, {
        contactId: input.contactId,
        campaign: input.campaign,
        attemptNo: null,
        kind,
        reason,
        until: at,
      });
    if ('refused' in d) {
      if (row) await log('refused', `a redial pushed to the running campaign was refused: ${d.refused}`);
      return { accepted: false, reason: d.refused };
    }
    if (d.write === 'time') await setRedialTime(tx, input.contactId, at);
    else await makeRedial(tx, input.contactId, at);
    const reason =
      d.write === 'time'
        ? 'it waits in the campaign; its time moved'
        : 'written to the row (NoSuccess, redial_time); the campaign dials it then';
    await log('rescheduled', `a redial was pushed to the running campaign (CRM signal): ${reason}`);
    return { accepted: true, reason, wrote: d.write };
  });
}

interface ReleaseInput {
  holder: string;
  contactIds: number[];
  /** An operator pulled it out: keep it out of every cache this long (time to edit the row). */
  holdMs?: number;
}

/**
 * Returns undialed cached contacts to the value they had before (§6): only rows still at 3
 * and held by this campaign, nothing else on the row changes.
 */
async function releaseContacts(deps: Deps, { holder, contactIds, holdMs }: ReleaseInput): Promise<number> {
  if (contactIds.length === 0) return 0;
  const hold = holdMs ? new Date(deps.clock().getTime() + holdMs) : null;
  const reason = hold
    ? 'released by an operator, undialed; kept out of every cache until the time given'
    : 'given back undialed (the campaign paused or stopped, or its attempt failed)';
  const rows = await releaseCachedContacts(deps.db.sql, { holder, contactIds, hold, reason });
  return rows.length;
}

/** The activities of a campaign's contacts: its settings, its cache, redials pushed to it. */
export const contactActivities = (deps: Deps) => ({
  loadCampaign: (input: { name: string }) => loadCampaign(deps, input),
  async setCampaignStatus({ name, status }: { name: string; status: CampaignStatus }): Promise<void> {
    await setCampaignStatusRow(deps.db.db, name, status);
  },
  reserveContacts: (input: ReserveInput) => reserveContacts(deps, input),
  scheduleRedial: (input: RedialInput) => scheduleRedial(deps, input),
  /** §6 after a crash: contacts at 3 that no live workflow holds go back (see ops/recovery.ts). */
  recoverContacts: (opts: RecoveryOptions): Promise<RecoveryReport> =>
    recoverOrphans(deps.db.sql, deps.temporal, opts),
  releaseContacts: (input: ReleaseInput) => releaseContacts(deps, input),
});

export type ContactActivities = ReturnType<typeof contactActivities>;
